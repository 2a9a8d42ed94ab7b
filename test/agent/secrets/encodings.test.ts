// agent/secrets/encodings.ts: every encoded form of a secret, checked against reference encoders of whole streams.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { base32Middle, base64Middle, encodingsOf } from '../../../agent/secrets/encodings.js';

// Reference RFC 4648 base32 (lowercase, unpadded), written out bit by bit.
function base32(data: Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const b of data) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}

t.test('base64 middle is inside base64 of any stream holding the data at that alignment', async (t) => {
  for (let n = 1; n <= 12; n++) {
    const data = randomBytes(n);
    for (let pre = 0; pre < 7; pre++) {
      for (let post = 0; post < 4; post++) {
        const stream = Buffer.concat([randomBytes(pre), data, randomBytes(post)]);
        const align = (pre % 3) as 0 | 1 | 2;
        t.ok(stream.toString('base64').includes(base64Middle(data, align)), `n=${n} pre=${pre} post=${post}`);
        t.ok(stream.toString('base64url').includes(base64Middle(data, align, true)));
      }
    }
  }
});

t.test('base64 middle keeps every fully known character', async (t) => {
  // 6 bytes at offset 0: 8 characters, all known; at offset 1: 7 bytes → 10 chars, 2 cut in front, 1 at the end.
  const data = Buffer.from('abcdef');
  t.equal(base64Middle(data, 0), 'YWJjZGVm');
  t.equal(base64Middle(data, 0).length, 8);
  t.equal(base64Middle(data, 1).length, 10 - 2 - 1);
  t.equal(base64Middle(data, 2).length, 11 - 3 - 1);
});

t.test('base32 middle is inside base32 of any stream holding the data at that alignment', async (t) => {
  for (let n = 1; n <= 12; n++) {
    const data = randomBytes(n);
    for (let pre = 0; pre < 11; pre++) {
      const stream = Buffer.concat([randomBytes(pre), data, randomBytes(3)]);
      const mid = base32Middle(data, (pre % 5) as 0 | 1 | 2 | 3 | 4);
      t.ok(base32(stream).includes(mid), `n=${n} pre=${pre}`);
    }
  }
});

const secret = 'Sx9+/q"Z\\w%é€ 4kL>>>>>>??????mNoPq'; // the >>> and ??? runs give + and / in base64 at every alignment
const cases: { label: string; stream: (s: string) => string }[] = [
  { label: 'plain', stream: (s) => `token=${s};` },
  { label: 'base64', stream: (s) => Buffer.from(`a${s}b`).toString('base64') },
  { label: 'base64url', stream: (s) => Buffer.from(`ab${s}`).toString('base64url') },
  { label: 'base64x2', stream: (s) => Buffer.from('debug: ' + Buffer.from(`x${s}\n`).toString('base64')).toString('base64') },
  { label: 'hex', stream: (s) => Buffer.from(`<${s}>`).toString('hex') },
  { label: 'hex', stream: (s) => Buffer.from(`<<${s}>`).toString('hex').toUpperCase() },
  { label: 'url', stream: (s) => `?q=${encodeURIComponent(s)}&x=1` },
  { label: 'json', stream: (s) => JSON.stringify({ token: s }) },
];

t.test('each encoding label finds the secret in its stream form', async (t) => {
  const patterns = encodingsOf(secret);
  for (const c of cases) {
    const stream = Buffer.from(c.stream(secret));
    // A base64url form equal to the standard one is kept once, under the standard label.
    const labels = c.label === 'base64url' ? ['base64url', 'base64'] : [c.label];
    const hit = patterns.filter((p) => labels.includes(p.encoding) && stream.includes(p.bytes));
    t.ok(hit.length > 0, `${c.label} in ${c.stream('S')}`);
  }
});

t.test('the URL-safe alphabet gets its own patterns where it differs', async (t) => {
  const ps = encodingsOf(secret);
  const url = ps.filter((p) => p.encoding === 'base64url');
  t.ok(url.length >= 1);
  for (const p of url) t.match(p.bytes.toString('latin1'), /[-_]/);
});

t.test('variants identical to plain, duplicates and short patterns are skipped', async (t) => {
  const simple = 'abcdefghijkl';
  const ps = encodingsOf(simple);
  t.equal(ps.filter((p) => p.encoding === 'url').length, 1, 'encodeURIComponent == plain, only the %XX form stays');
  t.equal(ps.filter((p) => p.encoding === 'json').length, 0, 'JSON escaping changes nothing');
  const keys = ps.map((p) => p.bytes.toString('latin1'));
  t.equal(new Set(keys).size, keys.length, 'no duplicate bytes');
  t.same(encodingsOf('abc'), [], 'too short for any pattern');
  t.equal(encodingsOf('deadbeef').filter((p) => p.encoding === 'plain').length, 0, '8 hex chars carry 32 bits: too few');
  for (const p of encodingsOf('s3cr3t!!')) t.ok(p.bytes.length >= 8, `${p.encoding} ${p.bytes.length}`);
  t.same(encodingsOf(secret, { labels: ['hex'] }).map((p) => p.encoding), ['hex', 'hex']);
});

t.test('base32 is produced only when asked', async (t) => {
  t.equal(encodingsOf(secret).filter((p) => p.encoding === 'base32').length, 0);
  t.equal(encodingsOf(secret, { labels: ['base32'] }).length, 5);
});

t.test('multi-line secrets: CRLF form and each substantial line, armour lines excluded', async (t) => {
  const body = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB';
  const pemValue = `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\nshort\n-----END OPENSSH PRIVATE KEY-----`;
  const plain = encodingsOf(pemValue).filter((p) => p.encoding === 'plain').map((p) => p.bytes.toString());
  t.same(plain, [pemValue, pemValue.replace(/\n/g, '\r\n'), body]);
  t.equal(encodingsOf('single line value').filter((p) => p.encoding === 'plain').length, 1);
});
