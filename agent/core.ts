// The agent's heart, shared by the daemon and `runwarden run`: sensor events → job attribution →
// enrichment → secret scanning → uplink, plus job start/end bookkeeping (survivors, written files,
// runner command files). No sockets here: the uplink and the sensor come in as parts.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FileOp, JobStart, SecretExposure } from '../proto/types.js';
import { execCandidates } from '../collector/rules/exec-paths.js';
import { enrich } from './enrich.js';
import type { JobView, TargetInfo } from './enrich.js';
import type { EventDraft } from './uplink.js';
import type { JobPaths } from './job-paths.js';
import type { NetPolicy } from './netmatch.js';
import { containerIdOf, parseEnviron, readCgroup, readCmdline, readComm, readCwd, readEnviron, readEnvironRaw, readFdTarget, readStat } from './procfs-read.js';
import { envFileHint, parseEnvFile, parsePathFile } from './runner-files.js';
import { discoverSecrets } from './secrets/discover.js';
import type { DiscoveredSecret } from './secrets/discover.js';
import { createExposureReporter, createDnsScanner, scanArgv, scanDnsName } from './secrets/exposure.js';
import type { ExposureReporter } from './secrets/exposure.js';
import { scanFile } from './secrets/file-scan.js';
import { createRedactor } from './secrets/redact.js';
import type { Redactor } from './secrets/redact.js';
import { createScanner } from './secrets/scanner.js';
import type { Exposure, Scanner } from './secrets/scanner.js';
import type { SensorEvent } from './sensors/types.js';

/** What the core needs from process-tree attribution (agent/attribution.ts provides it). */
export interface Attribution {
  registerJob(jobId: string, rootPid: number): void;
  unregisterJob(jobId: string): void;
  /** Feeds every sensor event (fork/exec/exit keep the tree, DNS answers name addresses). */
  observe(ev: SensorEvent): void;
  jobOf(pid: number): string | undefined;
  /** Parents, nearest first. */
  ancestry(pid: number, max?: number): { pid: number; comm?: string }[];
  domainFor(pid: number, ip: string): string | undefined;
  /** Pids attributed to the job that have not exited. */
  members(jobId: string): number[];
}

export const CORE_LIMITS = Object.freeze({
  maxFilesScannedPerJob: 256,
  maxFileScanBytes: 4 * 1024 * 1024,
  maxWrittenPathsPerJob: 20_000,
  maxHeldCache: 65_536,
  /** Distinct environments remembered per job (most processes of a job share a handful). */
  maxEnvCache: 256,
  /** Distinct variables (name=value) whose secret discovery is remembered per job. */
  maxVarCache: 4_096,
  /** Pipes whose writer is remembered per job (an inherited stdin is looked up once, not at each exec). */
  maxPipeCache: 1_024,
  /** cgroup v2 ids whose path is remembered (a host has a few dozen; every process of a job shares one). */
  maxCgroupCache: 1_024,
  /** Plain new files of one process in one directory sent one by one before the rest is aggregated. */
  plainFilesPerDir: 32,
  /** How long an aggregate collects before it is sent (checked on the next event, and at job end). */
  aggregateWindowNs: 1e9,
  /** (pid, directory) aggregates per job at most; beyond, files go one by one. */
  maxAggregates: 4_096,
  /** File names quoted in an aggregate. */
  aggregateSample: 5,
  /** Distinct writers counted per aggregate window (the hint says N+ beyond). */
  aggregatePids: 1_024,
});

// Path classes whose files matter only in bulk (no rule looks at one untracked workspace or /tmp file).
const PLAIN_CLASSES: ReadonlySet<string> = new Set(['workspace', 'tmp']);

/** Per (program, op, directory): files seen one by one, and the aggregate collecting beyond them. */
interface DirAggregate { files: number; pending: EventDraft & { kind: 'file' } | undefined; sample: string[]; opens: number; since: number; pids: Set<number> }
/** What the collector needs of a write it saw only inside an aggregate, should the job then run the file. */
interface UnsentWrite { tsNs: number; pid: number; ppid: number; uid: number; comm: string; exe: string; op: FileOp; mode: number | undefined; pathClass: string }

export interface CoreOptions {
  host: string;
  policy: NetPolicy;
  resolvers: ReadonlySet<string>;
  attribution: Attribution;
  enqueue: (draft: EventDraft) => void;
  installKey: Uint8Array;
  secretsConfig: { names: readonly string[]; patterns: readonly string[] };
  logger: Logger;
  nowNs: () => number;
  /** Keep events of processes outside every job (the daemon watches the host; `run` only its job). */
  hostEvents: boolean;
}

/**
 * Plain-file aggregation (see aggregated()): one per job, and one for the host's processes outside every job (the
 * daemon's host events), which lives as long as the agent: its idle directories are recycled, its oldest unsent
 * writes forgotten first.
 */
interface AggState {
  dirs: Map<string, DirAggregate>; // "program op dir" → plain-file aggregation
  lastAgg: { prog: string; unlink: boolean; dir: string; a: DirAggregate } | undefined; // the one the last file went to
  unsent: Map<string, UnsentWrite>; // path → a write that left only inside an aggregate (sent on its own if the job runs it)
  lastUnsent: UnsentWrite | undefined; // shared by the paths of one writer in one window (a counted window is one tsNs)
  aggDue: number;                  // earliest `since` of a pending aggregate (Infinity: none)
  /** The host's: recycle directories with nothing pending, evict the oldest unsent write (a job's stop at the bound). */
  longLived: boolean;
  sweptNs: number;                 // when the host's directories were last recycled (at most once per window)
}

const newAggState = (longLived: boolean): AggState => ({ dirs: new Map(), lastAgg: undefined, unsent: new Map(), lastUnsent: undefined, aggDue: Infinity, longLived, sweptNs: 0 });

interface JobState extends AggState {
  view: JobView;
  start: JobStart;
  startNs: number;
  secrets: DiscoveredSecret[];
  scanner: Scanner | undefined;
  dnsScanner: Scanner | undefined;
  reporter: ExposureReporter | undefined;
  redactor: Redactor | undefined;
  written: Map<string, number>;   // path → last writer pid × 2, + 1 once the job wrote or chmod'ed it (not only unlinked it): see noteWrite
  held: Map<number, string[]>;    // pid → secret names in its environment
  byEnv: Map<string, string[]>;   // environ content → secret names (cleared when the job's secrets change)
  pipeWriters: Map<string, string | null>; // pipe:[inode] → comm of its writer (null: none in the job), for inherited stdin
  pipeOut: Map<string, string>;   // pipe:[inode] → comm of a process of the job whose stdout it was at its exec (kernel view)
  pipeLooked: Map<string, Set<number>>; // pipe:[inode] with no writer found → the pids whose stdout was looked at for it
  stdinAt: Map<number, string>;   // pid → the pipe on its fd 0 at its exec (whether a child's stdin was inherited, once it is gone)
  byVar: Map<string, DiscoveredSecret[]>; // "name=value" → what discoverSecrets finds in that variable alone
  byValue: Map<string, string>;   // secret value → its name (rebuilt when the job's secrets change)
  startEnv: Map<string, string>;  // the environment the job started with (discovered then), cleared at its end
  envFilesAtStart: Map<string, string>;
}

export interface JobEndResult { survivors: number; exposures: number }

export interface AgentCore {
  startJob(jobId: string, start: JobStart, rootPid: number, env: Readonly<Record<string, string | undefined>>, paths: JobPaths): void;
  /** The root pid is known only after spawn in wrapped mode. */
  setRoot(jobId: string, rootPid: number): void;
  onSensorEvent(ev: SensorEvent): void;
  /**
   * Sends the plain-file aggregates whose window has passed (every one with `all`: before the agent stops), also when
   * no event followed them: a host that goes quiet after an unpack.
   */
  flushIdle(all?: boolean): void;
  /** Job output (wrapped mode's pty/pipes, or runner step logs). */
  onOutput(jobId: string, chunk: Uint8Array, location: string): void;
  endJob(jobId: string, exitCode: number): Promise<JobEndResult>;
  secretsOf(jobId: string): readonly DiscoveredSecret[];
}

/** Sets key in a cache bounded to max entries: at the bound, a new key evicts the oldest one. */
function cacheSet<K, V>(m: Map<K, V>, key: K, value: V, max: number): void {
  if (!m.has(key) && m.size >= max) m.delete(m.keys().next().value as K);
  m.set(key, value);
}

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host), if it is. */
function cgroup2Mount(): string | undefined {
  for (const line of readText('/proc/self/mountinfo').split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash > 0 && f[dash + 1] === 'cgroup2' && f[4]) return f[4].replace(/\\040/g, ' ');
  }
  return undefined;
}

function readText(path: string | undefined): string {
  if (!path) return '';
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export function createAgentCore(o: CoreOptions): AgentCore {
  const jobs = new Map<string, JobState>();
  const log = o.logger;
  // The pid of the event being enriched when its /proc/<pid>/environ could not be read: the process is gone
  // (most short-lived processes are by the time their exec is read), so its fds, cwd and cgroup are not tried
  // either (each failed read costs a thrown error, ~10 µs, 5 per exec).
  let gonePid = -1;
  // cgroup v2 id (from the kernel, at the exec) → its path and container: read from /proc once per cgroup, and only
  // kept when the path's directory has that id as its inode (the process may have moved since its exec).
  const cgroupPaths = new Map<string, { cgroup: string; containerId: string | undefined }>();
  let cgroupRoot: string | null | undefined;
  function learnCgroup(id: string, entry: { cgroup: string; containerId: string | undefined }): void {
    if (cgroupRoot === undefined) cgroupRoot = cgroup2Mount() ?? null;
    if (cgroupRoot === null) return;
    try {
      if (statSync(join(cgroupRoot, entry.cgroup), { bigint: true }).ino !== BigInt(id)) return;
    } catch {
      return;
    }
    cacheSet(cgroupPaths, id, entry, CORE_LIMITS.maxCgroupCache);
  }

  function emit(draft: EventDraft): void {
    o.enqueue(draft);
  }

  function exposureEvents(job: JobState, hits: readonly Exposure[], pid: number): void {
    if (!job.reporter) return;
    for (const h of hits) {
      const secret: SecretExposure = job.reporter.toEvent(h);
      emit({ kind: 'secret', secret, tsNs: o.nowNs(), host: o.host, jobId: job.view.jobId, pid, secretNames: [h.secretName] });
    }
  }

  /** A string as it may leave the agent: every secret value (and encoding) replaced by `***`. */
  function redactText(job: JobState, text: string): string {
    return job.redactor?.redactString(text) ?? text;
  }

  /** Scrubs the fields of a draft that carry what a process chose to write (argv, names, paths). */
  function scrubDraft(job: JobState, d: EventDraft): void {
    switch (d.kind) {
      case 'exec':
        if (d.exec.argv) d.exec.argv = d.exec.argv.map((a) => redactText(job, a));
        if (d.exec.cwd) d.exec.cwd = redactText(job, d.exec.cwd);
        break;
      case 'dns':
        if (d.dns.name) d.dns.name = redactText(job, d.dns.name);
        break;
      case 'file':
        if (d.file.path) d.file.path = redactText(job, d.file.path);
        if (d.file.newPath) d.file.newPath = redactText(job, d.file.newPath);
        break;
      case 'net':
        if (d.net.domain) d.net.domain = redactText(job, d.net.domain);
        if (d.net.family === 'UNIX' && d.net.dstIp) d.net.dstIp = redactText(job, d.net.dstIp);
        break;
      default:
        break;
    }
  }

  function rebuildScanners(job: JobState): void {
    const list = job.secrets.map((s) => ({ name: s.name, value: s.value }));
    job.scanner = list.length ? createScanner(list) : undefined;
    job.dnsScanner = list.length ? createDnsScanner(list) : undefined;
    job.reporter = list.length ? createExposureReporter(list, o.installKey) : undefined;
    job.redactor = list.length ? createRedactor(list) : undefined;
    job.view = { ...job.view, secretNames: new Set(job.secrets.map((s) => s.name)) };
    job.byValue = new Map(job.secrets.map((s) => [s.value, s.name]));
    job.byEnv.clear();
  }

  /** Which job secrets an environment holds, and secrets the job did not declare (added to the job). */
  function namesInEnv(job: JobState, raw: Buffer): string[] {
    // The same environment (every /bin/true of a loop, every cc of a make) is scanned once.
    const key = raw.toString('latin1');
    const hit = job.byEnv.get(key);
    if (hit) return hit;
    const env = parseEnviron(raw);
    const known = job.byValue;
    const found = new Set<string>();
    for (const [k, v] of env) {
      const byValue = known.get(v);
      if (byValue) found.add(byValue);
      else if (job.view.secretNames.has(k)) found.add(k);
    }
    // A step can bring secrets the job start did not see (host mode: each step's env). Discovery looks at each
    // variable alone and lists them by name, so it runs per variable, remembered: environments differ by a few
    // variables (a compiler's COLLECT_GCC_OPTIONS names each output file), the rest repeats. A variable as the job
    // started with it was discovered then: it is compared, not looked up (no key built, no hash of its value).
    const fresh: DiscoveredSecret[] = [];
    for (const [k, v] of env) {
      if (job.startEnv.get(k) === v) continue;
      // By value: a step may hold a name the job already knows with another value (a step-level secret of the same
      // name); that value is a secret too, to redact and scan for, not a repeat of the one the job started with.
      for (const s of discoveredIn(job, k, v)) if (!known.has(s.value) && !fresh.some((f) => f.value === s.value)) fresh.push(s);
    }
    fresh.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (fresh.length) {
      job.secrets.push(...fresh);
      rebuildScanners(job);
      for (const s of fresh) found.add(s.name);
    }
    const names = [...found].sort();
    cacheSet(job.byEnv, key, names, CORE_LIMITS.maxEnvCache);
    return names;
  }

  /** discoverSecrets({ [name]: value }), once per distinct variable of the job. */
  function discoveredIn(job: JobState, name: string, value: string): DiscoveredSecret[] {
    const key = `${name}=${value}`;
    let found = job.byVar.get(key);
    if (found === undefined) {
      found = discoverSecrets({ [name]: value }, o.secretsConfig);
      cacheSet(job.byVar, key, found, CORE_LIMITS.maxVarCache);
    }
    return found;
  }

  /** Reads a process's environment once per pid (again after an exec): which secrets it holds. */
  function heldSecrets(pid: number, job: JobState, ppid?: number): string[] {
    const cached = job.held.get(pid);
    if (cached) return cached;
    const raw = readEnvironRaw(pid);
    if (raw === undefined) gonePid = pid;
    const names = raw
      ? namesInEnv(job, raw)
      : (ppid !== undefined ? job.held.get(ppid) : undefined) ?? [...job.view.secretNames].sort();
    cacheSet(job.held, pid, names, CORE_LIMITS.maxHeldCache);
    return names;
  }

  function targetInfo(pid: number, readerJob: JobView | undefined): TargetInfo {
    const argv0 = readCmdline(pid)?.[0];
    const comm = argv0 ? (argv0.split('/').pop() ?? argv0) : readComm(pid);
    const env = readEnviron(pid);
    const names: string[] = [];
    if (env) {
      const job = readerJob ? jobs.get(readerJob.jobId) : undefined;
      const values = new Map(job?.secrets.map((s) => [s.value, s.name]) ?? []);
      for (const [k, v] of env) if (values.has(v) || readerJob?.secretNames.has(k)) names.push(values.get(v) ?? k);
      for (const s of discoverSecrets(Object.fromEntries(env), o.secretsConfig)) if (!names.includes(s.name)) names.push(s.name);
    }
    const inJob = readerJob !== undefined && o.attribution.jobOf(pid) === readerJob.jobId;
    return { ...(comm ? { comm } : {}), secretNames: names.sort(), inJob };
  }

  /**
   * Whether pid's stdin `pipe` came from its parent: the parent's fd 0 as read at its exec (no syscall; most parents
   * of a build are gone by the time their child's exec is read), else as the parent has it now, else as the
   * nearest ancestor with a piped stdin had it at its exec (a forked subshell that never exec'd has its parent's
   * descriptors).
   */
  function inheritedStdin(job: JobState, pid: number, ppid: number, pipe: string): boolean {
    if (job.stdinAt.get(ppid) === pipe) return true;
    const live = readFdTarget(ppid, 0);
    if (live !== undefined) return live === pipe;
    for (const a of o.attribution.ancestry(pid, 8)) {
      const at = job.stdinAt.get(a.pid);
      if (at !== undefined) return at === pipe;
    }
    return false;
  }

  const sources = {
    jobOf(pid: number): JobView | undefined {
      const id = o.attribution.jobOf(pid);
      return id === undefined ? undefined : jobs.get(id)?.view;
    },
    heldSecrets(pid: number, view: JobView, ppid?: number): string[] {
      const job = jobs.get(view.jobId);
      return job ? heldSecrets(pid, job, ppid) : [];
    },
    ancestry: (pid: number) => o.attribution.ancestry(pid, 16).map((a) => a.comm ?? String(a.pid)),
    domainOf: (pid: number, ip: string) => o.attribution.domainFor(pid, ip),
    fdTarget: (pid: number, fd: number) => (pid === gonePid ? undefined : readFdTarget(pid, fd)),
    procInfo(pid: number, cgroupId?: string, wantCwd = true): { cwd?: string; cgroup?: string; containerId?: string } {
      const gone = pid === gonePid;
      let cg = cgroupId ? cgroupPaths.get(cgroupId) : undefined;
      if (!cg && !gone) {
        const cgroup = readCgroup(pid);
        if (cgroup) {
          cg = { cgroup, containerId: containerIdOf(cgroup) };
          if (cgroupId) learnCgroup(cgroupId, cg);
        }
      }
      const cwd = wantCwd && !gone ? readCwd(pid) : undefined;
      return { ...(cwd ? { cwd } : {}), ...(cg ? { cgroup: cg.cgroup } : {}), ...(cg?.containerId ? { containerId: cg.containerId } : {}) };
    },
    pipeOut(view: JobView, pipe: string, comm: string): void {
      const job = jobs.get(view.jobId);
      if (job && comm) cacheSet(job.pipeOut, pipe, comm, CORE_LIMITS.maxPipeCache);
    },
    cwdOf(pid: number): string | undefined {
      const own = pid === gonePid ? undefined : readCwd(pid);
      if (own) return own;
      for (const a of o.attribution.ancestry(pid, 8)) {
        const c = readCwd(a.pid);
        if (c) return c;
      }
      return undefined;
    },
    pipeWriter(pid: number, view: JobView, pipe: string, ppid?: number): string | undefined {
      // A stdin the parent has too was inherited, not made for this process (every process of a job run with a
      // piped stdin): its writer was looked for when the pipe was first seen, and is not looked for again.
      const job = jobs.get(view.jobId);
      if (job) cacheSet(job.stdinAt, pid, pipe, CORE_LIMITS.maxHeldCache);
      const known = job?.pipeWriters.get(pipe);
      if (job && known !== undefined && ppid !== undefined && ppid > 0 && inheritedStdin(job, pid, ppid, pipe)) return known ?? undefined;
      // A process of the job that had the pipe as its stdout when it exec'd (the kernel's view: found even when the
      // writer has exited since, as `curl … | sh` often has by the time the shell's exec is read).
      const out = job?.pipeOut.get(pipe);
      if (job && out !== undefined) {
        cacheSet(job.pipeWriters, pipe, out, CORE_LIMITS.maxPipeCache);
        return out;
      }
      // The writer is usually the reader's sibling, started just before it: look at the job's live
      // members, nearest pids first, and stop at the first whose stdout is the same pipe. For a pipe already looked
      // for in vain, only at the members not looked at then: `make -j` gives each job but one a pipe with no writer
      // as its stdin (the jobs share it, so it is not inherited from make), and each compiler of a build searched
      // the whole job again. What this leaves out: a process looked at that takes the pipe as its stdout later
      // without an exec (one that execs is in pipeOut).
      const looked = job?.pipeLooked.get(pipe);
      const members = o.attribution.members(view.jobId).filter((p) => p !== pid && !looked?.has(p)).sort((a, b) => Math.abs(a - pid) - Math.abs(b - pid));
      let writer: string | undefined;
      const scan = members.slice(0, 64);
      for (const m of scan) {
        if (readFdTarget(m, 1) === pipe) { writer = readComm(m); break; }
      }
      // Found none: the writer found for this pipe before, if any, is still its writer of record (it may be gone).
      if (writer === undefined && known) writer = known;
      if (job) {
        cacheSet(job.pipeWriters, pipe, writer ?? null, CORE_LIMITS.maxPipeCache);
        if (writer !== undefined) job.pipeLooked.delete(pipe);
        else {
          const set = looked ?? new Set<number>();
          for (const m of scan) if (set.size < CORE_LIMITS.maxPipeCache) set.add(m);
          if (!looked) cacheSet(job.pipeLooked, pipe, set, CORE_LIMITS.maxPipeCache);
        }
      }
      return writer;
    },
    target: targetInfo,
    wroteExecutable(view: JobView, path: string): boolean {
      return ((jobs.get(view.jobId)?.written.get(path) ?? 0) & 1) === 1;
    },
    resolvers: o.resolvers,
    policy: o.policy,
  };

  /**
   * Remembers the last writer of a path, and whether the job made it (a write, a create, a chmod, a rename to it:
   * anything but an unlink), for exec-of-dropped-file: one small integer per path, pid × 2 + that bit (sticky).
   * Bounded: past the limit new paths are not remembered (exec-of-dropped-file then relies on the collector's own
   * record of the job's writes).
   */
  function noteWrite(job: JobState, pid: number, path: string, op: string | undefined): void {
    const prev = job.written.get(path);
    if (prev === undefined && job.written.size >= CORE_LIMITS.maxWrittenPathsPerJob) return;
    job.written.set(path, pid * 2 + (((prev ?? 0) & 1) | (op !== 'UNLINK' ? 1 : 0)));
  }
  const writerOf = (v: number | undefined): number => (v === undefined ? 0 : v >>> 1);

  /**
   * Plain files (untracked workspace, /tmp; no dot-path, no execute bit) written or unlinked beyond
   * plainFilesPerDir per (program, op, directory) of a job leave as one event per window: path `<dir>/*`, the sum of
   * write-opens (or unlinks) as count, how many processes, a few names as contentHint. Untar, npm install and rm -rf
   * touch tens of thousands, a make's compilers (a process per file) as many; every other class goes one by one.
   * A file that left only inside an aggregate is sent on its own when the job runs it (sendUnsentWrites).
   */
  function aggregated(job: AggState, d: EventDraft & { kind: 'file' }): boolean {
    const f = d.file;
    if (f.op !== 'OPEN_WRITE' && f.op !== 'CREATE' && f.op !== 'UNLINK') return false;
    const unlink = f.op === 'UNLINK';
    if (!f.path || !PLAIN_CLASSES.has(f.pathClass ?? '') || f.path.includes('/.') || ((f.mode ?? 0) & 0o111) !== 0) return false;
    const slash = f.path.lastIndexOf('/');
    if (slash <= 0) return false;
    const dir = f.path.slice(0, slash);
    const prog = d.exe || d.comm || `pid ${d.pid ?? 0}`;
    // An untar or a make writes file after file in one directory: the previous event's aggregate, without a lookup.
    const last = job.lastAgg;
    let a = last && last.unlink === unlink && last.prog === prog && last.dir === dir ? last.a : undefined;
    if (!a) {
      const key = `${prog} ${unlink ? 'u' : 'w'} ${dir}`;
      a = job.dirs.get(key);
      if (!a) {
        if (job.dirs.size >= CORE_LIMITS.maxAggregates && job.longLived) recycleDirs(job);
        if (job.dirs.size >= CORE_LIMITS.maxAggregates) return false;
        a = { files: 0, pending: undefined, sample: [], opens: 0, since: 0, pids: new Set() };
        job.dirs.set(key, a);
      }
      job.lastAgg = { prog, unlink, dir, a };
    }
    if (a.files < CORE_LIMITS.plainFilesPerDir) { a.files++; return false; }
    if (unlink) job.unsent.delete(f.path);
    else rememberUnsent(job, d, f.op);
    if (!a.pending) {
      a.pending = { ...d, file: { op: unlink ? 'UNLINK' : 'OPEN_WRITE', path: `${dir}/*`, count: 0, pathClass: f.pathClass ?? '' } };
      a.since = o.nowNs();
      job.aggDue = Math.min(job.aggDue, a.since);
      a.sample = [];
      a.opens = 0;
      a.pids.clear();
    }
    if (a.pids.size < CORE_LIMITS.aggregatePids) a.pids.add(d.pid ?? 0);
    a.opens += f.count ?? 1;
    a.pending.file.count = (a.pending.file.count ?? 0) + 1;
    if (a.sample.length < CORE_LIMITS.aggregateSample) a.sample.push(f.path.slice(slash + 1));
    return true;
  }

  /** Directories of the host's aggregation with nothing pending are forgotten (their budget starts again); once per window. */
  function recycleDirs(agg: AggState): void {
    const now = o.nowNs();
    if (now - agg.sweptNs < CORE_LIMITS.aggregateWindowNs) return;
    agg.sweptNs = now;
    for (const [k, v] of agg.dirs) if (!v.pending) agg.dirs.delete(k);
    agg.lastAgg = undefined;
  }

  /**
   * A write that leaves only inside an aggregate, kept for sendUnsentWrites. Bounded: a job stops remembering new
   * paths at the bound, the host forgets its oldest. The paths of one writer in one window share one record.
   */
  function rememberUnsent(agg: AggState, d: EventDraft & { kind: 'file' }, op: FileOp): void {
    const f = d.file;
    const path = f.path ?? '';
    if (agg.unsent.size >= CORE_LIMITS.maxWrittenPathsPerJob && !agg.unsent.has(path)) {
      if (!agg.longLived) return;
      agg.unsent.delete(agg.unsent.keys().next().value as string);
    }
    const l = agg.lastUnsent;
    const w = l && l.tsNs === d.tsNs && l.pid === (d.pid ?? 0) && l.op === op && l.mode === f.mode && l.pathClass === (f.pathClass ?? '') && l.exe === (d.exe ?? '')
      ? l
      : { tsNs: d.tsNs, pid: d.pid ?? 0, ppid: d.ppid ?? 0, uid: d.uid ?? 0, comm: d.comm ?? '', exe: d.exe ?? '', op, mode: f.mode, pathClass: f.pathClass ?? '' };
    agg.lastUnsent = w;
    agg.unsent.set(path, w);
  }

  /** A file event the core made (aggregate, unsent write) scrubbed of the job's secrets; the host's have none. */
  function scrubMade(job: JobState | undefined, d: EventDraft & { kind: 'file' }): void {
    if (!job) return;
    scrubDraft(job, d);
    if (d.file.contentHint) d.file.contentHint = redactText(job, d.file.contentHint);
  }

  /**
   * Before an exec: a file it runs (exe, argv[0], an interpreter's script) that the job wrote and that left only
   * inside an aggregate goes out on its own, with its writer, so the collector knows the job wrote what it runs.
   */
  function sendUnsentWrites(agg: AggState, d: EventDraft & { kind: 'exec' }, job: JobState | undefined): void {
    if (!agg.unsent.size) return;
    for (const path of execCandidates(d.exe ?? '', d.exec.argv ?? [], d.exec.cwd ?? '')) {
      const w = agg.unsent.get(path);
      if (!w) continue;
      agg.unsent.delete(path);
      const f: EventDraft & { kind: 'file' } = {
        kind: 'file', tsNs: w.tsNs, host: o.host, jobId: job?.view.jobId ?? '', pid: w.pid, ppid: w.ppid, uid: w.uid, comm: w.comm, exe: w.exe, secretNames: [],
        file: { op: w.op, path, count: 1, pathClass: w.pathClass, contentHint: 'sent on its own when the job ran it (counted before in an aggregate)', ...(w.mode !== undefined ? { mode: w.mode } : {}) },
      };
      scrubMade(job, f);
      emit(f);
    }
  }

  /** Sends the aggregates older than the window (all of them with `all`); job: whose secrets to scrub (none: the host's). */
  function flushAggregates(agg: AggState, all: boolean, job: JobState | undefined): void {
    const now = o.nowNs();
    if (!all && now - agg.aggDue < CORE_LIMITS.aggregateWindowNs) return;
    agg.aggDue = Infinity;
    for (const a of agg.dirs.values()) {
      if (!a.pending) continue;
      if (!all && now - a.since < CORE_LIMITS.aggregateWindowNs) { agg.aggDue = Math.min(agg.aggDue, a.since); continue; }
      const d = a.pending;
      a.pending = undefined;
      const files = d.file.count ?? 0;
      const by = a.pids.size > 1 ? ` by ${a.pids.size >= CORE_LIMITS.aggregatePids ? `${a.pids.size}+` : a.pids.size} processes` : '';
      d.file.contentHint = d.file.op === 'UNLINK'
        ? `aggregated: ${files} files unlinked${by}; e.g. ${a.sample.join(', ')}`
        : `aggregated: ${files} files, ${a.opens} write-opens${by}; e.g. ${a.sample.join(', ')}`;
      d.file.count = a.opens;
      scrubMade(job, d);
      emit(d);
    }
  }

  const hostAgg = newAggState(true);
  function hostEvent(draft: EventDraft): void {
    if (draft.kind === 'file') {
      if (aggregated(hostAgg, draft)) { flushAggregates(hostAgg, false, undefined); return; }
      if (hostAgg.unsent.size && draft.file.path) hostAgg.unsent.delete(draft.file.path);
    } else if (draft.kind === 'exec') {
      sendUnsentWrites(hostAgg, draft, undefined);
    }
    emit(draft);
    flushAggregates(hostAgg, false, undefined);
  }

  return {
    flushIdle(all = false) {
      flushAggregates(hostAgg, all, undefined);
      for (const job of jobs.values()) flushAggregates(job, all, job);
    },

    startJob(jobId, start, rootPid, env, paths) {
      const secrets = discoverSecrets(env, o.secretsConfig);
      const job: JobState = {
        view: { jobId, paths, secretNames: new Set() },
        start, startNs: o.nowNs(), secrets, scanner: undefined, dnsScanner: undefined, reporter: undefined, redactor: undefined,
        written: new Map(), held: new Map(), byEnv: new Map(), byVar: new Map(), byValue: new Map(),
        startEnv: new Map(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)), pipeWriters: new Map(), pipeOut: new Map(), pipeLooked: new Map(), stdinAt: new Map(), ...newAggState(false),
        envFilesAtStart: new Map([paths.envFile, paths.pathFile].filter((p): p is string => !!p).map((p) => [p, readText(p)])),
      };
      rebuildScanners(job);
      jobs.set(jobId, job);
      if (rootPid > 0) o.attribution.registerJob(jobId, rootPid);
      const body: JobStart = { ...start, secretNames: [...job.view.secretNames].sort(), rootPid };
      emit({ kind: 'jobStart', jobStart: body, tsNs: job.startNs, host: o.host, jobId, pid: rootPid, secretNames: [] });
      log.info({ jobId, secrets: body.secretNames?.length ?? 0, rootPid }, 'job started');
    },

    setRoot(jobId, rootPid) {
      o.attribution.registerJob(jobId, rootPid);
    },

    onSensorEvent(ev) {
      gonePid = -1;
      o.attribution.observe(ev);
      const id = o.attribution.jobOf(ev.pid);
      const owner = id === undefined ? undefined : jobs.get(id);
      // `run` keeps only its job's events: the rest of the host is not enriched (its /proc reads are the cost).
      if (!owner && !o.hostEvents) return;
      // An exec may bring a new environment: forget the pid's names before enrichment reads them.
      if (ev.kind === 'exec') owner?.held.delete(ev.pid);
      const draft = enrich(ev, sources, o.host);
      if (!draft) return;
      const job = draft.jobId ? jobs.get(draft.jobId) : undefined;
      if (!job) {
        // Outside every job. A read of a job's worker memory is attributed to the reader's job above;
        // the daemon keeps host events (tampering with the agent), `run` drops them.
        // Plain files are aggregated as a job's are: an unpack by a host service is one event per directory.
        if (o.hostEvents) hostEvent(draft);
        return;
      }
      // Scan what the process exposed before it is scrubbed, then send the scrubbed event first so the
      // exposure follows the event that caused it.
      const exposures: Exposure[] = [];
      switch (draft.kind) {
        case 'exec':
          if (job.scanner && draft.exec.argv) exposures.push(...scanArgv(job.scanner, draft.exec.argv, `argv:${draft.comm || 'exec'}`));
          sendUnsentWrites(job, draft, job);
          break;
        case 'dns':
          if (job.dnsScanner && draft.dns.name) exposures.push(...scanDnsName(job.dnsScanner, draft.dns.name, 'dns'));
          break;
        case 'file':
          if (draft.file.path) noteWrite(job, draft.pid ?? 0, draft.file.newPath || draft.file.path, draft.file.op);
          if (aggregated(job, draft)) { flushAggregates(job, false, job); return; }
          if (job.unsent.size && draft.file.path) job.unsent.delete(draft.file.path); // this write goes out on its own
          break;
        default:
          break;
      }
      scrubDraft(job, draft);
      emit(draft);
      exposureEvents(job, exposures, draft.pid ?? 0);
      flushAggregates(job, false, job);
    },

    onOutput(jobId, chunk, location) {
      const job = jobs.get(jobId);
      if (!job?.scanner) return;
      exposureEvents(job, job.scanner.scan(chunk, 'LOG', location), job.start.rootPid ?? 0);
    },

    async endJob(jobId, exitCode) {
      const job = jobs.get(jobId);
      if (!job) return { survivors: 0, exposures: 0 };
      let exposures = 0;
      flushAggregates(job, true, job);
      if (job.scanner) {
        const tail = job.scanner.end();
        exposureEvents(job, tail, job.start.rootPid ?? 0);
        exposures += tail.length;
      }
      // Written files: secrets baked into artifacts, configs, caches.
      let scanned = 0;
      for (const [path, w] of job.written) {
        if (!job.scanner || scanned >= CORE_LIMITS.maxFilesScannedPerJob) break;
        // A gone path is the common case after a build's cleanup: no exception per path (a stat of each is enough).
        let st;
        try { st = statSync(path, { throwIfNoEntry: false }); } catch { continue; }
        if (!st?.isFile()) continue;
        scanned++;
        const r = await scanFile(job.scanner, path, { maxBytes: CORE_LIMITS.maxFileScanBytes }).catch(() => undefined);
        if (r?.exposures.length) {
          exposureEvents(job, r.exposures, writerOf(w));
          exposures += r.exposures.length;
        }
      }
      // Runner command files: what later steps will load (content, not just the write).
      for (const [path, before] of job.envFilesAtStart) {
        const now = readText(path);
        if (now === before) continue;
        const added = now.startsWith(before) ? now.slice(before.length) : now;
        const isEnv = path === job.view.paths.envFile;
        const redact = (s: string): string => redactText(job, s);
        const hint = isEnv ? envFileHint(parseEnvFile(added), redact) : parsePathFile(added).map(redact).join('\n');
        emit({
          kind: 'file', tsNs: o.nowNs(), host: o.host, jobId, pid: writerOf(job.written.get(path)), secretNames: [],
          file: { op: 'OPEN_WRITE', path, count: 1, pathClass: isEnv ? 'runner-env-file' : 'runner-path-file', contentHint: hint },
        });
      }
      // Processes of the job still alive: persistence on a reused runner.
      const survivors = o.attribution.members(jobId).filter((pid) => {
        const st = readStat(pid);
        return st !== undefined && st.state !== 'Z';
      });
      const list = survivors.slice(0, 64).map((pid) => ({
        pid, comm: readComm(pid) ?? '', argv: (readCmdline(pid) ?? []).slice(0, 16).map((a) => redactText(job, a)),
      }));
      emit({
        kind: 'jobEnd', tsNs: o.nowNs(), host: o.host, jobId, pid: job.start.rootPid ?? 0, secretNames: [],
        jobEnd: { exitCode, survivors: list, durationNs: o.nowNs() - job.startNs },
      });
      o.attribution.unregisterJob(jobId);
      // Values leave memory with the job.
      job.secrets.length = 0;
      job.byVar.clear();
      job.byValue.clear();
      job.startEnv.clear();
      job.byEnv.clear();
      job.scanner = undefined;
      job.dnsScanner = undefined;
      job.reporter = undefined;
      job.redactor = undefined;
      jobs.delete(jobId);
      log.info({ jobId, exitCode, survivors: survivors.length, exposures }, 'job ended');
      return { survivors: survivors.length, exposures };
    },

    secretsOf(jobId) {
      return jobs.get(jobId)?.secrets ?? [];
    },
  };
}
