// Reads what /proc tells about a live process (argv, environ, fds, parent) for enrichment. Thin adapter:
// every function returns undefined when the process is gone or unreadable, never throws.
import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';

const PROC = '/proc';

// One scratch buffer for every read: readFileSync of a /proc file (size 0 to fstat) allocates a fresh 64 KiB
// buffer per call, which at an exec rate of hundreds per second is most of the agent's garbage collection.
let scratch = Buffer.allocUnsafe(64 * 1024);
/** Largest file read (an environment or argv is bounded by ARG_MAX; a stat line is short). */
const MAX_READ = 4 * 1024 * 1024;

/**
 * Runs a /proc call that throws when the process is gone without capturing a stack: most short-lived
 * processes have exited by the time their exec is enriched, and the stack of each failed call was the
 * larger part of its cost.
 */
function quiet<T>(f: () => T): T | undefined {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return f();
  } catch {
    return undefined;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** The file's bytes as a view of the scratch buffer: valid until the next read, so callers decode at once. */
function readView(path: string): Buffer | undefined {
  return quiet(() => {
    const fd = openSync(path, 'r');
    try {
      let n = 0;
      for (;;) {
        if (n === scratch.length) {
          if (scratch.length >= MAX_READ) break;
          const bigger = Buffer.allocUnsafe(scratch.length * 2);
          scratch.copy(bigger, 0, 0, n);
          scratch = bigger;
        }
        const got = readSync(fd, scratch, n, scratch.length - n, null);
        if (got === 0) break;
        n += got;
      }
      return scratch.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  });
}

function read(path: string): Buffer | undefined {
  const v = readView(path);
  return v ? Buffer.from(v) : undefined;
}

function readText(path: string): string | undefined {
  return readView(path)?.toString('utf8');
}

function link(path: string): string | undefined {
  return quiet(() => readlinkSync(path));
}

function nulSplit(b: Buffer): string[] {
  const s = b.toString('utf8');
  const parts = s.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

export function readCmdline(pid: number): string[] | undefined {
  const b = readView(`${PROC}/${pid}/cmdline`);
  return b && b.length ? nulSplit(b) : undefined;
}

/** The raw NUL-separated environment (a cache key: most processes of a job share their parent's). */
export function readEnvironRaw(pid: number): Buffer | undefined {
  return read(`${PROC}/${pid}/environ`);
}

/** NAME → value. Values stay in the caller's memory; only names may leave the agent. */
export function readEnviron(pid: number): Map<string, string> | undefined {
  const b = readView(`${PROC}/${pid}/environ`);
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
  return readText(`${PROC}/${pid}/comm`)?.trim();
}

/** Target of /proc/<pid>/fd/<fd>: "pipe:[123]", "socket:[456]", "/dev/pts/1", a path. */
export function readFdTarget(pid: number, fd: number): string | undefined {
  return link(`${PROC}/${pid}/fd/${fd}`);
}

export function readExe(pid: number): string | undefined {
  return link(`${PROC}/${pid}/exe`);
}

export function readCwd(pid: number): string | undefined {
  return link(`${PROC}/${pid}/cwd`);
}

export interface ProcStat { pid: number; comm: string; state: string; ppid: number; pgrp: number; startTicks: number }

/** /proc/<pid>/stat, parsed around the parenthesised comm (which may itself hold spaces and parens). */
export function readStat(pid: number): ProcStat | undefined {
  const s = readText(`${PROC}/${pid}/stat`);
  if (!s) return undefined;
  const open = s.indexOf('(');
  const close = s.lastIndexOf(')');
  if (open < 0 || close < 0) return undefined;
  const f = s.slice(close + 2).split(' ');
  return { pid, comm: s.slice(open + 1, close), state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]), startTicks: Number(f[19]) };
}

export function readCgroup(pid: number): string | undefined {
  return readText(`${PROC}/${pid}/cgroup`)?.trim().split('\n').at(-1)?.replace(/^0::/, '');
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

