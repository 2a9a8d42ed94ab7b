// The ptrace sensor: wraps one command in `strace -f --seccomp-bpf`, reads its output from a FIFO and turns it
// into SensorEvents (strace-parse.ts). No privileges needed; sees only the wrapped command's tree.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, createReadStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import type { ReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RwError } from '../../proto/errors.js';
import { createRelativeResolver } from './relative-paths.js';
import { createStraceParser } from './strace-parse.js';
import { writeClass } from '../path-class.js';
import type { PathContext } from '../path-class.js';
import type { Sensor, SensorEvent, SensorStatus } from './types.js';

export interface PtraceSensorOptions {
  stracePath: string;
  /** Bytes of each string argument strace prints (argv elements, paths). */
  maxStringBytes: number;
  pathContext: PathContext;
  maxQueueEvents: number;
  /** How long close() waits for strace to finish writing, once the command is done. */
  closeTimeoutMillis: number;
}
export const PTRACE_DEFAULTS: Readonly<PtraceSensorOptions> = Object.freeze({
  stracePath: 'strace', maxStringBytes: 4096, pathContext: {}, maxQueueEvents: 65_536, closeTimeoutMillis: 5_000,
});

export const TRACED_SYSCALLS = 'execve,execveat,clone,clone3,fork,vfork,connect,openat,rename,renameat,renameat2,unlink,unlinkat,chmod,fchmodat,ptrace,process_vm_readv,process_vm_writev,exit_group';

export const PTRACE_CAPABILITIES: readonly string[] = Object.freeze([
  'exec', 'exec-argv', 'fork', 'exit', 'connect', 'connect-result', 'file-write', 'rename', 'unlink', 'chmod-x', 'sensitive-read',
  'proc-mem', 'ptrace', 'process-vm', 'short-lived-processes',
]);
export const PTRACE_BLIND_SPOTS: readonly string[] = Object.freeze([
  'only the wrapped command and its descendants are seen (not the runner, not other jobs, not daemons it hands work to)',
  'no DNS: names are not captured, connects carry no domain',
  'a process can detect the tracer and a second tracer cannot attach (gdb/strace inside the job fail under it)',
  'memfd_create, setuid, bpf and module loads are not traced; creat/truncate/openat2/fchmod are not traced',
  'slows syscall-heavy workloads (about 3x on exec loops)',
  'a background process killed by a signal just as the root exits may get no exit event',
]);

export function createPtraceSensor(partial: Partial<PtraceSensorOptions> = {}): Sensor {
  const o: PtraceSensorOptions = { ...PTRACE_DEFAULTS, ...partial };
  const eventCbs: ((ev: SensorEvent) => void)[] = [];
  const lossCbs: ((count: number, reason: string) => void)[] = [];
  const parser = createStraceParser({ pathContext: o.pathContext });
  let dir: string | undefined;
  let fifo = '';
  let stream: ReadStream | undefined;
  let ended: Promise<void> = Promise.resolve();
  let running = false;
  let wrapped = false;
  let drops = 0;
  let queued = 0;
  let closed: Promise<void> | undefined;

  const resolveRelative = createRelativeResolver((p) => writeClass(p, o.pathContext));
  function emit(evs: SensorEvent[]): void {
    const memo = new Map<string, string | null>();
    for (const ev of evs) {
      resolveRelative(ev, memo);
      // Delivery is synchronous; the bound protects against a listener that re-enters faster than it drains.
      if (queued >= o.maxQueueEvents) { drops++; for (const cb of lossCbs) cb(1, 'sensor queue full'); continue; }
      queued++;
      try { for (const cb of eventCbs) cb(ev); } finally { queued--; }
    }
  }

  return {
    async start() {
      dir = mkdtempSync(join(tmpdir(), 'runwarden-strace-'));
      fifo = join(dir, 'trace.fifo');
      const r = spawnSync('mkfifo', ['-m', '600', fifo]);
      if (r.status !== 0) throw new RwError('AGENT_ERR_SENSOR', `mkfifo failed: ${r.stderr?.toString() ?? ''}`);
      stream = createReadStream(fifo, { encoding: 'utf8' });
      const rl = createInterface({ input: stream });
      rl.on('line', (line) => emit(parser.push(line)));
      ended = new Promise((resolve) => { rl.on('close', () => { emit(parser.flush()); running = false; resolve(); }); stream!.on('error', () => resolve()); });
      running = true;
    },
    wrap(argv) {
      if (!fifo) throw new RwError('AGENT_ERR_SENSOR', 'ptrace sensor: wrap() before start()');
      wrapped = true;
      return [o.stracePath, '-f', '--seccomp-bpf', '-q', '-ttt', '-s', String(o.maxStringBytes), '-e', `trace=${TRACED_SYSCALLS}`, '-e', 'signal=none',
        '-o', fifo, '--', ...argv];
    },
    onEvent(cb) { eventCbs.push(cb); },
    onLoss(cb) { lossCbs.push(cb); },
    status(): SensorStatus {
      return { sensor: 'ptrace', capabilities: [...PTRACE_CAPABILITIES], blindSpots: [...PTRACE_BLIND_SPOTS], drops, running };
    },
    close() {
      closed ??= (async () => {
        if (stream) {
          const wait = (ms: number) => {
            let timer: NodeJS.Timeout | undefined;
            return Promise.race([ended.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); })])
              .finally(() => clearTimeout(timer));
          };
          let done = wrapped ? await wait(o.closeTimeoutMillis) : false;
          // No writer ever came (or strace hangs): open the FIFO for writing ourselves so a reader still blocked in
          // open() returns and sees EOF; otherwise that open holds a libuv thread and the process never exits.
          for (let i = 0; !done && i < 20; i++) {
            try { closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* reader not in open() yet */ }
            done = await wait(50);
          }
          stream.destroy();
        }
        running = false;
        if (dir) rmSync(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
