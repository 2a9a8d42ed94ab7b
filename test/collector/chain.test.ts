// collector/chain.ts: canonical encoding is injective over the cases that matter, and walkChain names the first broken row.
import t from 'tap';
import { createHash } from 'node:crypto';
import { canonicalBytes, chainHash, GENESIS_HASH, walkChain } from '../../collector/chain.js';
import type { ChainRow, ChainValue } from '../../collector/chain.js';

void t.test('canonical bytes distinguish values that print alike', async (t) => {
  const cases: Array<[string, ChainValue[], ChainValue[]]> = [
    ['null vs empty text', [null], ['']],
    ['int 1 vs text "1"', [1], ['1']],
    ['text vs blob of same bytes', ['ab'], [Buffer.from('ab')]],
    ['column boundary moved', ['ab', 'c'], ['a', 'bc']],
    ['int vs real', [1], [1.5]],
    ['negative vs positive', [-1], [1]],
    ['one column more', ['a'], ['a', null]],
  ];
  for (const [name, a, b] of cases) t.not(canonicalBytes('events', a).toString('hex'), canonicalBytes('events', b).toString('hex'), name);
  t.not(canonicalBytes('events', [1]).toString('hex'), canonicalBytes('findings', [1]).toString('hex'), 'table name is part of the bytes');
});

void t.test('an integer as number and as bigint encodes the same (write path vs verify path)', async (t) => {
  const cases: Array<[number, bigint]> = [
    [0, 0n], [1, 1n], [-1, -1n], [2 ** 32, 2n ** 32n], [-(2 ** 32) - 5, -(2n ** 32n) - 5n],
    [Number.MAX_SAFE_INTEGER, BigInt(Number.MAX_SAFE_INTEGER)], [1764000000123456800, 1764000000123456768n],
  ];
  for (const [n, b] of cases) t.equal(canonicalBytes('t', [n]).toString('hex'), canonicalBytes('t', [b]).toString('hex'), String(n));
});

void t.test('utf8 text is length-prefixed in bytes, not UTF-16 units', async (t) => {
  const bytes = canonicalBytes('t', ['é']);
  t.equal(bytes.readUInt32BE(bytes.length - 6), 2);
});

function build(n: number): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = GENESIS_HASH;
  for (let id = 1; id <= n; id++) {
    const values: ChainValue[] = [id, `agent`, id * 10, Buffer.from([id])];
    const hash = chainHash(prev, 'events', values);
    rows.push({ values, prevHash: prev, hash });
    prev = hash;
  }
  return rows;
}

void t.test('walkChain', async (t) => {
  type Case = { name: string; edit: (rows: ChainRow[]) => ChainRow[]; want: { ok: true; rows: number } | { ok: false; rowId: number; reason: RegExp } };
  const cases: Case[] = [
    { name: 'intact', edit: (r) => r, want: { ok: true, rows: 5 } },
    { name: 'empty', edit: () => [], want: { ok: true, rows: 0 } },
    { name: 'column modified', edit: (r) => { r[2] = { ...r[2]!, values: [3, 'agent', 31, Buffer.from([3])] }; return r; }, want: { ok: false, rowId: 3, reason: /content/ } },
    { name: 'row deleted in the middle', edit: (r) => r.filter((x) => x.values[0] !== 2), want: { ok: false, rowId: 3, reason: /missing/ } },
    { name: 'first row deleted', edit: (r) => r.slice(1), want: { ok: false, rowId: 2, reason: /missing/ } },
    {
      name: 'row inserted with a fresh id and recomputed hash',
      edit: (r) => {
        const values: ChainValue[] = [6, 'evil', 0, Buffer.from([0])];
        return [...r.slice(0, 5), { values, prevHash: r[4]!.hash, hash: chainHash(r[4]!.hash, 'events', values) }, ...r.slice(5)];
      },
      want: { ok: true, rows: 6 }, // appending at the head is indistinguishable here: checkpoints catch it (verify.ts)
    },
    {
      name: 'two rows swapped content (ids kept)',
      edit: (r) => {
        const a = r[1]!; const b = r[2]!;
        r[1] = { ...b, values: [2, ...b.values.slice(1)] };
        r[2] = { ...a, values: [3, ...a.values.slice(1)] };
        return r;
      },
      want: { ok: false, rowId: 2, reason: /prev_hash/ },
    },
    { name: 'prev_hash rewritten', edit: (r) => { r[3] = { ...r[3]!, prevHash: Buffer.alloc(32, 7) }; return r; }, want: { ok: false, rowId: 4, reason: /prev_hash/ } },
    { name: 'hash rewritten on the head', edit: (r) => { r[4] = { ...r[4]!, hash: Buffer.alloc(32, 7) }; return r; }, want: { ok: false, rowId: 5, reason: /content/ } },
  ];
  for (const c of cases) {
    const got = walkChain('events', c.edit(build(5)));
    if (c.want.ok) t.match(got, { ok: true, rows: c.want.rows }, c.name);
    else t.match(got, { ok: false, rowId: c.want.rowId, reason: c.want.reason }, c.name);
  }
});

void t.test('a chain hashed for one table does not verify as another', async (t) => {
  t.match(walkChain('findings', build(2)), { ok: false, rowId: 1 });
});

void t.test('chainHash is SHA-256 over prev_hash followed by the canonical bytes (what existing databases hold)', async (t) => {
  const prev = createHash('sha256').update('genesis-ish').digest();
  const values = [7, 'agent', null, 1764000000000000123, Buffer.from([1, 2, 3]), 'é'];
  const want = createHash('sha256').update(prev).update(canonicalBytes('events', values)).digest('hex');
  t.equal(chainHash(prev, 'events', values).toString('hex'), want);
  t.equal(chainHash(Buffer.alloc(32), 'events', values).toString('hex'),
    createHash('sha256').update(Buffer.alloc(32)).update(canonicalBytes('events', values)).digest('hex'), 'genesis link too');
});

/** The encoding as first shipped (one exact-size Buffer per row, BigInt for integers past 2^53): rows already stored were hashed with it. */
function referenceCanonical(table: string, values: readonly ChainValue[]): Buffer {
  const parts: Buffer[] = [];
  const text = (s: string): Buffer => { const b = Buffer.from(s, 'utf8'); const h = Buffer.alloc(5); h[0] = 2; h.writeUInt32BE(b.length, 1); return Buffer.concat([h, b]); };
  const int = (v: bigint): Buffer => { const b = Buffer.alloc(9); b[0] = 1; b.writeBigInt64BE(v, 1); return b; };
  parts.push(text(table));
  const n = Buffer.alloc(4); n.writeUInt32BE(values.length); parts.push(n);
  for (const v of values) {
    if (v === null || v === undefined) parts.push(Buffer.from([0]));
    else if (typeof v === 'bigint') parts.push(int(v));
    else if (typeof v === 'number' && Number.isInteger(v)) parts.push(int(BigInt(v)));
    else if (typeof v === 'number') { const b = Buffer.alloc(9); b[0] = 4; b.writeDoubleBE(v, 1); parts.push(b); }
    else if (typeof v === 'string') parts.push(text(v));
    else { const h = Buffer.alloc(5); h[0] = 3; h.writeUInt32BE(v.byteLength, 1); parts.push(h, Buffer.from(v)); }
  }
  return Buffer.concat(parts);
}

void t.test('canonical bytes match the shipped encoding for every kind of value', async (t) => {
  const cases: Array<[string, ChainValue[]]> = [
    ['empty row', []],
    ['nulls', [null, undefined]],
    ['integers around 2^31, 2^32, 2^53 and 2^63', [0, -0, 1, -1, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 32 + 1, -(2 ** 32) - 5,
      Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1764000000123456800, -1764000000123456800, 2 ** 62 + 2 ** 40, -(2 ** 63), 2 ** 63 - 1024]],
    ['bigints', [0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 1764000000123456789n]],
    ['reals', [1.5, -0.25, Math.PI, 1e-300, Number.MIN_VALUE]],
    ['text: ascii, latin, cjk, emoji, lone surrogate, empty', ['plain', 'é', 'ß/ü', '日本語', '😀 x', '\ud800', 'a\udc00b', '', 'x'.repeat(70_000)]],
    ['blobs', [Buffer.alloc(0), Buffer.from([0, 255]), new Uint8Array([1, 2, 3]), Buffer.alloc(100_000, 7)]],
    ['an events row', [12, 'agent-1', 'boot-1', 3, 1764000000123456800, 1764000000999999999, 'exec', null, 'job', 1000, 1, null, 'node', '/usr/bin/node', null, '{"argv":["a"]}', Buffer.from([10, 3])]],
  ];
  for (const [name, values] of cases) {
    t.equal(canonicalBytes('events', values).toString('hex'), referenceCanonical('events', values).toString('hex'), name);
    const prev = createHash('sha256').update(name).digest();
    t.equal(chainHash(prev, 'events', values).toString('hex'), createHash('sha256').update(prev).update(referenceCanonical('events', values)).digest('hex'), `${name}: hash`);
  }
  t.throws(() => canonicalBytes('t', [2 ** 63]), RangeError, 'an integer past int64 cannot be stored, so it cannot be hashed');
});
