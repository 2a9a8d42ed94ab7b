// Reads what /proc tells about a live process (argv, environ, fds, parent) for enrichment. Thin adapter:
// every function returns undefined when the process is gone or unreadable, never throws.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

const PROC = '/proc';

function read(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function nulSplit(b: Buffer): string[] {
  const s = b.toString('utf8');
  const parts = s.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

export function readCmdline(pid: number): string[] | undefined {
  const b = read(`${PROC}/${pid}/cmdline`);
  return b && b.length ? nulSplit(b) : undefined;
}

/** The raw NUL-separated environment (a cache key: most processes of a job share their parent's). */
export function readEnvironRaw(pid: number): Buffer | undefined {
  return read(`${PROC}/${pid}/environ`);
}

/** NAME → value. Values stay in the caller's memory; only names may leave the agent. */
export function readEnviron(pid: number): Map<string, string> | undefined {
  const b = read(`${PROC}/${pid}/environ`);
  return b ? parseEnviron(b) : undefined;
}

export function parseEnviron(b: Buffer): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of nulSplit(b)) {
    const eq = kv.indexOf('=');
    if (eq > 0) m.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return m;
}

export function readComm(pid: number): string | undefined {
  return read(`${PROC}/${pid}/comm`)?.toString('utf8').trim();
}

/** Target of /proc/<pid>/fd/<fd>: "pipe:[123]", "socket:[456]", "/dev/pts/1", a path. */
export function readFdTarget(pid: number, fd: number): string | undefined {
  try {
    return readlinkSync(`${PROC}/${pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
}

export function readExe(pid: number): string | undefined {
  try {
    return readlinkSync(`${PROC}/${pid}/exe`);
  } catch {
    return undefined;
  }
}

export function readCwd(pid: number): string | undefined {
  try {
    return readlinkSync(`${PROC}/${pid}/cwd`);
  } catch {
    return undefined;
  }
}

export interface ProcStat { pid: number; comm: string; state: string; ppid: number; pgrp: number; startTicks: number }

/** /proc/<pid>/stat, parsed around the parenthesised comm (which may itself hold spaces and parens). */
export function readStat(pid: number): ProcStat | undefined {
  const s = read(`${PROC}/${pid}/stat`)?.toString('utf8');
  if (!s) return undefined;
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const f = s.slice(close + 2).split(' ');
  return { pid, comm: s.slice(open + 1, close), state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]), startTicks: Number(f[19]) };
}

export function readCgroup(pid: number): string | undefined {
  return read(`${PROC}/${pid}/cgroup`)?.toString('utf8').trim().split('\n').at(-1)?.replace(/^0::/, '');
}

/** Container id from a cgroup path (docker-<64hex>.scope, /docker/<64hex>, cri-containerd-…). */
export function containerIdOf(cgroup: string | undefined): string | undefined {
  const m = cgroup ? /([0-9a-f]{64})/.exec(cgroup) : null;
  return m ? (m[1] as string).slice(0, 12) : undefined;
}

export function listPids(): number[] {
  try {
    return readdirSync(PROC).filter((n) => /^\d+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

