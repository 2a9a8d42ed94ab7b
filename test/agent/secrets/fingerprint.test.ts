// agent/secrets/fingerprint.ts: keyed, stable, 32 hex characters.
import t from 'tap';
import { createHmac } from 'node:crypto';
import { fingerprint } from '../../../agent/secrets/fingerprint.js';

const k1 = Buffer.alloc(32, 1);
const k2 = Buffer.alloc(32, 2);

t.test('table', async (t) => {
  const rows: [Buffer, string][] = [[k1, 'ghp_abc'], [k1, 'ghp_abd'], [k2, 'ghp_abc'], [k1, 'é€ unicode'], [k1, '']];
  const seen = new Set<string>();
  for (const [key, value] of rows) {
    const fp = fingerprint(key, value);
    t.match(fp, /^[0-9a-f]{32}$/);
    t.equal(fp, fingerprint(key, value), 'stable');
    t.equal(fp, createHmac('sha256', key).update(Buffer.from(value, 'utf8')).digest('hex').slice(0, 32), 'HMAC-SHA256 prefix');
    t.notOk(fp.includes(value) && value.length > 0, 'no trace of the value');
    seen.add(fp);
  }
  t.equal(seen.size, rows.length, 'different key or value → different fingerprint');
});

t.test('known vector (RFC 4231 test case 2, truncated)', async (t) => {
  t.equal(fingerprint(Buffer.from('Jefe'), 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c7');
});
