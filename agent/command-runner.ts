// Runs the wrapped command of `runwarden run`: in a pty (node-pty) when attached to a terminal, on pipes
// otherwise; forwards stdin, window size and SIGINT/SIGTERM/SIGHUP; passes output through a transform hook.
import { spawn as spawnChild } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { once } from 'node:events';
import pty from 'node-pty';
import { RwError } from '../proto/errors.js';

export type OutputStream = 'stdout' | 'stderr';

/**
 * A stateful per-stream rewrite of output before it is shown (the live secret redactor plugs in here).
 * `push` may hold back a tail (a secret split across chunks); `end` returns whatever it still holds.
 */
export interface OutputTransform {
  push(chunk: Buffer): Buffer;
  end(): Buffer;
}

export interface RunCommandOptions {
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  usePty: boolean;
  cols?: number;
  rows?: number;
  /** Receives output after `wrapOutput`. A returned promise pauses reading until it settles (backpressure). */
  onOutput: (chunk: Buffer, stream: OutputStream) => void | Promise<void>;
  wrapOutput?: (stream: OutputStream) => OutputTransform;
  /** Where keystrokes come from in pty mode (raw mode is set while the job runs). Default process.stdin. */
  stdin?: NodeJS.ReadStream;
  /** Whose 'resize' events are forwarded to the pty. Default process.stdout. */
  terminal?: NodeJS.WriteStream;
  /** Forward SIGINT/SIGTERM/SIGHUP received by this process to the child. Default true. */
  forwardSignals?: boolean;
  /** After the child exits, how long to keep reading output that descendants still write to the pipes. */
  drainGraceMillis?: number;
}

export interface CommandExit {
  /** The child's exit code, or 128+n when it was killed by signal n (shell convention). */
  exitCode: number;
  /** Signal name when the child was killed by a signal. */
  signal: string | undefined;
}

export interface RunningCommand {
  pid: number;
  done: Promise<CommandExit>;
  kill(signal?: NodeJS.Signals): void;
}

export const RUNNER_DEFAULTS = Object.freeze({ drainGraceMillis: 1_000, cols: 80, rows: 24 });
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

function identity(): OutputTransform {
  return { push: (c) => c, end: () => Buffer.alloc(0) };
}

export function runCommand(opts: RunCommandOptions): RunningCommand {
  const [file, ...args] = opts.argv;
  if (file === undefined) throw new RwError('CLI_ERR_USAGE', 'no command to run');
  return opts.usePty ? runInPty(file, args, opts) : runOnPipes(file, args, opts);
}

function installSignalForwarding(opts: RunCommandOptions, kill: (s: NodeJS.Signals) => void): () => void {
  if (opts.forwardSignals === false) return () => undefined;
  const handlers = FORWARDED.map((sig) => {
    const h = (): void => kill(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => { for (const [sig, h] of handlers) process.removeListener(sig, h); };
}

function safeKill(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

function runOnPipes(file: string, args: string[], opts: RunCommandOptions): RunningCommand {
  // A terminal stdin is inherited (the child reads keystrokes itself). Anything else is copied through a
  // pipe: the job must not hold the runner's own descriptor (a socket there would look like a reverse
  // shell, and the job could read what is not its input).
  const inherit = Boolean(process.stdin.isTTY);
  const child = spawnChild(file, args, { cwd: opts.cwd, env: { ...opts.env }, stdio: [inherit ? 'inherit' : 'pipe', 'pipe', 'pipe'] });
  if (!inherit && child.stdin) {
    const input = process.stdin;
    child.stdin.on('error', () => { /* the job closed its stdin early: EPIPE is its choice */ });
    input.on('error', () => child.stdin?.end());
    input.pipe(child.stdin);
    child.once('exit', () => { input.unpipe(child.stdin ?? undefined); input.pause(); input.destroy(); });
  }
  const grace = opts.drainGraceMillis ?? RUNNER_DEFAULTS.drainGraceMillis;
  const kill = (sig: NodeJS.Signals = 'SIGTERM'): void => { if (child.pid !== undefined) safeKill(child.pid, sig); };
  const removeSignals = installSignalForwarding(opts, kill);

  const pump = (name: OutputStream, src: NodeJS.ReadableStream & { destroy(): void }): { ended: Promise<void>; lastData: () => number } => {
    const tr = (opts.wrapOutput ?? identity)(name);
    let last = 0;
    const ended = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        const tail = tr.end();
        if (tail.length) void opts.onOutput(tail, name);
        resolve();
      };
      src.on('data', (chunk: Buffer) => {
        last = Date.now();
        const out = tr.push(chunk);
        if (!out.length) return;
        const r = opts.onOutput(out, name);
        if (r && typeof r.then === 'function') {
          src.pause();
          r.then(() => src.resume(), () => src.resume());
        }
      });
      src.on('end', finish);
      src.on('close', finish);
      src.on('error', finish);
    });
    return { ended, lastData: () => last };
  };

  const out = pump('stdout', child.stdout as NonNullable<typeof child.stdout>);
  const err = pump('stderr', child.stderr as NonNullable<typeof child.stderr>);
  const done = (async (): Promise<CommandExit> => {
    let code: number | null;
    let sig: NodeJS.Signals | null;
    try {
      [code, sig] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    } catch (e) {
      // spawn failed (ENOENT, EACCES): 'error' instead of 'exit'; shell convention 127 / 126.
      removeSignals();
      child.stdout?.destroy();
      child.stderr?.destroy();
      await opts.onOutput(Buffer.from(`runwarden: cannot run ${file}: ${(e as Error).message}\n`), 'stderr');
      return { exitCode: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126, signal: undefined };
    }
    // Descendants (`cmd &`, nohup) may still hold the pipes: read until they go quiet, then let go.
    const streamsDone = Promise.all([out.ended, err.ended]);
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<void>((resolve) => {
      const check = (): void => {
        const idle = Date.now() - Math.max(out.lastData(), err.lastData());
        if (idle >= grace) resolve();
        else timer = setTimeout(check, grace - idle);
      };
      timer = setTimeout(check, grace);
    });
    await Promise.race([streamsDone, quiet]);
    if (timer) clearTimeout(timer);
    child.stdout?.destroy();
    child.stderr?.destroy();
    await streamsDone;
    removeSignals();
    if (sig !== null) {
      const n = osConstants.signals[sig] ?? 0;
      return { exitCode: 128 + n, signal: sig };
    }
    return { exitCode: code ?? 0, signal: undefined };
  })();
  return { pid: child.pid ?? 0, done, kill };
}

function runInPty(file: string, args: string[], opts: RunCommandOptions): RunningCommand {
  const term = opts.terminal ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const cols = opts.cols ?? (term.isTTY ? term.columns : undefined) ?? RUNNER_DEFAULTS.cols;
  const rows = opts.rows ?? (term.isTTY ? term.rows : undefined) ?? RUNNER_DEFAULTS.rows;
  let p: pty.IPty;
  try {
    p = pty.spawn(file, args, {
      name: opts.env.TERM ?? 'xterm-256color', cols, rows, cwd: opts.cwd, env: { ...opts.env },
      encoding: null, // Buffers: bytes reach the redactor and the terminal unchanged, split UTF-8 included
    });
  } catch (e) {
    throw new RwError('CLI_ERR_USAGE', `cannot run ${file}: ${(e as Error).message}`, { cause: e });
  }
  const kill = (sig: NodeJS.Signals = 'SIGTERM'): void => safeKill(p.pid, sig);
  const removeSignals = installSignalForwarding(opts, kill);
  const tr = (opts.wrapOutput ?? identity)('stdout');
  const dataSub = p.onData((d: string | Buffer) => {
    const out = tr.push(typeof d === 'string' ? Buffer.from(d) : d);
    if (!out.length) return;
    const r = opts.onOutput(out, 'stdout');
    if (r && typeof r.then === 'function') {
      p.pause();
      r.then(() => p.resume(), () => p.resume());
    }
  });
  const onResize = (): void => {
    if (term.columns && term.rows) {
      try { p.resize(term.columns, term.rows); } catch { /* pty already closed */ }
    }
  };
  if (term.isTTY) term.on('resize', onResize);
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  const onKeys = (k: Buffer): void => { try { p.write(k); } catch { /* pty closed */ } };
  if (stdin.isTTY) {
    stdin.setRawMode(true);
    stdin.on('data', onKeys);
    stdin.resume();
  }
  const done = new Promise<CommandExit>((resolve) => {
    const exitSub = p.onExit(({ exitCode, signal }) => {
      exitSub.dispose();
      dataSub.dispose();
      const tail = tr.end();
      if (tail.length) void opts.onOutput(tail, 'stdout');
      if (term.isTTY) term.removeListener('resize', onResize);
      if (stdin.isTTY) {
        stdin.removeListener('data', onKeys);
        stdin.setRawMode(wasRaw);
        stdin.pause();
      }
      removeSignals();
      if (signal) resolve({ exitCode: 128 + signal, signal: signalName(signal) });
      else resolve({ exitCode, signal: undefined });
    });
  });
  return { pid: p.pid, done, kill };
}
