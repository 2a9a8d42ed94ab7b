// agent/secrets/redact.ts: live redaction, exact across every chunk split, prompt on line-less output.
import t from 'tap';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRedactor, createRedactStream } from '../../../agent/secrets/redact.js';
import { encodingsOf } from '../../../agent/secrets/encodings.js';

const secrets = [
  { name: 'AWS_SECRET_ACCESS_KEY', value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  { name: 'NPM_TOKEN', value: 'npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8' },
  { name: 'PEM', value: 'x "q" \\ y\nz +/? >>>>>> ??????' },
];
const [aws, npm, pem] = secrets.map((s) => s.value) as [string, string, string];

function run(chunks: Buffer[]): Buffer {
  const r = createRedactor(secrets);
  return Buffer.concat([...chunks.map((c) => r.push(c)), r.end()]);
}

// Everything that must not survive: the value and all its encodings (and the full platform encodings).
function forbidden(): Buffer[] {
  const out: Buffer[] = [];
  for (const s of secrets) {
    out.push(Buffer.from(s.value), Buffer.from(s.value).subarray(0, s.value.length), Buffer.from(Buffer.from(s.value).toString('base64')));
    for (const p of encodingsOf(s.value)) out.push(p.bytes);
  }
  return out;
}

const text = Buffer.from([
  `plain ${aws} and again ${aws}${aws}`,
  `b64 ${Buffer.from(`k=${npm}`).toString('base64')}`,
  `b64x2 ${Buffer.from(Buffer.from('::' + aws).toString('base64')).toString('base64')}`,
  `hex ${Buffer.from(npm).toString('hex')} HEX ${Buffer.from(aws).toString('hex').toUpperCase()}`,
  `url ${encodeURIComponent(pem)} json ${JSON.stringify({ pem })}`,
  `b64url ${Buffer.from(`{"p":"${pem}"}`).toString('base64url')}`,
  'tail with no newline',
].join('\n'));

t.test('exact output on a simple line', async (t) => {
  t.equal(run([Buffer.from(`token: ${npm}\n`)]).toString(), 'token: ***\n');
  t.equal(run([Buffer.from(`${aws}${aws}|${aws}`)]).toString(), '******|***', 'adjacent matches: one mark each');
  t.equal(run([Buffer.from(`${aws.slice(0, 30)}${aws}`)]).toString(), `${aws.slice(0, 30)}***`);
  t.equal(run([Buffer.from('nothing secret here\n')]).toString(), 'nothing secret here\n');
});

t.test('no value or encoding survives, split in two at every offset', async (t) => {
  const bad = forbidden();
  const reference = run([text]);
  for (const b of bad) t.notOk(reference.includes(b), `whole: ${b.toString('latin1').slice(0, 20)}`);
  t.ok(reference.toString().endsWith('tail with no newline'));
  let failures = 0;
  for (let cut = 0; cut <= text.length; cut++) {
    const out = run([text.subarray(0, cut), text.subarray(cut)]);
    if (!out.equals(reference)) failures++;
  }
  t.equal(failures, 0, 'every two-way split gives the same output as one write');
});

t.test('byte-by-byte and three-way splits give the same output', async (t) => {
  const reference = run([text]);
  t.ok(run([...text].map((b) => Buffer.from([b]))).equals(reference));
  let failures = 0;
  for (let a = 0; a < text.length; a += 7) {
    for (let b = a; b <= text.length; b += 13) {
      if (!run([text.subarray(0, a), text.subarray(a, b), text.subarray(b)]).equals(reference)) failures++;
    }
  }
  t.equal(failures, 0);
});

t.test('bounded latency: bytes that cannot start a match are emitted at once', async (t) => {
  const r = createRedactor(secrets);
  t.equal(r.push(Buffer.from('progress 10%... 20%... ')).toString(), 'progress 10%... 20%... ');
  t.equal(r.heldBytes, 0);
  // Half a secret is held back, the text before it is not.
  t.equal(r.push(Buffer.from(`x=${aws.slice(0, 20)}`)).toString(), 'x=');
  t.equal(r.heldBytes, 20);
  // The last byte may begin some encoded pattern, so it may be held: never more than that.
  const after = r.push(Buffer.from(aws.slice(20) + ' done')).toString();
  t.ok(after === '*** done' || after === '*** don', after);
  t.ok(r.heldBytes <= 1);
  t.equal(after + r.end().toString(), '*** done');
  // A prefix that never completes is released at end (it is not the secret).
  t.equal(r.push(Buffer.from(aws.slice(0, 10))).toString(), '');
  t.equal(r.end().toString(), aws.slice(0, 10));
  t.equal(r.redactions, 1);
});

t.test('held bytes stay below the longest pattern on adversarial prefixes', async (t) => {
  const r = createRedactor(secrets);
  const longest = Math.max(...secrets.flatMap((s) => encodingsOf(s.value).map((p) => p.bytes.length)));
  for (let i = 0; i < 200; i++) {
    r.push(Buffer.from(aws.slice(0, 1 + (i % 39))));
    t.ok(r.heldBytes < longest, `held ${r.heldBytes}`);
  }
});

t.test('stream wrapper redacts across chunks and flushes on end', async (t) => {
  const chunks: Buffer[] = [];
  const parts = [`a ${aws.slice(0, 7)}`, aws.slice(7, 30), `${aws.slice(30)} b ${npm.slice(0, 5)}`];
  await pipeline(Readable.from(parts.map((p) => Buffer.from(p))), createRedactStream(secrets), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) chunks.push(c);
  });
  t.equal(Buffer.concat(chunks).toString(), `a *** b ${npm.slice(0, 5)}`);
});

t.test('redactString: the stream\'s result for one whole string, and the same string when nothing matches', async (t) => {
  const r = createRedactor(secrets);
  // Random strings built from secrets, their encodings, fragments and filler, overlapping and touching.
  const pieces = [aws, npm, pem, Buffer.from(npm).toString('base64'), encodeURIComponent(pem), aws.slice(0, 9), npm.slice(4), 'a', ' --token=', '/', 'é', ''];
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  let matched = 0;
  for (let i = 0; i < 400; i++) {
    const s = Array.from({ length: rnd(6) }, () => pieces[rnd(pieces.length)]).join('');
    const want = run([Buffer.from(s)]).toString('utf8');
    const got = r.redactString(s);
    if (got !== want) { t.equal(got, want, `case ${i}: ${JSON.stringify(s)}`); return; }
    if (want !== s) matched++;
  }
  t.ok(matched > 100, `${matched} of 400 strings held a secret, each redacted as the stream does`);
  // The stream state is untouched: a value split around a redactString call is still found.
  const half = Math.floor(aws.length / 2);
  const head = r.push(Buffer.from(`x${aws.slice(0, half)}`));
  t.equal(r.redactString('plain'), 'plain');
  t.equal(Buffer.concat([head, r.push(Buffer.from(`${aws.slice(half)}y`)), r.end()]).toString(), 'x***y');
  const plain = 'cc -O2 -c src/file_17.c -o build/file_17.o';
  t.equal(r.redactString(plain), plain);
});
