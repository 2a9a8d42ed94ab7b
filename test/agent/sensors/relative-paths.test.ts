// agent/sensors/relative-paths.ts, used by the eBPF and ptrace sensors: relative paths made absolute through the live
// process's /proc links, remembered for once it is gone, and never joined to the cwd when relative to a directory fd.
import t from 'tap';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createRelativeResolver, joinUnder } from '../../../agent/sensors/relative-paths.js';
import type { SensorEvent } from '../../../agent/sensors/types.js';

const file = (pid: number, path: string, newPath?: string): Extract<SensorEvent, { kind: 'file' }> =>
  ({ kind: 'file', tsNs: 1, pid, file: { op: 'UNLINK', path, count: 1, ...(newPath ? { newPath } : {}) } });

t.test('a path relative to a directory fd (fd:N/name) is joined to that directory while the process holds it', async (t) => {
  const resolve = createRelativeResolver();
  const dir = t.testdir({ d: {} });
  const fd = openSync(join(dir, 'd'), 'r');
  t.teardown(() => closeSync(fd));
  const held = file(process.pid, `fd:${fd}/payload.sh`);
  const notHeld = file(process.pid, 'fd:987654/gone.sh');
  resolve(held, new Map());
  resolve(notHeld, new Map());
  t.equal(held.file.path, join(dir, 'd', 'payload.sh'), 'joined to the directory the fd names');
  t.equal(notHeld.file.path, 'fd:987654/gone.sh', 'an fd the process does not hold: left as it is, never joined to the cwd');
});

t.test('a cwd-relative path: the live cwd; an old and a new path both; absolute paths untouched', async (t) => {
  const resolve = createRelativeResolver();
  const ev = file(process.pid, 'a.txt', 'b.txt');
  resolve(ev, new Map());
  t.same(ev.file, { op: 'UNLINK', path: join(process.cwd(), 'a.txt'), newPath: join(process.cwd(), 'b.txt'), count: 1 });
  const abs = file(process.pid, '/etc/x');
  resolve(abs, new Map());
  t.equal(abs.file.path, '/etc/x');
  const gone = file(2 ** 22 + 12345, 'c.txt');
  resolve(gone, new Map());
  t.equal(gone.file.path, 'c.txt', 'a pid never seen and not alive: left relative (for enrichment)');
});

t.test('a file path made absolute is classified again (the host\'s events are not classified by enrichment)', async (t) => {
  const resolve = createRelativeResolver((p) => (p.startsWith('/dev/shm/') ? 'tmp' : 'other'));
  const dir = t.testdir({ d: {} });
  const shm = '/dev/shm';
  const fd = openSync(shm, 'r');
  t.teardown(() => closeSync(fd));
  const w = file(process.pid, `fd:${fd}/rw-unpacked.txt`);
  w.file.op = 'OPEN_WRITE';
  w.file.pathClass = 'other'; // what the decoder said of the relative path
  resolve(w, new Map());
  t.equal(w.file.path, '/dev/shm/rw-unpacked.txt');
  t.equal(w.file.pathClass, 'tmp', 'classified as the absolute path it now is');
  const mv = file(process.pid, join(dir, 'x'), `fd:${fd}/y`);
  mv.file.op = 'RENAME';
  mv.file.pathClass = 'other';
  resolve(mv, new Map());
  t.equal(mv.file.pathClass, 'tmp', 'a rename is classed by where it goes');
  const abs = file(process.pid, '/etc/x');
  abs.file.pathClass = 'system';
  resolve(abs, new Map());
  t.equal(abs.file.pathClass, 'system', 'an absolute path keeps the decoder\'s class');
});

t.test('a path the decoder left unclassified (a counted write-open\'s relative path) is classified here, resolved or not', async (t) => {
  const resolve = createRelativeResolver((p) => (p.startsWith('/dev/shm/') ? 'tmp' : p.includes('.github/workflows/') ? 'ci-config' : 'other'));
  const fd = openSync('/dev/shm', 'r');
  t.teardown(() => closeSync(fd));
  const held = file(process.pid, `fd:${fd}/rw-counted.txt`);
  held.file.op = 'OPEN_WRITE';
  held.file.pathClass = '';
  resolve(held, new Map());
  t.same([held.file.path, held.file.pathClass], ['/dev/shm/rw-counted.txt', 'tmp'], 'resolved: the absolute path\'s class');
  const gone = file(process.pid, 'fd:987654/.github/workflows/x.yml');
  gone.file.op = 'OPEN_WRITE';
  gone.file.pathClass = '';
  resolve(gone, new Map());
  t.same([gone.file.path, gone.file.pathClass], ['fd:987654/.github/workflows/x.yml', 'ci-config'], 'left relative: still classified, as the decoder would have');
});

t.test('joinUnder is posix join for a directory as the kernel names it', async (t) => {
  const dirs = ['/', '/tmp', '/tmp/u.x', '/a b/c', '/tmp/x (deleted)'];
  const rels = ['f', './f', 'd9/f286.txt', './d9/f286.txt', '.', './', '..', '../x', './.hidden', 'a/./b', 'a/../b', 'a//b', 'a/', '.git/config',
    'a/.b', 'x..y', 'a/b..', '', './/a', 'é/ü'];
  for (const d of dirs) for (const r of rels) t.equal(joinUnder(d, r), join(d, r), `${d} + ${r}`);
});
