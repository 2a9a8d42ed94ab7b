// agent/sensors/ebpf.ts against real processes and the real bpftrace: execs, short-lived processes, connects with
// their DNS names, file writes, /proc reads, ptrace and process_vm_readv.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEbpfSensor, ebpfAvailable } from '../../../agent/sensors/ebpf.js';
import { createProcTable } from '../../../agent/proc-table.js';
import { createAttribution } from '../../../agent/attribution.js';
import { readPpid } from '../../../agent/sensors/proc-reader.js';
import type { SensorEvent } from '../../../agent/sensors/types.js';
import { descendants, ofKind, run, startDns, waitFor } from './helpers.js';

const avail = ebpfAvailable();
if (!avail.ok) {
  t.comment(`eBPF sensor unavailable: ${avail.reason}`);
  t.pass('skipped');
} else {
  const events: SensorEvent[] = [];
  const losses: [number, string][] = [];
  const table = createProcTable();
  const attribution = createAttribution(table, { readPpid: (pid) => readPpid(pid) });
  const sensor = createEbpfSensor();
  sensor.onEvent((ev) => {
    table.apply(ev);
    attribution.observe(ev);
    events.push(attribution.enrich(ev));
  });
  sensor.onLoss((n, r) => losses.push([n, r]));
  await sensor.start();
  t.teardown(() => sensor.close());

  t.test('status declares capabilities and blind spots', async (t) => {
    const s = sensor.status();
    t.equal(s.sensor, 'ebpf');
    t.ok(s.running);
    for (const c of ['exec', 'fork', 'exit', 'connect', 'dns', 'file-write', 'sensitive-read', 'ptrace', 'process-vm']) t.ok(s.capabilities.includes(c), c);
    t.ok(s.blindSpots.some((b) => /argv beyond/.test(b)));
    const libbpf = s.blindSpots.some((b) => b.startsWith('kernel program: libbpf sensor'));
    t.ok(s.blindSpots.some((b) => (libbpf ? /cwd the kernel program last saw/ : /through \/proc\/<pid>\/cwd when delivered/).test(b)), 'how cwd-relative paths are resolved, for this kernel program');
  });

  t.test('1000 execs of /bin/true from one shell: every one with argv and parent', async (t) => {
    const r = await run('/bin/sh', ['-c', 'i=0; while [ $i -lt 1000 ]; do /bin/true loop-$i; i=$((i+1)); done']);
    t.equal(r.code, 0);
    const mine = () => ofKind(events, 'exec').filter((e) => e.exe === '/bin/true' && e.ppid === r.pid);
    await waitFor(() => mine().length >= 1000, 10_000);
    const execs = mine();
    t.equal(execs.length, 1000, 'no exec dropped');
    const args = new Set(execs.map((e) => e.exec.argv?.join(' ')));
    t.equal(args.size, 1000);
    for (let i = 0; i < 1000; i += 97) t.ok(args.has(`/bin/true loop-${i}`), `argv of loop-${i}`);
    t.equal(ofKind(events, 'fork').filter((e) => e.pid === r.pid).length, 1000, 'forks of the shell');
    t.same(losses, []);
  });

  t.test('a process living under 1 ms is captured with argv, parent and exit', async (t) => {
    const r = await run('/bin/sh', ['-c', '/bin/true short-lived-marker; exit 7']);
    t.equal(r.code, 7);
    await waitFor(() => ofKind(events, 'exit').some((e) => e.pid === r.pid));
    const ex = ofKind(events, 'exec').find((e) => e.exec.argv?.[1] === 'short-lived-marker');
    t.ok(ex, 'exec seen');
    t.equal(ex?.ppid, r.pid);
    t.equal(ex?.exe, '/bin/true');
    const exit = ofKind(events, 'exit').find((e) => e.pid === ex?.pid && e.tsNs >= ex.tsNs);
    t.equal(exit?.exit.code, 0);
    t.ok(exit && ex && exit.tsNs - ex.tsNs < 50e6, 'lifetime is short');
    t.equal(ofKind(events, 'exit').find((e) => e.pid === r.pid)?.exit.code, 7, 'exit code of the shell');
  });

  t.test('the libbpf sensor reads stdin, stdout and the cgroup at the exec: a pipe names its inode on both ends', async (t) => {
    if (!sensor.status().blindSpots.some((b) => b.startsWith('kernel program: libbpf sensor'))) {
      t.comment('bpftrace kernel program: no exec info (enrichment asks /proc)');
      return;
    }
    // Both ends exit at once: /proc has nothing left to say by the time their execs are read.
    const r = await run('/bin/sh', ['-c', '/bin/echo pipe-info-marker | /bin/cat > /dev/null'], { cwd: '/usr/share' });
    t.equal(r.code, 0);
    const byExe = (exe: string) => ofKind(events, 'exec').find((e) => e.ppid === r.pid && e.exe === exe);
    await waitFor(() => byExe('/bin/echo') !== undefined && byExe('/bin/cat') !== undefined);
    const echo = byExe('/bin/echo')!;
    const cat = byExe('/bin/cat')!;
    t.equal(echo.execInfo?.fd1?.kind, 'pipe', 'echo writes a pipe');
    t.match(echo.execInfo?.fd1?.target ?? '', /^pipe:\[\d+\]$/, 'named as /proc/<pid>/fd names it');
    t.equal(cat.execInfo?.fd0?.target, echo.execInfo?.fd1?.target, 'cat reads the same pipe');
    t.equal(cat.execInfo?.fd1?.kind, 'null', 'cat writes /dev/null');
    t.equal(echo.execInfo?.fd0?.kind, 'null', 'stdin of the spawned shell: /dev/null (run() ignores it)');
    t.equal(cat.execInfo?.cwd, '/usr/share', 'the working directory, walked in the kernel');
    const cg = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'))?.slice(3);
    const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
    if (cg !== undefined && mount) t.equal(cat.execInfo?.cgroupId, String(statSync(join(mount, cg), { bigint: true }).ino), 'the cgroup v2 id: the inode of the cgroup\'s directory');
  });

  t.test('a relative write of a process gone at once is resolved against the cwd of its exec; after a chdir, against the new one', async (t) => {
    const dir = t.testdir({ sub: {} });
    // touch exits right after its open: no /proc/<pid>/cwd to read by then. The shell's cd is a chdir the kernel sees.
    const r = await run('/bin/sh', ['-c', '/usr/bin/touch rel-exec-cwd; cd sub && echo x > rel-after-cd; sleep 0.3'], { cwd: dir });
    t.equal(r.code, 0);
    const paths = () => ofKind(events, 'file').map((e) => e.file.path ?? '');
    await waitFor(() => paths().some((p) => p.endsWith('rel-exec-cwd')) && paths().some((p) => p.endsWith('rel-after-cd')));
    t.ok(paths().includes(join(dir, 'rel-exec-cwd')), 'joined to the exec\'s cwd');
    t.ok(paths().includes(join(dir, 'sub', 'rel-after-cd')), 'after cd: the new directory, not the exec\'s');
    t.notOk(paths().includes(join(dir, 'rel-after-cd')), 'never the directory the shell left');
  });

  t.test('relative writes after a cd and in forked subshells, by processes gone at once: joined in the kernel\'s view', async (t) => {
    if (!sensor.status().blindSpots.some((b) => b.startsWith('kernel program: libbpf sensor'))) {
      t.comment('bpftrace kernel program: relative paths go through /proc');
      return;
    }
    const dir = t.testdir({ a: {}, b: {} });
    // No sleep: each shell exits right after its write, so /proc/<pid>/cwd is mostly gone when the agent reads the
    // event; and the directory the shell was in before its cd was there to be read (and remembered) before it.
    const r = await run('/bin/sh', ['-c', 'echo 0 > rel-top; cd a && echo 1 > rel-a; (echo 2 > rel-sub); (cd ../b; echo 3 > rel-b); echo 4 > rel-a-again'], { cwd: dir });
    t.equal(r.code, 0);
    const paths = () => ofKind(events, 'file').filter((e) => (e.file.path ?? '').includes('rel-')).map((e) => e.file.path ?? '');
    await waitFor(() => paths().filter((p) => p.startsWith(dir)).length >= 5);
    for (const p of ['rel-top', 'a/rel-a', 'a/rel-sub', 'b/rel-b', 'a/rel-a-again']) t.ok(paths().includes(join(dir, p)), p);
    for (const p of ['rel-a', 'rel-sub', 'rel-b', 'a/rel-b', 'rel-a-again']) t.notOk(paths().includes(join(dir, p)), `never ${p}`);
    t.notOk(paths().some((p) => !p.startsWith('/')), 'none left relative');
    // chmod +x and rm: exec'd, gone at once; rm -r unlinks through a directory fd, never the shell's cwd.
    const x = await run('/bin/sh', ['-c', 'cd a && touch p q && mkdir d && touch d/x && /bin/chmod +x p && /bin/rm q && /bin/rm -r d && /bin/mv p p2'], { cwd: dir });
    t.equal(x.code, 0);
    const kids = new Set<number>();
    const ops = () => {
      for (const e of ofKind(events, 'exec')) if (e.ppid === x.pid) kids.add(e.pid);
      return ofKind(events, 'file').filter((e) => kids.has(e.pid));
    };
    const chmod = () => ops().find((e) => e.file.op === 'CHMOD');
    const unlinks = () => ops().filter((e) => e.file.op === 'UNLINK').map((e) => e.file.path ?? '');
    await waitFor(() => chmod() !== undefined && unlinks().length >= 2);
    t.equal(chmod()?.file.path, join(dir, 'a', 'p'), 'chmod +x of a relative path: joined');
    t.ok(unlinks().includes(join(dir, 'a', 'q')), 'rm of a relative path: joined');
    const dx = unlinks().find((p) => p.endsWith('/x') || p.endsWith(':x'));
    t.ok(dx === join(dir, 'a', 'd', 'x') || /^fd:\d+\/x$/.test(dx ?? ''), `rm -r through its dirfd: ${dx}`);
    t.notOk(unlinks().includes(join(dir, 'a', 'x')), 'never the shell\'s cwd for a dirfd unlink');
    await waitFor(() => ops().some((e) => e.file.op === 'RENAME'));
    t.match(ops().find((e) => e.file.op === 'RENAME')?.file, { path: join(dir, 'a', 'p'), newPath: join(dir, 'a', 'p2') }, 'mv of relative paths: both joined');
  });

  t.test('curl and python3 connecting to a listener on 127.3.3.3', async (t) => {
    const server = createServer((s) => { s.on('error', () => undefined); s.end('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'); });
    await new Promise<void>((resolve) => server.listen(0, '127.3.3.3', resolve));
    const port = (server.address() as { port: number }).port;
    t.teardown(() => server.close());
    const c = await run('curl', ['-s', '-m', '5', `http://127.3.3.3:${port}/`]);
    const p = await run('python3', ['-c', `import socket; s=socket.create_connection(("127.3.3.3", ${port})); s.close()`]);
    t.equal(c.code, 0);
    t.equal(p.code, 0);
    const nets = () => ofKind(events, 'net').filter((e) => e.net.dstIp === '127.3.3.3' && e.net.dstPort === port);
    await waitFor(() => nets().some((e) => e.pid === c.pid) && nets().some((e) => e.pid === p.pid));
    for (const [who, pid, exe] of [['curl', c.pid, /curl$/], ['python3', p.pid, /python3/]] as const) {
      const ev = nets().find((e) => e.pid === pid);
      t.ok(ev, `${who} connect seen`);
      t.equal(ev?.net.family, 'INET');
      t.ok(ev?.net.result === 0 || ev?.net.result === -115, `${who} result ${ev?.net.result}`);
      t.match(table.get(pid)?.exe ?? '', exe, `${who} exe from the exec event`);
    }
  });

  t.test('a connect carries the domain the job resolved (DNS from packets)', async (t) => {
    const dir = t.testdir();
    const dns = await startDns('127.53.53.53', { 'build.example.test': '127.3.3.3' });
    t.teardown(() => dns.close());
    const server = createServer((s) => { s.on('error', () => undefined); s.end('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'); });
    await new Promise<void>((resolve) => server.listen(0, '127.3.3.3', resolve));
    const port = (server.address() as { port: number }).port;
    t.teardown(() => server.close());
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.53.53.53\noptions timeout:1 attempts:1\n');
    // A private mount namespace whose /etc/resolv.conf points at our server (as scenarios/run.py does).
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
      resolv, 'curl', '-s', '-m', '5', `http://build.example.test:${port}/`], { stdio: 'ignore' });
    attribution.registerJob('job-dns', child.pid!);
    const code = await new Promise((r) => child.on('close', r));
    t.equal(code, 0);
    const curlExec = () => ofKind(events, 'exec').find((e) => e.exec.argv?.includes(`http://build.example.test:${port}/`) && e.comm === 'curl');
    await waitFor(() => { const x = curlExec(); return !!x && ofKind(events, 'net').some((e) => e.pid === x.pid && e.net.dstPort === port); });
    const ex = curlExec();
    t.ok(ex, 'curl exec seen');
    const pid = ex!.pid;
    t.equal(attribution.jobOf(pid), 'job-dns', 'curl belongs to the job by ancestry');
    const q = ofKind(events, 'dns').find((e) => e.pid === pid && e.dns.name === 'build.example.test' && e.dns.qtype === 1);
    t.ok(q, 'query attributed to curl');
    t.same(q?.dns.answers, ['127.3.3.3']);
    t.equal(q?.dns.server, '127.53.53.53');
    const net = ofKind(events, 'net').find((e) => e.pid === pid && e.net.dstPort === port);
    t.equal(net?.net.domain, 'build.example.test');
    // unshare and sh exec in place: curl keeps the wrapper's pid, its parent is this test process.
    t.equal(pid, child.pid);
    t.equal(attribution.ancestry(pid)[0]?.pid, process.pid, 'nearest ancestor first');
    attribution.unregisterJob('job-dns');
  });

  t.test('file create, write, rename, chmod +x, unlink with the acting pid', async (t) => {
    const dir = t.testdir();
    const f = join(dir, 'f.txt');
    const g = join(dir, 'g.sh');
    const sh = await run('/bin/sh', ['-c', `echo a > ${f}; echo b >> ${f}; echo c >> ${f}; mv ${f} ${g}; chmod +x ${g}; rm ${g}`]);
    t.equal(sh.code, 0);
    const tree = () => descendants(events, sh.pid);
    const files = () => ofKind(events, 'file').filter((e) => tree().has(e.pid));
    await waitFor(() => files().some((e) => e.file.op === 'UNLINK'));
    const byOp = (op: string) => files().filter((e) => e.file.op === op);
    // Printed one by one: the first only. The repeats' count (no comm: printed from the kernel's map) follows with
    // the window, which may already be in (the libbpf sensor's records arrive up to its 10 ms poll after the rm).
    const w = files().filter((e) => (e.file.op === 'OPEN_WRITE' || e.file.op === 'CREATE') && e.file.path === f && e.comm !== undefined);
    t.equal(w.length, 1, 'repeated write-opens by one pid reported once');
    t.equal(w[0]?.pid, sh.pid);
    t.same(byOp('RENAME').map((e) => [e.file.path, e.file.newPath]), [[f, g]]);
    t.same(byOp('CHMOD').map((e) => e.file.path), [g]);
    t.ok((byOp('CHMOD')[0]?.file.mode ?? 0) & 0o111);
    t.same(byOp('UNLINK').map((e) => e.file.path), [g]);
    for (const e of [...byOp('RENAME'), ...byOp('CHMOD'), ...byOp('UNLINK')]) t.not(e.pid, sh.pid, `${e.file.op} by the child process`);
    t.equal(table.get(byOp('RENAME')[0]!.pid)?.comm, 'mv');
    // The repeat count arrives with the next printed window (every second).
    await waitFor(() => files().some((e) => e.file.path === f && (e.file.count ?? 0) >= 2), 4000);
    t.equal(files().filter((e) => e.file.path === f && e.pid === sh.pid).reduce((n, e) => n + (e.file.count ?? 0), 0), 3, 'all three write-opens counted');
  });

  t.test('a flood of write-opens beyond the budget: counted in the kernel, every one reported, sync() delivers them', async (t) => {
    const dir = t.testdir();
    // 300 files written twice, plus a create with an execute bit after the budget is spent.
    const sh = await run('/bin/sh', ['-c', `cd ${dir} && i=0; while [ $i -lt 300 ]; do echo x > f$i; echo y >> f$i; i=$((i+1)); done; `
      + `python3 -c "import os; os.close(os.open('run.sh', os.O_CREAT | os.O_WRONLY, 0o755))"`]);
    t.equal(sh.code, 0);
    const t0 = Date.now();
    await sensor.sync!();
    t.ok(Date.now() - t0 < 3_500, 'sync waits at most for the next window');
    const mine = ofKind(events, 'file').filter((e) => e.pid === sh.pid && /\/f\d+$/.test(e.file.path ?? ''));
    t.equal(mine.reduce((n, e) => n + (e.file.count ?? 0), 0), 600, 'counts add up to every write-open');
    t.equal(new Set(mine.map((e) => e.file.path)).size, 300, 'every path named');
    t.ok(mine.filter((e) => e.file.count === 1 && !e.file.mode).length >= 1, 'the first ones one by one');
    t.ok(mine.some((e) => (e.file.count ?? 0) >= 2), 'the rest counted per path');
    const exe = ofKind(events, 'file').find((e) => e.file.path === join(dir, 'run.sh'));
    t.equal((exe?.file.mode ?? 0) & 0o777, 0o755, 'a create with an execute bit is printed at once, with its mode');
    t.same(losses.filter(([, r]) => /count map/.test(r)), [], 'no map overflow');
  });

  t.test('tar writes through directory fds: reported with their dirfd', async (t) => {
    const dir = t.testdir({ src: { 'a.txt': 'a', sub: { 'b.txt': 'b' } }, out: {} });
    const tarball = join(dir, 'x.tar');
    t.equal((await run('tar', ['-cf', tarball, '-C', join(dir, 'src'), '.'])).code, 0);
    const x = await run('tar', ['-xf', tarball, '-C', join(dir, 'out')]);
    t.equal(x.code, 0);
    // Resolved through /proc/<pid>/fd/<n> while tar lives; once it is gone the dirfd form fd:<n>/<path> is kept.
    const want = [['a.txt', join(dir, 'out', 'a.txt')], ['sub/b.txt', join(dir, 'out', 'sub', 'b.txt')]];
    const paths = () => ofKind(events, 'file').filter((e) => e.pid === x.pid).map((e) => e.file.path ?? '');
    const ok = (rel: string, abs: string) => paths().some((p) => p === abs || new RegExp(`^fd:\\d+/(\\./)?${rel}$`).test(p));
    await waitFor(() => want.every(([r, a]) => ok(r!, a!)));
    for (const [r, a] of want) t.ok(ok(r!, a!), `${r}: ${paths().join(', ')}`);
  });

  t.test('reads of /proc/<other>/mem and environ, gdb attach, process_vm_readv', async (t) => {
    const target = spawn('sleep', ['30'], { stdio: 'ignore' });
    t.teardown(() => { target.kill('SIGKILL'); });
    const tp = target.pid!;
    await new Promise((r) => setTimeout(r, 100));
    const py = await run('python3', ['-c', `
import ctypes, os
open('/proc/${tp}/environ','rb').read()
fd = os.open('/proc/${tp}/mem', os.O_RDONLY); os.close(fd)
start = int(open('/proc/${tp}/maps').readline().split('-')[0], 16)
class iovec(ctypes.Structure): _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
buf = ctypes.create_string_buffer(16)
libc = ctypes.CDLL(None, use_errno=True)
n = libc.process_vm_readv(${tp}, ctypes.byref(iovec(ctypes.cast(buf, ctypes.c_void_p), 16)), 1, ctypes.byref(iovec(start, 16)), 1, 0)
print(n)
`]);
    t.equal(py.code, 0, py.out);
    const gdb = await run('gdb', ['-p', String(tp), '-batch', '-nx', '-ex', 'detach']);
    const gdbPids = () => descendants(events, gdb.pid);
    await waitFor(() => ofKind(events, 'access').some((e) => gdbPids().has(e.pid) && e.access.targetPid === tp)
      && ofKind(events, 'access').some((e) => e.pid === py.pid && e.access.kind === 'VM_READV'));
    const reads = ofKind(events, 'read').filter((e) => e.pid === py.pid && e.read.targetPid === tp);
    t.same(reads.map((e) => e.read.pathClass).sort(), ['proc-environ', 'proc-maps', 'proc-mem']);
    const acc = ofKind(events, 'access').filter((e) => e.pid === py.pid && e.access.targetPid === tp).map((e) => e.access.kind).sort();
    t.same(acc, ['PROC_MEM_OPEN', 'VM_READV']);
    const pt = ofKind(events, 'access').find((e) => gdbPids().has(e.pid) && e.access.targetPid === tp);
    t.ok(pt && ['PTRACE_ATTACH', 'PTRACE_SEIZE'].includes(pt.access.kind ?? ''), `gdb ptrace: ${pt?.access.kind}`);
    t.equal(table.get(pt!.pid)?.comm, 'gdb');
  });

  t.test('a read of a credential file under a home', async (t) => {
    const r = await run('/bin/sh', ['-c', 'cat /root/.aws/credentials /root/.ssh/id_ed25519 2>/dev/null; true']);
    const cat = () => ofKind(events, 'exec').find((e) => e.ppid === r.pid && e.comm === 'cat');
    await waitFor(() => { const c = cat(); return !!c && ofKind(events, 'read').filter((e) => e.pid === c.pid).length >= 2; });
    const reads = ofKind(events, 'read').filter((e) => e.pid === cat()?.pid);
    t.same(reads.map((e) => [e.read.path, e.read.pathClass]), [['/root/.aws/credentials', 'credential-file'], ['/root/.ssh/id_ed25519', 'ssh-key']]);
  });

  t.test('trackPids: only the tracked trees are reported, their forks and execs all of them, a restart keeps the tree', async (t) => {
    // Two shells wait on stdin; only A is tracked. A's children are added at fork, so its grandchild is seen too.
    const shell = (tag: string) => spawn('/bin/sh', ['-c', `read x; /bin/true ${tag}-child; /bin/sh -c "/bin/true ${tag}-grandchild"`], { stdio: ['pipe', 'ignore', 'ignore'] });
    const a = shell('tracked');
    const b = shell('untracked');
    let roots = [a.pid!];
    const evs: SensorEvent[] = [];
    const lost: string[] = [];
    const s2 = createEbpfSensor({ trackPids: () => roots, restartDelayMillis: 50 });
    s2.onEvent((e) => evs.push(e));
    s2.onLoss((_n, r) => lost.push(r));
    await s2.start();
    t.teardown(() => s2.close());
    const done = (c: ReturnType<typeof shell>) => new Promise((r) => c.on('close', r));
    a.stdin!.end('go\n');
    b.stdin!.end('go\n');
    await Promise.all([done(a), done(b)]);
    const argv = () => ofKind(evs, 'exec').map((e) => e.exec.argv?.[1] ?? '');
    await waitFor(() => argv().includes('tracked-grandchild'));
    await new Promise((r) => setTimeout(r, 300));
    t.same(argv().filter((x) => x.endsWith('child')).sort(), ['tracked-child', 'tracked-grandchild']);
    t.ok(ofKind(evs, 'fork').every((e) => e.pid === a.pid || descendants(evs, a.pid!).has(e.pid)), 'no fork of another tree');
    t.ok(ofKind(evs, 'exit').some((e) => e.pid === a.pid), 'the root\'s exit');
    // After the kernel program dies, the new one is told the live tree again (asked at relaunch).
    const c = shell('restart');
    roots = [c.pid!];
    // The newest kernel-program child of this process is s2's (the shared sensor's started first).
    const bt = Number(execFileSync('pgrep', ['-n', '-P', String(process.pid), '^(bpftrace|runwarden-senso)$'], { encoding: 'utf8' }).trim());
    t.ok(bt > 0);
    process.kill(bt, 'SIGKILL');
    await waitFor(() => lost.some((r) => /restarted/.test(r)), 60_000);
    c.stdin!.end('go\n');
    await done(c);
    await waitFor(() => argv().includes('restart-grandchild'), 10_000);
    t.ok(argv().includes('restart-child'), 'a tree given at relaunch is watched');
  });

  t.test('sync() waits for a backlog still going through, past its no-progress bound', async (t) => {
    // A consumer that takes 1 ms per event (a loaded agent) falls seconds behind 3 000 execs; sync() after the
    // shell exits must return only once the shell's last exec was delivered, as a job's end does (agent/daemon.ts).
    // Small drain turns keep the event loop's timers on time, as they are when the agent's work per event is short.
    const s3 = createEbpfSensor({ drainBatchEvents: 32 });
    let last = false;
    s3.onEvent((ev) => {
      const until = performance.now() + 1;
      while (performance.now() < until) { /* busy: a slow pipeline */ }
      if (ev.kind === 'exec' && ev.exec.argv?.[1] === 'sync-backlog-last') last = true;
    });
    await s3.start();
    t.teardown(() => s3.close());
    const sh = await run('/bin/sh', ['-c', 'i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done; /bin/echo sync-backlog-last']);
    t.equal(sh.code, 0);
    t.notOk(last, 'the consumer is behind when the shell exits');
    const t0 = Date.now();
    await s3.sync!();
    t.ok(last, `the last exec was delivered before sync() returned (${Date.now() - t0} ms)`);
  });

  t.test('close is idempotent and stops the sensor', async (t) => {
    const s2 = createEbpfSensor();
    await s2.start();
    const a = s2.close();
    const b = s2.close();
    t.equal(a, b);
    await a;
    t.equal(s2.status().running, false);
  });
}
