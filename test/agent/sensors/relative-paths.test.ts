// agent/sensors/relative-paths.ts, used by the eBPF and ptrace sensors: relative paths made absolute through the live
// process's /proc links, remembered for once it is gone, and never joined to the cwd when relative to a directory fd.
import t from 'tap';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { createRelativeResolver } from '../../../agent/sensors/relative-paths.js';
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
