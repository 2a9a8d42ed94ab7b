// Group commit: batches that arrive in the same event-loop turn, from any stream, share one store
// transaction (one fsync), then each is acked in arrival order. Bounded: a full queue commits at once.
import type { RawEvent } from '../proto/types.js';
import type { Metrics } from './metrics.js';
import type { Store, StoredEvent } from './store-types.js';

export type CommitOutcome =
  | { ok: true; stored: number; duplicates: number; rows: StoredEvent[] }
  | { ok: false; error: unknown };

export interface CommitJob { raw: readonly RawEvent[]; done: (outcome: CommitOutcome) => void }

export interface GroupCommitter {
  submit(job: CommitJob): void;
  /** Commit everything queued now (shutdown). */
  drain(): void;
  queued(): number;
}

export interface GroupCommitOptions {
  store: Store;
  metrics: Metrics;
  nowNs: () => number;
  monoSeconds: () => number;
  /** Events waiting for the next commit; reaching it commits synchronously. */
  maxQueuedEvents: number;
}

const keyOf = (e: RawEvent['event']): string => `${e.agentId}\u0000${e.bootId}\u0000${e.seq}`;

/**
 * Splits one transaction's AppendResult back into per-job results. AppendResult.ids omits duplicates
 * without saying which inputs they were, so a group holding any duplicate is read back by id range.
 */
function split(store: Store, jobs: readonly CommitJob[], ids: readonly number[], total: number): CommitOutcome[] {
  if (ids.length === total) {
    let at = 0;
    return jobs.map((j) => {
      const rows = j.raw.map((r, i) => ({ id: ids[at + i] as number, event: r.event }));
      at += j.raw.length;
      return { ok: true, stored: rows.length, duplicates: 0, rows };
    });
  }
  const byKey = new Map<string, number>();
  if (ids.length > 0) {
    const lo = Math.min(...ids);
    const wanted = new Set(ids);
    for (const r of store.queryEvents({ afterId: lo - 1, limit: Math.max(...ids) - lo + 1 })) {
      if (wanted.has(r.id)) byKey.set(keyOf(r.event), r.id);
    }
  }
  return jobs.map((j) => {
    const rows: StoredEvent[] = [];
    for (const r of j.raw) {
      const k = keyOf(r.event);
      const id = byKey.get(k);
      if (id !== undefined) { rows.push({ id, event: r.event }); byKey.delete(k); }
    }
    return { ok: true, stored: rows.length, duplicates: j.raw.length - rows.length, rows };
  });
}

export function createGroupCommitter(opts: GroupCommitOptions): GroupCommitter {
  let queue: CommitJob[] = [];
  let events = 0;
  let scheduled = false;

  function commit(): void {
    scheduled = false;
    if (queue.length === 0) return;
    const jobs = queue;
    const total = events;
    queue = [];
    events = 0;
    const all: RawEvent[] = [];
    for (const j of jobs) for (const r of j.raw) all.push(r);
    const t0 = opts.monoSeconds();
    let outcomes: CommitOutcome[];
    try {
      const result = opts.store.appendEvents(all, opts.nowNs());
      opts.metrics.commitSeconds(opts.monoSeconds() - t0);
      outcomes = split(opts.store, jobs, result.ids, total);
    } catch (error) {
      outcomes = jobs.map(() => ({ ok: false, error }));
    }
    jobs.forEach((j, i) => j.done(outcomes[i] as CommitOutcome));
  }

  return {
    submit(job) {
      queue.push(job);
      events += job.raw.length;
      if (events >= opts.maxQueuedEvents) commit();
      else if (!scheduled) { scheduled = true; setImmediate(commit); }
    },
    drain: commit,
    queued: () => events,
  };
}
