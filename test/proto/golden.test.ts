// Golden wire fixtures (test/fixtures/frames/*.bin, made by make.mjs): what each decodes to is pinned.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { decodeFrame, encodeEvent, encodeFrame } from '../../proto/codec.js';
import { RwError } from '../../proto/errors.js';

const limits = { maxFrameBytes: 4 * 1024 * 1024, maxBatchEvents: 4096 };
const read = (n: string): Buffer => readFileSync(new URL(`../fixtures/frames/${n}`, import.meta.url));

function outcome(bytes: Uint8Array): unknown {
  try {
    const d = decodeFrame(bytes, limits);
    return { frame: d.frame, rawLengths: d.raw?.map((r) => r.bytes.length) };
  } catch (e) {
    if (e instanceof RwError) return { code: e.code };
    throw e;
  }
}

for (const name of ['valid-batch.bin', 'truncated-batch.bin', 'garbage.bin', 'hello.bin', 'unknown-field.bin']) {
  t.test(name, async (t) => { t.matchSnapshot(outcome(read(name))); });
}

t.test('unknown fields survive in the raw bytes the store keeps', async (t) => {
  const d = decodeFrame(read('unknown-field.bin'), limits);
  const raw = d.raw?.[0];
  t.ok(raw);
  t.ok(Buffer.from(raw!.bytes).includes(Buffer.from('from-the-future')), 'unknown field bytes kept');
  t.ok(raw!.bytes.length > encodeEvent(raw!.event).length, 'decoded view drops it, raw keeps it');
});

t.test('oversized frame is refused before decoding', async (t) => {
  const big = encodeFrame({ type: 'batch', batch: { batchId: 3, events: [{ agentId: 'a', bootId: 'b', seq: 1, tsNs: 1, kind: 'exec', exec: { argv: ['x'.repeat(limits.maxFrameBytes)] } }] } });
  t.same(outcome(big), { code: 'PROTO_ERR_TOO_LARGE' });
});

t.test('too many events in one batch', async (t) => {
  const events = Array.from({ length: 5 }, (_, i) => ({ agentId: 'a', bootId: 'b', seq: i + 1, tsNs: 1, kind: 'fork' as const, fork: { childPid: i } }));
  t.throws(() => decodeFrame(encodeFrame({ type: 'batch', batch: { batchId: 1, events } }), { maxFrameBytes: 1 << 20, maxBatchEvents: 4 }), { code: 'PROTO_ERR_TOO_LARGE' });
});

t.test('contract violations are PROTO_ERR_INVALID', async (t) => {
  const cases: [string, Record<string, unknown>][] = [
    ['seq 0', { agentId: 'a', bootId: 'b', seq: 0, tsNs: 1, kind: 'fork', fork: {} }],
    ['no agent', { agentId: '', bootId: 'b', seq: 1, tsNs: 1, kind: 'fork', fork: {} }],
    ['no body', { agentId: 'a', bootId: 'b', seq: 1, tsNs: 1 }],
  ];
  for (const [what, ev] of cases) {
    const bytes = encodeFrame({ type: 'batch', batch: { batchId: 1, events: [ev as never] } });
    t.same(outcome(bytes), { code: 'PROTO_ERR_INVALID' }, what);
  }
  t.same(outcome(new Uint8Array(0)), { code: 'PROTO_ERR_INVALID' }, 'empty frame');
});
