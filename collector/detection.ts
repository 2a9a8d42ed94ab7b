// Detection beside ingest: a worker thread runs the rules over committed events (tailing the store by id);
// this side stores what it concludes, with the cursor, and hands findings to the alert sinks.
// Ingest never waits for the rules: a batch is acked once committed, and the worker catches up from the store.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ERROR_CODES } from '../proto/errors.js';
import type { ErrorCode } from '../proto/errors.js';
import type { Finding } from './finding.js';
import type { DetectionSnapshot, Metrics } from './metrics.js';
import type { Store, StoredEvent } from './store-types.js';
import type { DetectionWorkerInit, FromWorker, ToWorker } from './detection-worker.js';

export interface FindingSink { offer(finding: Finding & { id: number }): void }

export interface Detection {
  /** Ingest's commit hook: tells the worker how far the store goes. */
  onCommitted(stored: readonly StoredEvent[]): void;
  /** True once every event committed before the call is evaluated and its findings stored; false at the deadline. */
  settled(deadlineMillis: number): Promise<boolean>;
  stats(): DetectionSnapshot;
  /**
   * True once a worker has loaded the rules (false at the deadline, or if it could not start). `runwarden run`
   * waits for it so that compiling the pack does not compete with the first seconds of the job.
   */
  ready(deadlineMillis: number): Promise<boolean>;
  /** Why the last worker could not start (its rule pack did not load), until one starts. */
  failure(): { code: ErrorCode; message: string } | undefined;
  /** Evaluates what is committed (bounded by `settleMillis`), saves the cursor and stops the worker. */
  close(settleMillis: number): Promise<void>;
}

export interface DetectionOptions {
  store: Store;
  dbPath: string;
  rulePaths: readonly string[];
  trustedCidrs: readonly string[];
  allowList: readonly string[];
  logger: Logger;
  metrics?: Metrics;
  sinks?: readonly FindingSink[];
  /** Learn baselines from trusted runs into the audit DB and give them to the rules (default true). */
  baselines?: boolean;
  /** Refs whose push runs may teach baselines (default main, master and tags). */
  protectedRefs?: readonly string[];
}

export const DETECTION_LIMITS = Object.freeze({
  /** Events per worker step (one read, one message back). */
  chunk: 1000,
  /** The cursor alone (no findings) is saved at most this often. */
  cursorSaveMillis: 1000,
  restartMinMillis: 500,
  restartMaxMillis: 30_000,
  niceIncrement: 5,
});

// Run from TypeScript sources (tests) the worker is the .ts file beside this one; built, the .js.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './detection-worker.ts' : './detection-worker.js', import.meta.url);

export function createDetection(o: DetectionOptions): Detection {
  const log = o.logger.child({ component: 'detection' });
  const st: DetectionSnapshot = { evaluated: 0, findings: 0, errors: 0, lagEvents: 0 };
  let through = o.store.detectionCursor();
  let saved = through;
  let head = Math.max(through, o.store.count());
  let worker: Worker | undefined;
  let stopping = false;
  let restartDelay: number = DETECTION_LIMITS.restartMinMillis;
  let restartTimer: NodeJS.Timeout | undefined;
  let isReady = false;
  let failure: { code: ErrorCode; message: string } | undefined;
  const readyWaiters: ((ok: boolean) => void)[] = [];
  const waiters: { target: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }[] = [];

  const report = (): void => {
    st.lagEvents = Math.max(0, head - through);
    o.metrics?.detection(st);
  };

  const wake = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i] as (typeof waiters)[number];
      if (through >= w.target) {
        clearTimeout(w.timer);
        waiters.splice(i, 1);
        w.resolve(true);
      }
    }
  };

  const saveCursor = (): void => {
    if (through <= saved) return;
    try {
      o.store.setDetectionCursor(through);
      saved = through;
    } catch (err) {
      log.error({ err }, 'detection cursor could not be saved');
    }
  };
  const cursorTimer = setInterval(saveCursor, DETECTION_LIMITS.cursorSaveMillis);
  cursorTimer.unref();

  function onStep(m: Extract<FromWorker, { type: 'step' }>): void {
    st.evaluated += m.evaluated;
    if (m.errors > 0) {
      st.errors += m.errors;
      log.error({ failed: m.errors, lastError: m.lastError }, 'rule engine failed on events; they stay stored');
    }
    if (m.findings.length > 0) {
      let ids: number[];
      try {
        ids = o.store.appendFindings(m.findings, m.through);
        saved = Math.max(saved, m.through);
      } catch (err) {
        st.errors++;
        log.error({ err, findings: m.findings.length }, 'findings could not be stored');
        ids = [];
      }
      st.findings += ids.length;
      ids.forEach((id, i) => {
        const f = m.findings[i] as Finding;
        log.warn({ findingId: id, ruleId: f.ruleId, severity: f.severity, jobId: f.jobId }, f.explanation);
        for (const s of o.sinks ?? []) s.offer({ ...f, id });
      });
    }
    through = Math.max(through, m.through);
    head = Math.max(head, through);
    report();
    wake();
  }

  function start(): void {
    const init: DetectionWorkerInit = {
      dbPath: o.dbPath, rulePaths: [...o.rulePaths], trustedCidrs: [...o.trustedCidrs], allowList: [...o.allowList],
      cursor: through, chunk: DETECTION_LIMITS.chunk, niceIncrement: DETECTION_LIMITS.niceIncrement,
      baselines: o.baselines ?? true, ...(o.protectedRefs ? { protectedRefs: [...o.protectedRefs] } : {}),
    };
    const w = new Worker(WORKER_URL, { workerData: init });
    worker = w;
    w.on('message', (m: FromWorker) => {
      if (m.type === 'step') onStep(m);
      else if (m.type === 'ready') {
        restartDelay = DETECTION_LIMITS.restartMinMillis;
        isReady = true;
        failure = undefined;
        for (const r of readyWaiters.splice(0)) r(true);
        if (head > through) w.postMessage({ type: 'head', id: head } satisfies ToWorker);
      } else if (m.type === 'log') log[m.level](m.fields, m.msg);
      else {
        // A rule pack that does not load says RULES_ERR_INVALID; the worker's other work at start is opening the store.
        failure = { code: m.code !== undefined && m.code in ERROR_CODES ? (m.code as ErrorCode) : 'COLLECTOR_ERR_STORE', message: m.message };
        log.error({ reason: m.message }, 'detection worker could not start');
        for (const r of readyWaiters.splice(0)) r(false);
      }
    });
    w.on('error', (err) => { log.error({ err }, 'detection worker failed'); });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      if (stopping) return;
      // Findings for events after the cursor are not lost: the next worker evaluates them again.
      st.errors++;
      report();
      log.error({ code, resumeAfterId: through, restartInMillis: restartDelay }, 'detection worker exited; restarting');
      restartTimer = setTimeout(start, restartDelay);
      restartDelay = Math.min(restartDelay * 2, DETECTION_LIMITS.restartMaxMillis);
    });
  }
  start();

  return {
    onCommitted(stored) {
      const last = stored[stored.length - 1];
      if (!last || last.id <= head) return;
      head = last.id;
      worker?.postMessage({ type: 'head', id: head } satisfies ToWorker);
      report();
    },
    settled(deadlineMillis) {
      const target = Math.max(head, o.store.count());
      if (through >= target) return Promise.resolve(true);
      if (target > head) { head = target; worker?.postMessage({ type: 'head', id: head } satisfies ToWorker); }
      return new Promise((resolve) => {
        const w = { target, resolve, timer: setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); resolve(false); }, Math.max(0, deadlineMillis)) };
        waiters.push(w);
      });
    },
    stats: () => ({ ...st, lagEvents: Math.max(0, head - through) }),
    failure: () => failure,
    ready(deadlineMillis) {
      if (isReady) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => { const i = readyWaiters.indexOf(done); if (i >= 0) readyWaiters.splice(i, 1); resolve(false); }, Math.max(0, deadlineMillis));
        const done = (ok: boolean): void => { clearTimeout(timer); resolve(ok); };
        readyWaiters.push(done);
      });
    },
    async close(settleMillis) {
      if (stopping) return;
      const caughtUp = await this.settled(settleMillis);
      if (!caughtUp) log.warn({ evaluatedThrough: through, head }, 'detection had not caught up at shutdown; the next start resumes from the saved cursor');
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      clearInterval(cursorTimer);
      const w = worker;
      if (w) {
        const exited = new Promise<void>((r) => w.once('exit', () => r()));
        w.postMessage({ type: 'stop' } satisfies ToWorker);
        const t = setTimeout(() => { void w.terminate(); }, 2000);
        await exited;
        clearTimeout(t);
      }
      saveCursor();
      for (const x of waiters.splice(0)) { clearTimeout(x.timer); x.resolve(false); }
    },
  };
}
