// Benchmark: the agent's CPU per event, without the noise of a live build. The libbpf sensor's output for one job of
// a workload (bench/workloads.ts) is recorded once, then fed again and again through the agent's pipeline in this
// process, stage by stage: decode (bpftrace-decode.ts), + attribution and enrichment (core.ts, a job registered for
// the workload's shell as the runner hooks do), + encoding as the uplink encodes (proto/codec.ts). No socket and no
// collector. The recorded processes are gone by the time of the replay, as most of a build's are when the agent
// reads their exec, so /proc answers as it mostly does live; relative paths, which the live sensor resolves through
// /proc/<pid>/cwd or /proc/<pid>/fd/N, are joined to the directory the workload works in (its `-C DIR`). Prints µs of CPU per event per
// stage, median over the replays.
//
// The collector's part follows, on the events the agent sent: ingest (each event decoded as the ws ingest decodes
// it, then appended to a fresh audit store in batches of 512, hash chain and FULL sync included) and detect (the
// detection worker's loop: read back from the store, decoded, evaluated by the default rule pack).
//
// Run as root after a build: node dist/bench/agent-replay.js [replays] [--only=abc] [--dir=DIR] [--keep=FILE]
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createAgentCore } from '../agent/core.js';
import type { Attribution } from '../agent/core.js';
import { createAttribution } from '../agent/attribution.js';
import { createProcTable } from '../agent/proc-table.js';
import { createBpftraceDecoder } from '../agent/sensors/bpftrace-decode.js';
import { createLineSplitter } from '../agent/sensors/line-split.js';
import { libbpfSensorPath } from '../agent/sensors/kernel-program.js';
import type { SensorEvent } from '../agent/sensors/types.js';
import { decodeEvent, encodeEvent } from '../proto/codec.js';
import type { RawEvent, RwEvent } from '../proto/types.js';
import { openStore } from '../collector/store.js';
import { createEngine } from '../collector/rules/engine.js';
import { loadRulePackOrThrow } from '../collector/rules/pack.js';
import { median, prepareWorkloads } from './workloads.js';

const args = process.argv.slice(2);
const replays = Number(args.find((a) => /^\d+$/.test(a)) ?? 15);
const only = args.find((a) => a.startsWith('--only='))?.slice(7) ?? 'bc';
const baseDir = args.find((a) => a.startsWith('--dir='))?.slice(6) ?? tmpdir();
const keep = args.find((a) => a.startsWith('--keep='))?.slice(7);

const sensorPath = libbpfSensorPath();
if (!sensorPath) { console.error('the libbpf sensor is not built (npm run build)'); process.exit(2); }

/** The sensor's lines while `script` runs as `sh -c`, and the shell's pid. */
async function record(script: string, file: string): Promise<{ lines: Buffer; root: number }> {
  const out = openSync(file, 'w');
  const sensor = spawn(sensorPath as string, [], { stdio: ['ignore', out, 'inherit'] });
  closeSync(out);
  for (let i = 0; i < 600 && !readFileSync(file, 'utf8').includes('"H\\t'); i++) await new Promise((r) => setTimeout(r, 50));
  const job = spawnSync('sh', ['-c', script], { stdio: 'ignore' });
  if (job.status !== 0) throw new Error(`the workload failed: ${script}`);
  await new Promise((r) => setTimeout(r, 1500)); // the last write window and the ring
  sensor.kill('SIGTERM');
  await new Promise((r) => sensor.on('close', r));
  return { lines: readFileSync(file), root: job.pid as number };
}

type Stage = 'decode' | 'core' | 'encode';
const STAGES: Stage[] = ['decode', 'core', 'encode'];

/** One replay of the recorded lines through the stages up to `upTo`: CPU µs, events decoded and drafts sent. */
function replay(lines: Buffer, root: number, upTo: Stage, env: Record<string, string>, cwd: string, sent?: Buffer[]): { cpuUs: number; events: number; drafts: number } {
  const cpu0 = process.cpuUsage();
  const dec = createBpftraceDecoder({ wallOffsetNs: 0n, ignorePids: new Set([process.pid]) });
  const table = createProcTable();
  const attr = createAttribution(table, { readPpid: () => undefined });
  const attribution: Attribution = {
    registerJob: (j, r) => attr.registerJob(j, r), unregisterJob: (j) => attr.unregisterJob(j),
    observe: (ev) => { table.apply(ev); attr.observe(ev); },
    jobOf: (pid) => attr.jobOf(pid), ancestry: (pid, max) => attr.ancestry(pid, max), domainFor: (pid, ip) => attr.domainFor(pid, ip), members: (j) => attr.members(j),
  };
  let drafts = 0;
  let seq = 0;
  let bytes = 0;
  const core = createAgentCore({
    host: 'bench', policy: { trusted: [], allow: [] } as never, resolvers: new Set(), attribution,
    enqueue: (d) => {
      drafts++;
      if (upTo === 'encode') {
        const b = encodeEvent(Object.assign({}, d, { agentId: 'a', bootId: 'b', seq: ++seq }) as RwEvent);
        bytes += b.length;
        sent?.push(Buffer.from(b));
      }
    },
    installKey: new Uint8Array(32), secretsConfig: { names: [], patterns: [] }, logger: pino({ level: 'silent' }), nowNs: () => Date.now() * 1e6, hostEvents: true,
  });
  if (upTo !== 'decode') core.startJob('replay', {}, root, env, { workspace: cwd });
  let events = 0;
  const split = createLineSplitter();
  const onEvent = (ev: SensorEvent): void => {
    events++;
    // As the live sensor resolves them (cwd, or the directory fd: tar opens its -C directory and writes relative to it).
    if (ev.kind === 'file' && ev.file.path && !ev.file.path.startsWith('/')) ev.file.path = join(cwd, ev.file.path.replace(/^fd:\d+\//, ''));
    if (upTo !== 'decode') core.onSensorEvent(ev);
  };
  const now = process.hrtime.bigint();
  for (let off = 0; off < lines.length; off += 65_536) {
    for (const line of split.push(lines.subarray(off, off + 65_536))) for (const ev of dec.push(line, now).events) onEvent(ev);
  }
  for (const ev of dec.flush(now, true)) onEvent(ev);
  if (upTo !== 'decode') void core.endJob('replay', 0);
  const c = process.cpuUsage(cpu0);
  void bytes;
  return { cpuUs: c.user + c.system, events, drafts };
}

type CollectorStage = 'ingest' | 'detect';
const rules = loadRulePackOrThrow([]);
/** The collector's CPU for the events one replay sent: ingest (decode + store append), detect (read back + rules). */
function collect(sent: readonly Buffer[]): Record<CollectorStage, number> {
  const dir = mkdtempSync(join(tmpdir(), 'rw-replay-db-'));
  const store = openStore(join(dir, 'audit.db'), { stateDir: dir });
  try {
    let c0 = process.cpuUsage();
    for (let i = 0; i < sent.length; i += 512) {
      const batch: RawEvent[] = sent.slice(i, i + 512).map((bytes) => ({ event: decodeEvent(bytes), bytes }));
      store.appendEvents(batch, Date.now() * 1e6);
    }
    let c = process.cpuUsage(c0);
    const ingest = c.user + c.system;
    const engine = createEngine({ rules, trustedCidrs: ['10.0.0.0/8', '127.0.0.0/8'], allowList: [] });
    c0 = process.cpuUsage();
    let findings = 0;
    for (let after = 0; ;) {
      const rows = store.eventsAfter(after, 1000);
      if (rows.length === 0) break;
      for (const { id, event } of rows) findings += engine.process(event, id).length;
      after = (rows[rows.length - 1] as { id: number }).id;
    }
    c = process.cpuUsage(c0);
    void findings;
    return { ingest, detect: c.user + c.system };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const wl = prepareWorkloads(baseDir, only);
try {
  console.log(`Agent pipeline replay (node ${process.version} ${process.execArgv.join(' ')}), ${replays} replays per stage, median; recorded with the libbpf sensor`);
  console.log(`${'workload'.padEnd(30)} ${'lines'.padStart(7)} ${'events'.padStart(7)} ${'sent'.padStart(6)}  ${STAGES.map((s) => `${s} µs/ev`.padStart(15)).join(' ')}  ${'agent ms/job'.padStart(12)}  ${'ingest µs/sent'.padStart(14)} ${'detect µs/sent'.padStart(14)}  ${'collector ms/job'.padStart(16)}`);
  for (const w of wl.workloads) {
    w.prep?.();
    const file = keep ?? `${wl.root}/sensor.lines`;
    const script = w.script();
    const { lines, root } = await record(script, file);
    const per: Record<Stage, number> = { decode: 0, core: 0, encode: 0 };
    let events = 0;
    let drafts = 0;
    // Interleaved, so a slow moment of the machine hits every stage alike.
    const cpu: Record<Stage, number[]> = { decode: [], core: [], encode: [] };
    const coll: Record<CollectorStage, number[]> = { ingest: [], detect: [] };
    for (let i = 0; i < replays + 2; i++) {
      for (const s of STAGES) {
        const sent: Buffer[] = [];
        const r = replay(lines, root, s, wl.jobEnv, /-C (\S+)/.exec(script)?.[1] ?? '/', sent);
        if (i >= 2) cpu[s].push(r.cpuUs); // the first two warm the JIT
        events = r.events;
        if (s !== 'decode') drafts = r.drafts;
        if (s === 'encode') {
          const c = collect(sent);
          if (i >= 2) { coll.ingest.push(c.ingest); coll.detect.push(c.detect); }
        }
      }
    }
    for (const s of STAGES) per[s] = median(cpu[s]);
    const nLines = lines.toString('latin1').split('\n').length - 1;
    const stage = (s: Stage, prev: number): string => `${((per[s] - prev) / Math.max(1, events)).toFixed(1)}`.padStart(15);
    const ing = median(coll.ingest);
    const det = median(coll.detect);
    const perSent = (us: number): string => (us / Math.max(1, drafts)).toFixed(1).padStart(14);
    console.log(`${w.name.padEnd(30)} ${String(nLines).padStart(7)} ${String(events).padStart(7)} ${String(drafts).padStart(6)}  ${stage('decode', 0)} ${stage('core', per.decode)} ${stage('encode', per.core)}  ${(per.encode / 1000).toFixed(0).padStart(12)}  ${perSent(ing)} ${perSent(det)}  ${((ing + det) / 1000).toFixed(0).padStart(16)}`);
    if (!keep) rmSync(file, { force: true });
  }
  console.log('decode: lines to SensorEvents; core: + attribution, enrichment, aggregation, scanning (core.ts); encode: + protobuf as the uplink sends it. µs of CPU per decoded event, each stage over the one before.');
  console.log('ingest: the sent events decoded and appended to a new audit store (batches of 512, FULL sync); detect: read back and evaluated by the default rules. µs of CPU per sent event.');
} finally {
  wl.remove();
}
