// agent/sensors/kernel-program.ts: the libbpf sensor and bpftrace watch the same workload at the same time and
// report the same events (kinds, pids, argv, paths, targets); the libbpf sensor's losses are counted, not silent.
import t from 'tap';
import type { Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createEbpfSensor, ebpfAvailable } from '../../../agent/sensors/ebpf.js';
import { libbpfSensorPath } from '../../../agent/sensors/kernel-program.js';
import type { LoaderLimits } from '../../../agent/sensors/libbpf-args.js';
import type { Sensor, SensorEvent, SensorStatus } from '../../../agent/sensors/types.js';
import { descendants, encodeName, ofKind, startDns } from './helpers.js';

const bothThere = ebpfAvailable().ok && libbpfSensorPath() !== undefined && spawnSync('bpftrace', ['--version']).status === 0;
const skip = bothThere ? false : 'needs root, BTF, bpftrace and the built libbpf sensor';

function collect(s: Sensor): SensorEvent[] { const evs: SensorEvent[] = []; s.onEvent((e) => evs.push(e)); return evs; }

function runShell(script: string, env: Record<string, string>): Promise<{ pid: number; code: number | null }> {
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/bash', ['-c', script], { stdio: 'ignore', env: { ...process.env, ...env } });
    c.on('error', reject);
    c.on('close', (code) => resolve({ pid: c.pid!, code }));
  });
}

/** The events of the tree under root as comparable lines; write-opens summed per (pid, op, path). */
/** rm -r unlinks through a directory fd: fd:N/name, or the path /proc/<pid>/fd/N gave while rm lived. */
const dirfdForm = (p: string | undefined, dirs: string[]): string | undefined => {
  if (!p) return p;
  if (/^fd:\d+\//.test(p)) return `<dirfd>/${p.slice(p.indexOf('/') + 1)}`;
  for (const d of dirs) if (p.startsWith(d + '/')) return `<dirfd>/${p.slice(d.length + 1)}`;
  return p;
};

function normalize(evs: SensorEvent[], root: number, dirfdDirs: string[] = []): string[] {
  const pids = descendants(evs, root);
  const lines: string[] = [];
  const writes = new Map<string, number>();
  for (const e of evs) {
    if (!pids.has(e.pid)) continue;
    switch (e.kind) {
      case 'exec': lines.push(`exec ${e.pid} ppid=${e.ppid} exe=${e.exe} argv=${JSON.stringify(e.exec.argv)} cut=${e.exec.argvTruncated ?? false}`); break;
      case 'fork': lines.push(`fork ${e.pid} child=${e.fork.childPid}`); break;
      case 'exit': lines.push(`exit ${e.pid} code=${e.exit.code} signal=${e.exit.signal}`); break;
      case 'net': lines.push(`net ${e.pid} ${e.net.family} ${e.net.dstIp} ${e.net.dstPort} result=${e.net.result}`); break;
      case 'dns': lines.push(`dns ${e.pid} ${e.dns.name} ${e.dns.qtype} ${JSON.stringify(e.dns.answers)} ${e.dns.server}`); break;
      case 'read': lines.push(`read ${e.pid} ${e.read.path} ${e.read.pathClass} target=${e.read.targetPid}`); break;
      case 'access': lines.push(`access ${e.pid} ${e.access.kind} target=${e.access.targetPid} ${e.access.detail}`); break;
      case 'file': {
        if (e.file.op === 'OPEN_WRITE' || e.file.op === 'CREATE' || e.file.op === 'TRUNCATE') {
          const k = `write ${e.pid} ${e.file.path}`;
          writes.set(k, (writes.get(k) ?? 0) + (e.file.count ?? 1));
        } else lines.push(`file ${e.pid} ${e.file.op} ${dirfdForm(e.file.path, dirfdDirs)} -> ${e.file.newPath} mode=${e.file.mode}`);
        break;
      }
      default: break;
    }
  }
  for (const [k, n] of writes) lines.push(`${k} ×${n}`);
  return lines.sort();
}

t.test('same workload, same events under the libbpf sensor and bpftrace', { skip }, async (t) => {
  const dir = t.testdir({ home: { '.aws': { credentials: '[default]\n' } }, bin: {} });
  const home = join(dir, 'home');
  symlinkSync('/usr/bin/sleep', join(dir, 'bin', 'runwarden-cmp'));
  const server = createServer((s) => { s.on('error', () => undefined); s.end(); });
  await new Promise<void>((resolve) => server.listen(0, '127.3.3.4', resolve));
  const port = (server.address() as { port: number }).port;
  t.teardown(() => server.close());
  const dns = await startDns('127.57.57.57', { 'cmp.example.test': '127.3.3.4' });
  t.teardown(() => dns.close());
  const query = Buffer.concat([Buffer.from([0x4b, 0x1d, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), encodeName('cmp.example.test'), Buffer.from([0, 1, 0, 1])]);

  const opts = { pathContext: { homes: [home] } };
  const lb = createEbpfSensor({ ...opts, kernelProgram: 'libbpf' });
  const bt = createEbpfSensor({ ...opts, kernelProgram: 'bpftrace' });
  const lbEvs = collect(lb);
  const btEvs = collect(bt);
  const lost: string[] = [];
  for (const s of [lb, bt]) s.onLoss((n, r) => lost.push(`${n} ${r}`));
  await Promise.all([lb.start(), bt.start()]);
  t.teardown(() => Promise.all([lb.close(), bt.close()]));
  t.ok(lb.status().capabilities.includes('kernel-program-libbpf'), 'the libbpf sensor runs');
  t.match(lb.status().blindSpots[0], /^kernel program: libbpf sensor/);
  t.ok(bt.status().capabilities.includes('kernel-program-bpftrace'), 'bpftrace runs');

  const py = `
import ctypes, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)
s = socket.create_connection(("127.3.3.4", ${port})); s.close()
u = socket.socket(socket.AF_UNIX); u.connect_ex("/nonexistent-rw-cmp.sock"); u.close()
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); d.settimeout(2); d.sendto(bytes.fromhex("${query.toString('hex')}"), ("127.57.57.57", 53)); d.recv(512); d.close()
open("/proc/%d/environ" % os.getppid(), "rb").read()
t = os.fork()
if t == 0:
    time.sleep(5); os._exit(0)
time.sleep(0.05)
libc.ptrace(16, t, 0, 0)
class iovec(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
libc.process_vm_readv(t, ctypes.byref(iovec(ctypes.cast(buf, ctypes.c_void_p), 8)), 1, ctypes.byref(iovec(0x10000, 8)), 1, 0)
os.kill(t, 9); os.waitpid(t, 0)
os.close(libc.memfd_create(b"rw-cmp", 0))
libc.syscall(321, 5, 0, 0)
`;
  const long = 'L'.repeat(700);
  const script = [
    `/bin/true short-argv`, `/bin/echo ${long} > /dev/null`, `/bin/true ${'M'.repeat(900)}`,
    `printf a > ${dir}/f.txt`, `printf b >> ${dir}/f.txt`, `mv ${dir}/f.txt ${dir}/g.sh`, `chmod +x ${dir}/g.sh`, `rm ${dir}/g.sh`, `rm -f ${dir}/nonexistent`,
    `mkdir -p ${dir}/rr/s && printf z > ${dir}/rr/s/x && rm -r ${dir}/rr`,
    `i=0; while [ $i -lt 100 ]; do echo x > ${dir}/w$i; echo y >> ${dir}/w$i; i=$((i+1)); done`,
    `cat ${home}/.aws/credentials > /dev/null`, `tar -C ${home} -cf ${dir}/o.tar .aws`,
    `python3 -c '${py}'`, `setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c 'import os\ntry: os.setuid(0)\nexcept OSError: pass'`,
    `${dir}/bin/runwarden-cmp 30 & v=$!; sleep 0.1; kill -TERM $v; wait $v`, `(exit 3)`, 'true',
  ].join('; ');
  const r = await runShell(script, {});
  t.equal(r.code, 0);
  await new Promise((res) => setTimeout(res, 500));
  await Promise.all([lb.sync!(), bt.sync!()]);
  await Promise.all([lb.close(), bt.close()]);
  const a = normalize(lbEvs, r.pid, [join(dir, 'rr', 's')]);
  const b = normalize(btEvs, r.pid, [join(dir, 'rr', 's')]);
  t.same(a, b, 'the same events');
  // What the workload did, so a sensor blind to a kind cannot pass by both being blind.
  for (const re of [/^exec .*short-argv/, /^exec .*LLLL.*cut=false/, /^exec .*MMMM.*cut=true/, /^fork /, /^exit .*code=3/,
    /^net .* INET 127\.3\.3\.4 \d+ result=0/, /^net .* UNIX \/nonexistent-rw-cmp\.sock .*result=-2/, /^dns .* cmp\.example\.test 1 \["127\.3\.3\.4"\] 127\.57\.57\.57/,
    /^file .* RENAME .*f\.txt -> .*g\.sh/, /^file .* CHMOD .*g\.sh/, /^file .* UNLINK .*g\.sh/, /^file .* UNLINK <dirfd>\/x /, /^write .*\/w99 ×2/, /^write .*\/f\.txt ×2/,
    /^read .*\.aws\/credentials credential-file/, /^read .*proc\/\d+\/environ proc-environ/, /^access .* PTRACE_ATTACH/, /^access .* VM_READV/,
    /^access .* SETID_ROOT .*setuid/, /^access .* BPF_PROG_LOAD/, /^access .* KILL_WATCHER .*signal 15/]) {
    t.ok(a.some((l) => re.test(l)), `libbpf: ${re}`);
  }
  t.notOk(a.some((l) => /nonexistent /.test(l) && /UNLINK/.test(l)), 'a failed unlink is not reported');
  t.equal(a.filter((l) => /credentials credential-file/.test(l)).length, 2, 'the credential read by cat and by tar through its directory fd');
  t.same(lost, [], 'nothing lost');
});

t.test('libbpf sensor: a full ring buffer is counted and reported as a loss, not lost silently', { skip }, async (t) => {
  const s = createEbpfSensor({ kernelProgram: 'libbpf', loader: { ringbufBytes: 4096, pollMillis: 1000 } });
  const evs = collect(s);
  const lost: [number, string][] = [];
  s.onLoss((n, r) => lost.push([n, r]));
  await s.start();
  t.teardown(() => s.close());
  const dir = t.testdir({ a: 'x' });
  const n = 20_000;
  const r = await runShell(`python3 -c 'import os
for i in range(${n / 2}):
    os.rename("${dir}/a", "${dir}/b"); os.rename("${dir}/b", "${dir}/a")'`, {});
  t.equal(r.code, 0);
  await new Promise((res) => setTimeout(res, 1500));
  await s.close();
  const renames = ofKind(evs, 'file').filter((e) => e.pid === r.pid && e.file.op === 'RENAME').length;
  const counted = lost.filter(([, why]) => why === 'kernel ring buffer full').reduce((m, [k]) => m + k, 0);
  t.ok(renames < n, `some renames did not fit the 4 KiB ring (${renames} of ${n} arrived)`);
  t.ok(counted >= n - renames, `every missing one counted: ${counted} lost ≥ ${n - renames} missing`);
  t.equal(s.status().drops, lost.reduce((m, [k]) => m + k, 0), 'drops in the status');
});

/**
 * Every write-open counted (write budget 0): a shell writes `paths` new files in a fresh directory, each opened `opens`
 * times. The count per path the sensor reported, and its losses.
 */
async function countedWrites(t: Test, paths: number, opens: number, loader: Partial<LoaderLimits> = {}): Promise<{ per: Map<string, number>; lost: [number, string][] }> {
  const s = createEbpfSensor({ kernelProgram: 'libbpf', loader, script: { writeBudget: 0 } });
  const evs = collect(s);
  const lost: [number, string][] = [];
  s.onLoss((n, r) => lost.push([n, r]));
  await s.start();
  t.teardown(() => s.close());
  const dir = t.testdir({});
  const again = Array.from({ length: opens - 1 }, () => `echo y >> ${dir}/f$i; `).join('');
  const r = await runShell(`i=0; while [ $i -lt ${paths} ]; do echo x > ${dir}/f$i; ${again}i=$((i+1)); done`, {});
  t.equal(r.code, 0);
  await s.sync!();
  await s.close();
  const per = new Map<string, number>();
  for (const e of ofKind(evs, 'file')) {
    if (e.pid !== r.pid || !e.file.path?.startsWith(`${dir}/f`)) continue;
    per.set(e.file.path, (per.get(e.file.path) ?? 0) + (e.file.count ?? 1));
  }
  return { per, lost };
}

t.test('libbpf sensor: write-opens the count tables cannot hold are reported as lost, with their number', { skip }, async (t) => {
  // The loader's table holds twice the 64 keys of the kernel's map. 300 new paths, each opened a second time (the
  // repeat is counted in the kernel's map when it runs on the CPU of its first open), overflow both: what is not held
  // is reported lost, with its number.
  const { per, lost } = await countedWrites(t, 300, 2, { mapKeys: 64 });
  const counted = [...per.values()].reduce((n, c) => n + c, 0);
  const mapLost = lost.filter(([, why]) => /count map/.test(why)).reduce((n, [k]) => n + k, 0);
  t.ok(counted > 0 && counted <= 2 * 2 * 64, `${counted} counted (at most the table's 128 paths, each twice)`);
  t.ok(mapLost >= 600 - counted, `the rest reported lost: ${mapLost} ≥ ${600 - counted}`);
});

t.test('libbpf sensor: a flood of new paths and its repeats add up to every write-open', { skip }, async (t) => {
  // New paths are counted by the loader and repeats in the kernel's map (or by the loader again once its CPU's recent
  // set has moved on): each path's count is every open of it, nothing lost.
  const { per, lost } = await countedWrites(t, 400, 3);
  t.equal(per.size, 400, 'every path');
  t.same([...new Set(per.values())], [3], 'each counted three times');
  t.same(lost, [], 'nothing lost');
});

/**
 * A python renaming a file n times while this thread (the agent's event loop) is blocked for 4 s: the agent busy
 * elsewhere, not reading its sensor. The renames that arrived and what the sensor reported lost, by reason.
 */
async function stalledRenameStorm(t: Test, loader: Partial<LoaderLimits>, n: number): Promise<{ renames: number; lost: [number, string][]; lag: SensorStatus['lag'] }> {
  const s = createEbpfSensor({ kernelProgram: 'libbpf', loader });
  const evs = collect(s);
  const lost: [number, string][] = [];
  s.onLoss((k, r) => lost.push([k, r]));
  await s.start();
  t.teardown(() => s.close());
  const dir = t.testdir({ a: 'x' });
  const c = spawn('python3', ['-c', `import os
for i in range(${n / 2}):
    os.rename("${dir}/a", "${dir}/b"); os.rename("${dir}/b", "${dir}/a")`], { stdio: 'ignore' });
  const done = new Promise((res) => c.on('close', res));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
  t.equal(await done, 0);
  await s.sync!();
  // The status once the loader said its backlog is gone (its next report, within a second; up to 5 s; see above).
  for (let i = 0; i < 50 && (s.status().lag?.kernelProgramBacklogBytes ?? 0) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  const lag = s.status().lag;
  await s.close();
  return { renames: ofKind(evs, 'file').filter((e) => e.pid === c.pid && e.file.op === 'RENAME').length, lost, lag };
}

t.test('libbpf sensor: an agent that stops reading for seconds loses nothing (the loader holds the backlog)', { skip }, async (t) => {
  // 20 000 renames print ~4 MB of records: far more than a 1 MiB ring, the pipe and the loader's output buffer hold.
  const n = 20_000;
  const { renames, lost, lag } = await stalledRenameStorm(t, { ringbufBytes: 1 << 20 }, n);
  t.equal(renames, n, 'every rename arrived after the stall');
  t.same(lost, [], 'nothing lost');
  // The status says how far behind the agent was: the loader's backlog at its peak (MBs of records), and less of it
  // once the agent caught up. Not always none: this sensor watches the whole host, and on a host busy with other
  // tests the agent reading it may stay some records behind.
  const peak = lag?.kernelProgramBacklogPeakBytes ?? 0;
  t.ok(peak > 1 << 20, `a backlog peak of ${peak} bytes reported`);
  t.ok((lag?.kernelProgramBacklogBytes ?? peak) < peak, `less held once the agent caught up (${lag?.kernelProgramBacklogBytes} bytes)`);
  t.equal(lag?.kernelProgramWaits, 0, 'the 256 MiB bound was never reached');
});

t.test('libbpf sensor: past its backlog bound the loader waits, and what the kernel then drops is counted', { skip }, async (t) => {
  const n = 40_000;
  const { renames, lost, lag } = await stalledRenameStorm(t, { ringbufBytes: 64 << 10, backlogBytes: 1 << 20 }, n);
  const counted = lost.filter(([, why]) => why === 'kernel ring buffer full').reduce((m, [k]) => m + k, 0);
  t.ok(renames < n, `the 1 MiB backlog did not hold them all (${renames} of ${n} arrived)`);
  t.ok(counted >= n - renames, `every missing one counted: ${counted} lost ≥ ${n - renames} missing`);
  t.ok((lag?.kernelProgramWaits ?? 0) > 0, `the loader's waits with its backlog full are in the status (${lag?.kernelProgramWaits})`);
  t.ok((lag?.kernelProgramBacklogPeakBytes ?? 0) <= (1 << 20) + 4096, 'its peak within the 1 MiB bound (one record over at most)');
});

t.test('libbpf sensor: a sensitive read wakes the loader at once, not at its next poll', { skip }, async (t) => {
  // The loader polls every second here: a read of another process's environ or memory must still arrive within a
  // fraction of it (on_openat_sensitive submits it with a wakeup). Three reads, each timed from the reader's exit.
  const s = createEbpfSensor({ kernelProgram: 'libbpf', loader: { pollMillis: 1000 } });
  const evs = collect(s);
  const arrived = new Map<string, number>();
  s.onEvent((e) => { if (e.kind === 'read' && e.read.path && !arrived.has(e.read.path)) arrived.set(e.read.path, Date.now()); });
  await s.start();
  t.teardown(() => s.close());
  const target = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => { target.kill(); });
  await new Promise((r) => setTimeout(r, 1200)); // past one poll: what follows is not read by a poll already due
  const delays: number[] = [];
  for (const f of ['environ', 'maps', 'mem']) {
    const path = `/proc/${target.pid}/${f}`;
    const r = await runShell(`exec 3<${path}; exec 3<&-`, {});
    t.equal(r.code, 0, `opened ${path}`);
    const done = Date.now();
    while (!arrived.has(path) && Date.now() - done < 3000) await new Promise((res) => setTimeout(res, 5));
    delays.push((arrived.get(path) ?? Infinity) - done);
    await new Promise((res) => setTimeout(res, 300 + Math.random() * 400)); // a different phase of the poll each time
  }
  t.ok(delays.every((d) => d < 250), `each read arrived within 250 ms of its reader's exit (poll 1000 ms): ${delays.join(', ')} ms`);
  t.ok(ofKind(evs, 'read').some((e) => e.read.pathClass === 'proc-mem'), 'the read of /proc/<pid>/mem is one');
});
