// The README documents every configuration key (with its env name) and every error code.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULTS, envName } from '../../cli/config.js';
import { ERROR_CODES } from '../../proto/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

t.test('config keys', async (t) => {
  for (const [section, body] of Object.entries(DEFAULTS)) {
    for (const key of Object.keys(body)) {
      t.ok(readme.includes(`\`${section}.${key}\``), `${section}.${key} documented`);
      t.ok(readme.includes(`\`${envName(section, key)}\``), `${envName(section, key)} documented`);
    }
  }
});

t.test('error codes', async (t) => {
  for (const code of Object.keys(ERROR_CODES)) t.ok(readme.includes(`\`${code}\``), `${code} documented`);
});

t.test('the test command CI runs is the README one', async (t) => {
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
  t.match(readme, /```\nnpm test\n```/);
  t.match(ci, /^npm test$/m);
  // The OS packages the README lists for the tests are the ones CI installs.
  const pkgs = (text: string, re: RegExp): string[] => (re.exec(text)?.[1] ?? '').split(/\s+/).filter((w) => w && !w.startsWith('-')).sort();
  const ciPkgs = pkgs(ci, /^apt-get install -y (.*?) >\/dev\/null$/m);
  t.ok(ciPkgs.includes('bpftrace'), 'the CI install line is found');
  t.same(pkgs(readme, /```\napt-get install -y ([^\n&]*)\n```/), ciPkgs);
});
