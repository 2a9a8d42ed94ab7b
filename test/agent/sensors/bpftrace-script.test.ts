// agent/sensors/bpftrace-script.ts: the rendered program carries the options, refuses what it cannot express,
// and bpftrace itself accepts it (dry parse with -d none is not in 0.17; the real load is in ebpf.test.ts).
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { bpfStringLiteral, headTest, kernelPrefix, renderDirfdOpens, renderScript, renderWatcherSignals, SCRIPT_DEFAULTS, SCRIPT_ENV } from '../../../agent/sensors/bpftrace-script.js';
import { createBpftraceDecoder } from '../../../agent/sensors/bpftrace-decode.js';
import { ebpfAvailable } from '../../../agent/sensors/ebpf.js';

t.test('defaults render every probe family', async (t) => {
  const s = renderScript();
  for (const probe of ['sched_process_exec', 'sched_process_fork', 'sched_process_exit', 'sys_enter_connect', 'sys_exit_connect',
    'net_dev_queue', 'netif_receive_skb', 'sys_enter_openat', 'sys_enter_openat2', 'sys_enter_creat', 'sys_enter_truncate',
    'sys_enter_renameat2', 'sys_enter_unlinkat', 'sys_enter_fchmodat', 'sys_enter_ptrace', 'sys_enter_process_vm_readv',
    'sys_enter_memfd_create', 'sys_enter_setuid', 'sys_enter_bpf', `interval:ms:${SCRIPT_DEFAULTS.writeFlushMillis}`]) {
    t.ok(s.includes(probe), probe);
  }
  t.match(s, /unroll\(4\)/);
  t.match(s, /\$n > 192 \? 192 : \$n/);
  t.match(s, /@xe\[tid\] = \(\$mm->arg_end > \$mm->arg_start && strncmp\(str\(args->filename\), str\(uptr\(\$mm->arg_start\)\), 200\) == 0\) \? 1 : 2;/, 'file name compared with argv[0]');
  t.match(s, /if \(@xe\[tid\] == 1\) \{\n    printf\("e\\t/, 'then one e record with the first chunk');
  t.match(s, /\$off = \(uint64\)\(@xe\[tid\] == 1 \? 192 : 0\);/, 'A records after it from the second chunk');
  t.notMatch(s, /@tr\[/, 'the whole host without trackPids');
  t.match(s, /\(args->flags & 579\) != 0/, 'write-open flag filter in the kernel');
  t.match(s, /if \(\(@wb\[pid\] < 64 \|\| .* & 0111\) != 0\) && @ws\[pid, \$p\] == 0\)/, 'first write-open per (pid, path) printed within the per-pid budget or with an execute bit');
  t.match(s, /@wc0\[pid, args->dfd, \$p\] = count\(\); @wn0\[pid\] = count\(\);/, 'beyond it, counted per (pid, dirfd, path) with a per-pid total');
  t.match(s, /@wg = 1 - @wg;\n  if \(@wg == 1\) \{ print\(@wc0\); clear\(@wc0\); print\(@wn0\); clear\(@wn0\); \}/, 'the idle generation is printed, then its totals');
  t.match(s, /sys_exit_unlink, tracepoint:syscalls:sys_exit_unlinkat \/@ul\[tid\]\/ \{\n  if \(args->ret == 0\)/, 'unlinks reported when they succeed');
});

t.test('options reach the program', async (t) => {
  const s = renderScript({ argvChunks: 2, argvChunkBytes: 100, sensitivePrefixes: ['/root/.npmrc', 'we"ird\\p'], excludePids: [4242, -1], writeFlushMillis: 5000, dnsPort: 5353, procReads: false });
  t.match(s, /unroll\(2\)/);
  t.match(s, /\$n > 100 \? 100 : \$n/);
  t.match(s, /strncmp\(str\(\$f\), "\/root\/\.npmrc", 12\) == 0/);
  t.ok(s.includes('"we\\"ird\\\\p", 8'), 'quotes and backslashes escaped, length in bytes');
  t.match(s, /pid != 4242/);
  t.notMatch(s, /pid != -1/);
  t.match(s, /interval:ms:5000 /);
  t.match(s, new RegExp(`== ${((5353 & 0xff) << 8) | (5353 >> 8)}\\b`), 'DNS port in network byte order');
  t.notMatch(s, /"\/proc\/", 6/);
});

t.test('headTest: the first two bytes of some prefix, or an unreadable string, pass to the full test', async (t) => {
  const cases: [string[], string | undefined][] = [
    [['/proc/'], '$h == 0 || $h == 28719'],                          // '/' 0x2f, 'p' 0x70: 0x702f
    [['/root/.npmrc', '/root/.aws/', '.ssh/id_'], '$h == 0 || $h == 29231 || $h == 29486'],
    [['/', '/proc/'], '$h == 0 || ($h & 0xff) == 47 || $h == 28719'], // a one-byte prefix: the first byte only
    [['/x', ''], undefined],                                           // an empty prefix matches everything
  ];
  for (const [prefixes, want] of cases) t.equal(headTest('$h', prefixes), want, prefixes.join(' '));
  const s = renderScript({ sensitivePrefixes: ['/root/.npmrc'] });
  t.match(s, /\$h = \*uptr\(\(uint16 \*\)\$f\);\n  if \(\$h == 0 \|\| \$h == 28719 \|\| \$h == 29231\) \{/, 'sensitive opens: the head test guards the strncmp chain');
  t.match(s, /if \(\(\$h == 0 \|\| \$h == 29283 .*\) && \(strncmp\(str\(\$f\), "credentials", 12\)/, 'dirfd opens too');
});

t.test('trackPids: every probe but DNS packets filtered to the tracked trees, children added at fork', async (t) => {
  const s = renderScript({ trackPids: [4242, 4242, -3], excludePids: [4242] });
  t.match(s, /BEGIN \{ @tr\[4242\] = 1; printf/, 'roots deduplicated, invalid ones dropped');
  t.match(s, /sched_process_fork \/\(curtask->flags & 2097152\) == 0 && @tr\[pid\]\/ \{\n  if \(\(@cf\[tid\] & 65536\) == 0\) \{[^]*@tr\[args->child_pid\] = 1;\n    if \(@tr\[args->child_pid\] == 0\) \{ printf\("Y/);
  t.match(s, /sched_process_exit \/@tr\[pid\] && curtask->signal->live.counter == 0\/ \{ delete\(@tr\[pid\]\); \}/, 'forgotten when the last thread exits');
  for (const probe of ['sched_process_exec', 'sys_enter_connect', 'sys_enter_process_vm_readv', 'sys_enter_memfd_create', 'sys_enter_clone3']) {
    t.match(s, new RegExp(`${probe} \\/@tr\\[pid\\]\\/ \\{`), probe);
  }
  for (const probe of ['sys_enter_openat', 'sys_enter_renameat2', 'sys_enter_unlinkat', 'sys_enter_fchmodat', 'sys_enter_ptrace', 'sys_enter_setuid', 'sys_enter_bpf', 'signal_generate']) {
    t.match(s, new RegExp(`${probe}(, [^/\\n]+)? \\/[^\\n]*pid != 4242 && @tr\\[pid\\]\\/|${probe}(, [^/\\n]+)? \\/[^\\n]*&& @tr\\[pid\\]\\/`), probe);
  }
  t.notMatch(s, /net_dev_queue \/|netif_receive_skb \//, 'DNS packets stay host-wide');
  t.throws(() => renderScript({ trackPids: Array.from({ length: 5000 }, (_, i) => i + 1) }), { name: 'RangeError' });
});

t.test('no sensitive probe without prefixes or /proc reads', async (t) => {
  t.notMatch(renderScript({ procReads: false, sensitivePrefixes: [] }), /@rs\[/);
});

t.test('dirfd-relative credential opens: rendered with the sensitive probes only, names matched whole', async (t) => {
  const s = renderScript({ sensitivePrefixes: ['/root/.npmrc'], excludePids: [77] });
  t.match(s, /sys_enter_openat \/\(int32\)args->dfd >= 0 && pid != 77\//);
  t.match(s, /strncmp\(str\(\$f\), "credentials", 12\) == 0/, 'length includes the NUL: credentials.bak does not match');
  t.match(s, /mnt_mountpoint/, 'the walk crosses mounts');
  t.notMatch(renderScript({ procReads: false, sensitivePrefixes: [] }), /mnt_mountpoint/);
  t.notMatch(renderScript({ sensitivePrefixes: ['/x'], dirfdSensitiveNames: [] }), /mnt_mountpoint/);
});

t.test('the kernel resolves the directory of `tar -C HOME .aws` (real bpftrace)', { skip: ebpfAvailable().ok ? false : 'no eBPF' }, async (t) => {
  const dir = t.testdir({ home: { '.aws': { credentials: '[default]\n', 'credentials.bak': 'x' }, '.docker': { 'config.json': '{}' } }, web: { 'config.json': '{}' } });
  const home = join(dir, 'home');
  const out = execFileSync('bpftrace', ['-f', 'json', '-e', renderDirfdOpens(SCRIPT_DEFAULTS.dirfdSensitiveNames),
    '-c', `/usr/bin/tar -C ${dir} -cf ${join(dir, 'o.tar')} home web`], { env: { ...process.env, ...SCRIPT_ENV }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  const d = createBpftraceDecoder({ wallOffsetNs: 0n, pathContext: { homes: [home] } });
  const reads = out.split('\n').flatMap((l) => d.push(l, 0n).events).filter((e) => e.kind === 'read' && e.comm === 'tar');
  t.same(reads.map((e) => e.kind === 'read' ? [e.read.path, e.read.pathClass] : []).sort(), [
    [join(home, '.aws/credentials'), 'credential-file'], [join(home, '.docker/config.json'), 'credential-file']]);
});

t.test('watcher signals: protected pids and comm prefixes, senders excluded', async (t) => {
  const s = renderScript({ excludePids: [4242], protectedPids: [5151] });
  t.match(s, /tracepoint:signal:signal_generate \/\(args->sig == 1 \|\|.*args->sig == 9 .*\) && pid != 4242\//);
  t.match(s, /args->pid == 4242 \|\| args->pid == 5151 \|\| strncmp\(args->comm, "runwarden", 9\) == 0 \|\| strncmp\(args->comm, "bpftrace", 8\) == 0/);
  t.equal(renderWatcherSignals([], []), '', 'nothing to protect: no probe');
});

t.test('a shell builtin kill -9 of a runwarden* process is seen in the kernel (real bpftrace)', { skip: ebpfAvailable().ok ? false : 'no eBPF' }, async (t) => {
  const dir = t.testdir({});
  symlinkSync('/usr/bin/sleep', join(dir, 'runwarden-agent'));
  const script = 'BEGIN { printf("H\\n"); }\n' + renderWatcherSignals([], ['runwarden']);
  const bt = spawn('bpftrace', ['-f', 'json', '-e', script], { env: { ...process.env, ...SCRIPT_ENV }, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  bt.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  const until = async (re: RegExp) => { for (let i = 0; i < 300 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 50)); };
  await until(/"H/);
  const victim = spawn(join(dir, 'runwarden-agent'), ['30'], { stdio: 'ignore' });
  const other = spawn('/usr/bin/sleep', ['30'], { stdio: 'ignore' });
  execFileSync('bash', ['-c', `kill -9 ${victim.pid}; kill -9 ${other.pid}`]);
  await until(/"T\\t/);
  await new Promise((r) => setTimeout(r, 300));
  bt.kill('SIGINT');
  await new Promise((r) => bt.on('close', r));
  const d = createBpftraceDecoder({ wallOffsetNs: 0n });
  const acc = out.split('\n').flatMap((l) => d.push(l, 0n).events).filter((e) => e.kind === 'access');
  t.same(acc.map((e) => e.kind === 'access' ? [e.comm, e.access.kind, e.access.targetPid, e.access.detail] : []), [['bash', 'KILL_WATCHER', victim.pid, 'signal 9']]);
});

t.test('refuses what the program cannot carry', async (t) => {
  const bad: [string, Parameters<typeof renderScript>[0]][] = [
    ['argvChunkBytes', { argvChunkBytes: 193 }], ['argvChunkBytes', { argvChunkBytes: 8 }], ['argvChunks', { argvChunks: 0 }],
    ['argvChunks', { argvChunks: 17 }], ['writeFlushMillis', { writeFlushMillis: 50 }], ['writeBudget', { writeBudget: -1 }], ['dnsPort', { dnsPort: 70000 }],
    ['control character', { sensitivePrefixes: ['/tmp/\n'] }],
  ];
  for (const [msg, opts] of bad) t.throws(() => renderScript(opts), { name: 'RangeError', message: new RegExp(msg) }, msg);
  t.equal(bpfStringLiteral('/a b'), '"/a b"');
  // bpftrace 0.17 refuses literals over 63 bytes: long prefixes are cut in the kernel filter, checked whole in user space.
  const long = '/tmp/rw-scenario-k96cb8r_/home/.config/gcloud/application_default_credentials.json';
  const script = renderScript({ sensitivePrefixes: [long, long.slice(0, 70)] });
  t.notMatch(script, long.slice(0, 64), 'no literal over 63 bytes');
  t.equal(script.split(`"${kernelPrefix(long)}"`).length, 2, 'cut prefixes deduplicated');
  t.equal(Buffer.byteLength(kernelPrefix(long)), 63);
  t.equal(kernelPrefix('/short'), '/short');
});
