// agent/workspace-integrity.ts on a real git checkout and a real chokidar watch.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffTracked, INTEGRITY_LIMITS, snapshotTracked, watchWorkspace } from '../../agent/workspace-integrity.js';

type Fixture = Parameters<typeof t.testdir>[0];
function repo(t: { testdir: (f?: Fixture) => string }): string {
  const dir = t.testdir({ 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'c\n', src: { 'main.c': 'int main(){}\n' }, 'untracked.log': 'x' });
  const git = (...a: string[]) => execFileSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...a], { cwd: dir, stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', 'a.txt', 'b.txt', 'c.txt', 'src');
  git('commit', '-qm', 'init');
  return dir;
}

void t.test('changed and deleted tracked files, changed-and-restored is not a change', async (t) => {
  const dir = repo(t);
  const snap = await snapshotTracked(dir);
  t.ok(snap);
  t.equal(snap?.files.size, 4);
  writeFileSync(join(dir, 'a.txt'), 'tampered\n');
  rmSync(join(dir, 'b.txt'));
  writeFileSync(join(dir, 'c.txt'), 'tmp\n');
  writeFileSync(join(dir, 'c.txt'), 'c\n');
  writeFileSync(join(dir, 'untracked.log'), 'changed');
  t.same(await diffTracked(snap!), { changed: ['a.txt'], deleted: ['b.txt'], truncated: false });
});

void t.test('not a git work tree: undefined; limits mark truncation', async (t) => {
  const outside = mkdtempSync(join(tmpdir(), 'rw-nogit-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  t.equal(await snapshotTracked(outside), undefined);
  const dir = repo(t);
  const snap = await snapshotTracked(dir, { ...INTEGRITY_LIMITS, maxTrackedFiles: 2 });
  t.equal(snap?.files.size, 2);
  t.equal(snap?.truncated, true);
  const big = await snapshotTracked(dir, { ...INTEGRITY_LIMITS, maxFileBytes: 3 });
  t.equal(big?.files.get('src/main.c'), 'size:13');
});

void t.test('watcher records changed paths with times, ignores .git/objects, is bounded', async (t) => {
  const dir = repo(t);
  let now = 1000;
  const w = watchWorkspace(dir, { ...INTEGRITY_LIMITS, maxWatchRecords: 3 }, () => now++);
  await w.ready;
  mkdirSync(join(dir, '.git', 'objects', 'zz'), { recursive: true });
  writeFileSync(join(dir, '.git', 'objects', 'zz', 'obj'), 'x');
  writeFileSync(join(dir, 'src', 'main.c'), 'changed\n');
  await new Promise((r) => setTimeout(r, 300));
  writeFileSync(join(dir, 'new.txt'), 'n');
  await new Promise((r) => setTimeout(r, 300));
  for (let i = 0; i < 3; i++) writeFileSync(join(dir, `more${i}.txt`), 'm');
  await new Promise((r) => setTimeout(r, 500));
  const ch = w.changes();
  t.equal(ch.length, 3);
  t.match(ch[0], { path: 'src/main.c', event: 'change' });
  t.match(ch[1], { path: 'new.txt', event: 'add' });
  t.ok(ch.every((c) => !c.path.startsWith('.git/objects')), 'objects ignored');
  t.ok(ch.every((c) => typeof c.tsMs === 'number' && c.tsMs >= 1000));
  t.ok(w.dropped() >= 1, 'overflow counted');
  await w.close();
  await w.close();
});
