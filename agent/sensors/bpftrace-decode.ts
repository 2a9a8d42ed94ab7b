// Turns bpftrace `-f json` lines of our script (bpftrace-script.ts) into SensorEvents. Pure: time comes in as
// arguments, state (exec argv chunks, connect results, DNS queries, renames) is bounded and flushed by age.
import { posix } from 'node:path';
import type { AccessKind, FileOp } from '../../proto/types.js';
import type { ExecInfo, FdAtExec, SensorEvent } from './types.js';
import { answerAddresses, parseDns } from '../dns-parse.js';
import { parseProcPath, sensitiveClass, writeClass } from '../path-class.js';
import type { PathContext } from '../path-class.js';

export interface DecoderOptions {
  /** wall-clock ns = kernel monotonic ns (bpftrace `nsecs`) + this offset. */
  wallOffsetNs: bigint;
  argvChunkBytes: number;
  argvChunks: number;
  pathContext: PathContext;
  /** The full sensitive prefixes (the kernel compares at most 63 bytes of each); empty: trust the kernel. */
  sensitivePrefixes: readonly string[];
  /** Pids whose events are dropped (the agent, bpftrace). */
  ignorePids: ReadonlySet<number>;
  /** How long a record waits for its completion (argv chunks, connect result, DNS answer), ns. */
  execWaitNs: number;
  connectWaitNs: number;
  dnsWaitNs: number;
  /** Pending records of each kind kept at most; beyond, the oldest is emitted incomplete. */
  maxPending: number;
}

export const DECODER_DEFAULTS = Object.freeze({
  argvChunkBytes: 192, argvChunks: 4, sensitivePrefixes: [] as readonly string[], execWaitNs: 200e6, connectWaitNs: 1e9, dnsWaitNs: 5e9, maxPending: 4096,
});

export interface DecodeResult {
  events: SensorEvent[];
  /** Kernel-side losses announced by bpftrace. */
  lost: number;
  /** Write-opens counted in the kernel (@wn) but missing from the full per-path map (@wc). */
  mapLost: number;
  /** Processes forked in a tracked tree that the kernel's tracked-pid map could not hold (not watched). */
  treeLost: number;
  /** Every probe is attached (the script's BEGIN line; `attached_probes` comes before load errors). */
  attached: boolean;
  /** The interval probe printed a window of counted write-opens (everything counted before it is in). */
  flushed: boolean;
  malformed: boolean;
}

export interface BpftraceDecoder {
  push(line: string, nowMonoNs: bigint): DecodeResult;
  /** Emits what waited longer than its limit (all of it with `all`). */
  flush(nowMonoNs: bigint, all?: boolean): SensorEvent[];
  pending(): number;
}

/** The dfd of a write-open relative to the cwd last sent for the process (runwarden.h RW_DFD_EXEC_CWD: J records). */
const EXEC_CWD = -200;
/** Processes whose cwd from the kernel is kept (live ones, and gone ones until their pid's next fork). */
const MAX_CWDS = 16_384;

/** Bytes of a string str() reads with BPFTRACE_STRLEN=200, before its NUL. */
const STR_MAX = 199;

/** How a counted map's line starts (scanCounted). */
const MAP_WC = '{"type": "map", "data": {"@wc';
// Paths whose write-opens are noise: the null device, terminals, the process's own /proc entries.
const WRITE_NOISE = /^(\/dev\/(null|zero|full|tty\d*|ptmx|pts\/\d+)|\/proc\/(self|thread-self)\/)/;
const FD_EXEC = /^\/(dev\/fd|proc\/(self|\d+)\/fd)\/\d+$/;

interface PendingExec { at: bigint; ev: Extract<SensorEvent, { kind: 'exec' }>; len: number; chunks: Map<number, Buffer>; exeIsArgv0: boolean }
interface PendingConnect { at: bigint; ev: Extract<SensorEvent, { kind: 'net' }> }
interface PendingDns { at: bigint; ev: Extract<SensorEvent, { kind: 'dns' }> }
interface EarlyAnswer { at: bigint; answers: string[]; rcode: number }
interface PendingRename { at: bigint; ev: Extract<SensorEvent, { kind: 'file' }> }
interface DirChain { at: bigint; names: string[] }
interface PacketHead { at: bigint; tsMono: bigint; pid: number; saddr: string; sport: number; daddr: string; dport: number }

/** Decodes bpftrace's %r rendering: printable bytes as is, others as \xNN. */
export function unescapeR(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 2, i + 4))) {
      out.push(parseInt(s.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      const code = s.charCodeAt(i);
      if (code < 0x80) out.push(code);
      else for (const b of Buffer.from(s[i]!, 'utf8')) out.push(b);
    }
  }
  return Buffer.from(out);
}

/**
 * The absolute path of a dirfd-relative open from the kernel's directory names (leaf first, up to the root);
 * undefined when the walk stopped short (deeper than the kernel loop): a partial path would be a guess.
 */
export function dirfdPath(leafFirst: readonly string[], complete: boolean, name: string): string | undefined {
  if (!complete || name === '' || name.includes('/')) return undefined;
  const dir = [...leafFirst].reverse().join('/');
  return '/' + (dir ? dir + '/' : '') + name;
}

/** IPv4 text of a u32 read little-endian from network-order bytes. */
export function ipv4FromLe(n: number): string {
  return `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 24) & 0xff}`;
}

/** Splits the NUL-separated argv area (the last argument may be cut when the area was truncated). */
export function splitArgv(bytes: Buffer): string[] {
  const parts = bytes.toString('utf8').split('\0');
  if (parts.length && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

type Map1<V> = Map<string | number, V>;

const FD_KINDS: Readonly<Record<string, FdAtExec['kind']>> = { p: 'pipe', s: 'socket', n: 'null', t: 'tty', f: 'file' };

/** A descriptor of an I record (kind letter, inode): undefined when it was not open or the letter is unknown. */
export function fdAtExec(letter: string | undefined, ino: string | undefined): FdAtExec | undefined {
  const kind = letter === undefined ? undefined : FD_KINDS[letter];
  if (!kind) return undefined;
  if (kind === 'pipe' || kind === 'socket') return { kind, target: `${kind}:[${ino ?? '0'}]` };
  return { kind };
}

function evict<V extends { at: bigint }>(m: Map1<V>, max: number, emit: (v: V) => void): void {
  while (m.size > max) {
    const first = m.keys().next();
    if (first.done) return;
    const v = m.get(first.value)!;
    m.delete(first.value);
    emit(v);
  }
}

export function createBpftraceDecoder(options: Partial<DecoderOptions> & Pick<DecoderOptions, 'wallOffsetNs'>): BpftraceDecoder {
  const o: DecoderOptions = { ...DECODER_DEFAULTS, pathContext: {}, ignorePids: new Set(), ...options };
  const execs: Map1<PendingExec> = new Map();
  const connects: Map1<PendingConnect> = new Map();
  const dnsQueries: Map1<PendingDns> = new Map();
  // bpftrace's output is per CPU: a loopback server's answer, sent on another CPU, can be read before the query.
  const dnsAnswers: Map1<EarlyAnswer> = new Map();
  const renames: Map1<PendingRename> = new Map();
  const heads: Map1<PacketHead> = new Map();
  const memfdPids = new Map<number, true>();
  // Per-pid sums of the last printed @wc0/@wc1, checked against @wn0/@wn1 printed right after.
  const countedSums: (Map<number, number> | undefined)[] = [undefined, undefined];
  const dirChains: Map1<DirChain> = new Map();
  // The I record printed just before an exec's E/e record by the libbpf sensor (bpftrace prints none).
  let info: { pid: number; info: ExecInfo } | undefined;
  // pid → its cwd as the kernel last sent it (J record: at its exec, just before its I record, or after a chdir) or as
  // its parent's at its fork; a write-open with dfd EXEC_CWD is relative to it (the kernel saw no chdir since).
  const cwds = new Map<number, string>();
  const setCwd = (pid: number, path: string): void => {
    cwds.delete(pid);
    cwds.set(pid, path);
    if (cwds.size > MAX_CWDS) cwds.delete(cwds.keys().next().value as number);
  };
  const wall = (mono: string | bigint): number => Number(BigInt(mono) + o.wallOffsetNs);
  /** A path as an *at call printed it: fd:N//abs (bpftrace prints the dirfd whatever the path) is the absolute path. */
  const atPath = (p: string): string => (p.startsWith('fd:') && /^fd:\d+\/\//.test(p) ? p.slice(p.indexOf('/') + 1) : p);
  /** A write-open's path: joined to the kernel's cwd of pid (EXEC_CWD; left relative, as an AT_FDCWD path is, when no
   * cwd is known here: beyond the bound), fd:<n>/<path> for a directory fd, else as printed. */
  const resolveWrite = (pid: number, dfd: number, raw: string): string => {
    if (raw === '' || raw.startsWith('/')) return raw;
    if (dfd === EXEC_CWD) {
      const cwd = cwds.get(pid);
      return cwd !== undefined ? posix.join(cwd, raw) : raw;
    }
    return dfd >= 0 ? `fd:${dfd}/${raw}` : raw;
  };

  /** The executed file's name, and what it says about a fileless exec. */
  function finishExe(ev: Extract<SensorEvent, { kind: 'exec' }>, filename: string): void {
    ev.exe = filename;
    // fexecve/execveat(AT_EMPTY_PATH) of a memfd shows as /dev/fd/N; memfd_create by this pid makes it certain.
    if (FD_EXEC.test(filename) || filename.startsWith('/memfd:') || (memfdPids.has(ev.pid) && filename.includes('/fd/'))) ev.exec.memfd = true;
  }

  function finishExec(p: PendingExec): SensorEvent {
    const cap = o.argvChunkBytes * o.argvChunks;
    const parts: Buffer[] = [];
    let expect = 0;
    let missing = false;
    for (let off = 0; off < Math.min(p.len, cap); off += o.argvChunkBytes) {
      const c = p.chunks.get(off);
      if (!c) { missing = true; break; }
      parts.push(c);
      expect = off + c.length;
    }
    const truncated = missing || p.len > cap || expect < p.len;
    p.ev.exec.argv = splitArgv(Buffer.concat(parts));
    if (truncated) p.ev.exec.argvTruncated = true;
    // e records: the kernel found the file name equal to argv[0] as far as str() reads (STRLEN - 1 bytes): a
    // longer argv[0] says nothing of the file name's tail, which is cut there as an E record would have it.
    if (p.exeIsArgv0) {
      const a0 = Buffer.from(p.ev.exec.argv[0] ?? '');
      finishExe(p.ev, a0.length >= STR_MAX ? a0.subarray(0, STR_MAX).toString('utf8') : a0.toString('utf8'));
    }
    return p.ev;
  }

  function dnsFromPacket(head: PacketHead, payload: Buffer, now: bigint, out: SensorEvent[]): void {
    const r = parseDns(payload);
    if (!r.ok) return;
    const m = r.message;
    const q = m.questions[0];
    if (!m.response) {
      if (!q) return;
      const key = `${m.id}:${head.sport}`;
      const ev: PendingDns['ev'] = { kind: 'dns', tsNs: wall(head.tsMono), pid: head.pid, dns: { name: q.name, qtype: q.qtype, server: head.daddr } };
      const early = dnsAnswers.get(key);
      if (early) {
        dnsAnswers.delete(key);
        ev.dns.answers = early.answers;
        ev.dns.rcode = early.rcode;
        out.push(ev);
        return;
      }
      dnsQueries.delete(key);
      dnsQueries.set(key, { at: now, ev });
      evict(dnsQueries, o.maxPending, (v) => out.push(v.ev));
      return;
    }
    const key = `${m.id}:${head.dport}`;
    const pend = dnsQueries.get(key);
    if (!pend) {
      // Kept briefly for its query (read later from another CPU's buffer); alone it names no asker.
      dnsAnswers.delete(key);
      dnsAnswers.set(key, { at: now, answers: answerAddresses(m), rcode: m.rcode });
      evict(dnsAnswers, o.maxPending, () => undefined);
      return;
    }
    dnsQueries.delete(key);
    pend.ev.dns.answers = answerAddresses(m);
    pend.ev.dns.rcode = m.rcode;
    out.push(pend.ev);
  }

  const num = (f: string[], i: number): number => Number(f[i]);
  const rest = (f: string[], i: number): string => (i === f.length - 1 ? f[i]! : f.slice(i).join('\t'));
  // Common header of most records: tag ts pid uid comm.
  const base = (f: string[]) => ({ tsNs: wall(f[1]!), pid: Number(f[2]), uid: Number(f[3]), comm: f[4] });

  /**
   * One entry of a counted map, "pid,dfd,path": n write-opens. Its own function, called per entry: V8 keeps it
   * optimised, where a loop body that runs thousands of times once per window is compiled again on each entry (OSR).
   */
  function countedWrite(k: string, n: number, tsNs: number, sums: Map<number, number>, res: DecodeResult): void {
    // The two numbers read digit by digit: no substring per number (20 000 entries per untar).
    let i = 0;
    let pid = 0;
    for (let c = k.charCodeAt(0); c >= 48 && c <= 57; c = k.charCodeAt(++i)) pid = pid * 10 + (c - 48);
    if (!pid || k.charCodeAt(i) !== 44 /* , */) return;
    const neg = k.charCodeAt(++i) === 45; /* - */
    if (neg) i++;
    const d0 = i;
    let dfd = 0;
    for (let c = k.charCodeAt(i); c >= 48 && c <= 57; c = k.charCodeAt(++i)) dfd = dfd * 10 + (c - 48);
    if (i === d0 || k.charCodeAt(i) !== 44) return;
    if (neg) dfd = -dfd; else if (dfd >= 0x80000000) dfd -= 0x100000000;
    const raw = k.slice(i + 1);
    sums.set(pid, (sums.get(pid) ?? 0) + n);
    const path = resolveWrite(pid, dfd, raw);
    if (o.ignorePids.has(pid) || path === '' || WRITE_NOISE.test(path)) return;
    // A relative path is classified where it is made absolute (relative-paths.ts): classifying its relative form here
    // too cost a second writeClass per entry. '' until then.
    const pathClass = path.charCodeAt(0) === 47 ? writeClass(path, o.pathContext) : '';
    res.events.push({ kind: 'file', tsNs, pid, file: { op: 'OPEN_WRITE', path, count: n, pathClass } });
  }

  /** Counted write-opens (@wc<gen>, per pid,dfd,path) and their per-pid totals (@wn<gen>): one window. */
  function countedMaps(obj: { data?: unknown }, res: DecodeResult, now: bigint): void {
    const data = (obj.data ?? {}) as Record<string, Record<string, number>>;
    for (const [name, entries] of Object.entries(data)) {
      const gen = name === '@wc0' || name === '@wn0' ? 0 : name === '@wc1' || name === '@wn1' ? 1 : -1;
      if (gen < 0 || typeof entries !== 'object' || entries === null) continue;
      if (name.startsWith('@wc')) {
        // "pid,dfd,path": the path may hold commas, the numbers do not; dfd is printed unsigned.
        const sums = new Map<number, number>();
        countedSums[gen] = sums;
        const tsNs = wall(now);
        for (const k in entries) countedWrite(k, entries[k]!, tsNs, sums, res);
      } else {
        // The per-pid totals follow their map: what the map could not hold is a loss, reported with its count.
        const sums = countedSums[gen] ?? new Map<number, number>();
        countedSums[gen] = undefined;
        for (const [k, n] of Object.entries(entries)) {
          const pid = Number(k);
          if (o.ignorePids.has(pid)) continue;
          const missing = n - (sums.get(pid) ?? 0);
          if (missing > 0) res.mapLost += missing;
        }
      }
    }
  }

  /**
   * A counted map (@wc0/@wc1) exactly as the libbpf sensor and bpftrace print it, read without JSON.parse:
   * {"type": "map", "data": {"@wc0": {"pid,dfd,path": n, ...}}}. An untar prints 10 000 entries per window, and
   * JSON.parse made each key an internalized string of a dictionary object first, only for the decoder to split it
   * again (a warm decode of an untar: 20-37 ms instead of 35-65). False, having decoded nothing, when the line is
   * not exactly that: JSON.parse reads it.
   */
  function scanCounted(line: string, res: DecodeResult, now: bigint): boolean {
    let i = MAP_WC.length;
    const gen = line.charCodeAt(i) - 48;
    if ((gen !== 0 && gen !== 1) || !line.startsWith('": {', i + 1)) return false;
    i += 5;
    const keys: string[] = [];
    const counts: number[] = [];
    const len = line.length;
    let backslash = line.indexOf('\\', i);
    if (line.charCodeAt(i) !== 125 /* } */) {
      for (;;) {
        if (line.charCodeAt(i) !== 34 /* " */) return false;
        let end = line.indexOf('"', i + 1);
        if (end < 0) return false;
        let key: string;
        if (backslash < 0 || backslash > end) {
          key = line.slice(i + 1, end);
        } else {
          // Escapes in this key (a path with a quote, a backslash or a control byte): find its real end, let
          // JSON.parse read the string alone.
          end = i + 1;
          while (end < len) {
            const c = line.charCodeAt(end);
            if (c === 92) end += 2; else if (c === 34) break; else end++;
          }
          if (end >= len) return false;
          try { key = JSON.parse(line.slice(i, end + 1)) as string; } catch { return false; }
          backslash = line.indexOf('\\', end);
        }
        if (!line.startsWith('": ', end)) return false;
        i = end + 3;
        let n = 0;
        const digits = i;
        for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) n = n * 10 + (c - 48);
        if (i === digits) return false;
        keys.push(key);
        counts.push(n);
        if (line.startsWith(', ', i)) { i += 2; continue; }
        break;
      }
    }
    if (!line.startsWith('}}}', i) || line.slice(i + 3).trim() !== '') return false;
    const sums = new Map<number, number>();
    countedSums[gen] = sums;
    const tsNs = wall(now);
    for (let k = 0; k < keys.length; k++) countedWrite(keys[k]!, counts[k]!, tsNs, sums, res);
    return true;
  }

  function recHeader(f: string[], res: DecodeResult): void {
    // BEGIN runs once every probe is loaded and attached; `flush` follows a window's printed counts.
    if (f[1] === 'flush') res.flushed = true; else res.attached = true;
  }

  function recCwd(f: string[]): void {
    // J pid complete path: the cwd of a process at its exec (for the I record that follows) or after a chdir
    // (fchdir, setns, unshare); complete: the kernel's walk reached the root, else it says nothing.
    const path = rest(f, 3);
    if (f[2] === '1' && path.startsWith('/') && !path.includes('//')) setCwd(num(f, 1), path);
    else cwds.delete(num(f, 1));
  }

  function recExecInfo(f: string[]): void {
    // I pid cgroupId fd0kind fd0ino fd1kind fd1ino (libbpf sensor): for the E/e record that follows.
    const pid = num(f, 1);
    const cwd = cwds.get(pid);
    info = { pid, info: { cgroupId: f[2] ?? '', ...(cwd !== undefined ? { cwd } : {}), fd0: fdAtExec(f[3], f[4]), fd1: fdAtExec(f[5], f[6]) } };
  }

  function recExec(f: string[], res: DecodeResult, now: bigint): void {
    // E ts pid ppid uid comm argvLen filename | e ts pid ppid uid comm argvLen firstArgvChunk(%r)
    const pid = num(f, 2);
    const at = info?.pid === pid ? info.info : undefined;
    info = undefined;
    const prev = execs.get(pid);
    if (prev) { execs.delete(pid); res.events.push(finishExec(prev)); }
    if (o.ignorePids.has(pid)) return;
    const inline = f[0] === 'e';
    const ev: Extract<SensorEvent, { kind: 'exec' }> = {
      kind: 'exec', tsNs: wall(f[1]!), pid, ppid: num(f, 3), uid: num(f, 4), comm: f[5], exec: {},
    };
    if (at) ev.execInfo = at;
    const len = num(f, 6);
    const p: PendingExec = { at: now, ev, len, chunks: new Map(), exeIsArgv0: inline };
    if (inline) p.chunks.set(0, unescapeR(rest(f, 7))); else finishExe(ev, rest(f, 7));
    if (len <= 0 || (inline && o.argvChunkBytes >= Math.min(len, o.argvChunkBytes * o.argvChunks))) { res.events.push(finishExec(p)); return; }
    execs.set(pid, p);
    evict(execs, o.maxPending, (v) => res.events.push(finishExec(v)));
  }

  function recArgvChunk(f: string[], res: DecodeResult): void {
    const pid = num(f, 1);
    const p = execs.get(pid);
    if (!p) return;
    p.chunks.set(num(f, 2), unescapeR(rest(f, 3)));
    const have = p.chunks.size * o.argvChunkBytes;
    if (have >= Math.min(p.len, o.argvChunkBytes * o.argvChunks)) { execs.delete(pid); res.events.push(finishExec(p)); }
  }

  function recFork(f: string[], res: DecodeResult): void {
    // The child starts in its parent's directory: the kernel marks its cwd-relative writes (dfd -200) only when
    // the parent's cwd is known here and the two do not share it.
    const cwd = cwds.get(num(f, 2));
    if (cwd !== undefined) setCwd(num(f, 5), cwd);
    else cwds.delete(num(f, 5)); // a pid's new life starts at its fork: nothing of a process before it
    if (o.ignorePids.has(num(f, 2))) return;
    res.events.push({ kind: 'fork', ...base(f), fork: { childPid: num(f, 5) } });
  }

  function recExit(f: string[], res: DecodeResult): void {
    const pid = num(f, 2);
    const p = execs.get(pid);
    if (p) { execs.delete(pid); res.events.push(finishExec(p)); }
    memfdPids.delete(pid);
    // The cwd stays (bounded) for the writes of this pid counted in the kernel and printed at the window's end;
    // the pid's next process replaces it at its fork.
    const st = num(f, 5);
    const exit: { code?: number; signal?: number } = {};
    if ((st & 0x7f) !== 0) exit.signal = st & 0x7f; else exit.code = (st >> 8) & 0xff;
    res.events.push({ kind: 'exit', ...base(f), exit });
  }

  function recConnect(f: string[], res: DecodeResult, now: bigint): void {
    // C ts tid pid uid comm family port addr
    const tid = num(f, 2);
    const pid = num(f, 3);
    if (o.ignorePids.has(pid)) return;
    const fam = num(f, 6);
    const addr = rest(f, 8);
    const net: Extract<SensorEvent, { kind: 'net' }>['net'] = fam === 1
      ? { family: 'UNIX', dstIp: addr === '' ? '@' : addr }
      : { family: fam === 10 ? 'INET6' : 'INET', dstIp: addr, dstPort: num(f, 7) };
    const prev = connects.get(tid);
    if (prev) { connects.delete(tid); res.events.push(prev.ev); }
    connects.set(tid, { at: now, ev: { kind: 'net', tsNs: wall(f[1]!), pid, uid: num(f, 4), comm: f[5], net } });
    evict(connects, o.maxPending, (v) => res.events.push(v.ev));
  }

  function recConnectResult(f: string[], res: DecodeResult): void {
    const p = connects.get(num(f, 1));
    if (!p) return;
    connects.delete(num(f, 1));
    p.ev.net.result = num(f, 2);
    res.events.push(p.ev);
  }

  function recPacketHead(f: string[], _res: DecodeResult, now: bigint): void {
    // Q ts pid skb dir saddr sport daddr dport
    heads.set(f[3]!, { at: now, tsMono: BigInt(f[1]!), pid: num(f, 2), saddr: ipv4FromLe(num(f, 5)), sport: num(f, 6), daddr: ipv4FromLe(num(f, 7)), dport: num(f, 8) });
    evict(heads, o.maxPending, () => undefined);
  }

  function recPacket(f: string[], res: DecodeResult, now: bigint): void {
    const h = heads.get(f[1]!);
    if (!h) return;
    heads.delete(f[1]!);
    dnsFromPacket(h, unescapeR(rest(f, 2)), now, res.events);
  }

  function recWriteOpen(f: string[], res: DecodeResult): void {
    // W ts pid uid comm op flags mode dfd path (mode 0 without O_CREAT); a path relative to a directory fd is
    // kept as fd:<n>/<path> for the adapter to resolve through /proc/<pid>/fd/<n> (the cwd would be wrong:
    // tar, find, rsync use dirfds).
    const pid = num(f, 2);
    const mode = num(f, 7);
    const dfd = num(f, 8);
    const raw = rest(f, 9);
    const path = resolveWrite(pid, dfd, raw);
    if (o.ignorePids.has(pid) || path === '' || WRITE_NOISE.test(path)) return;
    const flags = num(f, 6);
    const op: FileOp = f[5] === 'c' || (f[5] === 'o' && (flags & 0xc0) === 0xc0) ? 'CREATE' : f[5] === 't' ? 'TRUNCATE' : 'OPEN_WRITE';
    const file: Extract<SensorEvent, { kind: 'file' }>['file'] = { op, path, count: 1, pathClass: writeClass(path, o.pathContext) };
    if (f[5] === 'c') file.mode = flags;
    else if (mode !== 0) file.mode = mode;
    res.events.push({ kind: 'file', ...base(f), file });
  }

  function recRenameFrom(f: string[], res: DecodeResult, now: bigint): void {
    // N ts pid uid comm tid oldPath; O (libbpf sensor): oldPath is relative to the kernel's last cwd of the pid
    if (o.ignorePids.has(num(f, 2))) return;
    const tid = num(f, 5);
    const path = f[0] === 'O' ? resolveWrite(num(f, 2), EXEC_CWD, rest(f, 6)) : atPath(rest(f, 6));
    renames.set(tid, { at: now, ev: { kind: 'file', ...base(f), file: { op: 'RENAME', path, count: 1 } } });
    evict(renames, o.maxPending, (v) => res.events.push(v.ev));
  }

  function recRenameTo(f: string[], res: DecodeResult): void {
    const p = renames.get(num(f, 1));
    if (!p) return;
    renames.delete(num(f, 1));
    p.ev.file.newPath = f[0] === 'o' ? resolveWrite(p.ev.pid, EXEC_CWD, rest(f, 2)) : atPath(rest(f, 2));
    p.ev.file.pathClass = writeClass(p.ev.file.newPath, o.pathContext);
    res.events.push(p.ev);
  }

  function recUnlink(f: string[], res: DecodeResult): void {
    // u (libbpf sensor): the path is relative to the cwd the kernel last sent for the pid.
    if (o.ignorePids.has(num(f, 2))) return;
    const path = f[0] === 'u' ? resolveWrite(num(f, 2), EXEC_CWD, rest(f, 5)) : atPath(rest(f, 5));
    res.events.push({ kind: 'file', ...base(f), file: { op: 'UNLINK', path, count: 1, pathClass: writeClass(path, o.pathContext) } });
  }

  function recChmod(f: string[], res: DecodeResult): void {
    if (o.ignorePids.has(num(f, 2))) return;
    const path = f[0] === 'm' ? resolveWrite(num(f, 2), EXEC_CWD, rest(f, 6)) : atPath(rest(f, 6));
    res.events.push({ kind: 'file', ...base(f), file: { op: 'CHMOD', path, mode: num(f, 5), count: 1, pathClass: writeClass(path, o.pathContext) } });
  }

  function recSensitiveRead(f: string[], res: DecodeResult): void {
    const pid = num(f, 2);
    if (o.ignorePids.has(pid)) return;
    const path = rest(f, 5);
    const proc = parseProcPath(path);
    if (proc) {
      if (!proc.cls || proc.pid === pid) return;
      res.events.push({ kind: 'read', ...base(f), read: { path, pathClass: proc.cls, targetPid: proc.pid } });
      if (proc.cls === 'proc-mem') res.events.push({ kind: 'access', ...base(f), access: { kind: 'PROC_MEM_OPEN', targetPid: proc.pid, detail: 'open(/proc/<pid>/mem)' } });
      return;
    }
    if (path.startsWith('/proc/')) return; // /proc/filesystems, /proc/stat …: the kernel filter is coarse there
    const known = sensitiveClass(path, o.pathContext);
    if (!known && o.sensitivePrefixes.length && !o.sensitivePrefixes.some((p) => path.startsWith(p))) return; // matched only a cut prefix
    const cls = known ?? 'sensitive';
    res.events.push({ kind: 'read', ...base(f), read: { path, pathClass: cls } });
  }

  function recDirName(f: string[], _res: DecodeResult, now: bigint): void {
    // k tid name: one directory name of a dirfd-relative credential open, leaf first (bpftrace-script.ts renderDirfdOpens)
    const tid = num(f, 1);
    const c = dirChains.get(tid) ?? { at: now, names: [] };
    if (c.names.length < 64) c.names.push(rest(f, 2));
    dirChains.set(tid, c);
    evict(dirChains, o.maxPending, () => undefined);
  }

  function recDirfdRead(f: string[], res: DecodeResult): void {
    // K ts pid uid comm tid dfd complete name
    const chain = dirChains.get(num(f, 5));
    dirChains.delete(num(f, 5));
    const pid = num(f, 2);
    if (o.ignorePids.has(pid)) return;
    const name = rest(f, 8);
    const path = dirfdPath(chain?.names ?? [], f[7] === '1', name);
    if (path === undefined) return;
    // Only names under a credential location count (config.json of a project is not ~/.docker/config.json).
    const known = sensitiveClass(path, o.pathContext);
    if (!known && !o.sensitivePrefixes.some((p) => path.startsWith(p))) return;
    res.events.push({ kind: 'read', ...base(f), read: { path, pathClass: known ?? 'sensitive' } });
  }

  function recSignal(f: string[], res: DecodeResult): void {
    // T ts pid uid comm sig targetPid targetComm: a stopping signal for the watcher (renderWatcherSignals)
    if (o.ignorePids.has(num(f, 2))) return;
    const target = num(f, 6);
    const targetComm = rest(f, 7);
    // Any bpftrace matches in the kernel; only ours (an ignored pid) is the watcher.
    if (targetComm.startsWith('bpftrace') && !o.ignorePids.has(target)) return;
    res.events.push({ kind: 'access', ...base(f), access: { kind: 'KILL_WATCHER', targetPid: target, targetComm, detail: `signal ${num(f, 5)}` } });
  }

  function recPtrace(f: string[], res: DecodeResult): void {
    const req = num(f, 5);
    const kind: AccessKind = req === 16 ? 'PTRACE_ATTACH' : 'PTRACE_SEIZE';
    res.events.push({ kind: 'access', ...base(f), access: { kind, targetPid: num(f, 6), detail: `ptrace(${kind})` } });
  }

  function recVmAccess(f: string[], res: DecodeResult): void {
    const w = f[5] === 'w';
    res.events.push({ kind: 'access', ...base(f), access: { kind: w ? 'VM_WRITEV' : 'VM_READV', targetPid: num(f, 6), detail: w ? 'process_vm_writev' : 'process_vm_readv' } });
  }

  function recTreeFull(f: string[], res: DecodeResult): void {
    res.treeLost = 1;
  }

  function recMemfd(f: string[]): void {
    memfdPids.set(num(f, 2), true);
    if (memfdPids.size > o.maxPending) memfdPids.delete(memfdPids.keys().next().value!);
  }

  function recSetid(f: string[], res: DecodeResult): void {
    res.events.push({ kind: 'access', ...base(f), access: { kind: 'SETID_ROOT', targetPid: num(f, 2), detail: f[5] } });
  }

  function recBpfLoad(f: string[], res: DecodeResult): void {
    if (o.ignorePids.has(num(f, 2))) return;
    res.events.push({ kind: 'access', ...base(f), access: { kind: 'BPF_PROG_LOAD', targetPid: num(f, 2), detail: 'bpf(BPF_PROG_LOAD)' } });
  }

  /** One record of a printf line: its fields split at tabs, the first one the tag. */
  type Rec = (f: string[], res: DecodeResult, now: bigint) => void;
  // One small function per record: V8 optimises (and after a deopt re-optimises) each alone, not one big switch.
  const RECORDS: ReadonlyMap<string, Rec> = new Map<string, Rec>([
    ['H', recHeader],
    ['J', recCwd],
    ['I', recExecInfo],
    ['E', recExec],
    ['e', recExec],
    ['A', recArgvChunk],
    ['F', recFork],
    ['X', recExit],
    ['C', recConnect],
    ['R', recConnectResult],
    ['Q', recPacketHead],
    ['q', recPacket],
    ['W', recWriteOpen],
    ['N', recRenameFrom],
    ['O', recRenameFrom],
    ['n', recRenameTo],
    ['o', recRenameTo],
    ['U', recUnlink],
    ['u', recUnlink],
    ['M', recChmod],
    ['m', recChmod],
    ['S', recSensitiveRead],
    ['k', recDirName],
    ['K', recDirfdRead],
    ['T', recSignal],
    ['P', recPtrace],
    ['V', recVmAccess],
    ['Y', recTreeFull],
    ['D', recMemfd],
    ['G', recSetid],
    ['B', recBpfLoad],
  ]);

  function push(line: string, now: bigint): DecodeResult {
    const res: DecodeResult = { events: [], lost: 0, mapLost: 0, treeLost: 0, attached: false, flushed: false, malformed: false };
    if (line.startsWith(MAP_WC) && scanCounted(line, res, now)) return res;
    let obj: { type?: string; data?: unknown };
    try { obj = JSON.parse(line) as typeof obj; } catch { res.malformed = true; return res; }
    if (obj.type === 'lost_events') {
      const d = obj.data as { events?: number } | undefined;
      res.lost = Number(d?.events ?? 0);
      return res;
    }
    if (obj.type === 'map') {
      countedMaps(obj, res, now);
      return res;
    }
    if (obj.type !== 'printf' || typeof obj.data !== 'string') return res;
    const text = obj.data.endsWith('\n') ? obj.data.slice(0, -1) : obj.data;
    const f = text.split('\t');
    const rec = RECORDS.get(f[0] ?? '');
    if (!rec) { res.malformed = true; return res; }
    try {
      rec(f, res, now);
    } catch {
      res.malformed = true;
    }
    return res;
  }

  function flush(now: bigint, all = false): SensorEvent[] {
    const out: SensorEvent[] = [];
    const sweep = <V extends { at: bigint }>(m: Map1<V>, waitNs: number, emit: (v: V) => void) => {
      for (const [k, v] of m) {
        if (!all && now - v.at < BigInt(Math.round(waitNs))) break; // insertion order is age order
        m.delete(k);
        emit(v);
      }
    };
    sweep(execs, o.execWaitNs, (v) => out.push(finishExec(v)));
    sweep(connects, o.connectWaitNs, (v) => out.push(v.ev));
    sweep(dnsQueries, o.dnsWaitNs, (v) => out.push(v.ev));
    sweep(dnsAnswers, o.connectWaitNs, () => undefined);
    sweep(renames, o.execWaitNs, (v) => out.push(v.ev));
    sweep(heads, o.execWaitNs, () => undefined);
    sweep(dirChains, o.execWaitNs, () => undefined);
    return out;
  }

  return {
    push,
    flush,
    pending: () => execs.size + connects.size + dnsQueries.size + dnsAnswers.size + renames.size + heads.size + dirChains.size,
  };
}
