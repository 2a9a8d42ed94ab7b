// Domain types of the wire contract (proto/runwarden.proto), as the codec produces and consumes them.
// Field names are the protobufjs camelCase of the .proto names; enums travel as their names.

export interface ProcessExec {
  argv?: string[];
  cwd?: string;
  exeSha256?: string;
  cgroup?: string;
  containerId?: string;
  euid?: number;
  argvTruncated?: boolean;
  memfd?: boolean;
  ancestry?: string[];
  stdin?: string;
  stdout?: string;
  exeWrittenByJob?: boolean;
  stdinPeerComm?: string;
}
export interface ProcessFork { childPid?: number }
export interface ProcessExit { code?: number; signal?: number; lifetimeNs?: number }
export type NetFamily = 'FAMILY_UNSPECIFIED' | 'INET' | 'INET6' | 'UNIX';
export type NetProto = 'PROTO_UNSPECIFIED' | 'TCP' | 'UDP';
export interface NetConnect {
  family?: NetFamily;
  proto?: NetProto;
  dstIp?: string;
  dstPort?: number;
  domain?: string;
  result?: number;
  trusted?: boolean;
  resolver?: boolean;
  allowed?: boolean;
}
export interface DnsQuery { name?: string; qtype?: number; answers?: string[]; rcode?: number; server?: string }
export type FileOp = 'OP_UNSPECIFIED' | 'OPEN_WRITE' | 'CREATE' | 'RENAME' | 'UNLINK' | 'CHMOD' | 'TRUNCATE';
export interface FileWrite {
  op?: FileOp;
  path?: string;
  newPath?: string;
  mode?: number;
  count?: number;
  contentSha256?: string;
  pathClass?: string;
  contentHint?: string;
  newPathClass?: string;
}
export interface SensitiveRead {
  path?: string;
  pathClass?: string;
  targetPid?: number;
  targetComm?: string;
  targetSecretNames?: string[];
}
export type AccessKind = 'KIND_UNSPECIFIED' | 'PTRACE_ATTACH' | 'PTRACE_SEIZE' | 'VM_READV' | 'VM_WRITEV' | 'PROC_MEM_OPEN'
  | 'SETID_ROOT' | 'BPF_PROG_LOAD' | 'MODULE_LOAD' | 'KILL_WATCHER';
export interface ProcessAccess {
  kind?: AccessKind;
  targetPid?: number;
  targetComm?: string;
  targetSecretNames?: string[];
  targetInJob?: boolean;
  detail?: string;
}
export type SecretChannel = 'CHANNEL_UNSPECIFIED' | 'LOG' | 'FILE' | 'ARGV' | 'ENV_INHERIT' | 'EGRESS' | 'DNS';
export interface SecretExposure {
  secretName?: string;
  fingerprint?: string;
  channel?: SecretChannel;
  encoding?: string;
  location?: string;
}
export interface JobStart {
  provider?: string;
  repo?: string;
  workflow?: string;
  job?: string;
  runId?: string;
  ref?: string;
  trigger?: string;
  untrusted?: boolean;
  fork?: boolean;
  actor?: string;
  workspace?: string;
  configHashes?: Record<string, string>;
  rootPid?: number;
  secretNames?: string[];
  headRepo?: string;
  baseRef?: string;
  prNumber?: number;
  trustReason?: string;
  refProtected?: boolean;
}
export interface Survivor { pid?: number; comm?: string; argv?: string[]; ancestry?: number[] }
export interface JobEnd { exitCode?: number; survivors?: Survivor[]; durationNs?: number }
export interface Heartbeat { queued?: number; spooledBytes?: number }
export interface AgentStatus {
  sensor?: string;
  capabilities?: string[];
  blindSpots?: string[];
  drops?: number;
  version?: string;
  message?: string;
}
export interface Dropped { count?: number; reason?: string; firstSeq?: number; lastSeq?: number }

/** The body fields of Event, in .proto order. The key is the oneof member name. */
export interface EventBodies {
  exec: ProcessExec;
  fork: ProcessFork;
  exit: ProcessExit;
  net: NetConnect;
  dns: DnsQuery;
  file: FileWrite;
  read: SensitiveRead;
  access: ProcessAccess;
  secret: SecretExposure;
  jobStart: JobStart;
  jobEnd: JobEnd;
  heartbeat: Heartbeat;
  status: AgentStatus;
  dropped: Dropped;
}
export type EventKind = keyof EventBodies;
export const EVENT_KINDS: readonly EventKind[] = Object.freeze([
  'exec', 'fork', 'exit', 'net', 'dns', 'file', 'read', 'access', 'secret',
  'jobStart', 'jobEnd', 'heartbeat', 'status', 'dropped',
]);

/** Name of a kind in the CLI, the DB `kind` column and JSON output (snake case). */
export function kindName(kind: EventKind): string {
  return kind === 'jobStart' ? 'job_start' : kind === 'jobEnd' ? 'job_end' : kind;
}
export function kindFromName(name: string): EventKind | undefined {
  const k = name === 'job_start' ? 'jobStart' : name === 'job_end' ? 'jobEnd' : name;
  return (EVENT_KINDS as readonly string[]).includes(k) ? (k as EventKind) : undefined;
}

export interface EventHeader {
  agentId: string;
  bootId: string;
  seq: number;
  tsNs: number;
  host?: string;
  jobId?: string;
  pid?: number;
  ppid?: number;
  uid?: number;
  comm?: string;
  exe?: string;
  secretNames?: string[];
}

/** One event: the header plus exactly one body, named by `kind`. */
export type RwEvent = {
  [K in EventKind]: EventHeader & { kind: K } & { [P in K]: EventBodies[K] };
}[EventKind];

export interface Hello { agentId: string; bootId: string; version?: string; capabilities?: string[]; host?: string }
export interface Welcome { collectorId?: string; version?: string; maxBatchEvents?: number }
export interface Batch { batchId: number; events: RwEvent[] }
export interface Ack { batchId: number; stored?: number; duplicates?: number }
export interface Reject { code: string; message?: string }

export type Frame =
  | { type: 'hello'; hello: Hello }
  | { type: 'welcome'; welcome: Welcome }
  | { type: 'batch'; batch: Batch }
  | { type: 'ack'; ack: Ack }
  | { type: 'reject'; reject: Reject };

/** A batch as decoded by the collector: each event with the exact bytes it arrived as. */
export interface RawEvent { event: RwEvent; bytes: Uint8Array }
