// Starts the embedded collector of `runwarden run` as a child process (collector/embedded-main.ts) and talks to
// it over the IPC channel: the agent streams events to it over its loopback websocket like to any collector, and
// asks it over IPC whether the rules are loaded and, at the end, for the job's findings and summary.
import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../cli/config.js';
import type { DetectionSnapshot } from '../collector/metrics.js';
import type { JobSummary } from '../collector/job-summary.js';
import { ERROR_CODES, RwError } from '../proto/errors.js';
import type { ErrorCode } from '../proto/errors.js';

export interface EmbeddedCollector {
  url: string;
  /** The collector process now (it changes when a dead one is restarted). */
  readonly pid: number;
  /** Whether the rules worker has its rules loaded, waiting at most deadlineMillis. */
  ready(deadlineMillis: number): Promise<boolean>;
  /** The job's findings and summary, once detection has evaluated every committed event (or settleMillis passed). */
  report(jobId: string, settleMillis: number): Promise<JobSummary & { settled: boolean; stats: DetectionSnapshot }>;
  close(): Promise<void>;
}

export const EMBEDDED_LIMITS = Object.freeze({
  /** Loading the rule pack and opening the audit DB. */
  startMillis: 30_000,
  /** Closing: detection settles (≤ 10 s) and alerts flush (≤ 5 s) before the store closes. */
  closeMillis: 20_000,
  /** Lines of the child's stderr kept for an error message. */
  stderrLines: 20,
  /** Restarts of a collector that died during the run. */
  maxRestarts: 5,
});

interface Reply { id: number; ok: boolean; message?: string; [k: string]: unknown }

function childMain(): string {
  // Run from dist/ the child is JavaScript; run from the sources (tests, through tap's TypeScript loader), it is not.
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), '..', 'collector', `embedded-main${here.endsWith('.ts') ? '.ts' : '.js'}`);
}

interface Child {
  pid: number;
  url: string;
  port: number;
  request(m: Record<string, unknown>): Promise<Reply>;
  /** Resolves with why it exited. */
  exited: Promise<string>;
  kill(): void;
}

type StartOptions = {
  config: Readonly<Config>; logFile: string; base: Record<string, unknown>; logger: Logger;
  /** Called with the first process's pid as soon as it is forked, before it listens (the sensor ignores it). */
  onSpawn?: (pid: number) => void;
};

/**
 * V8 options of the embedded collector on top of the parent's: it lives for one job and does its work cold, so its
 * functions get baseline code at their first call and feedback vectors at once instead of after some runs in the
 * interpreter. Its CPU up to the end of a `make -j2` job fell from 0.73-0.82 s to 0.64-0.76 s (bench/overhead.js
 * --only=b, 6 jobs each way, alternated); a warm daemon gains nothing from them.
 */
export const EMBEDDED_NODE_FLAGS: readonly string[] = Object.freeze(['--always-sparkplug', '--no-lazy-feedback-allocation']);

function spawnChild(o: StartOptions, config: Readonly<Config>, onSpawn?: (pid: number) => void): Promise<Child> {
  const child = fork(childMain(), [], {
    execArgv: [...process.execArgv, ...EMBEDDED_NODE_FLAGS], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced',
  });
  if (child.pid !== undefined) onSpawn?.(child.pid);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => {
    stderr.push(l);
    if (stderr.length > EMBEDDED_LIMITS.stderrLines) stderr.shift();
    o.logger.warn({ component: 'collector', stderr: l.slice(0, 2000) }, 'embedded collector wrote to stderr');
  });
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let gone: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => {
      gone = `embedded collector exited (${signal ?? code})${stderr.length ? ': ' + stderr.join(' | ').slice(0, 1000) : ''}`;
      for (const p of pending.values()) p.reject(new RwError('COLLECTOR_ERR_STORE', gone));
      pending.clear();
      resolve(gone);
    });
  });
  child.on('error', (err) => { o.logger.error({ err, component: 'collector' }, 'embedded collector process error'); });

  function request(m: Record<string, unknown>): Promise<Reply> {
    if (gone) return Promise.reject(new RwError('COLLECTOR_ERR_STORE', gone));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      child.send({ ...m, id });
    }).then((r) => {
      const reply = r as Reply;
      if (!reply.ok) throw new RwError('COLLECTOR_ERR_STORE', `embedded collector: ${reply.message ?? 'request failed'}`);
      return reply;
    });
  }

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new RwError('COLLECTOR_ERR_STORE', `embedded collector did not start within ${EMBEDDED_LIMITS.startMillis} ms`));
    }, EMBEDDED_LIMITS.startMillis);
    child.on('message', (m: { type?: string; id?: number; url?: string; port?: number; code?: string; message?: string }) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve({ pid: child.pid!, url: m.url!, port: m.port!, request, exited, kill: () => child.kill('SIGKILL') });
        return;
      }
      if (m.type === 'failed') {
        clearTimeout(timer);
        // The child's error (a broken rule file, an unusable DB) is the run's error, with its code.
        const code = (m.code && m.code in ERROR_CODES ? m.code : 'COLLECTOR_ERR_STORE') as ErrorCode;
        reject(new RwError(code, m.message ?? 'embedded collector failed to start'));
        return;
      }
      if (typeof m.id === 'number') {
        const p = pending.get(m.id);
        pending.delete(m.id);
        p?.resolve(m as Reply);
      }
    });
    void exited.then((why) => { clearTimeout(timer); reject(new RwError('COLLECTOR_ERR_STORE', why)); });
    child.send({ op: 'start', config, logFile: o.logFile, base: o.base });
  });
}

/**
 * Starts the collector process; when it dies before close(), starts it again on the same port (the uplink
 * reconnects there and re-sends what was not acked; the store dedupes what was). Detection state of the job
 * (sequences in progress) does not survive a restart.
 */
export async function startEmbeddedCollector(o: StartOptions): Promise<EmbeddedCollector> {
  let cur = await spawnChild(o, o.config, o.onSpawn); // the first process only: restarts keep its port, not its pid
  const port = cur.port;
  const fixed = { ...o.config, collector: { ...o.config.collector, port } } as Config;
  let closing = false;
  let restarts = 0;
  let up: Promise<Child | undefined> = Promise.resolve(cur);
  const watch = (c: Child): void => {
    void c.exited.then((why) => {
      if (closing) return;
      if (restarts >= EMBEDDED_LIMITS.maxRestarts) {
        o.logger.error({ component: 'collector', restarts }, `${why}; not restarted again`);
        up = Promise.resolve(undefined);
        return;
      }
      restarts++;
      o.logger.error({ component: 'collector', restarts }, `${why}; restarting it on port ${port}`);
      up = (async () => {
        for (let i = 0; i < 10; i++) {
          try {
            cur = await spawnChild(o, fixed);
            watch(cur);
            return cur;
          } catch (err) {
            o.logger.error({ err, component: 'collector' }, 'embedded collector restart failed');
            await new Promise((r) => setTimeout(r, 200 * (i + 1)));
          }
        }
        return undefined;
      })();
    });
  };
  watch(cur);
  const live = async (): Promise<Child> => {
    const c = await up;
    if (!c) throw new RwError('COLLECTOR_ERR_STORE', 'embedded collector is gone and could not be restarted');
    return c;
  };
  let closed: Promise<void> | undefined;
  return {
    url: cur.url,
    get pid() { return cur.pid; },
    ready: async (deadlineMillis) => (await (await live()).request({ op: 'ready', deadlineMillis })).ready === true,
    report: async (jobId, settleMillis) => {
      const r = await (await live()).request({ op: 'report', jobId, settleMillis });
      return { findings: r.findings as JobSummary['findings'], summary: r.summary as JobSummary['summary'], settled: r.settled === true, stats: r.stats as DetectionSnapshot };
    },
    close() {
      closed ??= (async () => {
        const c = await up.catch(() => undefined);
        closing = true;
        if (!c) return;
        await c.request({ op: 'close' }).catch(() => undefined);
        const t = setTimeout(() => c.kill(), EMBEDDED_LIMITS.closeMillis);
        await c.exited;
        clearTimeout(t);
      })();
      return closed;
    },
  };
}
