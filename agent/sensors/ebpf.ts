// The eBPF sensor: runs the kernel program (the libbpf sensor, else bpftrace with the rendered tracepoint script;
// kernel-program.ts), decodes its JSON lines into SensorEvents, queues them (bounded), restarts it when it dies and
// reports every gap and drop through onLoss.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RwError } from '../../proto/errors.js';
import { createBpftraceDecoder, DECODER_DEFAULTS } from './bpftrace-decode.js';
import { createLineSplitter } from './line-split.js';
import { createRelativeResolver } from './relative-paths.js';
import type { BpftraceDecoder } from './bpftrace-decode.js';
import { MAX_TRACK_PIDS, renderScript, SCRIPT_DEFAULTS } from './bpftrace-script.js';
import type { ScriptOptions } from './bpftrace-script.js';
import { bpftraceSpawn, libbpfSensorPath, libbpfSpawn, programLine } from './kernel-program.js';
import type { KernelProgramKind } from './kernel-program.js';
import type { LoaderLimits } from './libbpf-args.js';
import { sensitivePrefixes, writeClass } from '../path-class.js';
import type { PathContext } from '../path-class.js';
import type { Sensor, SensorEvent, SensorStatus } from './types.js';

export interface EbpfSensorOptions {
  bpftracePath: string;
  /** auto: the libbpf sensor when built (kernel-program.ts) and it attaches, else bpftrace. */
  kernelProgram: 'auto' | KernelProgramKind;
  /** The libbpf sensor binary; default the one built into dist/sensor. */
  sensorPath?: string;
  /** Ring buffer, poll interval and map sizes of the libbpf sensor. */
  loader: Partial<LoaderLimits>;
  /** Overrides of the script; sensitivePrefixes are added to those derived from pathContext. */
  script: Partial<ScriptOptions>;
  /** Homes/runner dirs for the sensitive-path filter; homes default to /root and /home/*. */
  pathContext: PathContext;
  /** Extra sensitive path prefixes (config agent.sensitivePaths). */
  sensitivePaths: string[];
  maxQueueEvents: number;
  /** Events handed to onEvent per turn of the event loop; between turns the agent reads its sockets and timers. */
  drainBatchEvents: number;
  attachTimeoutMillis: number;
  restartDelayMillis: number;
  maxRestarts: number;
  flushIntervalMillis: number;
  closeTimeoutMillis: number;
  /**
   * How long sync() may wait while events are still being delivered (a backlog under load). Without progress it
   * gives up after three windows (at least 1 s): a stalled kernel program must not hold a job's end.
   */
  syncMaxMillis: number;
  /** Pids never reported (the agent's own pid is always added). */
  ignorePids: number[];
  /** Called with bpftrace's stderr lines that are not the known RLIMIT_MEMLOCK warning. */
  onDiagnostic?: (line: string) => void;
  /**
   * Watch only these processes and their descendants (script.trackPids), asked again at every (re)launch: a
   * restarted bpftrace must know the job's processes that are already running.
   */
  trackPids?: () => number[];
}

export const EBPF_DEFAULTS: Readonly<Omit<EbpfSensorOptions, 'onDiagnostic' | 'trackPids' | 'sensorPath'>> = Object.freeze({
  bpftracePath: 'bpftrace',
  kernelProgram: 'auto',
  loader: {},
  script: {},
  pathContext: {},
  sensitivePaths: [],
  maxQueueEvents: 65_536,
  drainBatchEvents: 4096,
  attachTimeoutMillis: 60_000,
  restartDelayMillis: 500,
  maxRestarts: 10,
  flushIntervalMillis: 200,
  closeTimeoutMillis: 5_000,
  syncMaxMillis: 30_000,
  ignorePids: [],
});

/** Queue entry standing for "the window printed before this point is delivered". */
const SYNC_MARK = Object.freeze({ kind: 'heartbeat', tsNs: 0, pid: 0, heartbeat: {} }) as unknown as SensorEvent;

export const EBPF_CAPABILITIES: readonly string[] = Object.freeze([
  'exec', 'exec-argv', 'fork', 'exit', 'connect', 'connect-result', 'dns', 'file-write', 'rename', 'unlink', 'chmod-x',
  'sensitive-read', 'proc-mem', 'ptrace', 'process-vm', 'memfd-exec', 'setid-root', 'bpf-load', 'short-lived-processes',
]);

function blindSpots(o: ScriptOptions, treeOnly: boolean, program: KernelProgramKind): string[] {
  const spots = [
    ...(treeOnly ? ['only descendants of the agent (the job) are watched in the kernel; a process the job starts through another service (a daemon, a container runtime) is not'] : []),
    `argv beyond ${o.argvChunkBytes * o.argvChunks} bytes is cut (argvTruncated)`,
    'paths longer than 200 bytes are cut; paths not yet paged in by the process read as empty',
    'paths relative to a directory fd (openat dirfd) are resolved via /proc/<pid>/fd while the process lives, after it exits with the last target seen for that fd, else reported as fd:<n>/<path>',
    program === 'libbpf'
      ? 'cwd-relative paths (write-opens, rename, unlink, chmod) are resolved against the cwd the kernel program last saw for the process (at its exec, chdir, fchdir, setns, unshare); for a process sharing its cwd with another (CLONE_FS) through /proc/<pid>/cwd, and a pivot_root that moves other processes is not seen'
      : 'cwd-relative paths (write-opens, rename, unlink, chmod) are resolved through /proc/<pid>/cwd when delivered; a process gone by then gets the last cwd read for it, else its live ancestor\'s or the workspace',
    'DNS over TCP, DoT/DoH and over IPv6 transport is not parsed; answers beyond 192 payload bytes are cut',
    'fchmod shows the fd, not the path; chmod without an execute bit is not reported',
    `write-opens beyond ${o.writeBudget} per process within ${o.writeFlushMillis} ms are counted per path in the kernel and reported up to ${o.writeFlushMillis} ms later`,
    'sensitive reads via relative paths from directories other than home, or via symlinks, are missed',
  ];
  spots.push(existsSync('/proc/modules')
    ? 'init_module/finit_module have no syscall tracepoint here: module loads are not seen'
    : 'kernel has no loadable-module support: module loads cannot happen');
  return spots;
}

/** Home directories worth a kernel filter: /root and the directories under /home. */
export function defaultHomes(): string[] {
  const homes = ['/root'];
  try {
    for (const d of readdirSync('/home', { withFileTypes: true })) if (d.isDirectory()) homes.push(`/home/${d.name}`);
  } catch { /* no /home */ }
  return homes.slice(0, 16);
}

/** Mounts tracefs when the syscall tracepoints are not visible (minimal containers). */
export function ensureTracefs(): void {
  if (existsSync('/sys/kernel/tracing/events/syscalls') || existsSync('/sys/kernel/debug/tracing/events/syscalls')) return;
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync('/sys/kernel/tracing/events/syscalls')) {
    throw new RwError('AGENT_ERR_SENSOR', `tracefs is not mounted and mounting it failed: ${(r.stderr ?? '').trim()}`);
  }
}

/** The libbpf kernel program's backlog report on stderr (runwarden-sensor.c, bl_report). */
const BACKLOG_LINE = /^runwarden-sensor: backlog (\d+) bytes, peak (\d+) bytes, (\d+) waits$/;

export function createEbpfSensor(partial: Partial<EbpfSensorOptions> = {}): Sensor {
  const o: EbpfSensorOptions = { ...EBPF_DEFAULTS, ...partial };
  const pathContext: PathContext = { ...o.pathContext, homes: o.pathContext.homes ?? defaultHomes() };
  const scriptOptions: ScriptOptions = {
    ...SCRIPT_DEFAULTS,
    ...o.script,
    sensitivePrefixes: [...sensitivePrefixes(pathContext, o.sensitivePaths), ...(o.script.sensitivePrefixes ?? [])],
    excludePids: [process.pid, ...(o.script.excludePids ?? [])],
    // The agent's other processes (run's embedded collector): a stopping signal sent to them is reported.
    protectedPids: [...o.ignorePids, ...(o.script.protectedPids ?? [])],
  };
  const eventCbs: ((ev: SensorEvent) => void)[] = [];
  const lossCbs: ((count: number, reason: string) => void)[] = [];
  const queue: SensorEvent[] = [];
  let qHead = 0;
  let drops = 0;
  let pendingDropReport = 0;
  let drainScheduled = false;
  let child: ChildProcess | undefined;
  let decoder: BpftraceDecoder | undefined;
  let running = false;
  let closing = false;
  let closed: Promise<void> | undefined;
  let restarts = 0;
  // What the libbpf kernel program holds that this process has not read yet (its stderr says so once a second while
  // there is any): a sensor running behind, not losing.
  // waits: the running loader's; waitsBefore: those of loaders before a restart.
  const backlog = { bytes: 0, peakBytes: 0, waits: 0, waitsBefore: 0 };
  let message: string | undefined;
  let flushTimer: NodeJS.Timeout | undefined;
  let dir: string | undefined;
  let scriptPath = '';
  const sensorPath = o.sensorPath ?? libbpfSensorPath();
  let program: KernelProgramKind = o.kernelProgram === 'bpftrace' || (o.kernelProgram === 'auto' && !sensorPath) ? 'bpftrace' : 'libbpf';
  let programNote = program === 'libbpf' ? sensorPath ?? 'not built' : o.kernelProgram === 'bpftrace' ? 'chosen by option' : 'libbpf sensor not built';
  const ignore = new Set<number>([process.pid, ...o.ignorePids]);
  const resolveRelative = createRelativeResolver((p) => writeClass(p, pathContext));
  // sync(): callers wait for the next printed window; the queue carries a marker so they resume after its events.
  const syncWaiters: (() => void)[] = [];
  const syncAt: (() => void)[][] = [];
  /** Events handed to onEvent so far: sync() waits on while this moves. */
  let delivered = 0;

  function reportLoss(count: number, reason: string): void {
    for (const cb of lossCbs) cb(count, reason);
  }

  function drain(): void {
    drainScheduled = false;
    if (pendingDropReport) {
      const n = pendingDropReport;
      pendingDropReport = 0;
      reportLoss(n, 'sensor queue full');
    }
    const end = Math.min(queue.length, qHead + o.drainBatchEvents);
    delivered += end - qHead;
    for (; qHead < end; qHead++) deliver(queue[qHead]!);
    if (qHead >= queue.length) { queue.length = 0; qHead = 0; } else if (qHead > 65_536) { queue.splice(0, qHead); qHead = 0; }
    if (queue.length - qHead > 0) schedule();
  }
  // Loop bodies of burst loops are functions of their own: V8 optimises them once, where a loop body that runs
  // thousands of times once per window is compiled again and again on the stack (OSR).
  function deliver(ev: SensorEvent): void {
    if (ev === SYNC_MARK) { for (const w of syncAt.shift() ?? []) w(); return; }
    for (const cb of eventCbs) cb(ev);
  }
  function schedule(): void {
    if (!drainScheduled) { drainScheduled = true; setImmediate(drain); }
  }

  function enqueueOne(ev: SensorEvent, memo: Map<string, string | null>): void {
    if (queue.length - qHead >= o.maxQueueEvents) { drops++; pendingDropReport++; return; }
    resolveRelative(ev, memo);
    queue.push(ev);
  }
  function enqueue(evs: SensorEvent[]): void {
    const memo = new Map<string, string | null>();
    for (const ev of evs) enqueueOne(ev, memo);
    if (evs.length || pendingDropReport) schedule();
  }

  function launch(): Promise<void> {
    let trackPids = scriptOptions.trackPids;
    if (o.trackPids) {
      const pids = [...new Set(o.trackPids())];
      if (pids.length > MAX_TRACK_PIDS) reportLoss(pids.length - MAX_TRACK_PIDS, 'processes beyond the tracked pids a restarted sensor can carry: not watched');
      trackPids = pids.slice(0, MAX_TRACK_PIDS);
      if (program === 'bpftrace') writeFileSync(scriptPath, renderScript({ ...scriptOptions, trackPids }), { mode: 0o600 });
    }
    const name = program === 'libbpf' ? 'the libbpf sensor' : 'bpftrace';
    const spec = program === 'libbpf' ? libbpfSpawn(sensorPath ?? 'runwarden-sensor', { ...scriptOptions, trackPids }, o.loader) : bpftraceSpawn(o.bpftracePath, scriptPath);
    const wallOffsetNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    const dec = createBpftraceDecoder({
      wallOffsetNs, pathContext, ignorePids: ignore, sensitivePrefixes: scriptOptions.sensitivePrefixes,
      argvChunkBytes: scriptOptions.argvChunkBytes, argvChunks: scriptOptions.argvChunks,
      execWaitNs: DECODER_DEFAULTS.execWaitNs,
    });
    decoder = dec;
    const proc = spawn(spec.command, spec.args, { env: { ...process.env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    // A new loader holds nothing yet (what a dead one held is lost, and reported so by the restart).
    backlog.bytes = 0;
    backlog.waitsBefore += backlog.waits;
    backlog.waits = 0;
    child = proc;
    if (proc.pid !== undefined) ignore.add(proc.pid);
    const stderr: string[] = [];
    return new Promise<void>((resolve, reject) => {
      let attached = false;
      const timer = setTimeout(() => {
        if (!attached) { proc.kill('SIGKILL'); reject(new RwError('AGENT_ERR_SENSOR', `${name} did not attach its probes in time`)); }
      }, o.attachTimeoutMillis);
      createInterface({ input: proc.stderr! }).on('line', (line) => {
        if (/RLIMIT_MEMLOCK/.test(line) || line.trim() === '') return;
        const bl = BACKLOG_LINE.exec(line);
        if (bl) {
          if (child !== proc) return; // a late line of a loader replaced since
          backlog.bytes = Number(bl[1]);
          backlog.peakBytes = Math.max(backlog.peakBytes, Number(bl[2]));
          backlog.waits = Number(bl[3]);
          return;
        }
        if (stderr.length < 50) stderr.push(line);
        o.onDiagnostic?.(line);
      });
      // One clock reading and one enqueue per chunk of lines (a chunk holds up to 64 KiB, hundreds of records).
      const onLine = (line: string, now: bigint, batch: SensorEvent[]): void => {
        const r = dec.push(line, now);
        if (r.lost) { drops += r.lost; reportLoss(r.lost, program === 'libbpf' ? 'kernel ring buffer full' : 'kernel perf buffer overflow'); }
        if (r.mapLost) { drops += r.mapLost; reportLoss(r.mapLost, 'write-opens beyond the kernel count map (BPFTRACE_MAP_KEYS_MAX)'); }
        if (r.treeLost) { drops += r.treeLost; reportLoss(r.treeLost, 'a process of the job beyond the kernel\'s tracked-pid map (BPFTRACE_MAP_KEYS_MAX): not watched'); }
        for (const ev of r.events) batch.push(ev);
        if (r.flushed && syncWaiters.length) {
          // Resolve after the events before the marker went through onEvent (the queue drains in order).
          if (batch.length) enqueue(batch.splice(0));
          const ws = syncWaiters.splice(0);
          queue.push(SYNC_MARK);
          syncAt.push(ws);
          schedule();
        }
        if (r.attached && !attached) {
          attached = true;
          clearTimeout(timer);
          running = true;
          resolve();
        }
      };
      const lines = createLineSplitter();
      const onLines = (ls: readonly string[]): void => {
        const now = process.hrtime.bigint();
        const batch: SensorEvent[] = [];
        for (const line of ls) onLine(line, now, batch);
        if (batch.length) enqueue(batch);
      };
      proc.stdout!.on('data', (chunk: Buffer) => onLines(lines.push(chunk)));
      // Before the process's 'close': a last line without its line break is still read.
      proc.stdout!.on('end', () => { const rest = lines.end(); if (rest !== undefined) onLines([rest]); });
      proc.on('error', (err) => {
        clearTimeout(timer);
        if (!attached) reject(new RwError('AGENT_ERR_SENSOR', `cannot run ${spec.command}: ${err.message}`, { cause: err }));
      });
      proc.on('close', (code, signal) => {
        clearTimeout(timer);
        enqueue(dec.flush(process.hrtime.bigint(), true));
        running = false;
        if (!attached) {
          reject(new RwError('AGENT_ERR_SENSOR', `${name} exited before attaching (${code ?? signal}): ${stderr.join(' | ').slice(0, 2000)}`));
          return;
        }
        if (closing) return;
        onUnexpectedExit(code, signal, stderr.join(' | '));
      });
    });
  }

  function onUnexpectedExit(code: number | null, signal: NodeJS.Signals | null, err: string): void {
    const diedAt = Date.now();
    message = `${program === 'libbpf' ? 'libbpf sensor' : 'bpftrace'} exited (${code ?? signal}) ${err.slice(0, 500)}`.trim();
    if (restarts >= o.maxRestarts) {
      reportLoss(0, `${message}; restart limit reached, sensor stopped`);
      return;
    }
    restarts++;
    setTimeout(() => {
      if (closing) return;
      launch().then(
        () => reportLoss(0, `${program === 'libbpf' ? 'libbpf sensor' : 'bpftrace'} restarted after exiting (${code ?? signal}); blind for ${Date.now() - diedAt} ms`),
        (e: unknown) => {
          message = (e as Error).message;
          onUnexpectedExit(null, null, message);
        },
      );
    }, o.restartDelayMillis).unref();
  }

  return {
    async start() {
      if (program === 'libbpf' && !sensorPath) {
        throw new RwError('AGENT_ERR_SENSOR', 'agent.kernelProgram is libbpf but the libbpf sensor is not built (npm run build builds agent/sensors/bpf); set it to auto or bpftrace');
      }
      ensureTracefs();
      dir = mkdtempSync(join(tmpdir(), 'runwarden-bpf-'));
      scriptPath = join(dir, 'sensor.bt');
      if (!o.trackPids) writeFileSync(scriptPath, renderScript(scriptOptions), { mode: 0o600 });
      try {
        await launch();
      } catch (e) {
        // A libbpf sensor that does not load here (verifier, missing BTF type) leaves bpftrace, when asked for auto.
        if (program !== 'libbpf' || o.kernelProgram !== 'auto' || spawnSync(o.bpftracePath, ['--version']).status !== 0) throw e;
        o.onDiagnostic?.(`libbpf sensor failed, using bpftrace: ${(e as Error).message}`);
        program = 'bpftrace';
        programNote = `the libbpf sensor failed: ${(e as Error).message.slice(0, 300)}`;
        await launch();
      }
      flushTimer = setInterval(() => { if (decoder) enqueue(decoder.flush(process.hrtime.bigint())); }, o.flushIntervalMillis);
      flushTimer.unref();
    },
    onEvent(cb) { eventCbs.push(cb); },
    sync() {
      if (!running) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let done = false;
        let t: NodeJS.Timeout | undefined;
        const finish = (): void => { if (!done) { done = true; clearTimeout(t); resolve(); } };
        // Bounded: a stalled kernel program must not hold the job's end forever (3 windows, at least 1 s, without an
        // event delivered). A backlog still going through (a loaded machine) is waited for, up to syncMaxMillis:
        // ending the job before its last events arrive would leave them without it.
        const step = Math.max(1_000, 3 * scriptOptions.writeFlushMillis);
        const until = Date.now() + o.syncMaxMillis;
        let seen = delivered;
        const check = (): void => {
          if (delivered === seen || Date.now() + step > until) { finish(); return; }
          seen = delivered;
          t = setTimeout(check, step);
        };
        t = setTimeout(check, Math.min(step, o.syncMaxMillis));
        syncWaiters.push(finish);
      });
    },
    onLoss(cb) { lossCbs.push(cb); },
    status(): SensorStatus {
      const s: SensorStatus = {
        sensor: 'ebpf', capabilities: [...EBPF_CAPABILITIES, `kernel-program-${program}`],
        blindSpots: [programLine(program, programNote), ...blindSpots(scriptOptions, o.trackPids !== undefined, program)], drops, running,
      };
      if (message) s.message = message;
      if (program === 'libbpf') {
        s.lag = { kernelProgramBacklogBytes: backlog.bytes, kernelProgramBacklogPeakBytes: backlog.peakBytes, kernelProgramWaits: backlog.waitsBefore + backlog.waits, queuedEvents: queue.length - qHead };
      }
      return s;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        if (flushTimer) clearInterval(flushTimer);
        const c = child;
        if (c && c.exitCode === null && c.signalCode === null) {
          // SIGINT lets bpftrace run END, and the libbpf sensor drain its ring: the last repeat-write counts, flushed.
          await new Promise<void>((resolve) => {
            const t = setTimeout(() => c.kill('SIGKILL'), o.closeTimeoutMillis);
            c.once('close', () => { clearTimeout(t); resolve(); });
            c.kill('SIGINT');
          });
        }
        if (decoder) enqueue(decoder.flush(process.hrtime.bigint(), true));
        while (queue.length - qHead > 0 || pendingDropReport) drain();
        for (const w of [...syncWaiters.splice(0), ...syncAt.splice(0).flat()]) w();
        running = false;
        if (dir) rmSync(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/** Whether this host can run the eBPF sensor: root, BTF present, the libbpf sensor built or bpftrace on PATH (or given). */
export function ebpfAvailable(bpftracePath = 'bpftrace'): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root' };
  if (!existsSync('/sys/kernel/btf/vmlinux')) return { ok: false, reason: 'no BTF (/sys/kernel/btf/vmlinux)' };
  if (!libbpfSensorPath() && spawnSync(bpftracePath, ['--version'], { encoding: 'utf8' }).status !== 0) {
    return { ok: false, reason: `neither the libbpf sensor (dist/sensor) nor ${bpftracePath} is there` };
  }
  try { readFileSync('/proc/self/status'); } catch { return { ok: false, reason: 'no /proc' }; }
  return { ok: true };
}
