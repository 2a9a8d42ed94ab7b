// collector/group-commit.ts: one transaction per event-loop turn, results split back per batch in order.
import t from 'tap';
import { createGroupCommitter } from '../../collector/group-commit.js';
import type { CommitOutcome } from '../../collector/group-commit.js';
import { createMetrics } from '../../collector/metrics.js';
import { encodeEvent } from '../../proto/codec.js';
import type { RawEvent, RwEvent } from '../../proto/types.js';
import { createMemoryStore } from '../helpers/memory-store.js';

const raw = (agentId: string, seqs: number[]): RawEvent[] => seqs.map((seq) => {
  const event: RwEvent = { agentId, bootId: 'b', seq, tsNs: 1, kind: 'fork', fork: { childPid: seq } };
  return { event, bytes: encodeEvent(event) };
});

function setup(maxQueuedEvents = 1000) {
  const store = createMemoryStore();
  let calls = 0;
  const append = store.appendEvents.bind(store);
  store.appendEvents = (ev, ns) => { calls++; return append(ev, ns); };
  const gc = createGroupCommitter({ store, metrics: createMetrics(), nowNs: () => 5, monoSeconds: () => 0, maxQueuedEvents });
  return { store, gc, calls: () => calls };
}

const outcome = (gc: ReturnType<typeof setup>['gc'], r: RawEvent[]): Promise<CommitOutcome> => new Promise((done) => gc.submit({ raw: r, done }));

t.test('batches of one turn share a transaction; each gets its own rows in order', async (t) => {
  const { gc, calls } = setup();
  const [a, b] = await Promise.all([outcome(gc, raw('a', [1, 2])), outcome(gc, raw('b', [1]))]);
  t.equal(calls(), 1);
  t.match(a, { ok: true, stored: 2, duplicates: 0, rows: [{ id: 1, event: { agentId: 'a', seq: 1 } }, { id: 2, event: { seq: 2 } }] });
  t.match(b, { ok: true, stored: 1, duplicates: 0, rows: [{ id: 3, event: { agentId: 'b' } }] });
});

t.test('duplicates are attributed to the batch that carried them', async (t) => {
  const { gc } = setup();
  await outcome(gc, raw('a', [1, 2]));
  const [x, y, z] = await Promise.all([outcome(gc, raw('a', [2, 3])), outcome(gc, raw('a', [1])), outcome(gc, raw('a', [3, 4]))]);
  t.match(x, { stored: 1, duplicates: 1, rows: [{ event: { seq: 3 } }] });
  t.match(y, { stored: 0, duplicates: 1, rows: [] });
  t.match(z, { stored: 1, duplicates: 1, rows: [{ event: { seq: 4 } }] });
});

t.test('a failed transaction fails every batch in it', async (t) => {
  const { gc, store } = setup();
  const boom = new Error('disk full');
  store.failNext(boom);
  const outs = await Promise.all([outcome(gc, raw('a', [1])), outcome(gc, raw('b', [1]))]);
  t.same(outs, [{ ok: false, error: boom }, { ok: false, error: boom }]);
  t.equal(store.count(), 0);
});

t.test('a full queue commits synchronously; drain commits the rest', async (t) => {
  const { gc, calls } = setup(3);
  let done = 0;
  gc.submit({ raw: raw('a', [1, 2]), done: () => { done++; } });
  t.equal(done, 0);
  gc.submit({ raw: raw('a', [3, 4]), done: () => { done++; } });
  t.equal(done, 2, 'reaching maxQueuedEvents committed at once');
  gc.submit({ raw: raw('a', [5]), done: () => { done++; } });
  t.equal(gc.queued(), 1);
  gc.drain();
  t.equal(done, 3);
  t.equal(calls(), 2);
});
