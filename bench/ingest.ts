// Ingest throughput: events/s sustained into one `runwarden collector` process from 1, 4 and 16 load-agent
// processes over loopback websockets, p99 batch-commit latency and collector peak RSS. Prints a table.
// Run: npx tsc -p tsconfig.build.json && node dist/bench/ingest.js [--events-per-run N (default 200000; the README quotes 400000)] [--agents 1,4,16] [--no-shim-flags]
// Profile: RW_BENCH_PROF=DIR writes V8 CPU profiles to DIR/collector (main thread, detection worker) and DIR/agent.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tokenSha256 } from '../collector/auth.js';
import { COMMIT_BUCKETS_SECONDS, histogramQuantile, sampleValue } from '../collector/metrics.js';
import { parseArgs, str } from '../cli/args.js';
import { deployedNodeFlags } from './workloads.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'bench-token-0123456789abcdef';
const args = parseArgs(process.argv.slice(2), { 'events-per-run': 'string', agents: 'string', synchronous: 'string', 'no-shim-flags': 'bool' });
// The collector runs under the shim's V8 options, as deployed; --no-shim-flags: node's defaults.
const shimFlags = args.flags['no-shim-flags'] ? [] : deployedNodeFlags();
const total = Number(str(args, 'events-per-run') ?? '200000');
const fleet = (str(args, 'agents') ?? '1,4,16').split(',').map(Number);

interface Row { agents: number; events: number; seconds: number; eventsPerSec: number; p99Ms: number; commits: number; rssMiB: number; cpuUsPerEvent: number; mainCpuUsPerEvent: number; detectCpuUsPerEvent: number; agentCpuUsPerEvent: number; detectSeconds: number; detectPerSec: number }

const exited = (c: ChildProcess): Promise<number | null> => new Promise((r) => { if (c.exitCode !== null) r(c.exitCode); else c.on('exit', (code) => r(code)); });

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function p99(text: string): number {
  const buckets: number[] = [];
  let prev = 0;
  for (const b of COMMIT_BUCKETS_SECONDS) {
    const cum = sampleValue(text, 'runwarden_batch_commit_seconds_bucket', `{le="${b}"}`) ?? 0;
    buckets.push(cum - prev);
    prev = cum;
  }
  const count = sampleValue(text, 'runwarden_batch_commit_seconds_count') ?? 0;
  return histogramQuantile({ count, sumSeconds: 0, buckets }, 0.99);
}

/** RW_BENCH_PROF=DIR: V8 CPU profiles of the collector (one per thread) in DIR/collector, of each load agent in DIR/agent. */
const prof = (role: 'collector' | 'agent'): string[] => {
  const dir = process.env.RW_BENCH_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', join(dir, role)] : [];
};

async function run(agents: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'rw-bench-'));
  const cfg = join(dir, 'collector.json');
  writeFileSync(cfg, JSON.stringify({ log: { level: 'warn' }, collector: { port: 0, db: join(dir, 'audit.db'), stateDir: join(dir, 'state'), tokens: [{ agentId: '*', sha256: tokenSha256(TOKEN) }] } }));
  const col = spawn(process.execPath, [...shimFlags, ...prof('collector'), join(ROOT, 'cli/runwarden.js'), 'collector', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUNWARDEN_LOG_LEVEL: 'info' } });
  let err = '';
  const port = await new Promise<number>((resolve, reject) => {
    col.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /"collector listening".*|"port":(\d+)/.exec(err);
      const pm = /"port":(\d+)/.exec(err);
      if (m && pm) resolve(Number(pm[1]));
    });
    col.on('exit', (c) => reject(new Error(`collector exited ${c}: ${err}`)));
  });
  const per = Math.ceil(total / agents);
  const t0 = performance.now();
  const kids = Array.from({ length: agents }, (_, i) => spawn(process.execPath, [...prof('agent'), join(ROOT, 'dist/test/fixtures/load-agent.js'), '--url', `ws://127.0.0.1:${port}`, '--token', TOKEN, '--state-dir', join(dir, `agent${i}`), '--count', String(per)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const agentCpu: number[] = [];
  for (const k of kids) {
    let out = '';
    k.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    k.on('exit', () => { const m = /"event":"done".*?"cpuSeconds":([0-9.]+)/.exec(out); if (m) agentCpu.push(Number(m[1])); });
  }
  // Sustained rate: from the first committed event to the last, sampled from the collector's own counter.
  let first: { t: number; n: number } | undefined;
  let last = { t: 0, n: 0 };
  const want = per * agents;
  while (last.n < want) {
    const n = sampleValue(await metrics(port), 'runwarden_events_ingested_total') ?? 0;
    const t = performance.now();
    if (n > 0 && !first) first = { t, n };
    if (n > last.n) last = { t, n };
    if (t - t0 > 600_000) throw new Error('bench run took more than 10 minutes');
    await new Promise((r) => setTimeout(r, 50));
  }
  // Detection runs beside ingest (a worker thread): how long until it has evaluated everything.
  let evaluated = 0;
  while (evaluated < want) {
    evaluated = sampleValue(await metrics(port), 'runwarden_detection_events_total') ?? 0;
    if (performance.now() - t0 > 900_000) throw new Error('detection did not catch up within 15 minutes');
    if (evaluated < want) await new Promise((r) => setTimeout(r, 50));
  }
  const detectDone = performance.now();
  const codes = await Promise.all(kids.map(exited));
  if (codes.some((c) => c !== 0)) throw new Error(`load agents failed: ${codes.join(',')}`);
  const text = await metrics(port);
  const rss = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${col.pid}/status`, 'utf8'));
  // utime + stime of the collector (all its threads), in clock ticks of 1/100 s.
  const stat = readFileSync(`/proc/${col.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(f[11]) + Number(f[12])) / 100;
  // Per thread: the main thread (tid = pid) does ingest; the detection worker is the thread at nice +5.
  let mainSeconds = 0;
  let detectCpuSeconds = 0;
  for (const tid of readdirSync(`/proc/${col.pid}/task`)) {
    const ts = readFileSync(`/proc/${col.pid}/task/${tid}/stat`, 'utf8');
    const tf = ts.slice(ts.lastIndexOf(')') + 2).split(' ');
    const secs = (Number(tf[11]) + Number(tf[12])) / 100;
    if (Number(tid) === col.pid) mainSeconds = secs;
    else if (Number(tf[16]) > 0) detectCpuSeconds += secs;
  }
  col.kill('SIGTERM');
  await exited(col);
  rmSync(dir, { recursive: true, force: true });
  const fst = first ?? last;
  const seconds = (last.t - fst.t) / 1000;
  const detectSeconds = (detectDone - t0) / 1000;
  return {
    agents, events: want, seconds,
    eventsPerSec: seconds > 0 ? (last.n - fst.n) / seconds : Number.NaN,
    p99Ms: p99(text) * 1000,
    commits: sampleValue(text, 'runwarden_batch_commit_seconds_count') ?? 0,
    rssMiB: rss ? Number(rss[1]) / 1024 : Number.NaN,
    cpuUsPerEvent: (cpuSeconds * 1e6) / want,
    mainCpuUsPerEvent: (mainSeconds * 1e6) / want,
    detectCpuUsPerEvent: (detectCpuSeconds * 1e6) / want,
    agentCpuUsPerEvent: (agentCpu.reduce((a, b) => a + b, 0) * 1e6) / want,
    detectSeconds,
    detectPerSec: want / detectSeconds,
  };
}

const rows: Row[] = [];
for (const n of fleet) rows.push(await run(n));
const header = ['agents', 'events', 'seconds', 'events/s', 'p99 commit ms (≤ bucket)', 'commits', 'collector peak RSS MiB', 'collector CPU µs/event', '(main thread', 'detection)', 'load agents CPU µs/event', 'all evaluated after s', 'detection events/s'];
const body = rows.map((r) => [String(r.agents), String(r.events), r.seconds.toFixed(2), r.eventsPerSec.toFixed(0), r.p99Ms.toFixed(1), String(r.commits), r.rssMiB.toFixed(0),
  r.cpuUsPerEvent.toFixed(1), r.mainCpuUsPerEvent.toFixed(1), r.detectCpuUsPerEvent.toFixed(1), r.agentCpuUsPerEvent.toFixed(1), r.detectSeconds.toFixed(2), r.detectPerSec.toFixed(0)]);
const w = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padStart(w[i] as number)).join(' | ') + ' |';
process.stdout.write([line(header), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...body.map(line)].join('\n') + '\n');
