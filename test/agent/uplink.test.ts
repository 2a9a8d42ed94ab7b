// agent/uplink.ts against a real collector server: exactly-once delivery through the spool, replay after
// restart with the original boot id, reconnect after an outage, spool-full drops reported as an event.
import t from 'tap';
import { startCollector } from '../../collector/daemon.js';
import { createUplink } from '../../agent/uplink.js';
import type { EventDraft, UplinkOptions } from '../../agent/uplink.js';
import { createMemoryStore } from '../helpers/memory-store.js';
import type { MemoryStore } from '../helpers/memory-store.js';
import { collectorConfig, logSink, TOKEN } from '../helpers/ingest-env.js';

const draft = (i: number): EventDraft => ({ tsNs: 1_764_000_000_000_000_000 + i, pid: i, kind: 'exec', exec: { argv: ['/bin/echo', String(i)] } });
const fast = { reconnectMinMillis: 20, reconnectMaxMillis: 200, batchMaxAgeMillis: 20, heartbeatIntervalMillis: 0 };

function uplinkOpts(url: string, spoolDir: string, over: Partial<UplinkOptions> = {}): UplinkOptions {
  return { url, token: TOKEN, spoolDir, agentId: 'ag', bootId: 'boot-1', host: 'h', logger: logSink().logger, limits: fast, ...over };
}

function seqsOf(store: MemoryStore, bootId: string): number[] {
  return store.rows.filter((r) => r.event.bootId === bootId).map((r) => r.event.seq);
}

void t.test('every event is stored exactly once, seq 1..n', async (t) => {
  const store = createMemoryStore();
  const col = await startCollector({ config: collectorConfig(t.testdir()), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  const up = createUplink(uplinkOpts(col.url, t.testdir()));
  up.start();
  const assigned: number[] = [];
  for (let i = 1; i <= 5000; i++) assigned.push(up.enqueue(draft(i)));
  t.same(assigned, Array.from({ length: 5000 }, (_, i) => i + 1), 'enqueue returns seq, strictly increasing from 1');
  t.equal(await up.flush(10_000), true);
  t.same(seqsOf(store, 'boot-1'), Array.from({ length: 5000 }, (_, i) => i + 1));
  const s = up.stats();
  t.match(s, { lastSeq: 5000, acked: 5000, pending: 0, dropped: 0, connected: true });
  await up.close();
  await up.close();
});

void t.test('collector away: enqueue never throws; events arrive after it comes up', async (t) => {
  const dir = t.testdir();
  const store = createMemoryStore();
  const first = await startCollector({ config: collectorConfig(dir), logger: logSink().logger, openStore: () => createMemoryStore() });
  const port = first.port;
  await first.close();
  const up = createUplink(uplinkOpts(`ws://127.0.0.1:${port}`, `${dir}/spool`));
  up.start();
  for (let i = 1; i <= 300; i++) up.enqueue(draft(i));
  t.equal(await up.flush(300), false, 'flush times out while the collector is away');
  const col = await startCollector({ config: collectorConfig(dir, { port }), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  t.equal(await up.flush(10_000), true);
  t.same(seqsOf(store, 'boot-1'), Array.from({ length: 300 }, (_, i) => i + 1));
  await up.close();
});

void t.test('a new process replays the previous boot\'s unacked events with their boot id and seq', async (t) => {
  const dir = t.testdir();
  const spoolDir = `${dir}/spool`;
  const store = createMemoryStore();
  const col = await startCollector({ config: collectorConfig(dir), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  const dead = createUplink(uplinkOpts('ws://127.0.0.1:9', spoolDir, { bootId: 'boot-old' }));
  dead.start();
  for (let i = 1; i <= 1000; i++) dead.enqueue(draft(i));
  await dead.close();
  const up = createUplink(uplinkOpts(col.url, spoolDir, { bootId: 'boot-new' }));
  up.start();
  up.enqueue(draft(1));
  t.equal(await up.flush(10_000), true);
  t.same(seqsOf(store, 'boot-old'), Array.from({ length: 1000 }, (_, i) => i + 1));
  t.same(seqsOf(store, 'boot-new'), [1]);
  const order = store.rows.map((r) => r.event.bootId);
  t.equal(order.lastIndexOf('boot-old') < order.indexOf('boot-new'), true, 'oldest first');
  await up.close();
});

void t.test('spool full: drops are counted and reported as one dropped event when room returns', async (t) => {
  const dir = t.testdir();
  const store = createMemoryStore();
  const first = await startCollector({ config: collectorConfig(dir), logger: logSink().logger, openStore: () => createMemoryStore() });
  const port = first.port;
  await first.close();
  const up = createUplink(uplinkOpts(`ws://127.0.0.1:${port}`, `${dir}/spool`, { limits: { ...fast, spoolMaxBytes: 4096 } }));
  up.start();
  for (let i = 1; i <= 200; i++) up.enqueue(draft(i));
  await up.flush(50);
  const s = up.stats();
  t.ok(s.dropped > 0, `dropped ${s.dropped}`);
  t.equal(s.spooled + s.dropped, 200, 'every event is either spooled or counted as dropped');
  const col = await startCollector({ config: collectorConfig(dir, { port }), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  await up.flush(10_000);
  t.equal(await up.flush(10_000), true);
  const drops = store.rows.filter((r) => r.event.kind === 'dropped');
  t.equal(drops.length, 1);
  const d = drops[0]?.event;
  t.match(d, { kind: 'dropped', seq: 201, dropped: { count: s.dropped, reason: 'spool-full', firstSeq: s.spooled + 1, lastSeq: 200 } });
  t.equal(store.count(), s.spooled + 1);
  t.equal(store.losses('ag').length, 1, 'the gap is visible to the store too');
  await up.close();
});

void t.test('a wrong token is logged once and never throws', async (t) => {
  const dir = t.testdir();
  const col = await startCollector({ config: collectorConfig(dir), logger: logSink().logger, openStore: () => createMemoryStore() });
  t.teardown(() => col.close());
  const sink = logSink();
  const up = createUplink(uplinkOpts(col.url, `${dir}/spool`, { token: 'wrong', logger: sink.logger }));
  up.start();
  up.enqueue(draft(1));
  t.equal(await up.flush(500), false);
  const warns = sink.lines.filter((l) => l.why === 'HTTP 401');
  t.equal(warns.length, 1, 'one line per outage, not one per retry');
  t.notOk(JSON.stringify(sink.lines).includes('wrong"'), 'token value not logged');
  await up.close();
});

void t.test('heartbeats are sent', async (t) => {
  const store = createMemoryStore();
  const col = await startCollector({ config: collectorConfig(t.testdir()), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  const up = createUplink(uplinkOpts(col.url, t.testdir(), { limits: { ...fast, heartbeatIntervalMillis: 30 } }));
  up.start();
  await new Promise((r) => setTimeout(r, 150));
  await up.flush(5000);
  t.ok(store.rows.filter((r) => r.event.kind === 'heartbeat').length >= 2);
  await up.close();
});

void t.test('a collector with a smaller maxFrameBytes: the uplink shrinks its batches and delivers', async (t) => {
  const store = createMemoryStore();
  const sink = logSink();
  const col = await startCollector({ config: collectorConfig(t.testdir(), { maxFrameBytes: 8192 }), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  const up = createUplink(uplinkOpts(col.url, t.testdir(), { logger: sink.logger }));
  up.start();
  for (let i = 1; i <= 2000; i++) up.enqueue(draft(i));
  t.equal(await up.flush(20_000), true);
  t.same(seqsOf(store, 'boot-1'), Array.from({ length: 2000 }, (_, i) => i + 1));
  t.ok(sink.lines.some((l) => typeof l.batchMaxBytes === 'number'), 'the shrink is logged');
  await up.close();
});
