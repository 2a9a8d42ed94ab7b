// agent/runner-files.ts: env and path file parsing, and the stored hint.
import t from 'tap';
import { envFileHint, parseEnvFile, parsePathFile } from '../../agent/runner-files.js';

const cases: [string, string, { name: string; value: string }[]][] = [
  ['simple', 'A=1\nBASH_ENV=/tmp/.be\n', [{ name: 'A', value: '1' }, { name: 'BASH_ENV', value: '/tmp/.be' }]],
  ['value with =', 'X=a=b\n', [{ name: 'X', value: 'a=b' }]],
  ['heredoc', 'NODE_OPTIONS<<EOF\n--require /tmp/x.js\nEOF\nB=2', [{ name: 'NODE_OPTIONS', value: '--require /tmp/x.js' }, { name: 'B', value: '2' }]],
  ['crlf and blanks', 'A=1\r\n\r\nB=2\r\n', [{ name: 'A', value: '1' }, { name: 'B', value: '2' }]],
  ['garbage lines ignored', 'no equals here\n=novalue\n', []],
];
for (const [name, text, want] of cases) {
  t.test(name, async (t) => { t.same(parseEnvFile(text).map(({ name, value }) => ({ name, value })), want); });
}

t.test('hint keeps loader values (redacted) and only names of the rest', async (t) => {
  const e = parseEnvFile('TOKEN_COPY=s3cr3t-value\nLD_PRELOAD=/tmp/s3cr3t-value.so\n');
  const hint = envFileHint(e, (s) => s.replaceAll('s3cr3t-value', '***'));
  t.equal(hint, 'TOKEN_COPY\nLD_PRELOAD=/tmp/***.so');
  t.notMatch(hint, 's3cr3t');
});

t.test('path file', async (t) => { t.same(parsePathFile('/opt/x/bin\n\n /tmp/evil \n'), ['/opt/x/bin', '/tmp/evil']); });
