// The rule engine's thread: tails the audit store's events table by id and posts what the rules conclude.
// The store is the queue: nothing is handed over in memory, so a slow engine never holds ingest up and a
// restarted worker resumes from the saved cursor. Only collector/detection.ts starts it.
// Baselines are the one thing it writes, on a connection of its own (collector/baseline-store.ts).
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { openStoreReadOnly } from './store.js';
import { baselineName, createBaselines } from './baseline.js';
import type { Baselines } from './baseline.js';
import { openBaselineStore } from './baseline-store.js';
import type { SqliteBaselineStore } from './baseline-store.js';
import { createEngine } from './rules/engine.js';
import { loadRulePackOrThrow } from './rules/pack.js';
import type { Finding } from './finding.js';

export interface DetectionWorkerInit {
  dbPath: string;
  rulePaths: string[];
  trustedCidrs: string[];
  allowList: string[];
  /** Evaluate events with id > this. */
  cursor: number;
  /** Events read and evaluated per step; between steps the worker reads its messages. */
  chunk: number;
  /** Added to this thread's nice value: when the CPU is short, storing events goes first and detection catches up. */
  niceIncrement: number;
  /** Learn baselines from trusted runs and give rules the job's baseline (in the audit DB's baselines table). */
  baselines: boolean;
  /** Refs whose push runs may teach baselines; absent: main, master and tags (collector/baseline.ts). */
  protectedRefs?: string[];
}

export const WORKER_LIMITS = Object.freeze({
  /** Baselines named in a log message per worker: a corrupt row is read at each of its jobs' starts. */
  maxBaselineWarnings: 256,
});

/** Lowers this thread's priority (Linux: setpriority on the thread id). Best effort: an error leaves it as it is. */
function deprioritize(increment: number): void {
  if (increment <= 0) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, increment));
  } catch { /* not Linux, or no /proc: same priority as ingest */ }
}

export type ToWorker = { type: 'head'; id: number } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready' }
  | { type: 'step'; through: number; evaluated: number; findings: Finding[]; errors: number; lastError?: string }
  | { type: 'fatal'; message: string; code?: string }
  | { type: 'log'; level: 'warn' | 'error'; msg: string; fields: Record<string, unknown> };

/** Baselines over their own read-write connection; its failures become log lines, never a stopped worker. */
function openBaselines(port: MessagePort, dbPath: string): { baselines?: Baselines; store?: SqliteBaselineStore } {
  const log = (level: 'warn' | 'error', msg: string, fields: Record<string, unknown>): void => {
    port.postMessage({ type: 'log', level, msg, fields } satisfies FromWorker);
  };
  let store: SqliteBaselineStore;
  try {
    store = openBaselineStore(dbPath);
  } catch (e) {
    log('error', 'baselines unavailable: detection runs without them', { reason: (e as Error).message });
    return {};
  }
  const warned = new Set<string>();
  const once = (name: string): boolean => {
    if (warned.has(name) || warned.size >= WORKER_LIMITS.maxBaselineWarnings) return false;
    warned.add(name);
    return true;
  };
  const baselines = createBaselines(store, {
    onCorrupt: (key, reason) => {
      const baseline = baselineName(key);
      if (once(baseline)) log('warn', 'stored baseline is corrupt: ignored, the next trusted run replaces it', { baseline, reason });
    },
    onStoreError: (op, key, err) => {
      log('error', op === 'learn' ? 'baseline could not be saved' : 'baseline could not be read', { baseline: baselineName(key), reason: (err as Error).message });
    },
  });
  return { baselines, store };
}

function run(port: MessagePort, init: DetectionWorkerInit): void {
  deprioritize(init.niceIncrement);
  let store;
  let engine;
  let learned: ReturnType<typeof openBaselines> = {};
  try {
    store = openStoreReadOnly(init.dbPath);
    const rules = loadRulePackOrThrow(init.rulePaths);
    if (init.baselines) learned = openBaselines(port, init.dbPath);
    engine = createEngine({
      rules, trustedCidrs: init.trustedCidrs, allowList: init.allowList, baselines: learned.baselines,
      ...(init.protectedRefs ? { protectedRefs: init.protectedRefs } : {}),
    });
  } catch (e) {
    store?.close();
    learned.store?.close();
    const code = (e as { code?: unknown }).code;
    port.postMessage({ type: 'fatal', message: (e as Error).message, ...(typeof code === 'string' ? { code } : {}) } satisfies FromWorker);
    return;
  }
  const baselineStore = learned.store;
  const st = store;
  const eng = engine;
  let cursor = init.cursor;
  let head = init.cursor;
  let scheduled = false;
  let stopping = false;

  const step = (): void => {
    scheduled = false;
    if (stopping) return;
    const rows = st.eventsAfter(cursor, init.chunk);
    if (rows.length === 0) return;
    const findings: Finding[] = [];
    let errors = 0;
    let lastError: string | undefined;
    for (const { id, event } of rows) {
      try {
        for (const f of eng.process(event, id)) findings.push(f);
        if (event.kind === 'jobEnd' && event.jobId) for (const f of eng.endJob(event.jobId)) findings.push(f);
      } catch (e) {
        // A rule bug must not stop detection: the event stays stored, the miss is counted and reported.
        errors++;
        lastError = `event ${id}: ${(e as Error).message.split('\n')[0] ?? ''}`;
      }
    }
    cursor = (rows[rows.length - 1] as { id: number }).id;
    head = Math.max(head, cursor);
    port.postMessage({ type: 'step', through: cursor, evaluated: rows.length, findings, errors, ...(lastError ? { lastError } : {}) } satisfies FromWorker);
    if (cursor < head || rows.length === init.chunk) schedule();
  };
  // setImmediate, not a loop: the head and stop messages are read between steps.
  const schedule = (): void => {
    if (!scheduled && !stopping) { scheduled = true; setImmediate(step); }
  };

  port.on('message', (m: ToWorker) => {
    if (m.type === 'head') {
      if (m.id > head) head = m.id;
      if (head > cursor) schedule();
    } else if (m.type === 'stop') {
      stopping = true;
      st.close();
      baselineStore?.close();
      port.close();
    }
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
  schedule(); // events committed while the worker started, or left unevaluated by the last run
}

if (parentPort) run(parentPort, workerData as DetectionWorkerInit);
