// agent/peer-cred.ts: the peer of a real Unix socket connection is the connecting process.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { parseSsPeer, peerPid } from '../../agent/peer-cred.js';

t.test('parse', async (t) => {
  const out = 'u_str ESTAB 0 0 * 37489 * 37490 users:(("python3",pid=14157,fd=3))\nu_str ESTAB 0 0 /tmp/t.sock 37490 * 37489 users:(("node",pid=14150,fd=20))\n';
  t.equal(parseSsPeer(out, '37490'), 14157);
  t.equal(parseSsPeer(out, '37489'), 14150);
  t.equal(parseSsPeer(out, '1'), undefined);
});

t.test('real connection', async (t) => {
  const path = join(t.testdir(), 's.sock');
  let resolvePid: (n: number | undefined) => void = () => {};
  const got = new Promise<number | undefined>((r) => { resolvePid = r; });
  const srv = createServer((s) => { void peerPid(s).then((p) => { resolvePid(p); s.end(); }); });
  await new Promise<void>((r) => srv.listen(path, r));
  const child = spawn('python3', ['-c', `import socket,time;s=socket.socket(socket.AF_UNIX);s.connect(${JSON.stringify(path)});s.recv(1)`]);
  const pid = await got;
  t.equal(pid, child.pid);
  srv.close();
  child.kill();
});
