// Parses `strace -f -q -ttt -s N` output lines into SensorEvents (the ptrace sensor). Pure and bounded:
// joins <unfinished ...>/<... resumed> halves, maps thread ids to processes, de-duplicates repeated write-opens.
// strace prints a new task's first syscalls as soon as they happen, which is often before its parent's clone/vfork
// returns (always so for vfork: the parent waits for the child's execve). Lines of a task nobody has created yet are
// held until the clone that created it is printed, so the child's exec carries its ppid and follows its fork event.
import type { SensorEvent } from './types.js';
import { parseProcPath, sensitiveClass, writeClass } from '../path-class.js';
import type { PathContext } from '../path-class.js';

export interface StraceParserOptions {
  pathContext: PathContext;
  maxEntries: number;
  /** Lines held back from tasks whose creating clone has not been printed yet (all tasks together). */
  maxHeldLines: number;
  /** Trace-time after which held lines are given up on and emitted without a parent. */
  holdNs: number;
}

export interface StraceParser {
  push(line: string): SensorEvent[];
  /** Emits the pending repeat-write counts. */
  flush(): SensorEvent[];
}

const ERRNO: Readonly<Record<string, number>> = Object.freeze({
  EPERM: 1, ENOENT: 2, EINTR: 4, EAGAIN: 11, EACCES: 13, EINVAL: 22, ENETUNREACH: 101, ECONNRESET: 104, ETIMEDOUT: 110,
  ECONNREFUSED: 111, EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115, EADDRNOTAVAIL: 99, EAFNOSUPPORT: 97,
});
const SIGNALS: Readonly<Record<string, number>> = Object.freeze({
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
});
const WRITE_NOISE = /^(\/dev\/(null|zero|full|tty\d*|ptmx|pts\/\d+)|\/proc\/(self|thread-self)\/)/;

/** Splits top-level arguments, respecting strings, brackets and braces. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inStr = false;
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inStr) {
      cur += c;
      if (c === '\\') { cur += s[++i] ?? ''; continue; }
      if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') { inStr = true; cur += c; continue; }
    if (c === '[' || c === '{' || c === '(') depth++;
    if (c === ']' || c === '}' || c === ')') depth--;
    if (c === ',' && depth === 0) { out.push(cur.trim()); cur = ''; continue; }
    cur += c;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** Decodes a C string literal as strace prints it; `cut` when strace abbreviated it (trailing ...). */
export function cString(lit: string): { value: string; cut: boolean } | undefined {
  const m = /^"((?:[^"\\]|\\.)*)"(\.\.\.)?$/s.exec(lit.trim());
  if (!m) return undefined;
  const bytes: number[] = [];
  const body = m[1]!;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') { for (const b of Buffer.from(c, 'utf8')) bytes.push(b); continue; }
    const n = body[++i]!;
    const simple: Record<string, number> = { n: 10, t: 9, r: 13, v: 11, f: 12, '"': 34, '\\': 92, a: 7, b: 8 };
    if (n in simple) { bytes.push(simple[n]!); continue; }
    if (n === 'x') { bytes.push(parseInt(body.slice(i + 1, i + 3), 16)); i += 2; continue; }
    if (/[0-7]/.test(n)) {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      bytes.push(parseInt(oct, 8));
      i += oct.length - 1;
      continue;
    }
    bytes.push(n.charCodeAt(0));
  }
  return { value: Buffer.from(bytes).toString('utf8'), cut: m[2] !== undefined };
}

/** Parses ["a", "b"...] (argv); `cut` when strace left arguments or characters out. */
export function cArray(lit: string): { values: string[]; cut: boolean } | undefined {
  const m = /^\[(.*)\](\.\.\.)?$/s.exec(lit.trim());
  if (!m) return undefined;
  let cut = m[2] !== undefined;
  const values: string[] = [];
  for (const a of splitArgs(m[1]!)) {
    const s = cString(a);
    if (!s) { cut = true; continue; }
    if (s.cut) cut = true;
    values.push(s.value);
  }
  return { values, cut };
}

function sockaddr(arg: string): { family: 'INET' | 'INET6' | 'UNIX'; ip: string; port?: number } | undefined {
  if (arg.includes('AF_UNIX')) {
    const m = /sun_path=(@?"(?:[^"\\]|\\.)*")/.exec(arg);
    const p = m ? cString(m[1]!.replace(/^@/, '')) : undefined;
    return { family: 'UNIX', ip: p ? (m![1]!.startsWith('@') ? '@' + p.value : p.value) : '@' };
  }
  const port = /sin6?_port=htons\((\d+)\)/.exec(arg);
  if (arg.includes('AF_INET6')) {
    const a = /inet_pton\(AF_INET6, "([^"]+)"/.exec(arg);
    return a ? { family: 'INET6', ip: a[1]!, port: Number(port?.[1] ?? 0) } : undefined;
  }
  if (arg.includes('AF_INET')) {
    const a = /inet_addr\("([^"]+)"\)/.exec(arg);
    return a ? { family: 'INET', ip: a[1]!, port: Number(port?.[1] ?? 0) } : undefined;
  }
  return undefined;
}

export function createStraceParser(partial: Partial<StraceParserOptions> = {}): StraceParser {
  const o: StraceParserOptions = { pathContext: {}, maxEntries: 65_536, maxHeldLines: 8_192, holdNs: 2e9, ...partial };
  const unfinished = new Map<number, string>();
  const tgidOf = new Map<number, number>();
  const parentOf = new Map<number, number>();
  const writes = new Map<string, { pid: number; path: string; n: number; tsNs: number }>();
  const bound = <K, V>(m: Map<K, V>) => { while (m.size > o.maxEntries) m.delete(m.keys().next().value as K); };
  const tg = (tid: number) => tgidOf.get(tid) ?? tid;

  function emitRepeats(pid: number | undefined, out: SensorEvent[]): void {
    for (const [k, w] of writes) {
      if (pid !== undefined && w.pid !== pid) continue;
      writes.delete(k);
      if (w.n > 1) out.push({ kind: 'file', tsNs: w.tsNs, pid: w.pid, file: { op: 'OPEN_WRITE', path: w.path, count: w.n - 1, pathClass: writeClass(w.path, o.pathContext) } });
    }
  }

  function syscall(tid: number, tsNs: number, name: string, args: string[], ret: string, errno: string | undefined, out: SensorEvent[]): void {
    const pid = tg(tid);
    const retNum = /^-?\d+$/.test(ret) ? Number(ret) : undefined;
    const str = (i: number) => (args[i] !== undefined ? cString(args[i]!)?.value : undefined);
    // An *at call's path relative to a directory fd (strace prints it as a number; AT_FDCWD by name): fd:N/path, as
    // the eBPF sensor gives it, resolved through /proc/<pid>/fd/N while the process lives (never against its cwd).
    const at = (dfdArg: number, i: number): string | undefined => {
      const p = str(i);
      const d = args[dfdArg] ?? '';
      return p !== undefined && p !== '' && !p.startsWith('/') && /^\d+$/.test(d) ? `fd:${d}/${p}` : p;
    };
    const base = { tsNs, pid };
    switch (name) {
      case 'execve':
      case 'execveat': {
        if (retNum !== 0) return;
        const exe = name === 'execve' ? str(0) : str(1);
        const argv = cArray(args[name === 'execve' ? 1 : 2] ?? '');
        const exec: Extract<SensorEvent, { kind: 'exec' }>['exec'] = { argv: argv?.values ?? [] };
        if (argv?.cut) exec.argvTruncated = true;
        const ev: Extract<SensorEvent, { kind: 'exec' }> = { kind: 'exec', ...base, exec };
        if (exe !== undefined) { ev.exe = exe; ev.comm = exe.slice(exe.lastIndexOf('/') + 1).slice(0, 15); }
        if (tid !== pid) { ev.pid = pid; } // a thread's execve takes over the thread group
        const ppid = parentOf.get(pid);
        if (ppid !== undefined) ev.ppid = ppid;
        if (exe && /^\/(dev\/fd|proc\/(self|\d+)\/fd)\/\d+$/.test(exe)) exec.memfd = true;
        out.push(ev);
        return;
      }
      case 'clone':
      case 'clone3':
      case 'fork':
      case 'vfork': {
        if (retNum === undefined || retNum <= 0) return;
        if (/CLONE_THREAD/.test(args[name === 'clone3' ? 0 : 1] ?? args.join(','))) {
          tgidOf.set(retNum, pid);
          bound(tgidOf);
          parentOf.delete(retNum);
        } else {
          tgidOf.delete(retNum); // a reused tid
          parentOf.set(retNum, pid);
          bound(parentOf);
          out.push({ kind: 'fork', ...base, fork: { childPid: retNum } });
        }
        release(retNum, out);
        return;
      }
      case 'connect': {
        const sa = sockaddr(args[1] ?? '');
        if (!sa) return;
        const net: Extract<SensorEvent, { kind: 'net' }>['net'] = { family: sa.family, dstIp: sa.ip };
        if (sa.port !== undefined) net.dstPort = sa.port;
        net.result = retNum === 0 ? 0 : -(ERRNO[errno ?? ''] ?? 1);
        out.push({ kind: 'net', ...base, net });
        return;
      }
      case 'openat': {
        const path = at(0, 1);
        const flags = args[2] ?? '';
        if (!path) return;
        if (/O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/.test(flags)) {
          if ((retNum ?? -1) < 0 || WRITE_NOISE.test(path)) return;
          const key = `${pid}\0${path}`;
          const w = writes.get(key);
          if (w) { w.n++; return; }
          writes.set(key, { pid, path, n: 1, tsNs });
          bound(writes);
          const op = /O_CREAT/.test(flags) && /O_EXCL/.test(flags) ? 'CREATE' : 'OPEN_WRITE';
          out.push({ kind: 'file', ...base, file: { op, path, count: 1, pathClass: writeClass(path, o.pathContext) } });
          return;
        }
        const proc = parseProcPath(path);
        if (proc) {
          if (!proc.cls || proc.pid === pid) return;
          out.push({ kind: 'read', ...base, read: { path, pathClass: proc.cls, targetPid: proc.pid } });
          if (proc.cls === 'proc-mem') out.push({ kind: 'access', ...base, access: { kind: 'PROC_MEM_OPEN', targetPid: proc.pid, detail: 'open(/proc/<pid>/mem)' } });
          return;
        }
        const cls = sensitiveClass(path, o.pathContext);
        if (cls) out.push({ kind: 'read', ...base, read: { path, pathClass: cls } });
        return;
      }
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        const [a, b] = name === 'rename' ? [str(0), str(1)] : [at(0, 1), at(2, 3)];
        if (a === undefined || b === undefined) return;
        out.push({ kind: 'file', ...base, file: { op: 'RENAME', path: a, newPath: b, count: 1, pathClass: writeClass(b, o.pathContext) } });
        return;
      }
      case 'unlink':
      case 'unlinkat': {
        const p = name === 'unlink' ? str(0) : at(0, 1);
        if (p === undefined || (name === 'unlinkat' && /AT_REMOVEDIR/.test(args[2] ?? ''))) return;
        out.push({ kind: 'file', ...base, file: { op: 'UNLINK', path: p, count: 1, pathClass: writeClass(p, o.pathContext) } });
        return;
      }
      case 'chmod':
      case 'fchmodat': {
        const p = name === 'chmod' ? str(0) : at(0, 1);
        const mode = parseInt(args[name === 'chmod' ? 1 : 2] ?? '', 8);
        if (p === undefined || !Number.isFinite(mode) || (mode & 0o111) === 0) return;
        out.push({ kind: 'file', ...base, file: { op: 'CHMOD', path: p, mode, count: 1, pathClass: writeClass(p, o.pathContext) } });
        return;
      }
      case 'ptrace': {
        const req = args[0] ?? '';
        if (req !== 'PTRACE_ATTACH' && req !== 'PTRACE_SEIZE') return;
        out.push({ kind: 'access', ...base, access: { kind: req === 'PTRACE_ATTACH' ? 'PTRACE_ATTACH' : 'PTRACE_SEIZE', targetPid: Number(args[1]), detail: `ptrace(${req})` } });
        return;
      }
      case 'process_vm_readv':
      case 'process_vm_writev': {
        const w = name === 'process_vm_writev';
        out.push({ kind: 'access', ...base, access: { kind: w ? 'VM_WRITEV' : 'VM_READV', targetPid: Number(args[0]), detail: name } });
        return;
      }
      default:
    }
  }

  /** Tasks whose lines are emitted as they come: the root, created tasks, and tasks given up on. */
  const known = new Set<number>();
  let sawRoot = false;
  const held = new Map<number, { tsNs: number; lines: { tsNs: number; rest: string }[] }>();
  let heldLines = 0;

  function release(tid: number, out: SensorEvent[]): void {
    const h = held.get(tid);
    know(tid);
    if (!h) return;
    held.delete(tid);
    heldLines -= h.lines.length;
    for (const l of h.lines) line(tid, l.tsNs, l.rest, out);
  }

  function know(tid: number): void {
    known.add(tid);
    // Exits remove tasks; the bound only matters if strace lost exit lines. An evicted task is held, then released.
    while (known.size > o.maxEntries) known.delete(known.values().next().value as number);
  }

  function line(tid: number, tsNs: number, rest: string, out: SensorEvent[]): void {
    const exited = /^\+\+\+ (?:exited with (\d+)|killed by (SIG\w+)(?: \(core dumped\))?) \+\+\+$/.exec(rest);
    if (exited) {
      known.delete(tid);
      const pid = tg(tid);
      if (pid !== tid) return;
      emitRepeats(pid, out);
      out.push({ kind: 'exit', tsNs, pid, exit: exited[1] !== undefined ? { code: Number(exited[1]) } : { signal: SIGNALS[exited[2]!] ?? 0 } });
      return;
    }
    if (rest.startsWith('---')) return;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/s.exec(rest);
    if (resumed) {
      const head = unfinished.get(tid);
      unfinished.delete(tid);
      if (head === undefined) return;
      rest = head + resumed[2]!;
    } else if (rest.endsWith('<unfinished ...>')) {
      unfinished.set(tid, rest.slice(0, -'<unfinished ...>'.length).trimEnd());
      bound(unfinished);
      return;
    }
    const call = /^(\w+)\((.*)\)\s+=\s+(-?\d+|\?|0x[0-9a-f]+)(?:\s+(E[A-Z0-9]+))?.*$/s.exec(rest);
    if (!call) return;
    syscall(tid, tsNs, call[1]!, splitArgs(call[2]!), call[3]!, call[4], out);
  }

  return {
    push(text) {
      const out: SensorEvent[] = [];
      const m = /^(\d+)\s+(\d+)\.(\d+)\s+(.*)$/s.exec(text);
      if (!m) return out;
      const tid = Number(m[1]);
      const tsNs = Number(m[2]) * 1e9 + Number(m[3]!.padEnd(9, '0').slice(0, 9));
      if (!sawRoot) { sawRoot = true; know(tid); } // the first task strace prints is the command itself
      if (known.has(tid)) {
        line(tid, tsNs, m[4]!, out);
      } else {
        let h = held.get(tid);
        if (!h) { h = { tsNs, lines: [] }; held.set(tid, h); }
        h.lines.push({ tsNs, rest: m[4]! });
        heldLines++;
      }
      // Give up on creators that never showed: the oldest held task past holdNs, or anything over the line bound.
      for (const [t, h] of held) {
        if (heldLines <= o.maxHeldLines && tsNs - h.tsNs < o.holdNs) break;
        release(t, out);
      }
      return out;
    },
    flush() {
      const out: SensorEvent[] = [];
      for (const t of [...held.keys()]) release(t, out);
      emitRepeats(undefined, out);
      return out;
    },
  };
}
