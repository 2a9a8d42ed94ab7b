// The process table: pid → what the sensors told us (parent, start, exe, argv, comm, cgroup, uid). Pure and
// bounded: LRU eviction beyond maxEntries, exited entries kept for a grace period so late events still attribute.
import type { SensorEvent } from './sensors/types.js';

export interface ProcEntry {
  pid: number;
  ppid?: number;
  /** Wall-clock ns of the fork (or first sighting). */
  startNs?: number;
  exe?: string;
  argv?: string[];
  comm?: string;
  cwd?: string;
  cgroup?: string;
  containerId?: string;
  uid?: number;
  /** Wall-clock ns of the exit; the entry is dropped exitGraceNs later. */
  exitNs?: number;
}

export interface ProcTableOptions {
  maxEntries: number;
  exitGraceNs: number;
}
export const PROC_TABLE_DEFAULTS: Readonly<ProcTableOptions> = Object.freeze({ maxEntries: 65_536, exitGraceNs: 30e9 });

export interface ProcTable {
  get(pid: number): ProcEntry | undefined;
  /** Like get, without making the entry the most recently used (for scans over many pids). */
  peek(pid: number): ProcEntry | undefined;
  /** Merges what is known about pid (fields given win, undefined ones keep the old value). */
  upsert(pid: number, fields: Partial<ProcEntry>): ProcEntry;
  /** Feeds a sensor event: fork creates the child, exec sets exe/argv, exit marks it. */
  apply(ev: SensorEvent): void;
  /** Drops entries that exited more than the grace period before nowNs. Returns how many. */
  sweep(nowNs: number): number;
  size(): number;
  /** Evictions caused by the size limit (not exits). */
  evicted(): number;
}

/** Container id from a /proc/<pid>/cgroup line set (docker, containerd, cri-o, podman scopes). */
export function containerIdFromCgroup(cgroup: string): string | undefined {
  const m = /(?:docker|cri-containerd|crio|libpod)[-/]([0-9a-f]{64})|\/([0-9a-f]{64})(?:\.scope)?$/m.exec(cgroup);
  return m ? (m[1] ?? m[2]) : undefined;
}

export function createProcTable(partial: Partial<ProcTableOptions> = {}): ProcTable {
  const o: ProcTableOptions = { ...PROC_TABLE_DEFAULTS, ...partial };
  // Approximate LRU (the CLOCK algorithm): Map iteration order is insertion order, so the first key is the oldest;
  // a use only marks the pid, and eviction gives a marked entry a second chance by moving it to the back. Moving on
  // every use (delete + set) was ~4–6 % of the warm host agent's own time, in ancestry walks: each move leaves a hole
  // in the Map that is compacted by rehashing.
  const m = new Map<number, ProcEntry>();
  const used = new Set<number>();
  let evictions = 0;

  function drop(pid: number): void {
    m.delete(pid);
    used.delete(pid);
  }

  /** A new entry goes to the back; beyond the bound the oldest unmarked entries go. */
  function insert(pid: number, e: ProcEntry): void {
    m.set(pid, e);
    while (m.size > o.maxEntries) {
      const first = m.keys().next().value as number;
      const fe = m.get(first) as ProcEntry;
      m.delete(first);
      // The entry just added is never the one to go, even when every other was used since its last chance.
      if (used.delete(first) || first === pid) { m.set(first, fe); continue; }
      evictions++;
    }
  }

  function upsert(pid: number, fields: Partial<ProcEntry>): ProcEntry {
    const prev = m.get(pid);
    const e: ProcEntry = prev ?? { pid };
    for (const [k, v] of Object.entries(fields) as [keyof ProcEntry, unknown][]) {
      if (v !== undefined && k !== 'pid') (e as unknown as Record<string, unknown>)[k] = v;
    }
    if (prev) used.add(pid);
    else insert(pid, e);
    return e;
  }

  return {
    get(pid) {
      const e = m.get(pid);
      if (e) used.add(pid);
      return e;
    },
    peek: (pid) => m.get(pid),
    upsert,
    apply(ev) {
      switch (ev.kind) {
        case 'fork': {
          const parent = m.get(ev.pid);
          const child = ev.fork.childPid;
          if (!child) return;
          // A recycled pid: the new process replaces whatever exited under that number.
          const old = m.get(child);
          if (old?.exitNs !== undefined) drop(child);
          upsert(child, { ppid: ev.pid, startNs: ev.tsNs, comm: parent?.comm ?? ev.comm, exe: parent?.exe, argv: parent?.argv,
            uid: ev.uid ?? parent?.uid, cgroup: parent?.cgroup, containerId: parent?.containerId, cwd: parent?.cwd });
          return;
        }
        case 'exec': {
          const old = m.get(ev.pid);
          if (old?.exitNs !== undefined) drop(ev.pid);
          upsert(ev.pid, { ppid: ev.ppid, exe: ev.exe, argv: ev.exec.argv, comm: ev.comm, uid: ev.uid, startNs: m.get(ev.pid)?.startNs ?? ev.tsNs,
            cwd: ev.exec.cwd, cgroup: ev.exec.cgroup, containerId: ev.exec.containerId });
          return;
        }
        case 'exit': {
          const e = m.get(ev.pid);
          if (e) e.exitNs = ev.tsNs; else upsert(ev.pid, { exitNs: ev.tsNs, comm: ev.comm, uid: ev.uid });
          return;
        }
        default:
          if (!m.has(ev.pid)) upsert(ev.pid, { comm: ev.comm, uid: ev.uid, ppid: ev.ppid, exe: ev.exe });
      }
    },
    sweep(nowNs) {
      let n = 0;
      for (const [pid, e] of m) {
        if (e.exitNs !== undefined && nowNs - e.exitNs > o.exitGraceNs) { drop(pid); n++; }
      }
      return n;
    },
    size: () => m.size,
    evicted: () => evictions,
  };
}
