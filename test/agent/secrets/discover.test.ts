// agent/secrets/discover.ts: which environment variables are secrets, and why.
import t from 'tap';
import { discoverSecrets, entropyBitsPerChar, isObviousNonSecret } from '../../../agent/secrets/discover.js';

const ghp = 'ghp_' + 'aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5';
const pat = 'github_pat_11ABCDEFG0123456789_abcdefghijKLMNOPQRSTuvwxyz0123456789ABCDEFGHIJKLMNOPQRS';
const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm8vcjpyZWYifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU';
const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';
const random40 = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

// [name, value, expected reason or undefined when not a secret]
const table: [string, string, string | undefined][] = [
  ['GITHUB_TOKEN', 'ghs_' + 'x'.repeat(36), 'shape:github-token'],
  ['MY_TOKEN', 'abcdefgh12345678', 'name:token'],
  ['DB_PASSWORD', 'correct horse battery', 'name:password'],
  ['MYSQL_PWD', 'hunter2hunter2', 'name:password'],
  ['SMTP_PASSWD', 'pa55w0rd-xyz', 'name:password'],
  ['STRIPE_API_KEY', 'sk_live_abcdefghij', 'name:key'],
  ['SIGNING_KEY', 'abcdefghij0123', 'name:key'],
  ['GPG_KEY_ID', 'ABCDEF0123456789', 'name:key'],
  ['GOOGLE_APPLICATION_CREDENTIALS_JSON', '{"type":"service_account"}', 'name:credential'],
  ['CLIENT_SECRET', 'abcdefghij', 'name:secret'],
  ['AWS_ACCESS_KEY_ID', 'AKIAIOSFODNN7EXAMPLE', 'shape:aws-access-key-id'],
  ['AWS_SECRET_ACCESS_KEY', random40, 'name:aws'],
  ['AWS_SESSION_TOKEN', 'FwoGZXIvYXdzEBYaDH', 'name:aws'],
  ['ACTIONS_RUNTIME_TOKEN', 'abcdefghijklmnop', 'name:well-known'],
  ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'abcdefghijklmnop', 'name:well-known'],
  ['NPM_AUTH_TOKEN', 'abcdefghijklmnop', 'name:npm-token'],
  ['PYPI', 'pypi-' + 'A'.repeat(60), 'shape:pypi-token'],
  ['SLACK_HOOK_THING', 'xoxb-1234567890-abcdefghij', 'shape:slack-token'],
  ['ID_TOKEN_X', jwt, 'shape:jwt'],
  ['SOME_VALUE', jwt, 'shape:jwt'],
  ['DEPLOY', pem, 'shape:private-key'],
  ['LOOKS_RANDOM', random40, 'shape:aws-secret-key'],
  ['GH_PAT_HOLDER', pat, 'shape:github-pat'],
  ['GH_ALT', ghp, 'shape:github-token'],
  ['SESSION_STATE', 'Zx8#kQ2!mP9@vL4$rT6%', 'entropy'],
  ['SESSION_STATE_2', 'aaaaaaaaaaaaaaaaaaaa', undefined],
  ['SLACK_WEBHOOK_URL', 'https://hooks.slack.example/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX', 'name:well-known'],
  ['DISCORD_WEBHOOK_SECRET', 'https://discord.example/api/webhooks/1234/abcdefghijklmnopqrstuvwxyz', 'name:secret'],
  ['NOTIFY_TOKEN_URL', 'https://notify.example/hook?token=abcdef', 'name:token'],
  // not secrets
  ['KEYBOARD_LAYOUT', 'us-international', undefined],
  ['MONKEY', 'banana-banana', undefined],
  ['GIT_AUTHOR_NAME', 'Jane Developer', undefined],
  ['AWS_REGION', 'eu-central-1', undefined],
  ['AWS_DEFAULT_REGION', 'eu-central-1', undefined],
  ['PWD', '/home/runner/work', undefined],
  ['ACTIONS_ID_TOKEN_REQUEST_URL', 'https://pipelines.actions.example/idtoken', undefined],
  ['API_TOKEN_FILE', '/run/secrets/api_token', undefined],
  ['SECRET_ENABLED', 'true', undefined],
  ['MY_TOKEN_SHORT', 'abc123', undefined],
  ['TOKEN_TTL', '3600', undefined],
  ['PASSWORD_REF', '${{ secrets.X }}', 'name:password'],
  ['GITHUB_SHA', 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3', undefined],
  ['PATH', '/usr/local/bin:/usr/bin', undefined],
  ['SESSION_NAME', 'my-session-name', undefined],
  ['HOME', '/root', undefined],
];

t.test('name patterns and value shapes', async (t) => {
  for (const [name, value, reason] of table) {
    const got = discoverSecrets({ [name]: value });
    const mine = got.filter((s) => s.value === value);
    if (reason === undefined) t.same(mine, [], `${name} is not a secret`);
    else t.same(mine.map((s) => [s.name, s.reason]), [[name, reason]], `${name}: ${reason}`);
  }
});

t.test('tokens embedded in a longer value are added on their own', async (t) => {
  const line = `//registry.npmjs.org/:_authToken=npm_${'b'.repeat(36)}`;
  const got = discoverSecrets({ NPM_CONFIG_USERCONFIG_LINE: line });
  t.same(got.map((s) => [s.value, s.reason]), [[`npm_${'b'.repeat(36)}`, 'shape:npm-token']]);
  const url = discoverSecrets({ DATABASE_URL: 'postgres://app:S3cretPassw0rd@db:5432/app' });
  t.same(url.map((s) => [s.name, s.value, s.reason]), [['DATABASE_URL', 'S3cretPassw0rd', 'shape:url-password']]);
});

t.test('configured names and patterns', async (t) => {
  const env = { DEPLOY_HOOK: 'https://hooks.example/abc', INTERNAL_VALUE: 'plain-but-secret', OTHER: 'nothing-here' };
  const got = discoverSecrets(env, { names: ['DEPLOY_HOOK'], patterns: ['internal_*'] });
  t.same(got.map((s) => [s.name, s.reason]), [['DEPLOY_HOOK', 'config-name'], ['INTERNAL_VALUE', 'config-pattern:internal_*']]);
  t.same(discoverSecrets({ X: 'short' }, { names: ['X'] }), [], 'too short to scan even when configured');
  t.same(discoverSecrets({ X: 'abcd' }, { names: ['X'], minValueLength: 4 }).map((s) => s.name), ['X']);
});

t.test('output is sorted by name and has no duplicates; undefined values are skipped', async (t) => {
  const got = discoverSecrets({ B_TOKEN: 'abcdefghijkl', A_TOKEN: 'abcdefghijkl', C_TOKEN: undefined });
  t.same(got.map((s) => s.name), ['A_TOKEN', 'B_TOKEN']);
});

t.test('a whole environment finds what its variables find one by one, in name order (agent/core.ts discovers per variable)', async (t) => {
  const env: Record<string, string> = Object.fromEntries(table.map(([n, v]) => [n, v]));
  Object.assign(env, { DEPLOY_HOOK: 'https://hooks.example/abc', INTERNAL_VALUE: 'plain-but-secret', DATABASE_URL: 'postgres://app:S3cretPassw0rd@db:5432/app' });
  const opts = { names: ['DEPLOY_HOOK'], patterns: ['internal_*'] };
  const whole = discoverSecrets(env, opts);
  const each = Object.keys(env).sort().flatMap((n) => discoverSecrets({ [n]: env[n] }, opts));
  t.ok(whole.length > 10);
  t.same(each, whole);
});

t.test('helpers', async (t) => {
  t.equal(entropyBitsPerChar(''), 0);
  t.equal(entropyBitsPerChar('aaaa'), 0);
  t.equal(entropyBitsPerChar('abcd'), 2);
  for (const v of ['true', 'FALSE', '/a/b', './x', 'C:\\x', 'https://example.com/x', 'https://api.example/v1/short', '12345', '${VAR}']) t.ok(isObviousNonSecret(v), v);
  for (const v of ['https://u:p@example.com', 'https://h.example/x?sig=abc', 'https://h.example/abcdefghijklmnopqr', 'hunter22', 'a b c /x']) t.notOk(isObviousNonSecret(v), v);
});
