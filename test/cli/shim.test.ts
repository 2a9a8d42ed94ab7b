// The installed command is the shim itself (systemd's ExecStart, the image's ENTRYPOINT, `npm i -g`): executed
// directly, its shebang must start node with the V8 options the daemons are measured with (README "Performance").
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SHIM = fileURLToPath(new URL('../../cli/runwarden.js', import.meta.url));

t.test('executed directly, the shim runs the CLI under its node options', async (t) => {
  const first = readFileSync(SHIM, 'utf8').split('\n', 1)[0] as string;
  t.match(first, /^#!\/usr\/bin\/env -S node( --[a-z-]+(=\S+)?)+$/, 'env -S node with options');
  const flags = first.split(/\s+/).slice(3);
  t.ok(flags.includes('--single-threaded-gc') && flags.some((f) => f.startsWith('--max-semi-space-size=')), `options: ${flags.join(' ')}`);
  t.ok(flags.some((f) => f.startsWith('--interrupt-budget=')), 'the interrupt budget of the daemons (fewer recompiles per job)');
  // node refuses an option it does not know: --help exiting 0 means every one was accepted.
  const help = execFileSync(SHIM, ['--help'], { encoding: 'utf8' });
  t.match(help, /usage: runwarden <command>/);
  // A running daemon's command line shows the options (read from /proc, as ps would).
  const dir = mkdtempSync(join(tmpdir(), 'rw-shim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const c = spawn(SHIM, ['collector', '--port', '0', '--db', join(dir, 'a.db'), '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  await once(c, 'spawn');
  for (let i = 0; i < 500 && !err.includes('collector listening'); i++) await new Promise((r) => setTimeout(r, 20));
  const argv = readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0');
  c.kill('SIGTERM');
  const [code] = await once(c, 'exit') as [number | null];
  t.same(argv.slice(1, 1 + flags.length), flags, 'node started with the options, before the script');
  t.equal(argv[1 + flags.length], SHIM);
  t.equal(code, 0, `collector stopped cleanly on SIGTERM ${err.slice(0, 300)}`);
});
