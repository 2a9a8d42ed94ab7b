// agent/secrets/scanner.ts: one exposure per (secret, encoding, location), across chunk splits, none in random data.
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { createScanner } from '../../../agent/secrets/scanner.js';
import type { Exposure } from '../../../agent/secrets/scanner.js';

const secrets = [
  { name: 'GITHUB_TOKEN', value: 'ghp_' + 'R4nd0mT0k3nV4lu3xyzABCDEFGHIJKLMN0123' },
  { name: 'AWS_SECRET_ACCESS_KEY', value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  // Lines under 16 characters: no line is a pattern of its own (see encodings.ts).
  { name: 'PEMISH', value: 'q "x" \\ y\nz +/? >>>>>>\n??????' },
  { name: 'SHORT', value: 'hunter2!' },
];
const pem = secrets[2]?.value as string;
const aws = secrets[1]?.value as string;

// Streams built with the platform's own encoders over a longer text, so alignment varies.
const cases: { encoding: string; secret: string; name: string; text: string }[] = [
  { encoding: 'plain', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: `export K=${aws}\n` },
  { encoding: 'base64', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: `debug: ${Buffer.from(aws).toString('base64')}\n` },
  { encoding: 'base64', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: Buffer.from(`k=${aws}`).toString('base64') },
  { encoding: 'base64', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: Buffer.from(`ke=${aws}\n`).toString('base64') },
  { encoding: 'base64url', secret: pem, name: 'PEMISH', text: Buffer.from(`{"a":"${pem}"}`).toString('base64url') },
  { encoding: 'base64x2', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: Buffer.from(Buffer.from(aws).toString('base64')).toString('base64') },
  { encoding: 'base64x2', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: Buffer.from('x: ' + Buffer.from('yy' + aws).toString('base64')).toString('base64') },
  { encoding: 'hex', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: `0x${Buffer.from(aws).toString('hex')}` },
  { encoding: 'hex', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: Buffer.from(aws).toString('hex').toUpperCase() },
  { encoding: 'url', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: `GET /?k=${encodeURIComponent(aws)} HTTP/1.1` },
  { encoding: 'url', secret: aws, name: 'AWS_SECRET_ACCESS_KEY', text: `/?k=${[...Buffer.from(aws)].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('')}` },
  { encoding: 'json', secret: pem, name: 'PEMISH', text: JSON.stringify({ key: pem }) },
  { encoding: 'plain', secret: 'hunter2!', name: 'SHORT', text: 'password is hunter2! ok' },
];

const summary = (es: Exposure[]) => es.map((e) => `${e.secretName}/${e.encoding}`);

t.test('each encoding in a stream gives one exposure naming secret and encoding', async (t) => {
  for (const c of cases) {
    const s = createScanner(secrets);
    const es = s.scan(Buffer.from(c.text), 'LOG', 'stdout');
    t.same(summary(es), [`${c.name}/${c.encoding}`], `${c.encoding}: ${c.text.slice(0, 40)}`);
    t.equal(es[0]?.channel, 'LOG');
    t.equal(es[0]?.location, 'stdout');
    t.same(s.end(), []);
  }
});

t.test('split across two writes at every offset → still found once, with the right offset', async (t) => {
  for (const c of cases) {
    const data = Buffer.from(c.text);
    const whole = createScanner(secrets).scan(data, 'LOG', 'x');
    for (let cut = 0; cut <= data.length; cut++) {
      const s = createScanner(secrets);
      const es = [...s.scan(data.subarray(0, cut), 'LOG', 'x'), ...s.scan(data.subarray(cut), 'LOG', 'x')];
      if (summary(es).join() !== `${c.name}/${c.encoding}` || es[0]?.offset !== whole[0]?.offset) {
        t.fail(`${c.encoding} cut at ${cut}: ${summary(es).join()}`);
      }
    }
  }
  t.pass('all cuts');
});

t.test('byte-by-byte writes find it too', async (t) => {
  const s = createScanner(secrets);
  const data = Buffer.from(`noise ${Buffer.from(aws).toString('hex')} noise`);
  const es: Exposure[] = [];
  for (let i = 0; i < data.length; i++) es.push(...s.scan(data.subarray(i, i + 1), 'FILE', '/w/out.txt'));
  t.same(summary(es), ['AWS_SECRET_ACCESS_KEY/hex']);
  t.equal(es[0]?.offset, 6);
});

t.test('reported once per location; again in another location or channel', async (t) => {
  const s = createScanner(secrets);
  const line = Buffer.from(`a ${aws} b ${aws}\n`);
  t.equal(s.scan(line, 'LOG', 'stdout').length, 1);
  t.equal(s.scan(line, 'LOG', 'stdout').length, 0);
  t.equal(s.scan(line, 'LOG', 'stderr').length, 1);
  t.equal(s.scan(line, 'FILE', 'stdout').length, 1);
  s.endStream('LOG', 'stdout');
  t.equal(s.scan(line, 'LOG', 'stdout').length, 1, 'a new stream after endStream');
});

t.test('streams keep separate state: interleaved halves do not combine', async (t) => {
  const s = createScanner(secrets);
  const a = Buffer.from(aws);
  t.same(s.scan(a.subarray(0, 20), 'LOG', 'stdout'), []);
  t.same(s.scan(a.subarray(20), 'LOG', 'stderr'), []);
  t.equal(s.scan(a.subarray(20), 'LOG', 'stdout').length, 1);
});

t.test('two secrets and overlapping patterns in one chunk', async (t) => {
  const s = createScanner(secrets);
  const gh = secrets[0]?.value as string;
  const es = s.scan(Buffer.from(`${gh}${aws}${Buffer.from(gh).toString('base64')}`), 'LOG', 'o');
  t.same(summary(es).sort(), ['AWS_SECRET_ACCESS_KEY/plain', 'GITHUB_TOKEN/base64', 'GITHUB_TOKEN/plain']);
});

t.test('maxStreams bounds the kept state', async (t) => {
  const s = createScanner(secrets, { maxStreams: 2 });
  for (const loc of ['a', 'b', 'c']) s.scan(Buffer.from('x'), 'FILE', loc);
  t.equal(s.info.evictedStreams, 1);
});

t.test('a table over the limit drops base64x2 first, then fails with a typed error', async (t) => {
  const s = createScanner(secrets, { maxTableBytes: 600_000 });
  t.same(s.info.droppedEncodings, ['base64x2']);
  t.equal(s.scan(Buffer.from(aws), 'LOG', 'o').length, 1);
  t.throws(() => createScanner(secrets, { maxTableBytes: 1000 }), { code: 'AGENT_ERR_SECRETS' });
});

t.test('case folding (DNS): lowercase input matches mixed-case patterns', async (t) => {
  const s = createScanner(secrets, { caseFold: true });
  t.equal(s.scan(Buffer.from(Buffer.from(aws).toString('hex').toUpperCase().toLowerCase()), 'DNS', 'q').length, 1);
  t.same(summary(s.scan(Buffer.from(aws.toLowerCase()), 'DNS', 'q2')), ['AWS_SECRET_ACCESS_KEY/plain']);
  t.same(createScanner(secrets).scan(Buffer.from(aws.toLowerCase()), 'DNS', 'q2'), [], 'case matters without folding');
});

// 50 secrets of realistic shapes, including short and all-hex ones, against random data.
function realisticSecrets() {
  const out = [];
  for (let i = 0; i < 50; i++) {
    const r = randomBytes(48);
    const shapes = [
      'ghp_' + r.toString('base64').replace(/[+/=]/g, '').slice(0, 36),
      'AKIA' + r.toString('hex').toUpperCase().slice(0, 16),
      r.toString('base64').slice(0, 40),
      r.toString('hex').slice(0, 32),
      r.toString('base64url').slice(0, 8),
      r.toString('hex').slice(0, 16),
    ];
    out.push({ name: `S${i}`, value: shapes[i % shapes.length] as string });
  }
  return out;
}

t.test('no exposure in 10 MB of random base64 and of hex hashes', async (t) => {
  const list = realisticSecrets();
  const s = createScanner(list);
  const b64 = randomBytes(7.5 * 1024 * 1024).toString('base64');
  const es: Exposure[] = [];
  for (let off = 0; off < b64.length; off += 65536) es.push(...s.scan(Buffer.from(b64.slice(off, off + 65536)), 'LOG', 'b64'));
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 0; bytes < 10 * 1024 * 1024; i++) {
    const line = `${createHash('sha256').update(String(i)).digest('hex')}  file${i}\n`;
    lines.push(line);
    bytes += line.length;
  }
  const hex = Buffer.from(lines.join(''));
  for (let off = 0; off < hex.length; off += 65536) es.push(...s.scan(hex.subarray(off, off + 65536), 'LOG', 'hex'));
  t.same(summary(es), []);
  // The same scanner does see its secrets in such data.
  const planted = Buffer.from(randomBytes(999).toString('base64') + Buffer.from(`:${list[2]?.value}`).toString('base64'));
  t.same(summary(s.scan(planted, 'LOG', 'planted')), ['S2/base64']);
});

t.test('multi-line key: a pty CRLF copy and a single body line are found', async (t) => {
  const body = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB';
  const key = `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----`;
  const s = createScanner([{ name: 'DEPLOY_KEY', value: key }]);
  t.same(summary(s.scan(Buffer.from(`$ cat key\r\n${key.replace(/\n/g, '\r\n')}\r\n`), 'LOG', 'pty')), ['DEPLOY_KEY/plain']);
  t.same(summary(s.scan(Buffer.from(`tail: ${body}\n`), 'LOG', 'other')), ['DEPLOY_KEY/plain']);
  t.same(summary(s.scan(Buffer.from('-----END OPENSSH PRIVATE KEY-----\n'), 'LOG', 'armour')), []);
});

t.test('a01-style dump: every secret in a double-base64 blob of JSON lines', async (t) => {
  const lines = secrets.map((s) => `"${s.name}":{"value":${JSON.stringify(s.value)},"isSecret":true}`).sort();
  const blob = Buffer.from(Buffer.from(lines.join('\n')).toString('base64')).toString('base64') + '\n';
  const s = createScanner(secrets);
  const got = summary(s.scan(Buffer.from(blob), 'LOG', 'stdout')).sort();
  // PEMISH is JSON-escaped in the dump, so its base64x2 form is that of the escaped text: not a pattern.
  t.same(got, ['AWS_SECRET_ACCESS_KEY/base64x2', 'GITHUB_TOKEN/base64x2', 'SHORT/base64x2']);
});
