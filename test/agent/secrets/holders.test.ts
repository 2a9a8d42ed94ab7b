// agent/secrets/holders.ts: which secret names a process holds, from its environ.
import t from 'tap';
import { parseEnviron, secretHolders } from '../../../agent/secrets/holders.js';

const secrets = [
  { name: 'GITHUB_TOKEN', value: 'ghs_aaaaaaaaaaaaaaaaaaaa' },
  { name: 'NPM_TOKEN', value: 'npm_bbbbbbbbbbbbbbbbbbbb' },
];

t.test('parseEnviron', async (t) => {
  const m = parseEnviron(Buffer.from('A=1\u0000B=x=y\u0000\u0000NOEQ\u0000=bad\u0000A=2\u0000'));
  t.same([...m.entries()], [['A', '2'], ['B', 'x=y']]);
});

t.test('table', async (t) => {
  const rows: [string, ReadonlyMap<string, string> | string[], string[]][] = [
    ['same name and value', new Map([['GITHUB_TOKEN', 'ghs_aaaaaaaaaaaaaaaaaaaa']]), ['GITHUB_TOKEN']],
    ['same name, other value', new Map([['GITHUB_TOKEN', '']]), []],
    ['renamed', new Map([['X', 'npm_bbbbbbbbbbbbbbbbbbbb']]), ['NPM_TOKEN']],
    ['embedded', new Map([['NPMRC', '//r/:_authToken=npm_bbbbbbbbbbbbbbbbbbbb']]), ['NPM_TOKEN']],
    ['both', new Map([['NPM_TOKEN', 'npm_bbbbbbbbbbbbbbbbbbbb'], ['GITHUB_TOKEN', 'ghs_aaaaaaaaaaaaaaaaaaaa']]), ['GITHUB_TOKEN', 'NPM_TOKEN']],
    ['none', new Map([['HOME', '/root']]), []],
    ['names only', ['PATH', 'NPM_TOKEN'], ['NPM_TOKEN']],
    ['names only, none', ['PATH'], []],
  ];
  for (const [label, environ, want] of rows) t.same(secretHolders(environ, secrets), want, label);
});
