// agent/sensors/line-split.ts: the lines of a byte stream whatever its chunking, as readline gives them.
import t from 'tap';
import { createLineSplitter } from '../../../agent/sensors/line-split.js';

/** Every line the splitter gives for `chunks`, the end's rest last. */
function split(chunks: (string | Buffer)[], max?: number): string[] {
  const s = createLineSplitter(max);
  const out: string[] = [];
  for (const c of chunks) out.push(...s.push(typeof c === 'string' ? Buffer.from(c) : c));
  const rest = s.end();
  if (rest !== undefined) out.push(rest);
  return out;
}

const euro = Buffer.from('€'); // 3 bytes
const cases: Array<[string, (string | Buffer)[], string[]]> = [
  ['one line', ['{"a":1}\n'], ['{"a":1}']],
  ['two lines in one chunk', ['a\nb\n'], ['a', 'b']],
  ['a line across chunks', ['{"ty', 'pe":', '"x"}\nnext\n'], ['{"type":"x"}', 'next']],
  ['a break as its own chunk', ['abc', '\n', 'def', '\n'], ['abc', 'def']],
  ['empty lines kept', ['a\n\nb\n'], ['a', '', 'b']],
  ['crlf', ['a\r\nb\r', '\nc\r\n'], ['a', 'b', 'c']],
  ['no final break: the rest at the end', ['a\nb'], ['a', 'b']],
  ['rest with a cr', ['a\nb\r'], ['a', 'b']],
  ['nothing', [], []],
  ['only a break', ['\n'], ['']],
  ['utf-8 split inside a character', [Buffer.concat([Buffer.from('x'), euro.subarray(0, 1)]), Buffer.concat([euro.subarray(1), Buffer.from('y\n')])], ['x€y']],
  ['utf-8 split before the break', [Buffer.concat([Buffer.from('a\n'), euro.subarray(0, 2)]), Buffer.concat([euro.subarray(2), Buffer.from('\n')])], ['a', '€']],
];
for (const [name, chunks, want] of cases) t.same(split(chunks), want, name);

void t.test('an unterminated line is handed over at the limit', async (t) => {
  t.same(split(['abcdefgh', 'ij\nk'], 8), ['abcdefgh', 'ij', 'k']);
  t.same(split(['ab\ncdefghij'], 8), ['ab', 'cdefghij']);
  t.same(split(['ab\ncd', 'efghij\n'], 8), ['ab', 'cdefghij']);
});

void t.test('the chunk is not kept: later writes to its memory change no line', async (t) => {
  const s = createLineSplitter();
  const chunk = Buffer.from('a\npartial');
  t.same(s.push(chunk), ['a']);
  chunk.fill(0x7a);
  t.same(s.push(Buffer.from('\n')), ['partial']);
});
