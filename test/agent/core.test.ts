// agent/core.ts: held secrets read from the real /proc environ (cached per content), plain-file aggregation
// per (program, op, directory) whose counts add up, the classes that are never aggregated, and an aggregated file the
// job then runs sent on its own.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import pino from 'pino';
import { createAgentCore } from '../../agent/core.js';
import type { Attribution } from '../../agent/core.js';
import type { EventDraft } from '../../agent/uplink.js';
import type { SensorEvent } from '../../agent/sensors/types.js';

function setup(now = { ns: 1e18 }, hostEvents = false) {
  const sent: EventDraft[] = [];
  const attribution: Attribution = {
    registerJob: () => undefined, unregisterJob: () => undefined, observe: () => undefined,
    jobOf: (pid) => (pid === 4242 ? undefined : 'j1'), ancestry: () => [], domainFor: () => undefined, members: () => [],
  };
  const core = createAgentCore({
    host: 'h', policy: { trusted: [], allow: [] } as never, resolvers: new Set(), attribution, enqueue: (d) => sent.push(d),
    installKey: new Uint8Array(32), secretsConfig: { names: [], patterns: [] }, logger: pino({ level: 'silent' }), nowNs: () => now.ns, hostEvents,
  });
  core.startJob('j1', {}, 0, { API_TOKEN: 'tok-0123456789abcdef' }, { workspace: '/ws', home: '/home/u', tracked: new Set(['src/a.c']) });
  return { core, sent, now };
}

/** A core for which every pid is of job j1, whose live members are what `members()` says (the piped-stdin tests). */
function withMembers(members: () => number[]) {
  const sent: EventDraft[] = [];
  const attribution: Attribution = {
    registerJob: () => undefined, unregisterJob: () => undefined, observe: () => undefined,
    jobOf: () => 'j1', ancestry: () => [], domainFor: () => undefined, members,
  };
  const core = createAgentCore({
    host: 'h', policy: { trusted: [], allow: [] } as never, resolvers: new Set(), attribution, enqueue: (d) => sent.push(d),
    installKey: new Uint8Array(32), secretsConfig: { names: [], patterns: [] }, logger: pino({ level: 'silent' }), nowNs: () => 1e18, hostEvents: false,
  });
  return { core, sent };
}

const file = (pid: number, path: string, extra: Record<string, unknown> = {}): SensorEvent =>
  ({ kind: 'file', tsNs: 1, pid, file: { op: 'CREATE', path, count: 1, ...extra } }) as SensorEvent;

t.test('plain new files beyond the per-directory budget leave as one aggregate; counts add up', async (t) => {
  const { core, sent, now } = setup();
  for (let i = 0; i < 100; i++) core.onSensorEvent(file(process.pid, `/ws/out/f${i}.txt`, i === 99 ? { count: 3 } : {}));
  const ones = sent.filter((d) => d.kind === 'file' && d.file.path?.startsWith('/ws/out/f'));
  t.equal(ones.length, 32, 'the first 32 one by one');
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path === '/ws/out/*').length, 0, 'the aggregate waits for its window');
  now.ns += 2e9;
  core.onSensorEvent(file(process.pid, '/ws/.github/workflows/x.yml'));
  const agg = sent.filter((d) => d.kind === 'file' && d.file.path === '/ws/out/*');
  t.equal(agg.length, 1, 'sent after the window on the next event');
  const a = agg[0] as Extract<EventDraft, { kind: 'file' }>;
  t.equal(a.file.count, 70, '68 files, one opened 3 times');
  t.match(a.file.contentHint, /^aggregated: 68 files, 70 write-opens; e\.g\. f32\.txt, f33\.txt/);
  t.equal(a.file.pathClass, 'workspace');
  t.ok(sent.some((d) => d.kind === 'file' && d.file.path === '/ws/.github/workflows/x.yml'), 'a dot path goes one by one');
  await core.endJob('j1', 0);
});

t.test('a program run once per file (a make\'s compilers) aggregates across its processes; other programs apart', async (t) => {
  const { core, sent, now } = setup();
  const cc = (pid: number, path: string): SensorEvent => ({ ...file(pid, path), comm: 'cc1', exe: '/usr/libexec/gcc/cc1' }) as SensorEvent;
  for (let i = 0; i < 200; i++) core.onSensorEvent(cc(10_000 + i, `/tmp/cc${i}.s`));
  for (let i = 0; i < 40; i++) core.onSensorEvent({ ...file(20_000 + i, `/tmp/as${i}.o`), comm: 'as', exe: '/usr/bin/as' } as SensorEvent);
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path?.startsWith('/tmp/cc')).length, 32, 'the compiler\'s first 32 files one by one, though each came from a new process');
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path?.startsWith('/tmp/as')).length, 32, 'another program in the same directory has its own budget');
  now.ns += 2e9;
  await core.endJob('j1', 0);
  const aggs = sent.filter((d): d is Extract<EventDraft, { kind: 'file' }> => d.kind === 'file' && d.file.path === '/tmp/*');
  t.equal(aggs.length, 2, 'one aggregate per program');
  const c = aggs.find((a) => a.exe === '/usr/libexec/gcc/cc1');
  t.equal(c?.file.count, 168);
  t.match(c?.file.contentHint, /^aggregated: 168 files, 168 write-opens by 168 processes; e\.g\. cc32\.s/);
  t.equal(c?.pid, 10_032, 'the aggregate names its first writer');
});

t.test('a file the job wrote inside an aggregate and then runs is sent on its own, with its writer, before the exec', async (t) => {
  const { core, sent } = setup();
  const w = (i: number): SensorEvent => ({ ...file(30_000 + i, `/tmp/drop/p${i}`), comm: 'curl', exe: '/usr/bin/curl' }) as SensorEvent;
  for (let i = 0; i < 50; i++) core.onSensorEvent(w(i));
  core.onSensorEvent({ kind: 'file', tsNs: 2, pid: 30_045, comm: 'curl', exe: '/usr/bin/curl', file: { op: 'UNLINK', path: '/tmp/drop/p45', count: 1 } } as SensorEvent);
  t.notOk(sent.some((d) => d.kind === 'file' && d.file.path === '/tmp/drop/p40'), 'p40 is inside the aggregate so far');
  const exec = (pid: number, exe: string, argv: string[]): number => {
    core.onSensorEvent({ kind: 'exec', tsNs: 3, pid, ppid: 1, exe, exec: { argv, cwd: '/tmp/drop' } } as SensorEvent);
    let i = sent.length - 1;
    while (i >= 0 && !(sent[i]!.kind === 'exec' && sent[i]!.pid === pid)) i--;
    return i;
  };
  const e1 = exec(31_000, '/bin/sh', ['sh', 'p40']);
  const ones = sent.map((d, i) => ({ d, i })).filter(({ d }) => d.kind === 'file' && d.file.path === '/tmp/drop/p40');
  t.equal(ones.length, 1, 'an interpreter\'s script (relative to the cwd) that left only in the aggregate goes out on its own');
  const one = ones[0]!;
  t.ok(one.i < e1, 'before the exec that runs it');
  t.match(one.d, { pid: 30_040, comm: 'curl', exe: '/usr/bin/curl', tsNs: 1, file: { op: 'CREATE', pathClass: 'tmp', count: 1 } }, 'with its writer and time');
  exec(31_001, '/tmp/drop/p41', ['/tmp/drop/p41']);
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path === '/tmp/drop/p41').length, 1, 'an executable itself, the same');
  exec(31_002, '/bin/sh', ['sh', 'p40']);
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path === '/tmp/drop/p40').length, 1, 'once');
  exec(31_003, '/bin/sh', ['sh', 'p45']);
  t.notOk(sent.some((d) => d.kind === 'file' && d.file.path === '/tmp/drop/p45' && d.file.op !== 'UNLINK'), 'an unlinked file is not');
  exec(31_004, '/bin/sh', ['sh', 'p3']);
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path === '/tmp/drop/p3').length, 1, 'a file sent one by one before is not sent again');
  await core.endJob('j1', 0);
});

t.test('what matters is never aggregated, and job end sends what is pending', async (t) => {
  const { core, sent } = setup();
  for (let i = 0; i < 40; i++) core.onSensorEvent(file(process.pid, `/ws/d/g${i}`));
  for (let i = 0; i < 40; i++) core.onSensorEvent(file(process.pid, `/usr/local/lib/x${i}.so`));
  for (let i = 0; i < 40; i++) core.onSensorEvent(file(process.pid, `/ws/bin/run${i}`, { mode: 0o755 }));
  core.onSensorEvent(file(process.pid, '/ws/src/a.c', { op: 'OPEN_WRITE' }));
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path?.startsWith('/usr/local/lib/x')).length, 40, 'system paths one by one');
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.path?.startsWith('/ws/bin/run')).length, 40, 'executable creates one by one');
  t.ok(sent.some((d) => d.kind === 'file' && d.file.path === '/ws/src/a.c' && d.file.pathClass === 'workspace-tracked'), 'tracked file one by one');
  await core.endJob('j1', 0);
  const agg = sent.filter((d) => d.kind === 'file' && d.file.path === '/ws/d/*');
  t.equal(agg.length, 1);
  t.equal((agg[0] as Extract<EventDraft, { kind: 'file' }>).file.count, 8);
  t.notOk(sent.some((d) => d.kind === 'file' && d.file.path === '/ws/bin/*'), 'no aggregate for executables');
  const endAt = sent.findIndex((d) => d.kind === 'jobEnd');
  t.ok(endAt > sent.indexOf(agg[0]!), 'the aggregate precedes jobEnd');
});

t.test('held secrets come from the process environment, also for processes already gone', async (t) => {
  const { core, sent } = setup();
  const kids = [
    spawn('sleep', ['5'], { env: { PATH: process.env.PATH, API_TOKEN: 'tok-0123456789abcdef' } }),
    spawn('sleep', ['5'], { env: { PATH: process.env.PATH, API_TOKEN: 'tok-0123456789abcdef' } }),
    spawn('sleep', ['5'], { env: { PATH: process.env.PATH } }),
    spawn('sleep', ['5'], { env: { PATH: process.env.PATH, NEW_SECRET: 'n3w-s3cr3t-value-xyz' } }),
  ];
  t.teardown(() => { for (const k of kids) k.kill(); });
  await new Promise((r) => setTimeout(r, 200)); // exec'ed: /proc/<pid>/environ is sleep's
  const execOf = (pid: number, ppid: number) => {
    core.onSensorEvent({ kind: 'exec', tsNs: 1, pid, ppid, exe: '/bin/sleep', exec: { argv: ['sleep', '5'] } });
    return sent.filter((d) => d.kind === 'exec').at(-1)?.secretNames;
  };
  t.same(execOf(kids[0]!.pid!, process.pid), ['API_TOKEN']);
  t.same(execOf(kids[1]!.pid!, process.pid), ['API_TOKEN'], 'same environment (cached)');
  t.same(execOf(kids[2]!.pid!, process.pid), []);
  t.same(execOf(kids[3]!.pid!, process.pid), ['NEW_SECRET'], 'an undeclared secret is discovered');
  t.same(execOf(0x3fffff0, kids[0]!.pid!), ['API_TOKEN'], 'a process gone before its environ was read inherits its parent\'s names');
  await core.endJob('j1', 0);
});

t.test('a step that holds a known secret name with another value: the new value is a secret of the job too (redacted, scanned)', async (t) => {
  const { core, sent } = setup();
  const other = 'tok-ffffeeeeddddcccc9999';
  const kid = spawn('sleep', ['5'], { env: { PATH: process.env.PATH, API_TOKEN: other } });
  t.teardown(() => kid.kill());
  await new Promise((r) => setTimeout(r, 200));
  core.onSensorEvent({ kind: 'exec', tsNs: 1, pid: kid.pid!, ppid: process.pid, exe: '/bin/sleep', exec: { argv: ['sleep', '5'] } });
  t.ok(core.secretsOf('j1').some((s) => s.name === 'API_TOKEN' && s.value === other), 'the step\'s value joins the job\'s secrets');
  // A later process prints it: argv redacted, the exposure reported.
  core.onSensorEvent({ kind: 'exec', tsNs: 2, pid: 0x3fffff1, ppid: kid.pid!, exe: '/usr/bin/curl', exec: { argv: ['curl', '-H', `Authorization: ${other}`, 'http://x'] } });
  const wire = JSON.stringify(sent);
  t.notOk(wire.includes(other), 'the value is in no event');
  t.ok(sent.some((d) => d.kind === 'secret' && d.secretNames?.includes('API_TOKEN')), 'its exposure in argv is reported');
  await core.endJob('j1', 0);
});

t.test('a piped stdin: its writer found among the job\'s processes, remembered for processes that inherit the pipe', async (t) => {
  // outer sh → sleep (stdout: the pipe) | sh (stdin: the pipe) → sleep (stdin inherited from that sh)
  const outer = spawn('sh', ['-c', 'sleep 5 | sh -c "sleep 5; true"'], { stdio: 'ignore' });
  t.teardown(() => { spawn('pkill', ['-P', String(outer.pid)]); outer.kill(); });
  const kids = (pid: number): number[] => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  let reader = 0;
  let writer = 0;
  let inner = 0;
  for (let i = 0; i < 50 && !inner; i++) {
    await new Promise((r) => setTimeout(r, 50));
    for (const k of kids(outer.pid!)) {
      if (comm(k) === 'sh') reader = k;
      else writer = k;
    }
    if (reader) inner = kids(reader)[0] ?? 0;
  }
  t.ok(writer && reader && inner, 'the pipeline is up');
  let members = [outer.pid!, writer, reader, inner];
  const { core, sent } = withMembers(() => members);
  core.startJob('j1', {}, outer.pid!, {}, { workspace: '/ws' });
  const execOf = (pid: number, ppid: number) => {
    core.onSensorEvent({ kind: 'exec', tsNs: 1, pid, ppid, exe: '/bin/sh', exec: { argv: ['sh'] } });
    const d = sent.filter((x) => x.kind === 'exec').at(-1);
    return d?.kind === 'exec' ? d.exec : undefined;
  };
  t.match(execOf(reader, outer.pid!), { stdin: 'pipe', stdinPeerComm: 'sleep' }, 'a fresh pipe: its writer is found');
  members = []; // nothing left to search: the answer can only come from the pipe seen before
  t.match(execOf(inner, reader), { stdin: 'pipe', stdinPeerComm: 'sleep' }, 'an inherited pipe: the writer is remembered');
  t.notOk(execOf(writer, outer.pid!)?.stdinPeerComm, 'the writer itself reads no pipe');
  // The parent gone (a build's usual case by the time a child's exec is read): its stdin as read at its exec says the
  // pipe was inherited; the old code searched the job again (nothing here) and lost the writer.
  process.kill(reader, 'SIGKILL');
  for (let i = 0; i < 50 && existsSync(`/proc/${reader}/fd/0`); i++) await new Promise((r) => setTimeout(r, 20));
  t.notOk(existsSync(`/proc/${reader}/fd/0`), 'the reader shell is gone');
  t.match(execOf(inner, reader), { stdin: 'pipe', stdinPeerComm: 'sleep' }, 'inherited from a parent that is gone: the writer is remembered');
  await core.endJob('j1', 0);
});

t.test('a pipe with no writer shared by many readers (make -j\'s stdin): searched once per process, a later writer still found', async (t) => {
  // a: the reader of a pipe P whose writer (`true`) has exited, as each job of a `make -j` but one reads a pipe make
  // keeps no writer on. (Node's own 'pipe' stdio is a socket pair, so the shell makes the pipe.)
  const outer = spawn('sh', ['-c', 'true | sleep 30'], { stdio: 'ignore' });
  const kids: ChildProcess[] = [outer];
  t.teardown(() => { spawn('pkill', ['-KILL', '-P', String(outer.pid)]); for (const k of kids) k.kill('SIGKILL'); });
  let a = 0;
  for (let i = 0; i < 100 && !a; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const k = readFileSync(`/proc/${outer.pid}/task/${outer.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    a = k.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'sleep') ?? 0;
  }
  const pipe = readlinkSync(`/proc/${a}/fd/0`);
  t.match(pipe, /^pipe:/);
  // c: a member whose stdout is not P when the first reader is enriched; on a line from the test it redirects its
  // stdout to P without an exec, as a forked subshell could.
  const c = spawn('sh', ['-c', `read _; exec 1>/proc/${a}/fd/0; exec sleep 30`], { stdio: ['pipe', 'ignore', 'ignore'] });
  kids.push(c);
  let members: number[] = [a, c.pid!];
  const { core, sent } = withMembers(() => members);
  core.startJob('j1', {}, process.pid, {}, { workspace: '/ws' });
  const execOf = (pid: number) => {
    // The parent is this process, whose stdin is not P: the pipe is not inherited, so its writer is searched for.
    core.onSensorEvent({ kind: 'exec', tsNs: 1, pid, ppid: process.pid, exe: '/bin/sleep', exec: { argv: ['sleep'] } });
    const d = sent.filter((x) => x.kind === 'exec').at(-1);
    return d?.kind === 'exec' ? d.exec : undefined;
  };
  const reader = (): ChildProcess => {
    const fd = openSync(`/proc/${a}/fd/0`, 'r');
    const k = spawn('sleep', ['30'], { stdio: [fd, 'ignore', 'ignore'] });
    closeSync(fd);
    kids.push(k);
    members.push(k.pid!);
    return k;
  };
  const r1 = execOf(a);
  t.equal(r1?.stdin, 'pipe');
  t.notOk(r1?.stdinPeerComm, 'no writer: c\'s stdout is not the pipe yet');
  c.stdin!.write('go\n');
  for (let i = 0; i < 100 && (() => { try { return readlinkSync(`/proc/${c.pid}/fd/1`) !== pipe; } catch { return true; } })(); i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(readlinkSync(`/proc/${c.pid}/fd/1`), pipe, 'c now writes to the pipe');
  // A second reader of the same pipe: c was looked at for it already and is not looked at again (the cost of one
  // search per compiler of a build, over the same processes). The limit this leaves: a looked-at process that takes
  // the pipe as its stdout later without an exec (an exec is seen: pipeOut).
  t.notOk(execOf(reader().pid!)?.stdinPeerComm, 'a member already looked at for this pipe is not read again');
  // A new member that writes to the pipe is found by the next reader's search.
  const wfd = openSync(`/proc/${a}/fd/0`, 'w');
  const w = spawn('sleep', ['30'], { stdio: ['ignore', wfd, 'ignore'] });
  closeSync(wfd);
  kids.push(w);
  members.push(w.pid!);
  for (let i = 0; i < 100 && (() => { try { return readlinkSync(`/proc/${w.pid}/fd/1`) !== pipe; } catch { return true; } })(); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(execOf(reader().pid!), { stdin: 'pipe', stdinPeerComm: 'sleep' }, 'a writer that came later is found');
  members = [];
  t.match(execOf(reader().pid!), { stdin: 'pipe', stdinPeerComm: 'sleep' }, 'and remembered for the pipe');
  await core.endJob('j1', 0);
});

t.test('exec info from the kernel: stdin, stdout and the pipe\'s writer of processes already gone; the cgroup by its id', async (t) => {
  const { core, sent } = setup();
  const gone = 0x3ffff00; // no such process: /proc says nothing
  const exec = (pid: number, comm: string, execInfo: SensorEvent['execInfo']) => {
    core.onSensorEvent({ kind: 'exec', tsNs: 1, pid, ppid: 1, comm, exe: `/usr/bin/${comm}`, exec: { argv: [comm] }, execInfo } as SensorEvent);
    const d = sent.filter((x) => x.kind === 'exec').at(-1);
    return d?.kind === 'exec' ? d.exec : undefined;
  };
  // curl … | sh, both exited before their execs are read: the old path (readlink of fd 0) knew nothing of either.
  const pipe = { kind: 'pipe', target: 'pipe:[9001]' } as const;
  t.match(exec(gone, 'curl', { cgroupId: '0', fd0: { kind: 'null' }, fd1: pipe }), { stdin: 'null', stdout: 'pipe' });
  const sh = exec(gone + 1, 'sh', { cgroupId: '0', fd0: pipe, fd1: { kind: 'tty' } });
  t.match(sh, { stdin: 'pipe', stdout: 'tty', stdinPeerComm: 'curl' }, 'the writer known from its exec, though it is gone');
  t.notOk(exec(gone + 2, 'sh', { cgroupId: '0', fd0: { kind: 'pipe', target: 'pipe:[9002]' }, fd1: undefined })?.stdinPeerComm, 'a pipe no process of the job wrote: no writer');
  t.notOk(exec(gone + 3, 'true', { cgroupId: '0', fd0: undefined, fd1: undefined })?.stdin, 'a closed stdin: none');
  t.equal(exec(gone + 3, 'true', { cgroupId: '0', cwd: '/ws/sub', fd0: undefined, fd1: undefined })?.cwd, '/ws/sub', 'the cwd of a gone process, from the kernel');
  // The cgroup: learned from a live process whose cgroup directory has that id, then given to gone ones.
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  if (!line || !mount) { t.comment('no cgroup v2 here'); await core.endJob('j1', 0); return; }
  const path = line.slice(3);
  const id = String(statSync(join(mount, path), { bigint: true }).ino);
  t.equal(exec(gone + 4, 'cc', { cgroupId: id, fd0: undefined, fd1: undefined })?.cgroup, undefined, 'an id not seen yet, the process gone: no cgroup');
  t.equal(exec(process.pid, 'node', { cgroupId: '12345678901', fd0: undefined, fd1: undefined })?.cgroup, path, 'a live process: its cgroup from /proc');
  t.equal(exec(gone + 5, 'cc', { cgroupId: '12345678901', fd0: undefined, fd1: undefined })?.cgroup, undefined, 'an id that is not that directory\'s inode is not learned');
  t.equal(exec(process.pid, 'node', { cgroupId: id, fd0: undefined, fd1: undefined })?.cgroup, path);
  t.equal(exec(gone + 6, 'cc', { cgroupId: id, fd0: undefined, fd1: undefined })?.cgroup, path, 'the id learned: a gone process gets its cgroup');
  await core.endJob('j1', 0);
});

t.test('events outside every job: dropped before enrichment in run mode, kept by the host daemon', async (t) => {
  for (const host of [false, true]) {
    const { core, sent } = setup({ ns: 1e18 }, host);
    core.onSensorEvent({ kind: 'read', tsNs: 1, pid: 4242, read: { path: `/proc/${process.pid}/environ` } });
    const got = sent.filter((d) => d.kind === 'read');
    t.equal(got.length, host ? 1 : 0, host ? 'daemon keeps it' : 'run drops it');
    if (host) t.equal((got[0] as Extract<EventDraft, { kind: 'read' }>).read.targetPid, process.pid, 'enriched with its target');
    await core.endJob('j1', 0);
  }
});

t.test('unlinks of plain files aggregate apart from writes in the same directory', async (t) => {
  const { core, sent } = setup();
  for (let i = 0; i < 50; i++) core.onSensorEvent(file(process.pid, `/tmp/x/h${i}`, { op: 'UNLINK' }));
  for (let i = 0; i < 40; i++) core.onSensorEvent(file(process.pid, `/tmp/x/n${i}`));
  await core.endJob('j1', 0);
  const aggs = sent.filter((d): d is Extract<EventDraft, { kind: 'file' }> => d.kind === 'file' && d.file.path === '/tmp/x/*');
  t.same(aggs.map((a) => [a.file.op, a.file.count, a.file.pathClass]).sort(), [['OPEN_WRITE', 8, 'tmp'], ['UNLINK', 18, 'tmp']]);
  t.match(aggs.find((a) => a.file.op === 'UNLINK')?.file.contentHint, /^aggregated: 18 files unlinked; e\.g\. h32, h33/);
  t.equal(sent.filter((d) => d.kind === 'file' && d.file.op === 'UNLINK' && d.file.path !== '/tmp/x/*').length, 32);
});
