// proto/codec.ts: round trips of every event kind, and typed errors for bad bytes.
import t from 'tap';
import { decodeEvent, decodeFrame, encodeBatchFrameRaw, encodeEvent, encodeFrame } from '../../proto/codec.js';
import { isRwError } from '../../proto/errors.js';
import type { RwEvent } from '../../proto/types.js';

const limits = { maxFrameBytes: 1 << 20, maxBatchEvents: 1000 };
const ev = (seq: number): RwEvent => ({ agentId: 'a1', bootId: 'b1', seq, tsNs: 1764000000123456800, pid: 42, kind: 'exec', exec: { argv: ['/bin/true', 'x'] } });

t.test('event round trip', async (t) => {
  const e = ev(7);
  t.same(decodeEvent(encodeEvent(e)), e);
});

t.test('batch keeps raw event bytes', async (t) => {
  const evs = [ev(1), ev(2)];
  const bytes = encodeFrame({ type: 'batch', batch: { batchId: 9, events: evs } });
  const d = decodeFrame(bytes, limits);
  t.equal(d.frame.type, 'batch');
  t.equal(d.raw?.length, 2);
  t.same(d.raw?.[0]?.bytes, encodeEvent(evs[0] as RwEvent));
  const again = encodeBatchFrameRaw(9, evs.map(encodeEvent));
  t.same(Buffer.from(again), Buffer.from(bytes));
});

t.test('truncated and garbage frames are typed errors', async (t) => {
  const bytes = encodeFrame({ type: 'batch', batch: { batchId: 1, events: [ev(1)] } });
  t.throws(() => decodeFrame(bytes.subarray(0, bytes.length - 3), limits), { code: 'PROTO_ERR_TRUNCATED' });
  try { decodeFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), limits); t.fail('decoded garbage'); }
  catch (e) { t.ok(isRwError(e) && /^PROTO_ERR_/.test(e.code)); }
  t.throws(() => decodeFrame(new Uint8Array(limits.maxFrameBytes + 1), limits), { code: 'PROTO_ERR_TOO_LARGE' });
});

t.test('encodeBatchFrameRaw writes what protobufjs writes for every length class', async (t) => {
  const { default: protobuf } = await import('protobufjs');
  const ref = (id: number, events: Uint8Array[]): Buffer => {
    const w = protobuf.Writer.create();
    w.uint32(26).fork().uint32(8).uint64(id);
    for (const e of events) w.uint32(18).bytes(e);
    return Buffer.from(w.ldelim().finish());
  };
  const sized = (n: number): Uint8Array => Buffer.alloc(n, n % 251);
  for (const id of [0, 1, 127, 128, 16_383, 16_384, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
    for (const events of [[], [sized(0)], [sized(1), sized(127), sized(128)], [sized(20_000), sized(3)], Array.from({ length: 600 }, (_, i) => sized(i % 200))]) {
      t.equal(Buffer.from(encodeBatchFrameRaw(id, events)).toString('hex'), ref(id, events).toString('hex'), `batch ${id}, ${events.length} events`);
    }
  }
  const d = decodeFrame(encodeBatchFrameRaw(300, [encodeEvent(ev(1)), encodeEvent(ev(2))]), limits);
  t.match(d, { frame: { type: 'batch', batch: { batchId: 300 } } });
  t.equal(d.raw?.length, 2);
});
