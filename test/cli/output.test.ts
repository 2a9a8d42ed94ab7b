// cli/output.ts: table alignment, truncation, control characters, json and jsonl.
import t from 'tap';
import { formatObject, formatRecords, parseFormat } from '../../cli/output.js';
import type { Column } from '../../cli/output.js';

type R = { a: number; b?: string };
const cols: Column<R>[] = [{ header: 'A', get: (r) => r.a }, { header: 'BEE', get: (r) => r.b, maxWidth: 5 }];
const recs: R[] = [{ a: 1, b: 'x' }, { a: 100 }, { a: 2, b: 'abcdefgh' }, { a: 3, b: 'esc\u001b[2Jx' }];

void t.test('formats', async (t) => {
  const cases: Array<[string, string]> = [
    ['table', 'A    BEE\n1    x\n100\n2    abcd…\n3    esc\\…\n'],
    ['json', `${JSON.stringify(recs, null, 2)}\n`],
    ['jsonl', recs.map((r) => `${JSON.stringify(r)}\n`).join('')],
  ];
  for (const [f, want] of cases) t.equal(formatRecords(recs, parseFormat(f), cols), want, f);
  t.equal(formatRecords([], 'table', cols), 'A  BEE\n', 'an empty table still has its header');
  t.equal(formatRecords([], 'json', cols), '[]\n');
  t.equal(formatRecords([], 'jsonl', cols), '');
  t.equal(formatRecords([{ a: 1, b: 'a\nb' }], 'table', [{ header: 'B', get: (r: R) => r.b }]), 'B\na\\x0ab\n', 'newlines cannot forge rows');
});

void t.test('parseFormat and formatObject', async (t) => {
  t.equal(parseFormat(undefined), 'table');
  t.equal(parseFormat(undefined, 'jsonl'), 'jsonl');
  t.throws(() => parseFormat('xml'), { code: 'CLI_ERR_USAGE' });
  t.equal(formatObject({ ok: true }, 'table', 'fine'), 'fine\n');
  t.equal(formatObject({ ok: true }, 'jsonl', 'fine'), '{"ok":true}\n');
  t.equal(formatObject({ ok: true }, 'json', 'fine'), '{\n  "ok": true\n}\n');
});
