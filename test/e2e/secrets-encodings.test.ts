// Issue 5 (a): a real job prints a secret from its env in each encoding; the audit DB holds exactly one
// SecretExposure naming the secret and the encoding. Random base64 and hashes give none.
import t from 'tap';
import { assertBuilt } from '../helpers/procs.js';
import { exposuresIn, runJob } from '../helpers/secret-jobs.js';

assertBuilt();

// Chosen so every encoding differs from the others: `+ / " \ ? = &` change under URL and JSON escaping,
// and `>>?` puts `+` and `/` into its base64, so base64url differs from base64.
const SECRET = 'Zq8+xK/3vP9"mR2tL\\7wN4b>>?C6hJ1sD5fG0?=&';
const NAME = 'DEPLOY_SECRET';

const py = (expr: string): string[] => ['python3', '-c', `import os,base64,sys;s=os.environb[b"${NAME}"];print(${expr})`];
const nodeE = (expr: string): string[] => [process.execPath, '-e', `const s=process.env.${NAME};console.log(${expr})`];

const CASES: { encoding: string; why: string; argv: string[] }[] = [
  { encoding: 'plain', why: 'printf', argv: ['sh', '-c', `printf '%s\\n' "$${NAME}"`] },
  { encoding: 'base64', why: 'coreutils base64', argv: ['sh', '-c', `printf %s "$${NAME}" | base64 -w0; echo`] },
  { encoding: 'base64url', why: 'python urlsafe_b64encode', argv: py('base64.urlsafe_b64encode(s).decode()') },
  { encoding: 'base64x2', why: 'base64 | base64', argv: ['sh', '-c', `printf %s "$${NAME}" | base64 -w0 | base64 -w0; echo`] },
  { encoding: 'hex', why: 'python hex (lower)', argv: py('s.hex()') },
  { encoding: 'hex', why: 'node hex upper', argv: nodeE('Buffer.from(s).toString("hex").toUpperCase()') },
  { encoding: 'url', why: 'node encodeURIComponent', argv: nodeE('"https://x.invalid/?t="+encodeURIComponent(s)') },
  { encoding: 'json', why: 'node JSON.stringify', argv: nodeE('JSON.stringify({token:s})') },
  {
    encoding: 'plain', why: 'split across two writes 200 ms apart',
    argv: ['sh', '-c', `printf %s "$(printf %s "$${NAME}" | cut -c1-17)"; sleep 0.2; printf '%s\\n' "$(printf %s "$${NAME}" | cut -c18-)"`],
  },
];

for (const c of CASES) {
  void t.test(`${c.encoding} (${c.why}): exactly one exposure`, async (t) => {
    const dir = t.testdir();
    const r = await runJob(dir, c.argv, { [NAME]: SECRET });
    if (r.code !== 0) t.comment(r.stderr);
    t.equal(r.code, 0, 'job exit 0');
    t.notOk(r.stdout.includes(SECRET), 'the terminal never sees the value');
    const ex = exposuresIn(r.db);
    t.equal(ex.length, 1, JSON.stringify(ex));
    t.match(ex[0], { secretName: NAME, channel: 'LOG', encoding: c.encoding, location: 'stdout' });
    t.match(ex[0]?.fingerprint, /^[0-9a-f]{32}$/);
  });
}

void t.test('10 MB of random base64 and sha256 hashes: no exposure', async (t) => {
  const dir = t.testdir();
  const script = 'head -c 7600000 /dev/urandom | base64; head -c 3000000 /dev/urandom | python3 -c "import hashlib,sys\nd=sys.stdin.buffer.read()\nfor i in range(0,len(d),64): print(hashlib.sha256(d[i:i+64]).hexdigest())"';
  const r = await runJob(dir, ['sh', '-c', script], {
    [NAME]: SECRET,
    GITHUB_TOKEN: 'ghp_8hVq2XcLr0TzYk4WnB7pDs1MfJa9Ue3GiQ5o',
    AWS_SECRET_ACCESS_KEY: 'wJa1rXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  });
  if (r.code !== 0) t.comment(r.stderr);
    t.equal(r.code, 0, 'job exit 0');
  t.ok(r.stdout.length > 10_000_000, `${r.stdout.length} bytes printed`);
  t.same(exposuresIn(r.db), []);
});
