// Turns a sensor observation into an event draft for a job: attribution, which secrets the process holds,
// path classes, the target of memory/environment reads, egress flags. Decisions only: everything the
// kernel or /proc must tell comes in through `EnrichSources`.
import { posix } from 'node:path';
import type { FdAtExec, SensorEvent } from './sensors/types.js';
import type { EventDraft } from './uplink.js';
import { classifyPath } from './job-paths.js';
import type { JobPaths } from './job-paths.js';
import { destinationAllowed, ipInNets } from './netmatch.js';
import type { NetPolicy } from './netmatch.js';


export interface JobView {
  jobId: string;
  paths: JobPaths;
  secretNames: ReadonlySet<string>;
}

export interface TargetInfo { comm?: string; secretNames: string[]; inJob: boolean }

export interface EnrichSources {
  /** The job a pid belongs to (by ancestry), if any. */
  jobOf(pid: number): JobView | undefined;
  /** Names of the job's secrets present in the process's environment (cached per pid; the parent's when it is gone). */
  heldSecrets(pid: number, job: JobView, ppid?: number): string[];
  /** comm of the parents, nearest first. */
  ancestry(pid: number): string[];
  /** The name this process (or its job) resolved to `ip`. */
  domainOf(pid: number, ip: string): string | undefined;
  fdTarget(pid: number, fd: number): string | undefined;
  /** cwd (when wantCwd), cgroup and container of a live process, read at its exec; cgroupId: its cgroup v2 id as the kernel gave it. */
  procInfo(pid: number, cgroupId?: string, wantCwd?: boolean): { cwd?: string; cgroup?: string; containerId?: string };
  /** The job's process `comm` had `pipe` as its stdout at its exec (a writer for a later reader of that pipe). */
  pipeOut(job: JobView, pipe: string, comm: string): void;
  /** Working directory of pid (or, once it is gone, of its nearest live ancestor): for relative paths. */
  cwdOf(pid: number): string | undefined;
  /** comm of another process of the job whose stdout is `pipe` (e.g. curl for `curl … | sh`); ppid: the reader's parent. */
  pipeWriter(pid: number, job: JobView, pipe: string, ppid?: number): string | undefined;
  target(pid: number, readerJob: JobView | undefined): TargetInfo;
  /** Paths executable by the job that the job itself wrote. */
  wroteExecutable(job: JobView, path: string): boolean;
  resolvers: ReadonlySet<string>;
  policy: NetPolicy;
}

const PROC_PID = /^\/proc\/(\d+)\//;

/** The kind of what a descriptor points at, from its /proc/<pid>/fd link. */
export function fdKind(target: string): string {
  if (target.startsWith('pipe:')) return 'pipe';
  if (target.startsWith('socket:')) return 'socket';
  if (target === '/dev/null') return 'null';
  if (target.startsWith('/dev/pts/') || target.startsWith('/dev/tty') || target === '/dev/console') return 'tty';
  return 'file';
}

/** fd `fd` of a live process as /proc shows it now: undefined when it is not open (or the process is gone). */
function fdNow(src: EnrichSources, pid: number, fd: number): FdAtExec | undefined {
  const target = src.fdTarget(pid, fd);
  if (target === undefined) return undefined;
  const kind = fdKind(target) as FdAtExec['kind'];
  return kind === 'pipe' || kind === 'socket' ? { kind, target } : { kind };
}

/**
 * A relative path of pid the sensor could not resolve (agent/sensors/relative-paths.ts) made absolute against the
 * working directory of pid or of a live ancestor (the job's workspace when unknown); fd:N/path is left as it is.
 */
function absPath(p: string, pid: number, job: JobView | undefined, src: EnrichSources): string {
  if (p.startsWith('fd:')) return p;
  const cwd = src.cwdOf(pid) ?? job?.paths.workspace;
  return cwd ? posix.join(cwd, p) : p;
}

function enrichExec(ev: Extract<SensorEvent, { kind: 'exec' }>, base: Record<string, unknown>, job: JobView | undefined, src: EnrichSources): EventDraft | undefined {
  const exec = { ...ev.exec, ancestry: src.ancestry(ev.pid) };
  if (job) {
    // The kernel's view at the exec when the sensor gives one, else /proc now (while the process lives).
    const k = ev.execInfo;
    const stdin = k ? k.fd0 : fdNow(src, ev.pid, 0);
    const stdout = k ? k.fd1 : fdNow(src, ev.pid, 1);
    if (stdin) exec.stdin = stdin.kind;
    if (stdout) exec.stdout = stdout.kind;
    if (stdout?.kind === 'pipe' && stdout.target) src.pipeOut(job, stdout.target, ev.comm ?? '');
    if (stdin?.kind === 'pipe' && stdin.target) {
      const writer = src.pipeWriter(ev.pid, job, stdin.target, ev.ppid);
      if (writer) exec.stdinPeerComm = writer;
    }
    const exe = ev.exe ?? ev.exec.argv?.[0] ?? '';
    if (exe && src.wroteExecutable(job, exe)) exec.exeWrittenByJob = true;
    if (exe.startsWith('/memfd:') || exe.endsWith(' (deleted)')) exec.memfd = true;
    if (!exec.cwd && k?.cwd) exec.cwd = k.cwd;
    const info = src.procInfo(ev.pid, k?.cgroupId, !exec.cwd);
    if (!exec.cwd && info.cwd) exec.cwd = info.cwd;
    if (!exec.cgroup && info.cgroup) exec.cgroup = info.cgroup;
    if (!exec.containerId && info.containerId) exec.containerId = info.containerId;
  }
  base.exec = exec;
  return base as EventDraft;
}

function enrichNet(ev: Extract<SensorEvent, { kind: 'net' }>, base: Record<string, unknown>, job: JobView | undefined, src: EnrichSources): EventDraft | undefined {
  const net = { ...ev.net };
  const ip = net.dstIp ?? '';
  if (net.family === 'INET' || net.family === 'INET6') {
    if (!net.domain) {
      const d = src.domainOf(ev.pid, ip);
      if (d) net.domain = d;
    }
    net.trusted = ipInNets(ip, src.policy.trusted);
    net.allowed = destinationAllowed(ip, net.domain, src.policy);
    if (net.dstPort === 53 && src.resolvers.has(ip)) net.resolver = true;
  }
  base.net = net;
  return base as EventDraft;
}

function enrichFile(ev: Extract<SensorEvent, { kind: 'file' }>, base: Record<string, unknown>, job: JobView | undefined, src: EnrichSources): EventDraft | undefined {
  const file = { ...ev.file };
  if (file.path && file.path.charCodeAt(0) !== 47) file.path = absPath(file.path, ev.pid, job, src);
  if (file.newPath && file.newPath.charCodeAt(0) !== 47) file.newPath = absPath(file.newPath, ev.pid, job, src);
  if (job && file.path) file.pathClass = classifyPath(file.path, job.paths);
  if (job && file.newPath) file.newPathClass = classifyPath(file.newPath, job.paths);
  base.file = file;
  return base as EventDraft;
}

function enrichRead(ev: Extract<SensorEvent, { kind: 'read' }>, base: Record<string, unknown>, job: JobView | undefined, src: EnrichSources): EventDraft | undefined {
  const read = { ...ev.read };
  const path = read.path ?? '';
  read.pathClass = classifyPath(path, job?.paths ?? {});
  const m = PROC_PID.exec(path);
  if (m) {
    const target = Number(m[1]);
    if (target === ev.pid) return undefined; // a process reading its own /proc entries
    const info = src.target(target, job);
    read.targetPid = target;
    if (info.comm) read.targetComm = info.comm;
    read.targetSecretNames = info.secretNames;
  }
  base.read = read;
  return base as EventDraft;
}

function enrichAccess(ev: Extract<SensorEvent, { kind: 'access' }>, base: Record<string, unknown>, job: JobView | undefined, src: EnrichSources): EventDraft | undefined {
  const access = { ...ev.access };
  if (access.targetPid) {
    const info = src.target(access.targetPid, job);
    if (info.comm) access.targetComm = info.comm;
    access.targetSecretNames = info.secretNames;
    access.targetInJob = info.inJob;
  }
  base.access = access;
  return base as EventDraft;
}

export function enrich(ev: SensorEvent, src: EnrichSources, host: string): EventDraft | undefined {
  const job = src.jobOf(ev.pid);
  // The draft is this object with its body added (not a spread copy of it per kind: V8 copies spreads slowly, and a
  // file-heavy job has tens of thousands of events). Same keys, same order as { ...base, kind, [kind]: body }.
  const base = {
    tsNs: ev.tsNs, host, jobId: job?.jobId ?? '', pid: ev.pid, ppid: ev.ppid ?? 0, uid: ev.uid ?? 0,
    comm: ev.comm ?? '', exe: ev.exe ?? '',
    secretNames: job ? src.heldSecrets(ev.pid, job, ev.ppid) : [],
    kind: ev.kind,
  } as Record<string, unknown>;
  // One function per kind: each is optimised alone (a file-heavy job sends tens of thousands through one of them).
  switch (ev.kind) {
    case 'exec': return enrichExec(ev, base, job, src);
    case 'net': return enrichNet(ev, base, job, src);
    case 'file': return enrichFile(ev, base, job, src);
    case 'read': return enrichRead(ev, base, job, src);
    case 'access': return enrichAccess(ev, base, job, src);
    default:
      base[ev.kind] = (ev as Record<string, unknown>)[ev.kind];
      return base as EventDraft;
  }
}
