// Runs the tap suite and prints the closing `N passed, N failed` line CI reads
// (top-level tests of every file, from tap's saved results in .tap/test-results).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

rmSync('.tap/test-results', { recursive: true, force: true });
const r = spawnSync('npx', ['tap', ...process.argv.slice(2)], { stdio: 'inherit' });
let passed = 0;
let failed = 0;
const walk = (d) => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.tap')) {
      const text = readFileSync(p, 'utf8');
      const top = text.split('\n').filter((l) => /^(not )?ok \d+/.test(l));
      if (top.length === 0) failed++; // a file that produced no result crashed
      for (const l of top) (l.startsWith('not ok') && !/# TODO/.test(l) ? failed++ : passed++);
    }
  }
};
try { walk('.tap/test-results'); } catch { failed++; }
if (r.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(r.status ?? 1);
