// agent/sensors/ptrace.ts: a real command wrapped in strace gives exec/fork/exit, connect, file and access events,
// and the same process tree as the eBPF sensor watching the same run.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createPtraceSensor } from '../../../agent/sensors/ptrace.js';
import { createEbpfSensor, ebpfAvailable } from '../../../agent/sensors/ebpf.js';
import type { Sensor, SensorEvent } from '../../../agent/sensors/types.js';
import { descendants, ofKind } from './helpers.js';

function runWrapped(argv: string[]): Promise<{ pid: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
    c.on('error', reject);
    c.on('close', (code) => resolve({ pid: c.pid!, code }));
  });
}

/** The tree as "parent argv -> child argv" lines, independent of pid numbers. */
function treeOf(evs: SensorEvent[], rootPid: number): string[] {
  const sorted = [...evs].sort((a, b) => a.tsNs - b.tsNs);
  const pids = descendants(sorted, rootPid);
  const parent = new Map<number, number>();
  for (const f of ofKind(sorted, 'fork')) if (pids.has(f.pid) && f.fork.childPid) parent.set(f.fork.childPid, f.pid);
  const argvOf = new Map<number, string>();
  const lines: string[] = [];
  for (const e of ofKind(sorted, 'exec')) {
    if (!pids.has(e.pid)) continue;
    const me = (e.exec.argv ?? []).join(' ');
    const p = parent.get(e.pid);
    lines.push(`${p === undefined ? 'ROOT' : argvOf.get(p) ?? '?'} -> ${me}`);
    argvOf.set(e.pid, me);
  }
  return lines.sort();
}

const collect = (s: Sensor) => { const evs: SensorEvent[] = []; s.onEvent((e) => evs.push(e)); return evs; };

t.test('wrapped command: processes, connect, files, proc reads', async (t) => {
  const dir = t.testdir();
  const server = createServer((s) => { s.on('error', () => undefined); s.end(); });
  await new Promise<void>((r) => server.listen(0, '127.3.3.3', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const s = createPtraceSensor();
  const evs = collect(s);
  await s.start();
  t.equal(s.status().sensor, 'ptrace');
  t.ok(s.status().blindSpots.some((b) => /DNS/.test(b)));
  const f = join(dir, 'a.txt');
  const script = `echo 1 > ${f}; echo 2 >> ${f}; mv ${f} ${f}.x; chmod +x ${f}.x; rm ${f}.x; sleep 5 & S=$!; ` +
    `python3 -c "import socket,sys; socket.create_connection(('127.3.3.3', ${port})).close(); open('/proc/%s/environ' % sys.argv[1],'rb').read()" $S; kill $S; exit 4`;
  const r = await runWrapped(s.wrap!(['/bin/sh', '-c', script]));
  await s.close();
  t.equal(r.code, 4, 'exit status of the command passes through strace');
  const root = ofKind(evs, 'exec').find((e) => e.exec.argv?.[2] === script);
  t.ok(root, 'root exec with its argv');
  t.match(ofKind(evs, 'exit').find((e) => e.pid === root?.pid), { exit: { code: 4 } });
  const execs = ofKind(evs, 'exec').filter((e) => e.ppid === root?.pid).map((e) => e.comm);
  for (const c of ['mv', 'chmod', 'rm', 'sleep']) t.ok(execs.includes(c), `${c} exec, parent is the shell`);
  const net = ofKind(evs, 'net').find((e) => e.net.dstIp === '127.3.3.3');
  t.match(net, { net: { family: 'INET', dstPort: port, result: 0 } });
  const files = ofKind(evs, 'file');
  t.same(files.filter((e) => e.file.path === f && e.file.op === 'OPEN_WRITE').map((e) => e.file.count), [1, 1], 'first write-open, then the repeat count');
  t.match(files.find((e) => e.file.op === 'RENAME'), { file: { path: f, newPath: `${f}.x` } });
  t.match(files.find((e) => e.file.op === 'CHMOD'), { file: { path: `${f}.x`, mode: 0o755 } });
  t.match(files.find((e) => e.file.op === 'UNLINK'), { file: { path: `${f}.x` } });
  const sleepPid = ofKind(evs, 'exec').find((e) => e.comm === 'sleep')?.pid;
  t.match(ofKind(evs, 'read').find((e) => e.read.pathClass === 'proc-environ'), { read: { targetPid: sleepPid } });
});

t.test('close without wrap does not hang', async (t) => {
  const s = createPtraceSensor({ closeTimeoutMillis: 2000 });
  await s.start();
  const t0 = Date.now();
  await s.close();
  t.ok(Date.now() - t0 < 2500);
  t.equal(s.status().running, false);
});

t.test('same workload: same process tree under eBPF and ptrace', { skip: ebpfAvailable().ok ? false : 'no eBPF here' }, async (t) => {
  const e = createEbpfSensor();
  const eEvs = collect(e);
  await e.start();
  t.teardown(() => e.close());
  const p = createPtraceSensor();
  const pEvs = collect(p);
  await p.start();
  const script = 'marker=tree-compare; /bin/true a; /bin/sh -c "/bin/true b; /bin/echo c > /dev/null"; (/bin/true d); /bin/true e &  wait';
  const r = await runWrapped(p.wrap!(['/bin/sh', '-c', script]));
  await p.close();
  t.equal(r.code, 0);
  await new Promise((res) => setTimeout(res, 1000));
  await e.close();
  const pRoot = ofKind(pEvs, 'exec').find((x) => x.exec.argv?.[2] === script)!;
  const eRoot = ofKind(eEvs, 'exec').find((x) => x.exec.argv?.[2] === script && x.ppid === r.pid)!;
  t.ok(pRoot && eRoot, 'root seen by both');
  const pt = treeOf(pEvs, pRoot.pid);
  const et = treeOf(eEvs, eRoot.pid);
  t.ok(pt.length >= 6, `tree has ${pt.length} execs`);
  t.same(et, pt);
});
