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
