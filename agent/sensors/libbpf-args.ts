// Renders the eBPF sensor's options (bpftrace-script.ts ScriptOptions) as the argv of the libbpf sensor's loader
// (agent/sensors/bpf/runwarden-sensor.c). Pure: the caller spawns it. Refuses what the loader cannot carry.
import { checkScriptOptions, MAX_TRACK_PIDS } from './bpftrace-script.js';
import type { ScriptOptions } from './bpftrace-script.js';

export interface LoaderLimits {
  /**
   * Ring buffer bytes (rounded up to a power of two by the loader): 4 MiB holds ~10 000 exec records, and the kernel
   * wakes the loader once it is a quarter full. Its pages are mapped twice (wrap-around): twice in the loader's RSS.
   */
  ringbufBytes: number;
  /**
   * How often the loader reads the ring without being woken, ms: the latency bound of a quiet host. Records whose
   * path needs /proc while the process lives wake it at once, as do ptrace, process_vm, setid, memfd, bpf, signals
   * to the watcher and reads of the sensitive set, and a ring a quarter full. Every read is a
   * wakeup of the agent (stream read, decode, enqueue, spool append): 50 ms instead of 10 took the daemons' CPU
   * during a make job from ~0.9 to ~0.5 s (bench/overhead-host.js, alternated runs, README "Performance").
   */
  pollMillis: number;
  /** Entries of each kernel map (bpftrace's BPFTRACE_MAP_KEYS_MAX). */
  mapKeys: number;
  /**
   * What the loader holds in its own memory when the agent reads slower than the kernel writes (a busy agent, a
   * burst of execs): the ring buffer keeps being drained meanwhile. Past it the loader waits, the ring fills and the
   * kernel's losses are counted. Only the backlog actually held is resident (~250 bytes per record).
   */
  backlogBytes: number;
}

export const LOADER_DEFAULTS: Readonly<LoaderLimits> = Object.freeze({ ringbufBytes: 4 << 20, pollMillis: 50, mapKeys: 16_384, backlogBytes: 256 << 20 });

/** Limits of the loader's option tables (agent/sensors/bpf/runwarden.h). */
const MAX_PREFIXES = 256;
const MAX_PREFIX_BYTES = 190;
const MAX_NAMES = 32;
const MAX_NAME_BYTES = 63;
const MAX_EXCLUDED = 63;
const MAX_PROTECTED = 64;
const MAX_COMMS = 8;

const isPid = (p: number): boolean => Number.isInteger(p) && p > 0;

function text(s: string, max: number, what: string): string {
  if (Buffer.byteLength(s) > max) throw new RangeError(`${what} longer than ${max} bytes: ${s.slice(0, 40)}…`);
  if (/[\0-\x1f\x7f]/.test(s)) throw new RangeError(`${what} contains a control character`);
  return s;
}

export function loaderArgs(o: ScriptOptions, limits: Partial<LoaderLimits> = {}): string[] {
  const l: LoaderLimits = { ...LOADER_DEFAULTS, ...limits };
  checkScriptOptions(o);
  if (!Number.isInteger(l.ringbufBytes) || l.ringbufBytes < 4096 || l.ringbufBytes > 1 << 30) throw new RangeError('ringbufBytes must be 4096..1 GiB');
  if (!Number.isInteger(l.pollMillis) || l.pollMillis < 1 || l.pollMillis > 1000) throw new RangeError('pollMillis must be 1..1000');
  if (!Number.isInteger(l.mapKeys) || l.mapKeys < 16 || l.mapKeys > 1 << 22) throw new RangeError('mapKeys must be 16..4194304');
  if (!Number.isInteger(l.backlogBytes) || l.backlogBytes < 1 << 20 || l.backlogBytes > 2 ** 40) throw new RangeError('backlogBytes must be 1 MiB..1 TiB');
  const prefixes = [...new Set(o.sensitivePrefixes)].map((p) => text(p, MAX_PREFIX_BYTES, 'prefix'));
  if (prefixes.length > MAX_PREFIXES) throw new RangeError(`at most ${MAX_PREFIXES} sensitive prefixes`);
  const names = [...new Set(o.dirfdSensitiveNames)].filter((n) => n !== '').map((n) => text(n, MAX_NAME_BYTES, 'dirfd name'));
  if (names.length > MAX_NAMES) throw new RangeError(`at most ${MAX_NAMES} dirfd names`);
  const excluded = [...new Set(o.excludePids.filter(isPid))];
  if (excluded.length > MAX_EXCLUDED) throw new RangeError(`at most ${MAX_EXCLUDED} excluded pids`);
  const protectedPids = [...new Set(o.protectedPids.filter(isPid))];
  if (protectedPids.length > MAX_PROTECTED) throw new RangeError(`at most ${MAX_PROTECTED} protected pids`);
  const comms = [...new Set(o.protectedComms.filter((c) => c !== '').map((c) => text(c, 64, 'comm').slice(0, 15)))];
  if (comms.length > MAX_COMMS) throw new RangeError(`at most ${MAX_COMMS} protected comms`);
  const roots = [...new Set(o.trackPids.filter(isPid))];
  if (roots.length > MAX_TRACK_PIDS) throw new RangeError(`trackPids holds at most ${MAX_TRACK_PIDS} pids`);
  const out = [
    '--argv-chunk', String(o.argvChunkBytes), '--argv-chunks', String(o.argvChunks), '--flush-ms', String(o.writeFlushMillis),
    '--write-budget', String(o.writeBudget), '--dns-port', String(o.dnsPort),
    '--ringbuf-bytes', String(l.ringbufBytes), '--poll-ms', String(l.pollMillis), '--map-keys', String(l.mapKeys),
    '--backlog-bytes', String(l.backlogBytes),
  ];
  if (!o.procReads) out.push('--no-proc-reads');
  for (const p of prefixes) out.push('--prefix', p);
  for (const n of names) out.push('--dirfd-name', n);
  for (const p of excluded) out.push('--exclude-pid', String(p));
  for (const p of protectedPids) out.push('--protect-pid', String(p));
  for (const c of comms) out.push('--protect-comm', c);
  for (const p of roots) out.push('--track-pid', String(p));
  return out;
}
