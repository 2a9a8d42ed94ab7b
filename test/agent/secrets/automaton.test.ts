// agent/secrets/automaton.ts: the DFA finds exactly what a naive search finds.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { buildAutomaton, outputsAt } from '../../../agent/secrets/automaton.js';

function dfaMatches(patterns: Buffer[], text: Buffer, caseFold = false): string[] {
  const a = buildAutomaton(patterns, { caseFold });
  const out: string[] = [];
  let s = 0;
  for (let i = 0; i < text.length; i++) {
    s = a.delta[s + (a.classOf[text[i] as number] as number)] as number;
    if (s < 0) { s = -s; for (const id of outputsAt(a, s)) out.push(`${id}@${i + 1 - (a.patternLength[id] as number)}`); }
  }
  return out.sort();
}
function naive(patterns: Buffer[], text: Buffer): string[] {
  const out: string[] = [];
  patterns.forEach((p, id) => {
    for (let i = text.indexOf(p); i >= 0; i = text.indexOf(p, i + 1)) out.push(`${id}@${i}`);
  });
  return out.sort();
}

t.test('classic table', async (t) => {
  const rows: [string[], string][] = [
    [['he', 'she', 'his', 'hers'], 'ushers'],
    [['a', 'aa', 'aaa'], 'aaaa'],
    [['abcd', 'bc', 'c'], 'xabcdx'],
    [['same', 'same'], 'same'],
  ];
  for (const [ps, text] of rows) {
    const pb = ps.map((p) => Buffer.from(p));
    t.same(dfaMatches(pb, Buffer.from(text)), naive(pb, Buffer.from(text)), `${ps.join(',')} in ${text}`);
  }
});

t.test('random small alphabet: same as naive search', async (t) => {
  for (let round = 0; round < 50; round++) {
    const pat = Array.from({ length: 8 }, () => Buffer.from([...randomBytes(1 + (round % 5))].map((b) => 97 + (b % 3))));
    const text = Buffer.from([...randomBytes(500)].map((b) => 97 + (b % 4)));
    const got = dfaMatches(pat, text);
    const want = naive(pat, text);
    if (JSON.stringify(got) !== JSON.stringify(want)) t.fail(`round ${round}`);
  }
  t.pass('50 rounds');
});

t.test('all 256 byte values', async (t) => {
  const p = Buffer.from([...Array(256).keys()]);
  const text = Buffer.concat([randomBytes(100), p, randomBytes(100)]);
  t.same(dfaMatches([p], text), naive([p], text));
});

t.test('case folding', async (t) => {
  t.same(dfaMatches([Buffer.from('AbC')], Buffer.from('xabcABCaBc'), true), ['0@1', '0@4', '0@7']);
  t.same(dfaMatches([Buffer.from('AbC')], Buffer.from('xabcABCaBc'), false), []);
});

t.test('limits and bad input are typed errors', async (t) => {
  t.throws(() => buildAutomaton([Buffer.alloc(0)]), { code: 'AGENT_ERR_SECRETS' });
  t.throws(() => buildAutomaton([randomBytes(1000)], { maxTableBytes: 1024 }), { code: 'AGENT_ERR_SECRETS' });
});
