// agent/sensors/bpftrace-decode.ts: every record type of the script into SensorEvents, pairing and flushing.
import t from 'tap';
import { createBpftraceDecoder, dirfdPath, fdAtExec, ipv4FromLe, unescapeR } from '../../../agent/sensors/bpftrace-decode.js';

const line = (data: string) => JSON.stringify({ type: 'printf', data: data + '\n' });
const mk = () => createBpftraceDecoder({ wallOffsetNs: 1_000_000_000_000n, ignorePids: new Set([999]), pathContext: { homes: ['/root'] } });
const now = 5_000_000_000n;

t.test('exec with argv chunks, pairing by pid', async (t) => {
  const d = mk();
  t.same(d.push(line('E\t100\t42\t41\t0\tcurl\t17\t/usr/bin/curl'), now).events, []);
  const r = d.push(line('A\t42\t0\tcurl\\x00-s\\x00http://x\\x00'), now);
  t.same(r.events, [{ kind: 'exec', tsNs: 1_000_000_000_100, pid: 42, ppid: 41, uid: 0, comm: 'curl', exe: '/usr/bin/curl', exec: { argv: ['curl', '-s', 'http://x'] } }]);
});

t.test('an I record (libbpf sensor) goes with the exec of its pid that follows it, and only with that one', async (t) => {
  const d = mk();
  t.same(d.push(line('I\t42\t4026\tp\t777\tt\t0'), now).events, [], 'nothing on its own');
  const r = d.push(line('e\t100\t42\t41\t0\tsh\t3\tsh\\x00'), now);
  t.same(r.events[0]?.execInfo, { cgroupId: '4026', fd0: { kind: 'pipe', target: 'pipe:[777]' }, fd1: { kind: 'tty' } });
  t.same(r.events[0]?.kind === 'exec' ? r.events[0].exec : undefined, { argv: ['sh'] }, 'the wire body is left alone');
  d.push(line('I\t43\t1\ts\t55\t-\t0'), now);
  t.equal(d.push(line('e\t100\t44\t41\t0\tsh\t3\tsh\\x00'), now).events[0]?.execInfo, undefined, 'another pid: not taken');
  t.equal(d.push(line('e\t100\t43\t41\t0\tsh\t3\tsh\\x00'), now).events[0]?.execInfo, undefined, 'nor kept for later');
  d.push(line('I\t45\t1\ts\t55\t-\t0'), now);
  t.same(d.push(line('e\t100\t45\t41\t0\tsh\t3\tsh\\x00'), now).events[0]?.execInfo, { cgroupId: '1', fd0: { kind: 'socket', target: 'socket:[55]' }, fd1: undefined }, 'a socket; a closed stdout');
  // J (the cwd, joined by the loader) goes with the I record of its pid.
  d.push(line('J\t46\t1\t/work/src'), now);
  d.push(line('I\t46\t1\tn\t0\tn\t0'), now);
  t.equal(d.push(line('e\t100\t46\t41\t0\tsh\t3\tsh\\x00'), now).events[0]?.execInfo?.cwd, '/work/src', 'the working directory');
  d.push(line('J\t47\t1\t/'), now);
  d.push(line('I\t47\t1\tn\t0\tn\t0'), now);
  t.equal(d.push(line('e\t100\t47\t41\t0\tsh\t3\tsh\\x00'), now).events[0]?.execInfo?.cwd, '/', 'the root');
  d.push(line('J\t48\t0\t/deep'), now);
  d.push(line('I\t48\t1\tn\t0\tn\t0'), now);
  const deep = d.push(line('e\t100\t48\t41\t0\tsh\t3\tsh\\x00'), now).events[0]?.execInfo;
  t.ok(deep && !('cwd' in deep), 'a walk that did not reach the root gives no cwd (a partial path would be a guess)');
  // A write-open relative to the exec's cwd (dfd -200: no chdir since) is joined to it; after the exit it is not.
  const w = (pid: number, dfd: number, path: string) => d.push(line(`W\t100\t${pid}\t0\tcc\to\t577\t420\t${dfd}\t${path}`), now).events[0];
  t.match(w(46, -200, 'out/a.o'), { kind: 'file', file: { path: '/work/src/out/a.o', op: 'OPEN_WRITE' } }, 'joined to the exec cwd');
  t.match(w(46, -200, './b.o'), { file: { path: '/work/src/b.o' } }, 'normalised as a resolved path is');
  t.match(w(46, -100, 'c.o'), { file: { path: 'c.o' } }, 'AT_FDCWD: left to the adapter (/proc/<pid>/cwd)');
  t.match(w(48, -200, 'd.o'), { file: { path: 'd.o' } }, 'no complete exec cwd known: left relative');
  // A J record on its own (the kernel walked the cwd again at a chdir's return): later writes are joined to it.
  d.push(line('J\t46\t1\t/work/src/sub'), now);
  t.match(w(46, -200, 'f.o'), { file: { path: '/work/src/sub/f.o' } }, 'after a chdir: the new directory');
  // A fork's child starts in its parent's directory (F ts pid uid comm child); its own chdir moves only it.
  d.push(line('F\t100\t46\t0\tsh\t60'), now);
  t.match(w(60, -200, 'g.o'), { pid: 60, file: { path: '/work/src/sub/g.o' } }, 'the forked child: its parent\'s cwd');
  d.push(line('J\t60\t1\t/elsewhere'), now);
  t.match(w(60, -200, 'h.o'), { file: { path: '/elsewhere/h.o' } }, 'the child after its own chdir');
  t.match(w(46, -200, 'i.o'), { file: { path: '/work/src/sub/i.o' } }, 'the parent stays where it was');
  d.push(line('F\t100\t48\t0\tsh\t61'), now);
  t.match(w(61, -200, 'j.o'), { file: { path: 'j.o' } }, 'a parent without a known cwd gives its child none');
  d.push(line('J\t46\t0\t/deep'), now);
  t.match(w(46, -200, 'k.o'), { file: { path: 'k.o' } }, 'an incomplete walk after a chdir forgets the old cwd');
  d.push(line('J\t46\t1\t/work/src'), now);
  // u and m (libbpf sensor): an unlink and a chmod +x relative to that cwd; U and M as printed (fd:N/ for a dirfd).
  t.match(d.push(line('u\t100\t46\t0\trm\tq.o'), now).events[0], { kind: 'file', pid: 46, file: { op: 'UNLINK', path: '/work/src/q.o' } }, 'unlink joined');
  t.match(d.push(line('m\t100\t46\t0\tchmod\t493\tbin/run'), now).events[0], { file: { op: 'CHMOD', mode: 493, path: '/work/src/bin/run' } }, 'chmod +x joined');
  t.match(d.push(line('U\t100\t46\t0\trm\tfd:4/x'), now).events[0], { file: { op: 'UNLINK', path: 'fd:4/x' } }, 'a dirfd unlink: left to the adapter');
  t.match(d.push(line('U\t100\t46\t0\trm\tfd:4//abs/y'), now).events[0], { file: { op: 'UNLINK', path: '/abs/y' } }, 'a dirfd with an absolute path (bpftrace prints both): the path');
  t.match(d.push(line('M\t100\t46\t0\tchmod\t493\tfd:5//abs/z'), now).events[0], { file: { op: 'CHMOD', path: '/abs/z' } }, 'the same for chmod');
  t.match(d.push(line('m\t100\t48\t0\tchmod\t493\tz'), now).events[0], { file: { path: 'z' } }, 'no cwd known: left relative');
  // O/o (libbpf sensor): a rename's old/new path relative to that cwd; N/n as printed.
  d.push(line('O\t100\t46\t0\tmv\t46\ta.tmp'), now);
  t.match(d.push(line('n\t46\t/abs/b'), now).events[0], { file: { op: 'RENAME', path: '/work/src/a.tmp', newPath: '/abs/b' } }, 'old joined, new absolute');
  d.push(line('N\t100\t46\t0\tmv\t46\tfd:3/c'), now);
  t.match(d.push(line('o\t46\tout/d'), now).events[0], { file: { op: 'RENAME', path: 'fd:3/c', newPath: '/work/src/out/d' } }, 'old through a dirfd, new joined');
  d.push(line('X\t100\t46\t0\tsh\t0'), now);
  // Writes counted in the kernel are printed at the window's end, after the exit: dfd -200 (unsigned) joins them still.
  const counted = d.push(JSON.stringify({ type: 'map', data: { '@wc1': { '46,4294967096,out/l.o': 3, '46,4294967196,m.o': 2 } } }), now).events;
  t.match(counted, [{ pid: 46, file: { path: '/work/src/out/l.o', count: 3 } }, { pid: 46, file: { path: 'm.o', count: 2 } }], 'counted after the exit: joined; AT_FDCWD left to the adapter');
  // The pid's next process starts at its fork, from its own parent's cwd or from none.
  d.push(line('F\t100\t48\t0\tsh\t46'), now);
  t.match(w(46, -200, 'e.o'), { file: { path: 'e.o' } }, 'a new process on the pid: nothing of the old one');
  t.same(fdAtExec('n', '0'), { kind: 'null' });
  t.same(fdAtExec('f', '0'), { kind: 'file' });
  t.equal(fdAtExec('?', '1'), undefined, 'an unknown letter says nothing');
});

t.test('argv beyond the bound is marked truncated; a missing chunk is flushed by age', async (t) => {
  const d = createBpftraceDecoder({ wallOffsetNs: 0n, argvChunkBytes: 16, argvChunks: 2 });
  d.push(line('E\t1\t7\t1\t0\tx\t100\t/x'), 0n);
  d.push(line('A\t7\t0\t/x\\x00aaaaaaaaaaaaa'), 0n);
  const r = d.push(line('A\t7\t16\tbbbbbbbbbbbbbbbb'), 0n);
  t.match(r.events[0], { kind: 'exec', exec: { argv: ['/x', 'aaaaaaaaaaaaabbbbbbbbbbbbbbbb'], argvTruncated: true } });
  d.push(line('E\t1\t8\t1\t0\tx\t40\t/y'), 0n);
  d.push(line('A\t8\t0\t/y\\x00cccccccccccccc'), 0n);
  t.same(d.flush(1n), [], 'not yet');
  t.match(d.flush(10n ** 9n), [{ pid: 8, exec: { argv: ['/y', 'cccccccccccccc'], argvTruncated: true } }]);
});

t.test('e records: the file is argv[0], the first chunk inline, the rest in A records from the second chunk', async (t) => {
  const d = mk();
  t.same(d.push(line('e\t100\t42\t41\t0\ttrue\t10\t/bin/true\\x00'), now).events,
    [{ kind: 'exec', tsNs: 1_000_000_000_100, pid: 42, ppid: 41, uid: 0, comm: 'true', exe: '/bin/true', exec: { argv: ['/bin/true'] } }], 'one record when argv fits');
  const d2 = createBpftraceDecoder({ wallOffsetNs: 0n, argvChunkBytes: 16, argvChunks: 2 });
  t.same(d2.push(line('e\t1\t7\t1\t0\tx\t20\t/x\\x00aaaaaaaaaaaaa'), 0n).events, [], 'waits for the second chunk');
  t.match(d2.push(line('A\t7\t16\tbbb\\x00'), 0n).events, [{ pid: 7, exe: '/x', exec: { argv: ['/x', 'aaaaaaaaaaaaabbb'] } }]);
  t.notOk(d2.flush(10n ** 9n, true).length, 'nothing left pending');
  // argv[0] as long as str() reads: the file name is known only that far, as an E record would have it.
  const long = '/' + 'd'.repeat(250);
  const d3 = createBpftraceDecoder({ wallOffsetNs: 0n });
  const r = d3.push(line(`e\t1\t9\t1\t0\tx\t${long.length + 1}\t${long.slice(0, 192)}`), 0n);
  t.same(r.events, []);
  const ev = d3.push(line(`A\t9\t192\t${long.slice(192)}\\x00`), 0n).events[0];
  t.match(ev, { kind: 'exec', exec: { argv: [long] } });
  t.equal(ev?.kind === 'exec' ? ev.exe : '', long.slice(0, 199));
  t.match(mk().push(line('e\t2\t5\t1\t0\t3\t12\t/dev/fd/3\\x00x\\x00'), now).events[0], { exe: '/dev/fd/3', exec: { memfd: true } }, 'fd exec');
});

t.test('memfd exec', async (t) => {
  const d = mk();
  d.push(line('D\t1\t5\t0\tpy\tpayload'), now);
  const r = d.push(line('E\t2\t5\t1\t0\t3\t0\t/dev/fd/3'), now);
  t.match(r.events[0], { kind: 'exec', exe: '/dev/fd/3', exec: { memfd: true } });
});

t.test('fork, exit code and signal', async (t) => {
  const d = mk();
  t.same(d.push(line('F\t1\t10\t0\tsh\t11'), now).events, [{ kind: 'fork', tsNs: 1_000_000_000_001, pid: 10, uid: 0, comm: 'sh', fork: { childPid: 11 } }]);
  t.match(d.push(line('X\t2\t11\t0\tsh\t768'), now).events, [{ kind: 'exit', pid: 11, exit: { code: 3 } }]);
  t.match(d.push(line('X\t2\t12\t0\tsh\t9'), now).events, [{ kind: 'exit', pid: 12, exit: { signal: 9 } }]);
});

t.test('connect paired with its result; unpaired ones flushed', async (t) => {
  const d = mk();
  d.push(line('C\t1\t501\t500\t0\tcurl\t2\t443\t203.0.113.5'), now);
  t.match(d.push(line('R\t501\t-115'), now).events, [{ kind: 'net', pid: 500, net: { family: 'INET', dstIp: '203.0.113.5', dstPort: 443, result: -115 } }]);
  d.push(line('C\t1\t502\t500\t0\tcurl\t1\t0\t/run/x.sock'), now);
  d.push(line('C\t1\t503\t500\t0\tcurl\t10\t53\t::1'), now);
  const f = d.flush(now, true);
  t.match(f, [{ net: { family: 'UNIX', dstIp: '/run/x.sock' } }, { net: { family: 'INET6', dstIp: '::1', dstPort: 53 } }]);
});

// A query for evil.test (txid 0x1234) and its answer 203.0.113.9, as %r renders them; u32 addresses as printed.
const ip = (s: string) => String(s.split('.').reduce((n, o, i) => n + Number(o) * 2 ** (8 * i), 0));
const q = '\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x04evil\\x04test\\x00\\x00\\x01\\x00\\x01';
const a = '\\x12\\x34\\x81\\x80\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x00\\x04evil\\x04test\\x00\\x00\\x01\\x00\\x01\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00<\\x00\\x04\\xcb\\x00q\\x09';

t.test('DNS query and answer matched by (txid, client port)', async (t) => {
  const d = mk();
  d.push(line(`Q\t1\t77\t111\to\t${ip('127.0.0.1')}\t40000\t${ip('127.0.0.53')}\t53`), now);
  t.same(d.push(line(`q\t111\t${q}`), now).events, []);
  d.push(line(`Q\t2\t5\t222\to\t${ip('127.0.0.53')}\t53\t${ip('127.0.0.1')}\t40000`), now);
  const r = d.push(line(`q\t222\t${a}`), now);
  t.same(r.events, [{ kind: 'dns', tsNs: 1_000_000_000_001, pid: 77, dns: { name: 'evil.test', qtype: 1, server: '127.0.0.53', answers: ['203.0.113.9'], rcode: 0 } }]);
});

t.test('DNS answer read before its query (another CPU\'s buffer) still pairs; a lone answer expires', async (t) => {
  const d = mk();
  d.push(line(`Q\t2\t5\t222\to\t${ip('127.0.0.53')}\t53\t${ip('127.0.0.1')}\t40000`), now);
  t.same(d.push(line(`q\t222\t${a}`), now).events, [], 'an answer alone names no asker');
  t.equal(d.pending(), 1, 'the answer is held for its query');
  d.push(line(`Q\t1\t77\t111\to\t${ip('127.0.0.1')}\t40000\t${ip('127.0.0.53')}\t53`), now);
  const r = d.push(line(`q\t111\t${q}`), now);
  t.same(r.events, [{ kind: 'dns', tsNs: 1_000_000_000_001, pid: 77, dns: { name: 'evil.test', qtype: 1, server: '127.0.0.53', answers: ['203.0.113.9'], rcode: 0 } }]);
  t.equal(d.pending(), 0);
  d.push(line(`Q\t3\t5\t333\to\t${ip('127.0.0.53')}\t53\t${ip('127.0.0.1')}\t40001`), now);
  d.push(line(`q\t333\t${a}`), now);
  t.same(d.flush(now + 2_000_000_000n), [], 'a lone answer expires without an event');
  t.equal(d.pending(), 0);
});

t.test('file records: write-open once, repeat counts from the map, noise dropped, rename pairs', async (t) => {
  const d = mk();
  t.match(d.push(line('W\t1\t9\t0\tsh\to\t577\t0\t-100\t/tmp/a'), now).events, [{ kind: 'file', pid: 9, file: { op: 'OPEN_WRITE', path: '/tmp/a', count: 1, pathClass: 'tmp' } }]);
  t.match(d.push(line('W\t1\t9\t0\tsh\to\t193\t0\t-100\t/tmp/n'), now).events, [{ file: { op: 'CREATE' } }], 'O_CREAT|O_EXCL');
  t.match(d.push(line('W\t1\t9\t0\tsh\tc\t420\t0\t-100\t/tmp/c'), now).events, [{ file: { op: 'CREATE', mode: 420 } }]);
  t.match(d.push(line('W\t1\t9\t0\tcc\to\t577\t493\t-100\t/tmp/a.out'), now).events, [{ file: { op: 'OPEN_WRITE', mode: 493 } }], 'the create mode of openat travels');
  t.match(d.push(line('W\t1\t9\t0\tsh\tt\t0\t0\t-100\t/tmp/t'), now).events, [{ file: { op: 'TRUNCATE' } }]);
  t.same(d.push(line('W\t1\t9\t0\tsh\to\t577\t0\t-100\t/dev/null'), now).events, []);
  t.same(d.push(line('W\t1\t999\t0\tagent\to\t577\t0\t-100\t/tmp/x'), now).events, [], 'ignored pid');
  t.match(d.push(line('W\t1\t9\t0\ttar\to\t193\t0\t5\td0/f1.txt'), now).events, [{ file: { path: 'fd:5/d0/f1.txt' } }], 'dirfd-relative kept with its fd');
  t.match(d.push(line('W\t1\t9\t0\tsh\to\t577\t0\t-100\trel.txt'), now).events, [{ file: { path: 'rel.txt' } }], 'cwd-relative left for the adapter');
  const m = d.push(JSON.stringify({ type: 'map', data: { '@wc1': { '9,4294967196,/tmp/a': 4, '9,4294967196,/dev/null': 3, '9,4294967196,/a,b': 1, '9,5,d0/f,1': 2, '9,4294967196,rel': 1 } } }), now);
  t.match(m.events, [{ pid: 9, file: { op: 'OPEN_WRITE', path: '/tmp/a', count: 4 } }, { pid: 9, file: { path: '/a,b', count: 1 } },
    { file: { path: 'fd:5/d0/f,1', count: 2 } }, { file: { path: 'rel', count: 1 } }], 'counted write-opens per path, dirfd kept, AT_FDCWD unsigned');
  t.equal(d.push(JSON.stringify({ type: 'map', data: { '@wn1': { 9: 11 } } }), now).mapLost, 0, 'totals add up: no loss');
  d.push(JSON.stringify({ type: 'map', data: { '@wc0': { '9,4294967196,/tmp/x': 5, '999,4294967196,/tmp/y': 1 } } }), now);
  t.equal(d.push(JSON.stringify({ type: 'map', data: { '@wn0': { 9: 8, 999: 4, 12: 3 } } }), now).mapLost, 6, 'what the full map missed is a loss (ignored pids excluded)');
  t.equal(d.push(JSON.stringify({ type: 'map', data: { '@wn0': { 9: 2 } } }), now).mapLost, 2, 'a total without its map: all missing');
  d.push(line('N\t1\t9\t0\tmv\t9\t/tmp/a'), now);
  t.match(d.push(line('n\t9\t/tmp/b'), now).events, [{ file: { op: 'RENAME', path: '/tmp/a', newPath: '/tmp/b' } }]);
  t.match(d.push(line('U\t1\t9\t0\trm\t/tmp/b'), now).events, [{ file: { op: 'UNLINK', path: '/tmp/b' } }]);
  t.match(d.push(line('M\t1\t9\t0\tchmod\t493\t/tmp/b'), now).events, [{ file: { op: 'CHMOD', mode: 493 } }]);
});

// The loader's (and bpftrace's) spacing: a counted map is read by scanCounted, not JSON.parse.
const loaderMap = (name: string, entries: [string, number][]): string =>
  `{"type": "map", "data": {"${name}": {${entries.map(([k, n]) => `${JSON.stringify(k)}: ${n}`).join(', ')}}}}`;

t.test('a counted map as the loader prints it decodes as the same map through JSON.parse', async (t) => {
  const entries: [string, number][] = [
    ['9,4294967196,/tmp/a', 4], ['9,-100,/tmp/b', 1], ['9,4294967196,/a,b', 1], ['9,5,d0/f,1', 2], ['9,4294967196,rel', 1],
    ['9,-100,/tmp/q"uote', 3], ['9,-100,/tmp/back\\slash', 1], ['9,-100,/tmp/ctl\u0001x', 1], ['9,-100,/tmp/é ü', 7],
    ['9,-100,/tmp/tab\there', 2], ['12,3,./d9/f286.txt', 1], ['999,-100,/tmp/ignored', 1], ['9,-100,/dev/null', 5],
    ['9,-100,/tmp/after-escapes', 123456789],
  ];
  const parsed = t.capture(JSON, 'parse', JSON.parse);
  const fast = mk().push(loaderMap('@wc0', entries), now);
  t.equal(parsed().filter((c) => String(c.args[0]).includes('/tmp/a')).length, 0, 'the map line is not handed to JSON.parse');
  const slow = mk().push(JSON.stringify({ type: 'map', data: { '@wc0': Object.fromEntries(entries) } }), now);
  t.equal(fast.malformed, false);
  t.same(fast.events, slow.events, 'the same events, in the same order');
  t.equal(fast.events.length, 12, 'all but the ignored pid and /dev/null');
  t.match(fast.events, [{ pid: 9, file: { path: '/tmp/a', count: 4, pathClass: 'tmp' } }, { file: { path: '/tmp/b' } }, { file: { path: '/a,b' } },
    { file: { path: 'fd:5/d0/f,1', count: 2, pathClass: '' } }, { file: { path: 'rel', pathClass: '' } }, { file: { path: '/tmp/q"uote', count: 3 } },
    { file: { path: '/tmp/back\\slash' } }, { file: { path: '/tmp/ctl\u0001x' } }, { file: { path: '/tmp/é ü', count: 7 } }, { file: { path: '/tmp/tab\there' } },
    { pid: 12, file: { path: 'fd:3/./d9/f286.txt' } }, { file: { path: '/tmp/after-escapes', count: 123456789 } }]);
  // The per-pid totals that follow check against what the scanned map counted.
  const d = mk();
  d.push(loaderMap('@wc1', [['9,-100,/tmp/x', 5], ['9,-100,/tmp/y', 2]]), now);
  t.equal(d.push(JSON.stringify({ type: 'map', data: { '@wn1': { 9: 10 } } }), now).mapLost, 3, 'a loss is what the scanned map did not hold');
  t.same(mk().push(loaderMap('@wc0', []), now), { events: [], lost: 0, mapLost: 0, treeLost: 0, attached: false, flushed: false, malformed: false }, 'an empty map');
});

t.test('a counted map line cut or bent out of shape is not half decoded', async (t) => {
  const good = loaderMap('@wc0', [['9,-100,/tmp/a', 1], ['9,-100,/tmp/b', 2]]);
  for (const bad of [good.slice(0, -1), good.slice(0, 60), good.replace(': 2', ': x'), good.replace(', "9', ',"9'), good + 'x', good.replace('"@wc0": {', '"@wc0": ')]) {
    const r = mk().push(bad, now);
    t.ok(r.malformed || r.events.length === 0 || r.events.length === 2, `no partial decode: ${bad.slice(-30)}`);
  }
  t.equal(mk().push(good.slice(0, -1), now).malformed, true, 'a cut line is malformed');
  t.equal(mk().push(good.replace(', "9', ',"9'), now).events.length, 2, 'other spacing: read by JSON.parse, all of it');
  t.same(mk().push(loaderMap('@wc2', [['9,-100,/tmp/a', 1]]), now).events, [], 'an unknown map name decodes nothing');
  t.same(mk().push(loaderMap('@wc0', [['x9,-100,/tmp/a', 1], ['9,-100', 1], ['9,,/tmp/a', 1], ['0,-100,/tmp/a', 1]]), now).events, [], 'bad keys are skipped');
});

t.test('sensitive reads and process access', async (t) => {
  const d = mk();
  t.match(d.push(line('S\t1\t9\t0\tpy\t/proc/77/mem'), now).events, [
    { kind: 'read', read: { pathClass: 'proc-mem', targetPid: 77 } }, { kind: 'access', access: { kind: 'PROC_MEM_OPEN', targetPid: 77 } }]);
  t.same(d.push(line('S\t1\t9\t0\tpy\t/proc/9/environ'), now).events, [], 'own /proc entry');
  t.same(d.push(line('S\t1\t9\t0\tls\t/proc/filesystems'), now).events, []);
  t.match(d.push(line('S\t1\t9\t0\tcat\t/root/.ssh/id_rsa'), now).events, [{ read: { pathClass: 'ssh-key' } }]);
  t.match(d.push(line('P\t1\t9\t0\tgdb\t16\t77'), now).events, [{ access: { kind: 'PTRACE_ATTACH', targetPid: 77 } }]);
  t.match(d.push(line('P\t1\t9\t0\tgdb\t16902\t77'), now).events, [{ access: { kind: 'PTRACE_SEIZE' } }]);
  t.match(d.push(line('V\t1\t9\t0\tpy\tw\t77'), now).events, [{ access: { kind: 'VM_WRITEV', targetPid: 77 } }]);
  t.match(d.push(line('G\t1\t9\t1000\tsu\tsetuid\t0'), now).events, [{ access: { kind: 'SETID_ROOT', detail: 'setuid' } }]);
  t.match(d.push(line('B\t1\t9\t0\tx\t5'), now).events, [{ access: { kind: 'BPF_PROG_LOAD' } }]);
});

t.test('credential file opened relative to a directory fd (tar -C ~ .aws): path rebuilt from the kernel walk', async (t) => {
  const d = mk();
  const walk = (tid: number, names: string[]) => { for (const n of names) t.same(d.push(line(`k\t${tid}\t${n}`), now).events, []); };
  walk(9, ['.aws', 'root']);
  t.match(d.push(line('K\t1\t9\t0\ttar\t9\t5\t1\tcredentials'), now).events,
    [{ kind: 'read', pid: 9, comm: 'tar', read: { path: '/root/.aws/credentials', pathClass: 'credential-file' } }]);
  walk(9, ['.ssh', 'root']);
  t.match(d.push(line('K\t1\t9\t0\ttar\t9\t6\t1\tid_ed25519'), now).events, [{ read: { path: '/root/.ssh/id_ed25519', pathClass: 'ssh-key' } }]);
  walk(9, ['root']);
  t.match(d.push(line('K\t1\t9\t0\trsync\t9\t4\t1\t.npmrc'), now).events, [{ read: { path: '/root/.npmrc' } }]);
  walk(9, ['web', 'src']);
  t.same(d.push(line('K\t1\t9\t0\ttar\t9\t5\t1\tconfig.json'), now).events, [], 'a project config.json is no credential');
  walk(11, ['.aws', 'root']);
  t.same(d.push(line('K\t1\t11\t0\ttar\t11\t5\t0\tcredentials'), now).events, [], 'an incomplete walk is not guessed');
  walk(999, ['.aws', 'root']);
  t.same(d.push(line('K\t1\t999\t0\tagent\t999\t5\t1\tcredentials'), now).events, [], 'ignored pid');
  t.equal(d.pending(), 0, 'every walk was consumed');
  walk(12, ['.docker', 'root']);
  t.equal(d.flush(now + 1_000_000_000n).length, 0, 'a walk without its open expires silently');
  t.equal(d.pending(), 0);
});

t.test('stopping signals for the watcher: runwarden* and our bpftrace, not the agent itself nor a job\'s own bpftrace', async (t) => {
  const d = mk(); // ignorePids {999}: the agent / its bpftrace
  t.match(d.push(line('T\t1\t9\t0\tbash\t9\t4321\trunwarden-agent'), now).events,
    [{ kind: 'access', pid: 9, comm: 'bash', access: { kind: 'KILL_WATCHER', targetPid: 4321, targetComm: 'runwarden-agent', detail: 'signal 9' } }]);
  t.match(d.push(line('T\t1\t9\t0\tpython3\t19\t999\tbpftrace'), now).events, [{ access: { kind: 'KILL_WATCHER', targetPid: 999, detail: 'signal 19' } }]);
  t.same(d.push(line('T\t1\t9\t0\ttimeout\t15\t555\tbpftrace'), now).events, [], 'a bpftrace of the job');
  t.same(d.push(line('T\t1\t999\t0\tnode\t15\t998\tbpftrace'), now).events, [], 'sent by the agent');
});

t.test('control lines and garbage', async (t) => {
  const d = mk();
  t.equal(d.push(line('H\tstart'), now).attached, true);
  t.equal(d.push(JSON.stringify({ type: 'lost_events', data: { events: 12 } }), now).lost, 12);
  t.equal(d.push('not json', now).malformed, true);
  t.equal(d.push(line('Z\t1'), now).malformed, true);
  t.same(d.push(JSON.stringify({ type: 'attached_probes', data: { probes: 3 } }), now).events, []);
});

t.test('helpers', async (t) => {
  t.equal(dirfdPath(['.aws', 'runner', 'home'], true, 'credentials'), '/home/runner/.aws/credentials');
  t.equal(dirfdPath([], true, 'x'), '/x');
  t.equal(dirfdPath(['a'], false, 'x'), undefined);
  t.equal(dirfdPath(['a'], true, 'b/x'), undefined);
  t.same([...unescapeR('a\\x00b\\xffc\\x4')], [97, 0, 98, 255, 99, 92, 120, 52]);
  t.equal(ipv4FromLe(0x0100007f), '127.0.0.1');
});
