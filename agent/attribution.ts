// Attributes processes to jobs by ancestry (sensor fork/exec events first, /proc ppid as a fallback) and
// names the destinations of connects from what the job resolved over DNS. Pure: /proc comes in as a function.
import type { ProcTable } from './proc-table.js';
import type { SensorEvent } from './sensors/types.js';

export interface AttributionOptions {
  /** Fallback parent lookup (reads /proc/<pid>/stat in the adapter); undefined when the pid is gone. */
  readPpid: (pid: number) => number | undefined;
  /** Ancestry walk bound. */
  maxDepth: number;
  /** pid → job memo entries kept at most (LRU). */
  maxMemberships: number;
  /** IP → name entries kept per job (LRU). */
  maxNamesPerJob: number;
}
export const ATTRIBUTION_DEFAULTS = Object.freeze({ maxDepth: 64, maxMemberships: 131_072, maxNamesPerJob: 4_096 });

export interface AncestryStep { pid: number; comm?: string }

export interface Attribution {
  registerJob(jobId: string, rootPid: number): void;
  unregisterJob(jobId: string): void;
  jobs(): { jobId: string; rootPid: number }[];
  /** The job pid belongs to, by ancestry; undefined for host processes. */
  jobOf(pid: number): string | undefined;
  /** Parents of pid, nearest first, bounded by maxDepth (pid itself not included). */
  ancestry(pid: number, max?: number): AncestryStep[];
  /** Feeds a sensor event (after the proc table saw it): inherits membership on fork, learns DNS answers. */
  observe(ev: SensorEvent): void;
  /** The name pid (or its job) resolved to ip, if any. */
  domainFor(pid: number, ip: string): string | undefined;
  /** Sets net.domain on a connect from what the process or its job resolved. Returns the same event. */
  enrich(ev: SensorEvent): SensorEvent;
  /** Live pids known to belong to jobId (from the membership memo and the proc table). */
  members(jobId: string): number[];
}

interface NameEntry { name: string; pid: number }

export function createAttribution(table: ProcTable, partial: Partial<AttributionOptions> = {}): Attribution {
  const o: AttributionOptions = { readPpid: () => undefined, ...ATTRIBUTION_DEFAULTS, ...partial };
  const roots = new Map<number, string>(); // root pid → job
  const jobRoots = new Map<string, number>();
  // null = known not to belong to any job (negative memo is dropped whenever a job registers).
  const member = new Map<number, string | null>();
  // job → its members not seen to exit. members() walks these, not the whole memo (every host process the agent has
  // seen, up to maxMemberships), and it runs at each exec whose stdin is a pipe: every job of a `make -j`.
  const live = new Map<string, Set<number>>();
  const names = new Map<string, Map<string, NameEntry>>(); // job → ip → name

  function forget(pid: number, job: string | null | undefined): void {
    if (job) live.get(job)?.delete(pid);
  }

  function remember(pid: number, job: string | null): void {
    forget(pid, member.get(pid));
    member.delete(pid);
    member.set(pid, job);
    if (job !== null) {
      let s = live.get(job);
      if (!s) { s = new Set(); live.set(job, s); }
      s.add(pid);
    }
    if (member.size > o.maxMemberships) {
      const [oldest, was] = member.entries().next().value as [number, string | null];
      member.delete(oldest);
      forget(oldest, was);
    }
  }

  function parentOf(pid: number): number | undefined {
    const e = table.get(pid);
    if (e?.ppid !== undefined) return e.ppid;
    // Processes older than the sensor (the runner, the shell that started the agent) are read from /proc
    // once and remembered: every exec's ancestry walk passes through them.
    const ppid = o.readPpid(pid);
    if (ppid !== undefined) table.upsert(pid, { ppid });
    return ppid;
  }

  function jobOf(pid: number): string | undefined {
    const seen: number[] = [];
    let cur: number | undefined = pid;
    let found: string | null = null;
    for (let depth = 0; cur !== undefined && cur > 0 && depth <= o.maxDepth; depth++) {
      const root = roots.get(cur);
      if (root !== undefined) { found = root; break; }
      const memo = member.get(cur);
      if (memo !== undefined) { found = memo; break; }
      seen.push(cur);
      if (cur === 1) break;
      cur = parentOf(cur);
    }
    for (const p of seen) remember(p, found);
    return found ?? undefined;
  }

  function ipNames(job: string): Map<string, NameEntry> {
    let m = names.get(job);
    if (!m) { m = new Map(); names.set(job, m); }
    return m;
  }

  function domainFor(pid: number, ip: string): string | undefined {
    const job = jobOf(pid);
    if (job === undefined) return undefined;
    return names.get(job)?.get(ip)?.name;
  }

  return {
    registerJob(jobId, rootPid) {
      roots.set(rootPid, jobId);
      jobRoots.set(jobId, rootPid);
      for (const [pid, j] of member) if (j === null) member.delete(pid);
      remember(rootPid, jobId);
    },
    unregisterJob(jobId) {
      const root = jobRoots.get(jobId);
      if (root !== undefined && roots.get(root) === jobId) roots.delete(root);
      jobRoots.delete(jobId);
      names.delete(jobId);
      live.delete(jobId);
      for (const [pid, j] of member) if (j === jobId) member.delete(pid);
    },
    jobs: () => [...jobRoots].map(([jobId, rootPid]) => ({ jobId, rootPid })),
    jobOf,
    ancestry(pid, max = o.maxDepth) {
      const out: AncestryStep[] = [];
      const seen = new Set<number>([pid]);
      let cur = parentOf(pid);
      while (cur !== undefined && cur > 0 && out.length < max && !seen.has(cur)) {
        seen.add(cur);
        const step: AncestryStep = { pid: cur };
        const comm = table.get(cur)?.comm;
        if (comm !== undefined) step.comm = comm;
        out.push(step);
        if (cur === 1) break;
        cur = parentOf(cur);
      }
      return out;
    },
    observe(ev) {
      if (ev.kind === 'fork' && ev.fork.childPid) {
        // Membership is fixed at fork: a child re-parented to init after its parent exits stays in the job.
        const job = jobOf(ev.pid);
        remember(ev.fork.childPid, job ?? null);
        return;
      }
      // Still a member (late events of the pid attribute by the memo), no longer a live one.
      if (ev.kind === 'exit') {
        forget(ev.pid, member.get(ev.pid));
        return;
      }
      if (ev.kind === 'dns' && ev.dns.name && ev.dns.answers?.length) {
        const job = jobOf(ev.pid);
        if (job === undefined) return;
        const m = ipNames(job);
        for (const ip of ev.dns.answers) {
          m.delete(ip);
          m.set(ip, { name: ev.dns.name, pid: ev.pid });
          if (m.size > o.maxNamesPerJob) m.delete(m.keys().next().value as string);
        }
      }
    },
    domainFor,
    enrich(ev) {
      if (ev.kind === 'net' && ev.net.dstIp && ev.net.domain === undefined) {
        const d = domainFor(ev.pid, ev.net.dstIp);
        if (d !== undefined) ev.net.domain = d;
      }
      return ev;
    },
    members(jobId) {
      const out: number[] = [];
      // peek: a scan of every member must not reorder the table's LRU (nor pay for it, once per exec with a pipe).
      for (const pid of live.get(jobId) ?? []) if (table.peek(pid)?.exitNs === undefined) out.push(pid);
      return out;
    },
  };
}
