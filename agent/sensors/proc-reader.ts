// Reads one process's facts from /proc (the thin adapter behind the pure proc table and attribution).
// Every read may race with the exit of the process: missing data is undefined, never an exception.
import { readFileSync, readlinkSync } from 'node:fs';
import { containerIdFromCgroup } from '../proc-table.js';
import type { ProcEntry } from '../proc-table.js';

export interface ProcStat { pid: number; comm: string; state: string; ppid: number; startTicks: number }

/** Parses /proc/<pid>/stat; comm may hold spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  const start = Number(rest[19]);
  if (!Number.isFinite(ppid)) return undefined;
  return { pid: Number(text.slice(0, open).trim()), comm: text.slice(open + 1, close), state: rest[0] ?? '', ppid, startTicks: start };
}

function read(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}
function link(path: string): string | undefined {
  try { return readlinkSync(path); } catch { return undefined; }
}

export function readStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  const t = read(`${procRoot}/${pid}/stat`);
  return t === undefined ? undefined : parseStat(t);
}

export function readPpid(pid: number, procRoot = '/proc'): number | undefined {
  return readStat(pid, procRoot)?.ppid;
}

/** What /proc knows of pid, for fields the sensor lacked. */
export function readProcEntry(pid: number, procRoot = '/proc'): Partial<ProcEntry> | undefined {
  const st = readStat(pid, procRoot);
  if (!st) return undefined;
  const e: Partial<ProcEntry> = { pid, ppid: st.ppid, comm: st.comm };
  const exe = link(`${procRoot}/${pid}/exe`);
  if (exe !== undefined) e.exe = exe;
  const cwd = link(`${procRoot}/${pid}/cwd`);
  if (cwd !== undefined) e.cwd = cwd;
  const cmd = read(`${procRoot}/${pid}/cmdline`);
  if (cmd) e.argv = cmd.split('\0').filter((s, i, a) => !(i === a.length - 1 && s === ''));
  const cg = read(`${procRoot}/${pid}/cgroup`);
  if (cg !== undefined) {
    e.cgroup = cg.trim().split('\n').pop()?.replace(/^0::/, '') ?? '';
    const id = containerIdFromCgroup(cg);
    if (id) e.containerId = id;
  }
  const status = read(`${procRoot}/${pid}/status`);
  const uid = status && /^Uid:\s+(\d+)/m.exec(status);
  if (uid) e.uid = Number(uid[1]);
  return e;
}

/** Fills the gaps of an entry from /proc (cwd and cgroup are never known to the kernel probes). */
export function enrichFromProc(entry: ProcEntry, procRoot = '/proc'): ProcEntry {
  if (entry.cwd !== undefined && entry.cgroup !== undefined) return entry;
  const p = readProcEntry(entry.pid, procRoot);
  if (!p) return entry;
  for (const k of ['cwd', 'cgroup', 'containerId', 'exe', 'argv', 'comm', 'uid', 'ppid'] as const) {
    if (entry[k] === undefined && p[k] !== undefined) (entry as unknown as Record<string, unknown>)[k] = p[k];
  }
  return entry;
}
