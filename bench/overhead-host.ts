// Benchmark: wall time of the build-like workloads (bench/workloads.ts) with the host agent off vs on, paired in one
// run, and the agent's memory. "On" is a runner host as deployed: the real `runwarden collector` and `runwarden agent`
// processes (eBPF sensor, host-wide); each workload runs as a job registered over the agent's socket the way the
// runner hooks do (`{"op":"start"}` with the job's environment, the job's shell as root), and ended the same way.
// "Off" is the host with no Runwarden process at all: a host agent watches every process, so a workload that is not
// a job still costs it (decoded, enriched and stored as a host event); the daemons are stopped for the off runs and
// started again for the jobs. That host-process case is timed too (not-a-job). The agent is warm: after each start,
// one job of each workload runs before the timed ones, as on a host that has run builds before; that first job's
// ratio is printed too. `runwarden run` starts a fresh agent and collector per job and is measured by bench/overhead.ts.
//
// Run as root after a build: node dist/bench/overhead-host.js [rounds] [--only=abc] [--dir=DIR] [--profile-dir=DIR] [--node-flags=A,B] [--no-shim-flags] [--no-host-runs].
// The timed part is from the job's shell being told to go to its printing `done` after the workload: registering
// the job happens before, ending it after, in both arms the same shell builtins run. catch-up-ms is from `done` to
// the job's jobEnd event being in the collector's store (the job end request, the agent's last events, the flush).
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CLI_SHIM, deployedNodeFlags, median, prepareWorkloads, procCpu, threadCpu, reapedChildrenCpu, rssKiB } from './workloads.js';
import type { Workload } from './workloads.js';

const args = process.argv.slice(2);
const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 3);
const only = args.find((a) => a.startsWith('--only='))?.slice(7);
const baseDir = args.find((a) => a.startsWith('--dir='))?.slice(6) ?? tmpdir();
// --profile-dir=DIR: the agent and the collector write V8 CPU profiles there when they stop (node --cpu-prof).
const profileDir = args.find((a) => a.startsWith('--profile-dir='))?.slice(14);
// --node-flags=A,B: more node flags for both daemons (e.g. --heapsnapshot-signal=SIGUSR2, --max-semi-space-size=8).
// RW_HB_STDOUT=PREFIX: the daemons' stdout goes to PREFIX.agent and PREFIX.collector (for --trace-gc and the like).
const extraFlags = args.find((a) => a.startsWith('--node-flags='))?.slice(13).split(',').filter(Boolean) ?? [];
// The daemons run under the shim's V8 options, as every deployment starts them; --no-shim-flags: node's defaults.
// --no-host-runs: no not-a-job runs (a profile of the daemons then holds the jobs only).
const hostRuns = !args.includes('--no-host-runs');
const shimFlags = args.includes('--no-shim-flags') ? [] : deployedNodeFlags();
const nodeFlags = [...shimFlags, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...extraFlags];
const wl = prepareWorkloads(baseDir, only);
const dir = mkdtempSync('/tmp/rw-hb-'); // short: a socket path holds 107 bytes
const sock = join(dir, 'agent.sock');
const dbPath = join(dir, 'audit.db');

// A bench that fails must not leave host-wide daemons behind: they would trace (and slow) everything after it.
const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });
interface Daemon { child: ChildProcess; err: () => string; exit: Promise<number | null> }
function daemon(cliArgs: string[]): Daemon {
  const child = spawn(process.execPath, [...nodeFlags, CLI_SHIM, ...cliArgs], { stdio: ['ignore', process.env.RW_HB_STDOUT ? openSync(`${process.env.RW_HB_STDOUT}.${cliArgs[0]}`, 'a') : 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { if (err.length < 1 << 20) err += d.toString(); });
  live.add(child);
  child.on('close', () => live.delete(child));
  return { child, err: () => err, exit: new Promise((r) => child.on('close', (c) => r(c))) };
}
async function until<T>(what: string, f: () => T | undefined, ms: number, d?: Daemon): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (d && d.child.exitCode !== null) throw new Error(`${what}: the process exited ${d.child.exitCode}: ${d.err().slice(-2000)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const tok = spawnSync(process.execPath, [CLI_SHIM, 'token'], { encoding: 'utf8' });
const { token, sha256 } = JSON.parse(tok.stdout) as { token: string; sha256: string };
writeFileSync(join(dir, 'collector.yaml'), `collector:\n  tokens: [{ agentId: "*", sha256: "${sha256}" }]\n`);
writeFileSync(join(dir, 'agent.yaml'), 'log:\n  level: info\n');

/** The agent's kernel program (the libbpf sensor or bpftrace), a child of the agent process. */
function sensorPids(agentPid: number): { pids: number[]; name: string } {
  const pids: number[] = [];
  let name = 'kernel program';
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) !== agentPid) continue;
      if (st.includes('(runwarden-senso)')) { pids.push(Number(p)); name = 'libbpf sensor'; }
      else if (st.includes('(bpftrace)')) { pids.push(Number(p)); name = 'bpftrace'; }
    } catch { /* gone */ }
  }
  return { pids, name };
}

// The runner host's Runwarden: both daemons, started and stopped as a unit. They keep their database and state
// directories across restarts, as a host's service does.
interface Host { collector: Daemon; agent: Daemon; agentPid: number; collectorPid: number; sensor: { pids: number[]; name: string }; sensorStatus: { sensor: string; capabilities: string[] } }
async function startHost(): Promise<Host> {
  const collector = daemon(['collector', '--config', join(dir, 'collector.yaml'), '--port', '0', '--db', dbPath, '--state-dir', join(dir, 'collector')]);
  const url = await until('collector url', () => /"url":"(ws:\/\/127\.0\.0\.1:\d+)"/.exec(collector.err())?.[1], 30_000, collector);
  const agent = daemon(['agent', '--config', join(dir, 'agent.yaml'), '--socket', sock, '--state-dir', join(dir, 'state'), '--collector', url, '--token', token]);
  await until('agent listening', () => (/listening on/.test(agent.err()) ? true : undefined), 60_000, agent);
  const agentPid = agent.child.pid as number;
  const sensor = await until('kernel program', () => { const s = sensorPids(agentPid); return s.pids.length ? s : undefined; }, 30_000, agent);
  const status = spawnSync(process.execPath, [CLI_SHIM, 'agent', 'status', '--socket', sock, '--format', 'json'], { encoding: 'utf8' });
  const sensorStatus = (JSON.parse(status.stdout) as { sensor: { sensor: string; capabilities: string[] } }).sensor;
  if (sensorStatus.sensor !== 'ebpf') throw new Error(`the agent runs without the eBPF sensor (${sensorStatus.sensor})`);
  return { collector, agent, agentPid, collectorPid: collector.child.pid as number, sensor, sensorStatus };
}
async function stopHost(h: Host): Promise<void> {
  h.agent.child.kill('SIGTERM');
  const a = await h.agent.exit;
  h.collector.child.kill('SIGTERM');
  const c = await h.collector.exit;
  if (a !== 0 || c !== 0) throw new Error(`daemons exited ${a} / ${c}: ${h.agent.err().slice(-1500)} ${h.collector.err().slice(-1500)}`);
}
let host: Host | undefined;
let everHost: Host | undefined;
const up = (): Host => { if (!host) throw new Error('the daemons are not running'); return host; };

const maxRss = { agent: 0, sensor: 0, collector: 0, sum: 0 };
const sampler = setInterval(() => {
  if (!host) return;
  const a = rssKiB(host.agentPid);
  const s = host.sensor.pids.reduce((n, p) => n + rssKiB(p), 0);
  maxRss.agent = Math.max(maxRss.agent, a); maxRss.sensor = Math.max(maxRss.sensor, s); maxRss.sum = Math.max(maxRss.sum, a + s);
  maxRss.collector = Math.max(maxRss.collector, rssKiB(host.collectorPid));
}, 250);
/** CPU seconds so far of the agent process, its kernel program and the collector. */
const sideCpu = (h: Host): { agent: number; threads: ReturnType<typeof threadCpu>; sensor: number; collector: number; collectorMain: number } => {
  const cm = threadCpu(h.collectorPid).get('main');
  return {
    agent: procCpu(h.agentPid), threads: threadCpu(h.agentPid), sensor: h.sensor.pids.reduce((n, p) => n + procCpu(p), 0), collector: procCpu(h.collectorPid),
    collectorMain: cm ? cm.user + cm.sys : 0,
  };
};
const splitOf = (a0: ReturnType<typeof sideCpu>, a1: ReturnType<typeof sideCpu>): { sum: number; text: string } => {
  const d = { agent: a1.agent - a0.agent, sensor: a1.sensor - a0.sensor, collector: a1.collector - a0.collector, collectorMain: a1.collectorMain - a0.collectorMain };
  const none = { user: 0, sys: 0 };
  const [m0, m1] = [a0.threads.get('main') ?? none, a1.threads.get('main') ?? none];
  const mu = m1.user - m0.user;
  const ms = m1.sys - m0.sys;
  const cpu = (t: { user: number; sys: number } | undefined): number => (t ? t.user + t.sys : 0);
  const others = [...a1.threads].filter(([k]) => k !== 'main').map(([k, v]) => [k, cpu(v) - cpu(a0.threads.get(k))] as const).filter(([, v]) => v >= 0.01)
    .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
  return {
    sum: d.agent + d.sensor + d.collector,
    text: `agent ${d.agent.toFixed(2)} (main thread user ${mu.toFixed(2)} + system ${ms.toFixed(2)}${others ? `; ${others}` : ''}) + sensor ${d.sensor.toFixed(2)} + collector ${d.collector.toFixed(2)} (main thread ${d.collectorMain.toFixed(2)}) s`,
  };
};

// The job's registration, as the hooks send it: the job's environment, the job's shell as root.
const HOOK_PY = 'import json,os,socket,sys\n'
  + 's=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n'
  + 'req={"op":sys.argv[2],"rootPid":os.getppid()}\n'
  + 'if sys.argv[2]=="start": req["env"]=dict(os.environ)\n'
  + 's.sendall((json.dumps(req)+"\\n").encode()); r=json.loads(s.makefile().readline())\n'
  + 'print(json.dumps(r),file=sys.stderr); sys.exit(0 if r.get("ok") else 9)\n';
// Debian's python, not a version manager's shim (pyenv's is a dozen bash scripts: execs of the job, after `done`).
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const hook = (op: 'start' | 'end'): string => `${PYTHON} -c '${HOOK_PY}' ${sock} ${op}`;

/**
 * Waits until the daemons are idle (under 10 ms of CPU in 250 ms, at most 15 s): the tail of the run before (the
 * not-a-job run's host events, a warm-up's detection) is not counted against the job that follows it.
 */
async function quiet(h: Host): Promise<number> {
  const t0 = Date.now();
  const total = (): number => { const c = sideCpu(h); return c.agent + c.sensor + c.collector; };
  let last = total();
  while (Date.now() - t0 < 15_000) {
    await new Promise((r) => setTimeout(r, 250));
    const now = total();
    if (now - last < 0.011) break;
    last = now;
  }
  return Date.now() - t0;
}

interface Run { ms: number; cpu: number; jobId?: string; out: string }
/** Runs one workload in a shell that waits for "go"; timed from "go" to its `done`. */
function timed(script: string, asJob: boolean, onDone?: () => void): Promise<Run> {
  const body = asJob
    ? `${hook('start')} || exit 9; echo ready; read _; ${script}; rc=$?; echo done; ${hook('end')}; exit $rc`
    : `echo ready; read _; ${script}; rc=$?; echo done; exit $rc`;
  return new Promise((resolve, reject) => {
    const c0 = reapedChildrenCpu();
    const p = spawn('/bin/sh', ['-c', body], { cwd: wl.root, stdio: ['pipe', 'pipe', 'pipe'], env: wl.jobEnv });
    let out = '';
    let err = '';
    let t0 = 0n;
    let ms = 0;
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (t0 === 0n && out.includes('ready\n')) { t0 = process.hrtime.bigint(); p.stdin.write('\n'); }
      if (ms === 0 && t0 !== 0n && out.includes('done\n')) { ms = Number(process.hrtime.bigint() - t0) / 1e6; onDone?.(); }
    });
    p.on('close', (code) => {
      if (code !== 0 || ms === 0) { reject(new Error(`workload exited ${code}: ${script}: ${err.slice(0, 800)}`)); return; }
      const jobId = /"jobId": "([^"]+)"/.exec(err)?.[1];
      resolve({ ms, cpu: reapedChildrenCpu() - c0, ...(jobId ? { jobId } : {}), out: err });
    });
  });
}

// The store, read between jobs; opened while the collector runs (a read-only WAL reader needs its -shm file).
let db: Database.Database | undefined;
const store = (): Database.Database => {
  if (!db) db = new Database(dbPath, { readonly: true, fileMustExist: true });
  return db;
};
const q = <T>(sql: string, ...params: unknown[]): T => store().prepare(sql).get(...params) as T;

interface AgentRun { ms: number; cpu: number; agentCpu: number; split: string; catchUpMs: number; events: number; execs: number; files: number; settled: number }
/** The workload as a registered job of the running host agent. */
async function onRun(w: Workload): Promise<AgentRun> {
  const h = up();
  w.prep?.();
  const settled = await quiet(h);
  const a0 = sideCpu(h);
  let atDone = a0;
  const r = await timed(w.script(), true, () => { atDone = sideCpu(h); });
  const done = Date.now();
  if (!r.jobId) throw new Error(`no job id in the hook's answer: ${r.out.slice(0, 400)}`);
  const jobId = r.jobId;
  await until(`jobEnd of ${jobId} (hooks said: ${r.out.trim()})`,
    () => (q<{ n: number }>("SELECT count(*) AS n FROM events WHERE kind = 'job_end' AND job_id = ?", jobId).n > 0 ? true : undefined), 60_000, h.agent);
  const catchUpMs = Date.now() - done;
  const c = q<{ events: number; execs: number; files: number }>("SELECT count(*) AS events, sum(kind = 'exec') AS execs, sum(kind = 'file') AS files FROM events WHERE job_id = ?", jobId);
  const split = splitOf(a0, sideCpu(h));
  const inWindow = splitOf(a0, atDone);
  return { ms: r.ms, cpu: r.cpu, agentCpu: split.sum, split: `${split.text}, of which until done ${inWindow.sum.toFixed(2)}`, catchUpMs, events: c.events, execs: c.execs, files: c.files, settled };
}
/** The workload as a host process the agent watches but no job holds (what every other process on the host pays). */
async function hostRun(w: Workload): Promise<{ ms: number; split: string }> {
  if (!hostRuns) return { ms: NaN, split: 'not run' };
  const h = up();
  w.prep?.();
  await quiet(h);
  const id0 = q<{ n: number | null }>('SELECT max(id) AS n FROM events').n ?? 0;
  const a0 = sideCpu(h);
  const r = await timed(w.script(), false);
  await new Promise((res) => setTimeout(res, 500)); // the agent's tail of the workload's events
  const split = splitOf(a0, sideCpu(h)).text;
  // What the host's events of the run cost the store: stored so far, outside every job (the agent keeps sending after the wait).
  const c = q<{ events: number; files: number }>('SELECT count(*) AS events, coalesce(sum(kind = \'file\'), 0) AS files FROM events WHERE id > ? AND job_id IS NULL', id0);
  return { ms: r.ms, split: `${split}; host events stored by then ${c.events}, file events ${c.files}` };
}
/** The workload with no Runwarden process on the host. */
async function offRun(w: Workload): Promise<{ ms: number; cpu: number }> {
  if (host) throw new Error('the daemons still run');
  w.prep?.();
  const r = await timed(w.script(), false);
  return { ms: r.ms, cpu: r.cpu };
}

interface Row { off: number[]; on: number[]; ratios: number[]; hostOnly: number[]; cpu: number[]; catchUp: number[]; first: number[]; last?: AgentRun }
const rows = new Map<string, Row>(wl.workloads.map((w) => [w.name, { off: [], on: [], ratios: [], hostOnly: [], cpu: [], catchUp: [], first: [] }]));
let drops = 0;
let starts = 0;
/** Starts the daemons and runs one job of each workload (the warm agent of a host that has run builds before). */
async function bringUp(): Promise<void> {
  host = await startHost();
  everHost = host;
  starts++;
  for (const w of wl.workloads) {
    const first = await onRun(w);
    (rows.get(w.name) as Row).first.push(first.ms);
    process.stderr.write(`start ${starts}, warm-up ${w.name}: first job ${first.ms.toFixed(0)} ms, catch-up ${first.catchUpMs} ms, events ${first.events}\n`);
  }
}
async function bringDown(): Promise<void> {
  const h = up();
  drops = Math.max(drops, q<{ n: number }>("SELECT coalesce(sum(json_extract(body, '$.count')), 0) AS n FROM events WHERE kind = 'dropped'").n);
  db?.close();
  db = undefined;
  host = undefined;
  await stopHost(h);
}
const offOf = new Map<string, { ms: number; cpu: number }>();
const onOf = new Map<string, { on: AgentRun; hostOnly: { ms: number; split: string } }>();
for (let round = 0; round < rounds; round++) {
  const onPhase = async (): Promise<void> => {
    if (!host) await bringUp();
    for (const w of wl.workloads) onOf.set(w.name, { on: await onRun(w), hostOnly: await hostRun(w) });
  };
  const offPhase = async (): Promise<void> => {
    if (host) await bringDown();
    for (const w of wl.workloads) offOf.set(w.name, await offRun(w));
  };
  // Odd rounds run the agent's jobs first: a machine that drifts through a pair favours neither side.
  if (round % 2 === 0) { await offPhase(); await onPhase(); } else { await onPhase(); await offPhase(); }
  for (const w of wl.workloads) {
    const off = offOf.get(w.name) as { ms: number; cpu: number };
    const { on, hostOnly } = onOf.get(w.name) as { on: AgentRun; hostOnly: { ms: number; split: string } };
    const r = rows.get(w.name) as Row;
    r.off.push(off.ms); r.on.push(on.ms); r.ratios.push(on.ms / off.ms); r.hostOnly.push(hostOnly.ms / off.ms); r.catchUp.push(on.catchUpMs); r.last = on;
    r.cpu.push((on.cpu + on.agentCpu) / Math.max(off.cpu, 0.01));
    process.stderr.write(`round ${round + 1} ${w.name}: off ${off.ms.toFixed(0)} ms (cpu ${off.cpu.toFixed(2)} s), job ${on.ms.toFixed(0)} ms `
      + `(${(on.ms / off.ms).toFixed(3)}; workload cpu ${on.cpu.toFixed(2)} s; cpu ${on.split}; idle after ${on.settled} ms), catch-up ${on.catchUpMs} ms, `
      + `events ${on.events}, execs ${on.execs}, file events ${on.files}; not a job ${hostOnly.ms.toFixed(0)} ms (${(hostOnly.ms / off.ms).toFixed(3)}; cpu ${hostOnly.split}), load ${loadavg()[0]?.toFixed(2)}\n`);
  }
}
if (host) await bringDown();
clearInterval(sampler);

const last = everHost as Host;
const kernelProgram = last.sensorStatus.capabilities.find((c) => c.startsWith('kernel-program-'))?.slice('kernel-program-'.length) ?? last.sensor.name;
console.log(`Host agent overhead (runwarden agent + runwarden collector as daemons, ${kernelProgram} kernel program, warm), ${rounds} paired rounds, median (node ${process.version} ${nodeFlags.join(' ') || 'without options'})`);
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; workloads in ${baseDir} (${wl.fsType}); the daemons started ${starts} times`);
console.log(`${'workload'.padEnd(28)} ${'off ms'.padStart(7)} ${'job ms'.padStart(8)}  ratio target       not-a-job first-job cpu-ratio catch-up-ms  events  execs file-ev`);
for (const w of wl.workloads) {
  const r = rows.get(w.name) as Row;
  const m = median(r.ratios);
  const l = r.last as AgentRun;
  console.log(`${w.name.padEnd(28)} ${median(r.off).toFixed(0).padStart(7)} ${median(r.on).toFixed(0).padStart(8)}  ${m.toFixed(3)} <=${w.target.toFixed(2)} ${(m <= w.target ? 'OK' : 'MISS').padEnd(4)} `
    + `${median(r.hostOnly).toFixed(3).padStart(9)} ${(median(r.first) / median(r.off)).toFixed(3).padStart(9)} ${median(r.cpu).toFixed(2).padStart(9)} ${median(r.catchUp).toFixed(0).padStart(11)} `
    + `${String(l.events).padStart(7)} ${String(l.execs).padStart(6)} ${String(l.files).padStart(7)}`);
}
const mib = (k: number): string => (k / 1024).toFixed(1);
console.log(`agent RSS (${last.sensor.name} + agent process), max: ${mib(maxRss.sum)} MiB  target <= 150 MiB ${maxRss.sum / 1024 <= 150 ? 'OK' : 'MISS'} `
  + `(${last.sensor.name} ${mib(maxRss.sensor)} MiB, agent process ${mib(maxRss.agent)} MiB); collector process (may run on another host): ${mib(maxRss.collector)} MiB`);
console.log(`events dropped (Dropped events stored, whole run): ${drops}`);
console.log(`off runs, min–max ms: ${wl.workloads.map((w) => { const o = (rows.get(w.name) as Row).off; return `${w.name.slice(0, 3)} ${Math.min(...o).toFixed(0)}–${Math.max(...o).toFixed(0)}`; }).join(' · ')}`);
console.log('off: no Runwarden process on the host (the daemons are stopped for the off runs and started again, warm-up jobs included, before the jobs).');
console.log('job: the workload as a job registered over the agent socket. not-a-job: the same workload as a host process the agent watches outside every job, over off.');
console.log('first-job: the warm-up job (the first of its workload since the daemons started) over the median off time.');
console.log('cpu-ratio: CPU of workload + agent + kernel program + collector (from go to the stored jobEnd) over CPU of the workload alone.');
console.log('events/execs/file-ev: stored in the collector for the last round\'s job.');

rmSync(dir, { recursive: true, force: true });
wl.remove();
