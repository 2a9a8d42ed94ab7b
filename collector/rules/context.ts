// Per-job detection state (process tree, secret holders, credential readers, files written, DNS seen) and the
// CEL context (`ev`, `job`, `proc`, `target`, `x`, `baseline`) built for each event. Pure; bounded by limits.
import type { FindingEvidence } from '../finding.js';
import type { JobStart, RwEvent } from '../../proto/types.js';
import type { BaselineView } from '../baseline.js';
import { domainMatches, entropy, ipInCidrs, isIpLiteral } from './netmatch.js';
import { basename } from './cel.js';
import { execCandidates, resolvePath, scriptArg } from './exec-paths.js';

export { resolvePath, scriptArg };

export interface StateLimits {
  maxJobs: number;
  maxProcsPerJob: number;
  maxFilesPerJob: number;
  maxDnsPerJob: number;
  maxDedupeKeysPerJob: number;
  maxPartialsPerRule: number;
  maxObservedPerJob: number;
}
export const DEFAULT_LIMITS: Readonly<StateLimits> = Object.freeze({
  maxJobs: 256,
  maxProcsPerJob: 8192,
  maxFilesPerJob: 8192,
  maxDnsPerJob: 4096,
  maxDedupeKeysPerJob: 4096,
  maxPartialsPerRule: 64,
  maxObservedPerJob: 1024,
});

export interface WrittenFile { path: string; pathClass: string; pid: number; comm: string; tsNs: number; writerEgress: boolean }

export interface ProcState {
  pid: number;
  ppid: number;
  comm: string;
  exe: string;
  argv: string[];
  cwd: string;
  ancestry: string[];
  secretNames: string[];
  /** Read a credential file, a secret file or another process's environ/memory, or inherited that from its parent. */
  readCredentials: boolean;
  /** Connected to a destination that is neither trusted, allowed nor in the baseline. */
  egressExternal: boolean;
  stdin: string;
  startNs: number;
  exited: boolean;
  execEvidence: FindingEvidence | undefined;
  execWritten: WrittenFile | undefined;
}

export interface JobState {
  id: string;
  meta: JobStart | undefined;
  startNs: number;
  lastNs: number;
  baseline: BaselineView | undefined;
  procs: Map<number, ProcState>;
  files: Map<string, WrittenFile>;
  ipToDomain: Map<string, string>;
  /** (rule, key) → severity rank already reported: a key reports again only when it escalates. */
  dedupe: Map<string, number>;
  partials: Map<string, unknown[]>;
  observed: { egress: Set<string>; executables: Set<string>; writeRoots: Set<string> };
  maxSeverityRank: number;
  ended: boolean;
  exitCode: number | undefined;
}

export interface Counters { procsEvicted: number; filesEvicted: number; dnsEvicted: number; dedupeEvicted: number; partialsEvicted: number }

export function newJobState(id: string, tsNs: number): JobState {
  return {
    id, meta: undefined, startNs: tsNs, lastNs: tsNs, baseline: undefined,
    procs: new Map(), files: new Map(), ipToDomain: new Map(), dedupe: new Map(), partials: new Map(),
    observed: { egress: new Set(), executables: new Set(), writeRoots: new Set() },
    maxSeverityRank: -1, ended: false, exitCode: undefined,
  };
}

/** Map insert that keeps insertion order as recency and drops the oldest entry past `max`. */
export function boundedSet<K, V>(m: Map<K, V>, k: K, v: V, max: number): boolean {
  m.delete(k);
  m.set(k, v);
  if (m.size <= max) return false;
  const first = m.keys().next();
  if (!first.done) m.delete(first.value);
  return true;
}
export function boundedAdd<K>(s: Set<K>, k: K, max: number): boolean {
  if (s.has(k)) return false;
  s.add(k);
  if (s.size <= max) return false;
  const first = s.values().next();
  if (!first.done) s.delete(first.value);
  return true;
}

export function ancestorsOf(job: JobState, pid: number, max = 64): number[] {
  const out: number[] = [];
  let cur = job.procs.get(pid)?.ppid;
  const seen = new Set<number>([pid]);
  while (cur !== undefined && cur > 0 && !seen.has(cur) && out.length < max) {
    out.push(cur);
    seen.add(cur);
    cur = job.procs.get(cur)?.ppid;
  }
  return out;
}

function newProc(pid: number, ppid: number, tsNs: number): ProcState {
  return {
    pid, ppid, comm: '', exe: '', argv: [], cwd: '', ancestry: [], secretNames: [], readCredentials: false,
    egressExternal: false, stdin: '', startNs: tsNs, exited: false, execEvidence: undefined, execWritten: undefined,
  };
}

/** The process an event is about, created from the header when no exec/fork was seen (events may start mid-tree). */
export function procFor(job: JobState, ev: RwEvent, limits: StateLimits, counters: Counters): ProcState {
  const pid = ev.pid ?? 0;
  let p = job.procs.get(pid);
  if (!p) {
    p = newProc(pid, ev.ppid ?? 0, ev.tsNs);
    const parent = job.procs.get(p.ppid);
    if (parent) inherit(p, parent);
    if (boundedSet(job.procs, pid, p, limits.maxProcsPerJob)) counters.procsEvicted++;
  }
  if (!p.comm && ev.comm) p.comm = ev.comm;
  if (!p.exe && ev.exe) p.exe = ev.exe;
  if (ev.secretNames?.length) p.secretNames = ev.secretNames;
  return p;
}

function inherit(child: ProcState, parent: ProcState): void {
  child.comm = parent.comm;
  child.exe = parent.exe;
  child.argv = parent.argv;
  child.cwd = parent.cwd;
  child.ancestry = parent.comm ? [parent.comm, ...parent.ancestry].slice(0, 32) : parent.ancestry;
  child.secretNames = parent.secretNames;
  child.readCredentials = parent.readCredentials;
  child.execWritten = parent.execWritten;
  // A forked child inherits the parent's sockets (python pty.spawn reverse shells fork before exec).
  child.egressExternal = parent.egressExternal;
}

/** State changes that must be visible to the rules evaluating this very event (exec replaces the image). */
export function applyBefore(job: JobState, ev: RwEvent, limits: StateLimits, counters: Counters, evidence: FindingEvidence): void {
  switch (ev.kind) {
    case 'jobStart':
      job.meta = ev.jobStart;
      break;
    case 'fork': {
      const parent = procFor(job, ev, limits, counters);
      const cpid = ev.fork.childPid ?? 0;
      // The agent may deliver a child's exec before the fork that made it (different sensor paths): a child
      // already known from a later event keeps its own image instead of being reset to the parent's.
      const known = cpid > 0 ? job.procs.get(cpid) : undefined;
      if (known && !known.exited && known.startNs >= ev.tsNs) {
        if (known.ancestry.length === 0) known.ancestry = [parent.comm, ...parent.ancestry].filter(Boolean).slice(0, 32);
      } else if (cpid > 0) {
        const c = newProc(cpid, parent.pid, ev.tsNs);
        inherit(c, parent);
        c.ancestry = [parent.comm, ...parent.ancestry].filter(Boolean).slice(0, 32);
        c.execEvidence = parent.execEvidence;
        if (boundedSet(job.procs, cpid, c, limits.maxProcsPerJob)) counters.procsEvicted++;
      }
      break;
    }
    case 'exec': {
      const p = procFor(job, ev, limits, counters);
      if (ev.ppid !== undefined && ev.ppid > 0) p.ppid = ev.ppid;
      const parent = job.procs.get(p.ppid);
      if (parent && parent.readCredentials) p.readCredentials = true;
      p.comm = ev.comm ?? p.comm;
      p.exe = ev.exe ?? '';
      p.argv = ev.exec.argv ?? [];
      p.cwd = ev.exec.cwd ?? p.cwd;
      p.ancestry = ev.exec.ancestry?.length ? ev.exec.ancestry : parent ? [parent.comm, ...parent.ancestry].filter(Boolean).slice(0, 32) : p.ancestry;
      p.secretNames = ev.secretNames ?? p.secretNames;
      p.stdin = ev.exec.stdin ?? '';
      p.execEvidence = evidence;
      p.execWritten = undefined;
      const candidates = execCandidates(p.exe, p.argv, p.cwd);
      for (const c of candidates) {
        const w = c ? job.files.get(c) : undefined;
        if (w) { p.execWritten = w; break; }
      }
      if (p.exe) boundedAdd(job.observed.executables, p.exe, limits.maxObservedPerJob);
      break;
    }
    default:
      break;
  }
}

/** State changes recorded after the rules saw the event (so "before" in a rule means strictly earlier). */
export function applyAfter(job: JobState, ev: RwEvent, x: Derived, limits: StateLimits, counters: Counters): void {
  switch (ev.kind) {
    case 'exit': {
      const p = job.procs.get(ev.pid ?? 0);
      if (p) p.exited = true;
      break;
    }
    case 'dns': {
      const name = (ev.dns.name ?? '').toLowerCase().replace(/\.$/, '');
      for (const a of ev.dns.answers ?? []) {
        if (isIpLiteral(a) && name) if (boundedSet(job.ipToDomain, a, name, limits.maxDnsPerJob)) counters.dnsEvicted++;
      }
      break;
    }
    case 'net': {
      const p = procFor(job, ev, limits, counters);
      if (x.dstExternal) p.egressExternal = true;
      if (!x.dstTrusted && ev.net.family !== 'UNIX') {
        boundedAdd(job.observed.egress, x.domain || ev.net.dstIp || '', limits.maxObservedPerJob);
      }
      break;
    }
    case 'read': {
      const cls = ev.read.pathClass ?? '';
      if (['credential-file', 'ssh-key', 'runner-secret', 'proc-environ', 'proc-mem'].includes(cls)) {
        const p = procFor(job, ev, limits, counters);
        p.readCredentials = true;
        // A shell capturing `$(cat ~/.aws/credentials)` hands the bytes to its next child: taint the parent too.
        const parent = job.procs.get(p.ppid);
        if (parent) parent.readCredentials = true;
      }
      break;
    }
    case 'file': {
      const p = procFor(job, ev, limits, counters);
      const path = x.path;
      if (path && ev.file.op !== 'UNLINK') {
        const prev = job.files.get(path);
        // chmod +x after a download keeps the downloader as the writer: the content is what matters.
        const w: WrittenFile = ev.file.op === 'CHMOD' && prev ? prev
          : { path, pathClass: x.pathClass, pid: p.pid, comm: p.comm || (ev.comm ?? ''), tsNs: ev.tsNs, writerEgress: p.egressExternal };
        if (boundedSet(job.files, path, w, limits.maxFilesPerJob)) counters.filesEvicted++;
        boundedAdd(job.observed.writeRoots, writeRoot(path, job.meta?.workspace ?? ''), limits.maxObservedPerJob);
      } else if (path) {
        job.files.delete(path);
      }
      break;
    }
    default:
      break;
  }
}

/** A stable, coarse root for a written path: `$WORKSPACE/<first dir>` inside the workspace, else its first 3 dirs. */
export function writeRoot(path: string, workspace: string): string {
  if (workspace && (path === workspace || path.startsWith(workspace.replace(/\/$/, '') + '/'))) {
    const rel = path.slice(workspace.replace(/\/$/, '').length + 1);
    const first = rel.split('/')[0] ?? '';
    return rel.includes('/') ? `$WORKSPACE/${first}` : '$WORKSPACE';
  }
  const segs = path.split('/').filter(Boolean);
  return '/' + segs.slice(0, Math.min(3, Math.max(1, segs.length - 1))).join('/');
}

/** Facts computed from the event and the state; the `x` variable of rule conditions. */
export interface Derived {
  domain: string;
  dstTrusted: boolean;
  dstAllowed: boolean;
  dstInBaseline: boolean;
  dstExternal: boolean;
  rawIpNoDns: boolean;
  path: string;
  pathClass: string;
  writeRoot: string;
  writtenBefore: boolean;
  labels: string[];
  labelCount: number;
  maxLabelLen: number;
  maxLabelEntropy: number;
  scriptArg: string;
  argvText: string;
  /** Basename of an exec's argv[0] (else the comm): the `$argv0` macro, computed once per event, not per rule. */
  argv0: string;
}

export interface NetPolicy { trustedCidrs: readonly string[]; allowList: readonly string[] }

export function derive(job: JobState, ev: RwEvent, proc: ProcState, policy: NetPolicy): Derived {
  const x: Derived = {
    domain: '', dstTrusted: false, dstAllowed: false, dstInBaseline: false, dstExternal: false, rawIpNoDns: false,
    path: '', pathClass: '', writeRoot: '', writtenBefore: false, labels: [], labelCount: 0, maxLabelLen: 0, maxLabelEntropy: 0,
    scriptArg: scriptArg(proc.argv), argvText: proc.argv.join(' ').slice(0, 4096), argv0: ev.comm ?? '',
  };
  const baseline = job.baseline;
  if (ev.kind === 'exec') {
    const a0 = ev.exec.argv?.[0];
    if (a0 !== undefined) x.argv0 = basename(a0);
  } else if (ev.kind === 'net') {
    const ip = ev.net.dstIp ?? '';
    x.domain = (ev.net.domain || job.ipToDomain.get(ip) || '').toLowerCase().replace(/\.$/, '');
    x.dstTrusted = ev.net.family === 'UNIX' || ev.net.trusted === true || ipInCidrs(ip, policy.trustedCidrs);
    x.dstAllowed = domainMatches(x.domain, policy.allowList) || ipInCidrs(ip, policy.allowList);
    x.dstInBaseline = baseline !== undefined && (baseline.egress.includes(x.domain || ip));
    x.dstExternal = !x.dstTrusted && !x.dstAllowed && !x.dstInBaseline;
    x.rawIpNoDns = ev.net.family !== 'UNIX' && ip !== '' && x.domain === '' && !x.dstTrusted;
  } else if (ev.kind === 'dns') {
    const name = (ev.dns.name ?? '').toLowerCase().replace(/\.$/, '');
    x.domain = name;
    x.labels = name.split('.').filter(Boolean);
    x.labelCount = x.labels.length;
    // The registrable part (last two labels) carries no payload; measure the labels in front of it.
    for (const l of x.labels.slice(0, -2)) {
      x.maxLabelLen = Math.max(x.maxLabelLen, l.length);
      x.maxLabelEntropy = Math.max(x.maxLabelEntropy, entropy(l));
    }
    x.dstAllowed = domainMatches(name, policy.allowList);
    x.dstInBaseline = baseline !== undefined && baseline.egress.includes(name);
    x.dstExternal = !x.dstAllowed && !x.dstInBaseline;
  } else if (ev.kind === 'file') {
    const rename = ev.file.op === 'RENAME' && !!ev.file.newPath;
    const raw = rename ? (ev.file.newPath ?? '') : (ev.file.path ?? '');
    // Relative paths (openat with AT_FDCWD) resolve against the process's cwd, else the workspace.
    x.path = raw.startsWith('/') || raw === '' ? raw : resolvePath(raw, proc.cwd || job.meta?.workspace || '/');
    x.pathClass = rename ? (ev.file.newPathClass || ev.file.pathClass || '') : (ev.file.pathClass ?? '');
    x.writtenBefore = job.files.has(x.path);
    x.writeRoot = x.path ? writeRoot(x.path, job.meta?.workspace ?? '') : '';
  } else if (ev.kind === 'read') {
    x.path = ev.read.path ?? '';
    x.pathClass = ev.read.pathClass ?? '';
  }
  return x;
}

function jobContext(job: JobState): Record<string, unknown> {
  const m = job.meta;
  return {
    id: job.id,
    known: m !== undefined,
    provider: m?.provider ?? '',
    repo: m?.repo ?? '',
    workflow: m?.workflow ?? '',
    job: m?.job ?? '',
    trigger: m?.trigger ?? '',
    untrusted: m?.untrusted === true,
    fork: m?.fork === true,
    ref: m?.ref ?? '',
    actor: m?.actor ?? '',
    workspace: m?.workspace ?? '',
    secretNames: m?.secretNames ?? [],
    hasSecrets: (m?.secretNames?.length ?? 0) > 0,
    rootPid: m?.rootPid ?? 0,
    configHashes: m?.configHashes ?? {},
    headRepo: m?.headRepo ?? '',
  };
}

function procContext(job: JobState, p: ProcState, ev: RwEvent): Record<string, unknown> {
  const ancestorPids = ancestorsOf(job, p.pid);
  const secretNames = ev.secretNames?.length ? ev.secretNames : p.secretNames;
  const w = p.execWritten;
  return {
    pid: p.pid,
    ppid: p.ppid,
    comm: p.comm || (ev.comm ?? ''),
    exe: p.exe || (ev.exe ?? ''),
    argv: p.argv,
    cwd: p.cwd,
    ancestry: p.ancestry,
    ancestorPids,
    secretNames,
    holdsSecrets: secretNames.length > 0,
    readCredentials: p.readCredentials,
    egressExternal: p.egressExternal,
    stdin: p.stdin,
    isJobRoot: job.meta?.rootPid !== undefined && job.meta.rootPid === p.pid,
    execFromJobWrite: w !== undefined,
    execWrittenPath: w?.path ?? '',
    execWrittenClass: w?.pathClass ?? '',
    execWriterComm: w?.comm ?? '',
    execWriterEgress: w?.writerEgress ?? false,
    ageNs: ev.tsNs - p.startNs,
  };
}

function targetContext(job: JobState, actor: ProcState, pid: number, comm: string, secretNames: string[], inJobHint: boolean | undefined): Record<string, unknown> {
  const t = job.procs.get(pid);
  const targetAncestors = t ? ancestorsOf(job, pid) : [];
  const names = secretNames.length ? secretNames : t?.secretNames ?? [];
  return {
    pid,
    comm: comm || t?.comm || '',
    secretNames: names,
    holdsSecrets: names.length > 0,
    known: t !== undefined,
    inJob: inJobHint ?? t !== undefined,
    isSelf: pid === actor.pid,
    isDescendant: targetAncestors.includes(actor.pid),
    isAncestor: ancestorsOf(job, actor.pid).includes(pid),
    isJobRoot: job.meta?.rootPid !== undefined && job.meta.rootPid === pid,
  };
}

const EMPTY_BASELINE = Object.freeze({ known: false, egress: [], executables: [], writeRoots: [], configHashes: {} });

/** Every field of the current body present with a default, so rules need no has() for optional proto fields. */
function normalizedEvent(ev: RwEvent): Record<string, unknown> {
  const body = (ev as unknown as Record<string, unknown>)[ev.kind] as Record<string, unknown> | undefined;
  const defaults = BODY_DEFAULTS[ev.kind] ?? {};
  return {
    kind: ev.kind,
    agentId: ev.agentId,
    seq: ev.seq,
    tsNs: ev.tsNs,
    host: ev.host ?? '',
    jobId: ev.jobId ?? '',
    pid: ev.pid ?? 0,
    ppid: ev.ppid ?? 0,
    uid: ev.uid ?? 0,
    comm: ev.comm ?? '',
    exe: ev.exe ?? '',
    secretNames: ev.secretNames ?? [],
    [ev.kind]: { ...defaults, ...(body ?? {}) },
  };
}

const BODY_DEFAULTS: Record<string, Record<string, unknown>> = {
  exec: { argv: [], cwd: '', exeSha256: '', cgroup: '', containerId: '', euid: 0, argvTruncated: false, memfd: false, ancestry: [], stdin: '', stdout: '', stdinPeerComm: '' },
  fork: { childPid: 0 },
  exit: { code: 0, signal: 0, lifetimeNs: 0 },
  net: { family: 'FAMILY_UNSPECIFIED', proto: 'PROTO_UNSPECIFIED', dstIp: '', dstPort: 0, domain: '', result: 0, trusted: false },
  dns: { name: '', qtype: 0, answers: [], rcode: 0, server: '' },
  file: { op: 'OP_UNSPECIFIED', path: '', newPath: '', mode: 0, count: 1, contentSha256: '', pathClass: '', contentHint: '', newPathClass: '' },
  read: { path: '', pathClass: '', targetPid: 0, targetComm: '', targetSecretNames: [] },
  access: { kind: 'KIND_UNSPECIFIED', targetPid: 0, targetComm: '', targetSecretNames: [], targetInJob: false },
  secret: { secretName: '', fingerprint: '', channel: 'CHANNEL_UNSPECIFIED', encoding: '', location: '' },
  jobStart: { provider: '', repo: '', workflow: '', job: '', runId: '', ref: '', trigger: '', untrusted: false, fork: false, actor: '', workspace: '', configHashes: {}, rootPid: 0, secretNames: [], headRepo: '', baseRef: '', prNumber: 0 },
  jobEnd: { exitCode: 0, survivors: [], durationNs: 0 },
  heartbeat: { queued: 0, spooledBytes: 0 },
  status: { sensor: '', capabilities: [], blindSpots: [], drops: 0, version: '', message: '' },
  dropped: { count: 0, reason: '', firstSeq: 0, lastSeq: 0 },
};

export function buildContext(job: JobState, ev: RwEvent, proc: ProcState, x: Derived): Record<string, unknown> {
  let target: Record<string, unknown> = { pid: 0, comm: '', secretNames: [], holdsSecrets: false, known: false, inJob: false, isSelf: false, isDescendant: false, isAncestor: false, isJobRoot: false };
  if (ev.kind === 'read' && ev.read.targetPid) {
    target = targetContext(job, proc, ev.read.targetPid, ev.read.targetComm ?? '', ev.read.targetSecretNames ?? [], undefined);
  } else if (ev.kind === 'access' && ev.access.targetPid) {
    target = targetContext(job, proc, ev.access.targetPid, ev.access.targetComm ?? '', ev.access.targetSecretNames ?? [], ev.access.targetInJob);
  }
  const b = job.baseline;
  return {
    ev: normalizedEvent(ev),
    job: jobContext(job),
    proc: procContext(job, proc, ev),
    target,
    x,
    baseline: b ? { known: true, egress: b.egress, executables: b.executables, writeRoots: b.writeRoots, configHashes: b.configHashes } : EMPTY_BASELINE,
  };
}
