// agent/secrets/job-secrets.ts: from a job env to exposures and redaction, values never in the summary.
import t from 'tap';
import { Readable } from 'node:stream';
import { createJobSecrets } from '../../../agent/secrets/job-secrets.js';

const env = {
  GITHUB_TOKEN: 'ghs_' + 'Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_REGION: 'eu-west-1',
  HOME: '/root',
};

t.test('end to end over one job env', async (t) => {
  const js = createJobSecrets(env, { installKey: Buffer.alloc(32, 3) });
  t.same(js.names, ['AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN']);
  // a08: the secret printed base64-encoded to the job log.
  const line = Buffer.from(`debug: ${Buffer.from(env.AWS_SECRET_ACCESS_KEY).toString('base64')}\n`);
  const events = js.scanner.scan(line, 'LOG', 'stdout').map((h) => js.reporter.toEvent(h));
  t.same(events.map((e) => [e.secretName, e.encoding, e.channel]), [['AWS_SECRET_ACCESS_KEY', 'base64', 'LOG']]);
  const summary = JSON.stringify(js.summary());
  t.notOk(summary.includes(env.GITHUB_TOKEN) || summary.includes(env.AWS_SECRET_ACCESS_KEY));
  t.equal(js.summary().length, 2);
  t.same(js.holders(new Map([['GITHUB_TOKEN', env.GITHUB_TOKEN]])), ['GITHUB_TOKEN']);
  let out = '';
  for await (const c of Readable.from([line]).pipe(js.redactStream())) out += String(c);
  // The last base64 characters also carry bits of whatever follows the value: they stay (≤ 3 chars + padding).
  t.match(out, /^debug: \*\*\*[A-Za-z0-9+/]{0,3}=*\n$/);
});
