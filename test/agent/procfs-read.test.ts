// The /proc readers on real processes: a live one read whole (an environment larger than the reader's first
// buffer), an exited one gives undefined without throwing, and reads that follow each other do not share bytes.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  readCgroup, readCmdline, readComm, readCwd, readEnviron, readEnvironRaw, readExe, readFdTarget, readStat,
} from '../../agent/procfs-read.js';

t.test('a live process is read whole, a gone one is undefined', async (t) => {
  // 200 KiB of environment, beyond the 64 KiB the reader starts with (one string may hold at most 128 KiB).
  const big = 'v'.repeat(50 * 1024);
  const bigVars = Object.fromEntries([1, 2, 3, 4].map((i) => [`RW_BIG${i}`, `${i}${big}`]));
  const child = spawn('/bin/sleep', ['30'], { cwd: '/tmp', env: { ...bigVars, RW_SMALL: 'small value', PATH: '/usr/bin:/bin' }, stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  await once(child, 'spawn');
  const pid = child.pid as number;
  // The exec replaces the forked node child's image: wait until /proc shows sleep.
  for (let i = 0; i < 200 && readComm(pid) !== 'sleep'; i++) await new Promise((r) => setTimeout(r, 10));

  const env = readEnviron(pid);
  for (const [k, v] of Object.entries(bigVars)) t.equal(env?.get(k), v, `${k}: 50 KiB, whole`);
  t.equal(env?.get('RW_SMALL'), 'small value');
  const raw = readEnvironRaw(pid);
  t.ok(raw && raw.length > 200 * 1024, 'raw environment complete');
  // A read after it does not change the buffer handed out before.
  const copy = Buffer.from(raw as Buffer);
  t.same(readCmdline(pid), ['/bin/sleep', '30']);
  t.ok((raw as Buffer).equals(copy), 'the raw environment is the caller\'s own copy');
  t.equal(readComm(pid), 'sleep');
  t.equal(readCwd(pid), '/tmp');
  t.equal(readExe(pid), '/usr/bin/sleep');
  t.match(readFdTarget(pid, 0), /^(pipe|socket):\[\d+\]$/, "stdin: node's stdio pipe (a socketpair)");
  t.equal(readStat(pid)?.ppid, process.pid);
  t.type(readCgroup(pid), 'string');

  child.kill('SIGKILL');
  await once(child, 'exit');
  t.equal(readEnviron(pid), undefined, 'gone: environ');
  t.equal(readCmdline(pid), undefined, 'gone: cmdline');
  t.equal(readCwd(pid), undefined, 'gone: cwd');
  t.equal(readFdTarget(pid, 1), undefined, 'gone: fd');
  t.equal(readStat(pid), undefined, 'gone: stat');
  // A failed read leaves stack traces of later errors as they were.
  t.ok((new Error('x').stack ?? '').split('\n').length > 1, 'stack traces still captured');
});
