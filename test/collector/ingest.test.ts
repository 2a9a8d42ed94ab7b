// collector/ingest.ts + server.ts over real websockets: acks after commit, each protocol fault closed
// with its code, counted by reason and logged once, while a well-behaved stream carries on.
import t from 'tap';
import WebSocket from 'ws';
import { startCollector } from '../../collector/daemon.js';
import { sampleValue } from '../../collector/metrics.js';
import { decodeFrame, encodeBatchFrameRaw, encodeEvent, encodeFrame } from '../../proto/codec.js';
import { RwError } from '../../proto/errors.js';
import type { Frame, RwEvent } from '../../proto/types.js';
import { createMemoryStore } from '../helpers/memory-store.js';
import { AGENT_TOKEN, collectorConfig, logSink, TOKEN } from '../helpers/ingest-env.js';

const ev = (agentId: string, seq: number, bootId = 'b1'): RwEvent => ({ agentId, bootId, seq, tsNs: 1_764_000_000_000_000_000 + seq, kind: 'exec', exec: { argv: ['/bin/true'] } });
const limits = { maxFrameBytes: 1 << 22, maxBatchEvents: 10_000 };

interface Client { ws: WebSocket; frames: Frame[]; closed: Promise<{ code: number; reason: string }>; next(): Promise<Frame> }

function client(url: string, token: string | undefined): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    const frames: Frame[] = [];
    const wait: ((f: Frame) => void)[] = [];
    ws.on('message', (d: Buffer) => {
      const f = decodeFrame(d, limits).frame;
      const w = wait.shift();
      if (w) w(f); else frames.push(f);
    });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('open', () => resolve({
      ws, frames, closed,
      next: () => new Promise((r) => { const f = frames.shift(); if (f) r(f); else wait.push(r); }),
    }));
    ws.on('unexpected-response', (_req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
    ws.on('error', reject);
  });
}

async function hello(c: Client, agentId: string): Promise<Frame> {
  c.ws.send(encodeFrame({ type: 'hello', hello: { agentId, bootId: 'b1', version: 't' } }));
  return c.next();
}

void t.test('ingest protocol and failure paths', async (t) => {
  const dir = t.testdir();
  const store = createMemoryStore();
  const sink = logSink();
  const col = await startCollector({ config: collectorConfig(dir), logger: sink.logger, openStore: () => store });
  t.teardown(() => col.close());
  const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${col.port}/metrics`)).text();

  // the well-behaved agent keeps one stream open through every fault below
  const good = await client(col.url, TOKEN);
  const w = await hello(good, 'good');
  t.equal(w.type, 'welcome');
  let seq = 0;
  let batch = 0;
  const sendGood = async (): Promise<void> => {
    const events = [ev('good', ++seq), ev('good', ++seq)];
    good.ws.send(encodeBatchFrameRaw(++batch, events.map(encodeEvent)));
    const ack = await good.next();
    t.same(ack, { type: 'ack', ack: { batchId: batch, stored: 2, duplicates: 0 } }, `good batch ${batch} acked`);
  };
  await sendGood();
  t.equal(store.count(), 2);

  // redelivery is acked as duplicates
  good.ws.send(encodeBatchFrameRaw(++batch, [ev('good', 1), ev('good', 2)].map(encodeEvent)));
  t.same(await good.next(), { type: 'ack', ack: { batchId: batch, stored: 0, duplicates: 2 } });

  const cases: Array<{ name: string; frame: () => Uint8Array | string; code: number; reason: string; agent?: string; token?: string }> = [
    { name: 'garbage frame', frame: () => Buffer.from([0x1f, 0x00]) /* field 3 with wire type 7 */, code: 1002, reason: 'garbage' },
    { name: 'truncated frame', frame: () => { const b = encodeBatchFrameRaw(1, [encodeEvent(ev('x', 1))]); return b.subarray(0, b.length - 3); }, code: 1002, reason: 'truncated' },
    { name: 'well-formed but invalid event (seq 0)', frame: () => encodeBatchFrameRaw(1, [encodeEvent({ ...ev('x', 1), seq: 0 })]), code: 1007, reason: 'invalid' },
    { name: 'frame over maxPayload', frame: () => Buffer.alloc((1 << 22) + 10, 1), code: 1009, reason: 'too-large' },
    { name: 'event for another agent', frame: () => encodeBatchFrameRaw(1, [encodeEvent(ev('someone-else', 1))]), code: 1008, reason: 'agent-mismatch' },
    { name: 'token bound to another agent id', frame: () => encodeBatchFrameRaw(1, []), code: 1008, reason: 'agent-mismatch', agent: 'not-agent-a', token: AGENT_TOKEN },
    { name: 'text frame', frame: () => 'hello', code: 1003, reason: 'text-frame' },
  ];
  for (const c of cases) {
    const before = sampleValue(await metrics(), 'runwarden_rejected_frames_total', `{reason="${c.reason}"}`) ?? -1;
    const logsBefore = sink.lines.length;
    const bad = await client(col.url, c.token ?? TOKEN);
    const agent = c.agent ?? 'x';
    if (c.agent) bad.ws.send(encodeFrame({ type: 'hello', hello: { agentId: agent, bootId: 'b1' } }));
    else t.equal((await hello(bad, agent)).type, 'welcome');
    bad.ws.send(c.frame());
    const closed = await bad.closed;
    t.equal(closed.code, c.code, `${c.name}: close code`);
    const after = sampleValue(await metrics(), 'runwarden_rejected_frames_total', `{reason="${c.reason}"}`);
    t.equal(after, before + 1, `${c.name}: counted once as ${c.reason}`);
    const logged = sink.lines.slice(logsBefore).filter((l) => l.reason === c.reason);
    t.equal(logged.length, 1, `${c.name}: logged once with its reason`);
    t.match(logged[0], { connId: /^c\d+$/ }, `${c.name}: log carries connId`);
    await sendGood();
  }

  for (const [name, token] of [['wrong token', 'nope'], ['no token', undefined]] as const) {
    const before = sampleValue(await metrics(), 'runwarden_rejected_frames_total', '{reason="auth"}') ?? -1;
    await t.rejects(client(col.url, token), { message: 'refused', status: 401 } as unknown as Error, `${name}: 401 at upgrade`);
    t.equal(sampleValue(await metrics(), 'runwarden_rejected_frames_total', '{reason="auth"}'), before + 1, `${name}: counted`);
    await sendGood();
  }

  // batch before hello is a protocol error
  const early = await client(col.url, TOKEN);
  early.ws.send(encodeBatchFrameRaw(1, [encodeEvent(ev('x', 1))]));
  t.equal((await early.closed).code, 1002);

  // a store failure closes 1011 without an ack; the collector keeps serving
  const failing = await client(col.url, TOKEN);
  await hello(failing, 'f');
  store.failNext(new RwError('COLLECTOR_ERR_DISK_FULL', 'database or disk is full'));
  failing.ws.send(encodeBatchFrameRaw(1, [encodeEvent(ev('f', 1))]));
  const rej = await failing.next();
  t.same(rej, { type: 'reject', reject: { code: 'COLLECTOR_ERR_DISK_FULL', message: 'store failed; retry later' } });
  t.equal((await failing.closed).code, 1011);
  t.equal(store.rows.filter((r) => r.event.agentId === 'f').length, 0);
  await sendGood();

  const m = await metrics();
  t.equal(sampleValue(m, 'runwarden_events_ingested_total'), store.count());
  t.equal(sampleValue(m, 'runwarden_events_duplicate_total'), 2);
  t.equal(sampleValue(m, 'runwarden_connected_agents'), 1);
  t.equal(sampleValue(m, 'runwarden_rejected_frames_total', '{reason="store"}'), 1);
  t.ok((sampleValue(m, 'runwarden_batch_commit_seconds_count') ?? 0) > 5);
  const health = await fetch(`http://127.0.0.1:${col.port}/healthz`);
  t.equal(health.status, 200);
  t.equal((await fetch(`http://127.0.0.1:${col.port}/nope`)).status, 404);
  good.ws.close();
  await good.closed;
});

void t.test('seq gaps and dropped reports count as losses', async (t) => {
  const store = createMemoryStore();
  const col = await startCollector({ config: collectorConfig(t.testdir()), logger: logSink().logger, openStore: () => store });
  t.teardown(() => col.close());
  const c = await client(col.url, TOKEN);
  await hello(c, 'g');
  const dropped: RwEvent = { agentId: 'g', bootId: 'b1', seq: 6, tsNs: 1, kind: 'dropped', dropped: { count: 4, reason: 'spool-full', firstSeq: 2, lastSeq: 5 } };
  c.ws.send(encodeBatchFrameRaw(1, [encodeEvent(ev('g', 1)), encodeEvent(ev('g', 3)), encodeEvent(dropped)]));
  await c.next();
  // gaps 2 and 4..5 (3 seqs) + the dropped report's 4
  t.equal(col.metrics.snapshot().losses, 7);
  c.ws.close();
});

void t.test('close is idempotent, checkpoints and closes the store', async (t) => {
  const store = createMemoryStore();
  const col = await startCollector({ config: collectorConfig(t.testdir()), logger: logSink().logger, openStore: () => store });
  const c = await client(col.url, TOKEN);
  await hello(c, 'h');
  await Promise.all([col.close(), col.close()]);
  t.equal((await c.closed).code, 1001);
  t.equal(store.checkpoints.length, 1);
  t.ok(store.closed);
  await col.close();
});

void t.test('an unreadable TLS certificate is a typed error naming the key', async (t) => {
  const dir = t.testdir();
  const store = createMemoryStore();
  await t.rejects(startCollector({ config: collectorConfig(dir, { tlsCert: `${dir}/missing.pem`, tlsKey: `${dir}/missing.key` }), logger: logSink().logger, openStore: () => store }),
    { code: 'COLLECTOR_ERR_TLS', details: { key: 'collector.tlsCert' } });
  t.ok(store.closed, 'store closed again when the server cannot start');
});

void t.test('onCommitted sees newly stored events, in order, before the ack', async (t) => {
  const store = createMemoryStore();
  const seen: Array<{ id: number; seq: number }> = [];
  let acked = 0;
  const col = await startCollector({
    config: collectorConfig(t.testdir()), logger: logSink().logger, openStore: () => store,
    onCommitted: (rows) => { t.equal(acked, seen.length === 0 ? 0 : 1, 'hook runs before the ack'); for (const r of rows) seen.push({ id: r.id, seq: r.event.seq }); },
  });
  t.teardown(() => col.close());
  const c = await client(col.url, TOKEN);
  await hello(c, 'o');
  c.ws.send(encodeBatchFrameRaw(1, [1, 2].map((s) => encodeEvent(ev('o', s)))));
  await c.next();
  acked = 1;
  // partly a redelivery: only 3 is new
  c.ws.send(encodeBatchFrameRaw(2, [2, 3].map((s) => encodeEvent(ev('o', s)))));
  await c.next();
  t.same(seen, [{ id: 1, seq: 1 }, { id: 2, seq: 2 }, { id: 3, seq: 3 }]);
  c.ws.close();
});
