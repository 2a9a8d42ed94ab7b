// Benchmark: wall time of build-like workloads with the agent off vs on (paired, same run), and agent memory.
// "On" is the pipeline `runwarden run` uses (agent/job-watch.ts): eBPF sensor → core enrichment → secret
// scanning → uplink/spool → embedded collector storing the events, the workload's shell attached as job root.
// A second "sensor only" pass (sensor + proc table + attribution, no agent) is printed for comparison.
// Run as root after a build: node dist/bench/overhead.js [rounds] [--no-sensor-only] [--only=abc] [--dir=DIR] [--no-shim-flags]. Start-up of the
// sensors and the collector is outside the timed part; the time the agent needs after the workload to catch up is
// printed. Pairs alternate their order (off first, then on first) so a drift of the machine does not favour either.
//
// The workloads are bench/workloads.ts (why nothing is deleted while the bench runs is explained there). The warm,
// long-running `runwarden agent` of a runner host is measured by bench/overhead-host.ts.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../cli/config.js';
import { createLogger } from '../cli/logger.js';
import { createAttribution } from '../agent/attribution.js';
import { jobContextFromEnv } from '../agent/job-context.js';
import { jobPathsFromEnv } from '../agent/job-paths.js';
import { createRunWatch } from '../agent/job-watch.js';
import { createProcTable } from '../agent/proc-table.js';
import { chooseSensor } from '../agent/sensor-choice.js';
import { createEbpfSensor } from '../agent/sensors/ebpf.js';
import { median, prepareWorkloads, procCpu, reapedChildrenCpu, reexecWithDeployedFlags, rssKiB } from './workloads.js';

// The agent measured here is this process, as `runwarden run` would be: it runs under the shim's V8 options
// (--no-shim-flags: node's defaults).
if (!process.argv.includes('--no-shim-flags') && reexecWithDeployedFlags()) process.exit();

const args = process.argv.slice(2);
const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 3);
const sensorOnly = !args.includes('--no-sensor-only');
const only = args.find((a) => a.startsWith('--only='))?.slice(7); // e.g. --only=ac
// --dir=DIR: where the workloads run (default the temp dir). On a journal-less ext4 the untar's baseline depends on
// what any process deleted there in the last 1–6 minutes (see bench/workloads.ts); tmpfs (/dev/shm) has no such memory
// and is the faster baseline, so the stricter ratio.
const baseDir = args.find((a) => a.startsWith('--dir='))?.slice(6) ?? tmpdir();
const { root, fsType, workloads: chosen, jobEnv, remove } = prepareWorkloads(baseDir, only);
const cfg = parseConfig({}, {});
if (!cfg.ok) throw new Error('default config does not parse');

/** CPU seconds of this process and of its reaped children (the workload shell; bpftrace once closed). */
function cpuNow(): { self: number; children: number } {
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1e6, children: reapedChildrenCpu() };
}

type Mode = 'agent' | 'sensor';
interface Row { off: number[]; on: number[]; ratios: number[]; cpu: number[]; stop: number[]; runs: AgentRun[] }
const results = new Map<string, Row>();
const maxRss: Record<Mode, number> = { agent: 0, sensor: 0 };
const maxPart = { bpftrace: 0, node: 0, collector: 0 };
// RSS counts shared file-backed pages (bpftrace maps ~100 MiB of LLVM/clang libraries); Pss shares them out among
// the processes mapping them, Private is what this process alone holds (smaps_rollup, proc(5)).
// Anonymous is the heap/stack part, which no other process shares and the kernel cannot drop for the file.
const maxMem = { bpftracePss: 0, bpftracePrivate: 0, bpftraceAnon: 0, nodePss: 0, nodePrivate: 0, nodeAnon: 0 };

function smapsKiB(pid: number): { pss: number; priv: number; anon: number } {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const f = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(t)?.[1] ?? 0);
    return { pss: f('Pss'), priv: f('Private_Clean') + f('Private_Dirty'), anon: f('Anonymous') };
  } catch { return { pss: 0, priv: 0, anon: 0 }; }
}
/** Kernel-program children of this process (the agent's sensor: the libbpf sensor or bpftrace), listed once per
 * run: scanning /proc 4× a second would be the bench's own overhead, charged to the agent. */
let btPids: number[] = [];
/** What runs as the kernel program, as last seen: its memory and CPU are printed under this name. */
let kernelName = 'bpftrace';
function bpftracePids(): number[] {
  if (btPids.length && btPids.every((p) => existsSync(`/proc/${p}`))) return btPids;
  btPids = listBpftracePids();
  return btPids;
}
function listBpftracePids(): number[] {
  const out: number[] = [];
  colPids = [];
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const prog = st.includes('(bpftrace)') ? 'bpftrace' : st.includes('(runwarden-senso)') ? 'libbpf sensor' : undefined;
      if (prog) { out.push(Number(p)); kernelName = prog; }
      else if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('embedded-main')) colPids.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}
/** The embedded collector's process (agent/embedded-collector.ts), found with the bpftrace children. */
let colPids: number[] = [];
/** bpftrace plus this process (the agent; the embedded collector is a process of its own, counted apart). */
// smaps_rollup walks every mapping under the target's mmap lock (1.7–5 ms here): every 8th sample only.
let samples = 0;
function agentRssKiB(): number {
  const pids = bpftracePids();
  const bt = pids.reduce((n, p) => n + rssKiB(p), 0);
  const self = rssKiB(process.pid);
  if (samples++ % 8 === 0) smapsSample(pids);
  maxPart.bpftrace = Math.max(maxPart.bpftrace, bt);
  maxPart.node = Math.max(maxPart.node, self);
  maxPart.collector = Math.max(maxPart.collector, colPids.reduce((n, p) => n + rssKiB(p), 0));
  return bt + self;
}
function smapsSample(pids: number[]): void {
  const bm = pids.map(smapsKiB).reduce((a, b) => ({ pss: a.pss + b.pss, priv: a.priv + b.priv, anon: a.anon + b.anon }), { pss: 0, priv: 0, anon: 0 });
  const nm = smapsKiB(process.pid);
  maxMem.bpftracePss = Math.max(maxMem.bpftracePss, bm.pss); maxMem.bpftracePrivate = Math.max(maxMem.bpftracePrivate, bm.priv);
  maxMem.nodePss = Math.max(maxMem.nodePss, nm.pss); maxMem.nodePrivate = Math.max(maxMem.nodePrivate, nm.priv);
  maxMem.bpftraceAnon = Math.max(maxMem.bpftraceAnon, bm.anon); maxMem.nodeAnon = Math.max(maxMem.nodeAnon, nm.anon);
}
/** CPU seconds bpftrace has used so far (its start-up compile is not part of the workload's cost). */
function bpftraceCpu(): number {
  let n = 0;
  for (const p of bpftracePids()) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      n += (Number(f[11]) + Number(f[12])) / 100;
    } catch { /* gone */ }
  }
  return n;
}

/** Runs the workload in a child while the event loop stays free (the agent works concurrently). */
function timed(script: string, onSpawn?: (pid: number) => void, env: Record<string, string> = jobEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn('/bin/sh', ['-c', script], { cwd: root, stdio: 'ignore', env });
    if (p.pid !== undefined) onSpawn?.(p.pid);
    p.on('close', (code) => {
      if (code === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e6); else reject(new Error(`workload exited ${code}: ${script}`));
    });
  });
}

let jobSeq = 0;
interface AgentRun { ms: number; cpu: number; stopMs: number; execs: number; fileEvents: number; fileOpens: number; drops: number; events: number; split: string }
/** CPU seconds so far of the kernel program, this process (the agent) and the embedded collector (bpftraceCpu lists
 * the children first: the collector's pid with them). */
function sideCpu(): { sensor: number; agent: number; collector: number } {
  const u = process.cpuUsage();
  return { sensor: bpftraceCpu(), agent: (u.user + u.system) / 1e6, collector: colPids.reduce((n, p) => n + procCpu(p), 0) };
}
const splitText = (a: ReturnType<typeof sideCpu>, b: ReturnType<typeof sideCpu>): string =>
  `sensor ${(b.sensor - a.sensor).toFixed(2)} + agent ${(b.agent - a.agent).toFixed(2)} + collector ${(b.collector - a.collector).toFixed(2)} s`;
async function runAgent(script: string): Promise<AgentRun> {
  const dir = mkdtempSync(join(root, 'agent-'));
  const logger = createLogger({ level: 'warn', destination: join(dir, 'runwarden.log') });
  const job = jobContextFromEnv(jobEnv, () => undefined, Date.now() * 1e6, { cwd: root });
  const paths = jobPathsFromEnv(jobEnv, root);
  const watch = createRunWatch({
    config: cfg.ok ? cfg.config : (undefined as never), logger, jobId: `bench-${++jobSeq}`, start: job.start, env: jobEnv, paths,
    dbPath: join(dir, 'audit.db'),
    createSensor: (req) => chooseSensor({ ...req, ...(paths.home ? { homes: [paths.home] } : {}), workspace: root }),
  });
  await watch.prepare();
  const sampler = setInterval(() => { maxRss.agent = Math.max(maxRss.agent, agentRssKiB()); }, 250);
  const c0 = cpuNow();
  const s0 = sideCpu();
  const startCpu = s0.sensor;
  const ms = await timed(script, (pid) => watch.attach(pid));
  const s1 = sideCpu();
  smapsSample(bpftracePids());
  const t1 = Date.now();
  const res = await watch.stop({ exitCode: 0 });
  const c1 = cpuNow(); // bpftrace is reaped by now: its CPU is in `children`
  clearInterval(sampler);
  const s = res.summary;
  if (s.sensor !== 'ebpf') throw new Error(`agent ran without the eBPF sensor (${s.sensor}): ${(s.blindSpots ?? []).join('; ')}`);
  const stopMs = Date.now() - t1;
  // Counted in the collector's store: what the user's audit log holds for this job.
  const q = (sql: string): number => Number((spawnSync('sqlite3', [join(dir, 'audit.db'), sql], { encoding: 'utf8' }).stdout || '0').trim() || 0);
  const out: AgentRun = {
    ms, cpu: c1.self - c0.self + c1.children - c0.children - startCpu, stopMs, drops: s.drops ?? 0,
    execs: q("select count(*) from events where kind = 'exec'"),
    fileEvents: q("select count(*) from events where kind = 'file'"),
    fileOpens: q("select coalesce(sum(json_extract(body, '$.count')), 0) from events where kind = 'file' and json_extract(body, '$.op') in ('OPEN_WRITE', 'CREATE', 'TRUNCATE')"),
    events: q('select count(*) from events'),
    split: `${splitText(s0, s1)} until done; the collector's start-up ${s0.collector.toFixed(2)} s`,
  };
  rmSync(dir, { recursive: true, force: true });
  return out;
}

async function runSensorOnly(script: string): Promise<number> {
  const sensor = createEbpfSensor();
  const table = createProcTable();
  const attribution = createAttribution(table);
  sensor.onEvent((ev) => { table.apply(ev); attribution.observe(ev); attribution.enrich(ev); });
  await sensor.start();
  const sampler = setInterval(() => { maxRss.sensor = Math.max(maxRss.sensor, agentRssKiB()); }, 250);
  const ms = await timed(script);
  clearInterval(sampler);
  await sensor.close();
  return ms;
}

const row = (key: string): Row => {
  let r = results.get(key);
  if (!r) { r = { off: [], on: [], ratios: [], cpu: [], stop: [], runs: [] }; results.set(key, r); }
  return r;
};

for (let round = 0; round < rounds; round++) {
  for (const w of chosen) {
    // Odd rounds run the agent first: a machine that speeds up or slows down through a pair favours neither side.
    const offRun = async (): Promise<{ off: number; offCpu: number }> => {
      w.prep?.();
      const c0 = cpuNow();
      const off = await timed(w.script());
      return { off, offCpu: cpuNow().children - c0.children };
    };
    const agentRun = async (): Promise<AgentRun> => { w.prep?.(); return runAgent(w.script()); };
    let off: number;
    let offCpu: number;
    let a: AgentRun;
    if (round % 2 === 0) { ({ off, offCpu } = await offRun()); a = await agentRun(); } else { a = await agentRun(); ({ off, offCpu } = await offRun()); }
    const r = row(`agent ${w.name}`);
    r.off.push(off); r.on.push(a.ms); r.ratios.push(a.ms / off); r.cpu.push(a.cpu / Math.max(offCpu, 0.01)); r.stop.push(a.stopMs); r.runs.push(a);
    process.stderr.write(`round ${round + 1} ${w.name}: off ${off.toFixed(0)} ms (cpu ${offCpu.toFixed(2)} s), agent ${a.ms.toFixed(0)} ms (${(a.ms / off).toFixed(3)}, cpu ${a.cpu.toFixed(2)} s), `
      + `${a.split}, stop ${a.stopMs} ms, execs ${a.execs}, file events ${a.fileEvents} (write-opens ${a.fileOpens}), events ${a.events}, drops ${a.drops}`);
    if (sensorOnly) {
      w.prep?.();
      const s = await runSensorOnly(w.script());
      const rs = row(`sensor ${w.name}`);
      rs.off.push(off); rs.on.push(s); rs.ratios.push(s / off);
      process.stderr.write(`, sensor only ${s.toFixed(0)} ms (${(s / off).toFixed(3)})`);
    }
    process.stderr.write(`, load ${loadavg()[0]!.toFixed(2)}\n`);
  }
}

console.log(`Agent overhead (runwarden run pipeline: eBPF sensor → core → scanning → uplink → embedded collector), ${rounds} paired rounds, median (node ${process.version} ${process.execArgv.filter((a) => a.startsWith('--') && !a.startsWith('--import')).join(' ') || 'without options'})`);
console.log(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}; workloads in ${baseDir} (${fsType})`);
console.log(`${'workload'.padEnd(28)} ${'off ms'.padStart(7)} ${'agent ms'.padStart(8)}  ratio target       ${sensorOnly ? 'sensor-only ' : ''}cpu-ratio stop-ms  execs file-ev  opens  events drops`);
for (const w of chosen) {
  const r = results.get(`agent ${w.name}`)!;
  const m = median(r.ratios);
  const so = sensorOnly ? `${median(results.get(`sensor ${w.name}`)!.ratios).toFixed(3).padStart(11)} ` : '';
  const last = r.runs[r.runs.length - 1]!;
  console.log(`${w.name.padEnd(28)} ${median(r.off).toFixed(0).padStart(7)} ${median(r.on).toFixed(0).padStart(8)}  ${m.toFixed(3)} <=${w.target.toFixed(2)} ${(m <= w.target ? 'OK' : 'MISS').padEnd(4)} ${so}`
    + `${median(r.cpu).toFixed(2).padStart(9)} ${median(r.stop).toFixed(0).padStart(7)} ${String(last.execs).padStart(6)} ${String(last.fileEvents).padStart(7)} ${String(last.fileOpens).padStart(6)} ${String(last.events).padStart(7)} ${String(Math.max(...r.runs.map((x) => x.drops))).padStart(5)}`);
}
console.log(`agent RSS (${kernelName} + agent process), max: ${(maxRss.agent / 1024).toFixed(1)} MiB  target <= 150 MiB ${maxRss.agent / 1024 <= 150 ? 'OK' : 'MISS'}`
  + (sensorOnly ? `; sensor only: ${(maxRss.sensor / 1024).toFixed(1)} MiB` : '')
  + ` (max of the parts: ${kernelName} ${(maxPart.bpftrace / 1024).toFixed(1)} MiB, agent process ${(maxPart.node / 1024).toFixed(1)} MiB);`
  + ` embedded collector process (run mode; on a host the collector runs elsewhere): ${(maxPart.collector / 1024).toFixed(1)} MiB`);
const mib = (k: number) => (k / 1024).toFixed(1);
console.log(`agent memory, max: Pss ${kernelName} ${mib(maxMem.bpftracePss)} + agent ${mib(maxMem.nodePss)} = ${mib(maxMem.bpftracePss + maxMem.nodePss)} MiB; `
  + `private (mapped by no other process) ${mib(maxMem.bpftracePrivate)} + ${mib(maxMem.nodePrivate)} = ${mib(maxMem.bpftracePrivate + maxMem.nodePrivate)} MiB; `
  + `anonymous (heap, not file-backed) ${mib(maxMem.bpftraceAnon)} + ${mib(maxMem.nodeAnon)} = ${mib(maxMem.bpftraceAnon + maxMem.nodeAnon)} MiB`);
console.log(`off runs, min–max ms (how steady the baseline was): ${chosen.map((w) => { const o = results.get(`agent ${w.name}`)!.off; return `${w.name.slice(0, 3)} ${Math.min(...o).toFixed(0)}–${Math.max(...o).toFixed(0)}`; }).join(' · ')}`);
console.log(`cpu-ratio: CPU of workload + ${kernelName} + agent + embedded collector over CPU of the workload alone (robust on a busy machine).`);
console.log('stop-ms: watch.stop() after the workload (catch-up on the backlog + 300 ms drain + job end + flush to the collector).');
console.log('execs/file-ev/opens/events: counted in the collector store for the last round (opens = sum of write-open counts).');
remove();
