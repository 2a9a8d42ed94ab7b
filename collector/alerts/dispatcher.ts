// Fans findings out to alert sinks without ever blocking ingest: per-sink bounded queue, minimum severity,
// dedupe per (job, rule), per-minute rate limit, retries with exponential backoff; every drop is counted.
import type { Severity } from '../../cli/config.js';
import type { Finding } from '../finding.js';
import { backoffMillis } from './backoff.js';
import type { AlertSink, SendResult } from './sink.js';

export interface SinkEntry { sink: AlertSink; minSeverity: Severity; maxPerMinute: number }
export interface DispatcherLimits {
  maxQueue: number;
  maxAttempts: number;
  minBackoffMillis: number;
  maxBackoffMillis: number;
  maxDedupeKeys: number;
}
export const DEFAULT_DISPATCHER_LIMITS: Readonly<DispatcherLimits> = Object.freeze({
  maxQueue: 1000, maxAttempts: 8, minBackoffMillis: 500, maxBackoffMillis: 60_000, maxDedupeKeys: 10_000,
});
export interface Timers { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void }
export interface SinkStats {
  sent: number; retries: number; failed: number; queued: number;
  droppedQueueFull: number; droppedRateLimited: number; duplicates: number; belowSeverity: number; lastError: string | undefined;
}
export interface AlertDispatcher {
  /** Never throws and never waits: findings are queued or dropped (counted). */
  submit(findings: readonly Finding[]): void;
  /** Resolves true when every queue drained, false when `deadlineMillis` (absolute, per `now`) passed first. */
  flush(deadlineMillis: number): Promise<boolean>;
  close(): void;
  stats(): Record<string, SinkStats>;
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

interface Item { finding: Finding; attempt: number }
interface Worker {
  entry: SinkEntry;
  queue: Item[];
  inFlight: boolean;
  timer: unknown;
  sentTimes: number[];
  dedupe: Map<string, number>;
  stats: SinkStats;
}

export function createAlertDispatcher(opts: {
  sinks: readonly SinkEntry[];
  now: () => number;
  random?: () => number;
  timers?: Timers;
  limits?: { [K in keyof DispatcherLimits]?: DispatcherLimits[K] };
  onError?: (sink: string, error: string) => void;
}): AlertDispatcher {
  const limits: DispatcherLimits = { ...DEFAULT_DISPATCHER_LIMITS, ...opts.limits };
  const timers: Timers = opts.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  const random = opts.random ?? Math.random;
  let closed = false;
  const workers: Worker[] = opts.sinks.map((entry) => ({
    entry, queue: [], inFlight: false, timer: undefined, sentTimes: [], dedupe: new Map(),
    stats: { sent: 0, retries: 0, failed: 0, queued: 0, droppedQueueFull: 0, droppedRateLimited: 0, duplicates: 0, belowSeverity: 0, lastError: undefined },
  }));

  const pump = (w: Worker): void => {
    if (closed || w.inFlight || w.timer !== undefined) return;
    const item = w.queue[0];
    if (!item) return;
    w.inFlight = true;
    const done = (r: SendResult): void => {
      w.inFlight = false;
      if (r.status === 'ok') {
        w.queue.shift();
        w.stats.sent++;
      } else if (r.status === 'retryable' && item.attempt + 1 < limits.maxAttempts) {
        item.attempt++;
        w.stats.retries++;
        w.stats.lastError = r.error;
        const delay = Math.min(limits.maxBackoffMillis, r.retryInMillis ?? backoffMillis(item.attempt, { minMillis: limits.minBackoffMillis, maxMillis: limits.maxBackoffMillis }, random));
        w.timer = timers.setTimeout(() => { w.timer = undefined; pump(w); }, delay);
        return;
      } else {
        w.queue.shift();
        w.stats.failed++;
        w.stats.lastError = r.error;
        opts.onError?.(w.entry.sink.name, r.error);
      }
      w.stats.queued = w.queue.length;
      pump(w);
    };
    let p: Promise<SendResult>;
    try { p = w.entry.sink.send(item.finding); } catch (e) { p = Promise.resolve({ status: 'failed', error: (e as Error).message }); }
    p.then(done, (e: unknown) => done({ status: 'failed', error: e instanceof Error ? e.message : String(e) }));
  };

  const admit = (w: Worker, f: Finding, nowMs: number): void => {
    const s = w.stats;
    if (RANK[f.severity] < RANK[w.entry.minSeverity]) { s.belowSeverity++; return; }
    const key = `${f.jobId}\0${f.ruleId}`;
    const seen = w.dedupe.get(key);
    if (seen !== undefined && seen >= RANK[f.severity]) { s.duplicates++; return; }
    while (w.sentTimes.length && nowMs - (w.sentTimes[0] as number) >= 60_000) w.sentTimes.shift();
    if (w.entry.maxPerMinute > 0 && w.sentTimes.length >= w.entry.maxPerMinute) { s.droppedRateLimited++; return; }
    if (w.queue.length >= limits.maxQueue) { s.droppedQueueFull++; return; }
    w.dedupe.delete(key);
    w.dedupe.set(key, RANK[f.severity]);
    if (w.dedupe.size > limits.maxDedupeKeys) { const k = w.dedupe.keys().next(); if (!k.done) w.dedupe.delete(k.value); }
    w.sentTimes.push(nowMs);
    w.queue.push({ finding: f, attempt: 0 });
    s.queued = w.queue.length;
  };

  const idle = (): boolean => workers.every((w) => w.queue.length === 0 && !w.inFlight);

  return {
    submit(findings) {
      if (closed) return;
      const nowMs = opts.now();
      for (const w of workers) {
        for (const f of findings) admit(w, f, nowMs);
        pump(w);
      }
    },
    async flush(deadlineMillis) {
      while (!idle()) {
        if (opts.now() >= deadlineMillis || closed) return idle();
        // A referenced timer: whoever awaits flush() keeps the process alive until it drains or times out.
        await new Promise<void>((r) => { setTimeout(r, 10); });
      }
      return true;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const w of workers) {
        if (w.timer !== undefined) timers.clearTimeout(w.timer);
        w.timer = undefined;
        void w.entry.sink.close?.();
      }
    },
    stats() {
      return Object.fromEntries(workers.map((w) => [w.entry.sink.name, { ...w.stats, queued: w.queue.length }]));
    },
  };
}
