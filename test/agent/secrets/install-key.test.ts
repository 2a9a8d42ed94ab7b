// agent/secrets/install-key.ts: created once with mode 0600, reused, refused when damaged.
import t from 'tap';
import { chmod, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { INSTALL_KEY_FILE, loadOrCreateInstallKey } from '../../../agent/secrets/install-key.js';

t.test('created once, mode 0600, then reused', async (t) => {
  const dir = join(t.testdir(), 'state', 'nested');
  const a = await loadOrCreateInstallKey(dir);
  t.equal(a.length, 32);
  const st = await stat(join(dir, INSTALL_KEY_FILE));
  t.equal(st.mode & 0o777, 0o600);
  t.same(await readFile(join(dir, INSTALL_KEY_FILE)), a);
  const b = await loadOrCreateInstallKey(dir);
  t.same(b, a, 'same key on the next start');
  const other = await loadOrCreateInstallKey(t.testdir());
  t.notSame(other, a, 'random per install');
});

t.test('concurrent starts agree on one key', async (t) => {
  const dir = t.testdir();
  const keys = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => loadOrCreateInstallKey(dir)));
  for (const k of keys) t.same(k, keys[0]);
  t.same(await readdir(dir), [INSTALL_KEY_FILE], 'no temporary file left');
});

t.test('wrong size or loose mode is a typed error', async (t) => {
  const dir = t.testdir();
  await writeFile(join(dir, INSTALL_KEY_FILE), Buffer.alloc(16), { mode: 0o600 });
  await t.rejects(loadOrCreateInstallKey(dir), { code: 'AGENT_ERR_SECRET_KEY', message: /16 bytes/ });
  await writeFile(join(dir, INSTALL_KEY_FILE), Buffer.alloc(32));
  await chmod(join(dir, INSTALL_KEY_FILE), 0o644);
  await t.rejects(loadOrCreateInstallKey(dir), { code: 'AGENT_ERR_SECRET_KEY', message: /group or others/ });
});

t.test('unwritable state dir is a typed error with the cause', async (t) => {
  const file = join(t.testdir(), 'not-a-dir');
  await writeFile(file, 'x');
  await t.rejects(loadOrCreateInstallKey(join(file, 'sub')), { code: 'AGENT_ERR_SECRET_KEY' });
});
