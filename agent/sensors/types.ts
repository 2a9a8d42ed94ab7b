// What every sensor backend (eBPF, ptrace, procfs) produces: event drafts without identity or sequence,
// which the agent attributes to a job and the uplink numbers.
import type { EventBodies, EventKind } from '../../proto/types.js';

/** A descriptor as the kernel saw it at an exec: its kind (as agent/enrich.ts fdKind names it) and, for a pipe or a
 * socket, the name /proc/<pid>/fd gives it ("pipe:[123]"). */
export interface FdAtExec { kind: 'pipe' | 'socket' | 'null' | 'tty' | 'file'; target?: string }

/** What the kernel program read at an exec that the agent would otherwise ask /proc (gone for a short-lived process). */
export interface ExecInfo {
  /** cgroup v2 id (the inode number of the cgroup's directory), decimal. */
  cgroupId: string;
  /** The working directory (undefined: deeper than the kernel's walk, or not sent). */
  cwd?: string;
  /** stdin and stdout; undefined: not open. */
  fd0: FdAtExec | undefined;
  fd1: FdAtExec | undefined;
}

/** An observation, before job attribution and enrichment. */
export type SensorEvent = {
  [K in EventKind]: {
    kind: K;
    tsNs: number;
    pid: number;
    ppid?: number;
    uid?: number;
    comm?: string;
    exe?: string;
    /** exec only, from the libbpf sensor. */
    execInfo?: ExecInfo;
  } & { [P in K]: EventBodies[K] };
}[EventKind];

export interface SensorStatus {
  sensor: 'ebpf' | 'ptrace' | 'procfs';
  capabilities: string[];
  blindSpots: string[];
  drops: number;
  running: boolean;
  message?: string;
  /**
   * How far behind the agent reads its sensor (eBPF with the libbpf kernel program): what the kernel program holds
   * unread (now and the largest since start), how often it had to wait for the agent with its backlog full (the
   * kernel then drops, counted in drops), and events read but not yet handed on.
   */
  lag?: { kernelProgramBacklogBytes: number; kernelProgramBacklogPeakBytes: number; kernelProgramWaits: number; queuedEvents: number };
}

export interface Sensor {
  /** Resolves once the probes are attached (events from then on are seen). */
  start(): Promise<void>;
  onEvent(cb: (ev: SensorEvent) => void): void;
  /** Gaps: the sensor died and was restarted, or its queue overflowed. */
  onLoss(cb: (count: number, reason: string) => void): void;
  status(): SensorStatus;
  /** Stops the probes after draining what the kernel already produced. Idempotent. */
  close(): Promise<void>;
  /**
   * Present on sensors that count some events in the kernel and report them later (eBPF write-opens):
   * resolves once everything counted before the call has been delivered to onEvent (or after a bound).
   */
  sync?(): Promise<void>;
  /**
   * Present on sensors that see only one command's tree (ptrace): the argv to spawn instead of `argv`.
   * start() then resolves at once and events flow once the wrapped command runs.
   */
  wrap?(argv: string[]): string[];
}
