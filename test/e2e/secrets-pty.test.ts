// Issue 5 (c): `runwarden run -- sh -c 'echo $NPM_TOKEN'` shows `***` and never the value, on a real pty and on pipes.
import t from 'tap';
import pty from 'node-pty';
import { assertBuilt, CLI } from '../helpers/procs.js';
import { baseEnv, exposuresIn, runJob } from '../helpers/secret-jobs.js';

assertBuilt();

const NPM_TOKEN = 'npm_T4kLm9QzX2vB7nR8cW3yH6pJ1sD5fG0aZqEu';
const ECHO = ['sh', '-c', 'echo "token: $NPM_TOKEN"'];
// The value split over two writes 200 ms apart: the redactor must hold the first half back, not print it.
const SPLIT = ['sh', '-c', 'printf "half: %s" "$(printf %s "$NPM_TOKEN" | cut -c1-20)"; sleep 0.2; printf "%s done\\n" "$(printf %s "$NPM_TOKEN" | cut -c21-)"'];

function inPty(dir: string, argv: string[]): Promise<{ out: string; exitCode: number }> {
  const p = pty.spawn(process.execPath, [CLI, 'run', '--db', `${dir}/state/audit.db`, '--', ...argv], {
    name: 'xterm-256color', cols: 120, rows: 30, cwd: dir, env: { ...baseEnv(), TERM: 'xterm-256color', NPM_TOKEN },
  });
  let out = '';
  p.onData((d) => { out += d; });
  return new Promise((r) => p.onExit(({ exitCode }) => r({ out, exitCode })));
}

const half = (n: number): string[] => [NPM_TOKEN.slice(0, n), NPM_TOKEN.slice(n)];

void t.test('pty: echo $NPM_TOKEN shows *** and never the value', async (t) => {
  const dir = t.testdir();
  const r = await inPty(dir, ECHO);
  t.equal(r.exitCode, 0);
  // The inner pty gives CRLF and the caller's pty (onlcr) adds another CR.
  t.match(r.out, /token: \*\*\*\r*\n/);
  t.notOk(r.out.includes(NPM_TOKEN), 'value never on the terminal');
  t.match(exposuresIn(`${dir}/state/audit.db`), [{ secretName: 'NPM_TOKEN', channel: 'LOG', encoding: 'plain' }]);
});

void t.test('pty: a value split across two writes is still redacted whole', async (t) => {
  const dir = t.testdir();
  const r = await inPty(dir, SPLIT);
  t.equal(r.exitCode, 0);
  t.match(r.out, /half: \*\*\* done/);
  for (const h of half(20)) t.notOk(r.out.includes(h), 'neither half reaches the terminal');
});

void t.test('pipes: the same, stdout never holds the value', async (t) => {
  const dir = t.testdir();
  const a = await runJob(dir, ECHO, { NPM_TOKEN });
  t.equal(a.code, 0);
  t.equal(a.stdout.toString(), 'token: ***\n');
  t.notOk(a.stderr.includes(NPM_TOKEN));
  const b = await runJob(`${dir}/split`, SPLIT, { NPM_TOKEN });
  t.equal(b.stdout.toString(), 'half: *** done\n');
});
