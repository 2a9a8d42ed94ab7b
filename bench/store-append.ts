// Measures collector/store.ts appendEvents alone (hashing + SQLite, batches of 512), for NORMAL and FULL sync
// and two pid distributions.
// Run: npx tsc -p tsconfig.build.json && node dist/bench/store-append.js [events]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEvent } from '../proto/codec.js';
import type { RawEvent, RwEvent } from '../proto/types.js';
import { openStore } from '../collector/store.js';

const total = Number(process.argv[2] ?? 200_000);
const batchSize = 512;

/** pids: 'job' = a build's shape (new processes over time, ~16 alive at once); 'spread' = 500 pids interleaved (worst case for the pid index). */
function makeEvents(n: number, pids: 'job' | 'spread'): RawEvent[] {
  const out: RawEvent[] = [];
  const base = 1_764_000_000_000_000_000;
  for (let i = 1; i <= n; i++) {
    const k = i % 3;
    const pid = pids === 'job' ? 1000 + Math.floor(i / 64) + (i % 16) : 1000 + (i % 500);
    const event: RwEvent = k === 0
      ? { agentId: 'agent-1', bootId: 'boot-1', seq: i, tsNs: base + i * 1000, jobId: 'job-42', pid, ppid: 999, uid: 1001, comm: 'node', exe: '/usr/bin/node', kind: 'exec', exec: { argv: ['node', 'build.js', `--step=${i}`], cwd: '/home/runner/work/app' } }
      : k === 1
        ? { agentId: 'agent-1', bootId: 'boot-1', seq: i, tsNs: base + i * 1000, jobId: 'job-42', pid, comm: 'curl', exe: '/usr/bin/curl', kind: 'net', net: { family: 'INET', proto: 'TCP', dstIp: '140.82.112.3', dstPort: 443, domain: 'github.com' } }
        : { agentId: 'agent-1', bootId: 'boot-1', seq: i, tsNs: base + i * 1000, jobId: 'job-42', pid, comm: 'sh', exe: '/bin/sh', kind: 'file', file: { op: 'OPEN_WRITE', path: `/home/runner/work/app/dist/f${i}.js`, count: 3 } };
    out.push({ event, bytes: encodeEvent(event) });
  }
  return out;
}

for (const [pids, sync] of [['job', 'NORMAL'], ['job', 'FULL'], ['spread', 'NORMAL']] as const) {
  const events = makeEvents(total, pids);
  const dir = mkdtempSync(join(tmpdir(), 'rw-bench-'));
  const store = openStore(join(dir, 'audit.db'), { stateDir: join(dir, 'state'), synchronous: sync });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < events.length; i += batchSize) store.appendEvents(events.slice(i, i + batchSize), Date.now() * 1e6);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuSecs = (cpu.user + cpu.system) / 1e6;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`appendEvents pids=${pids} synchronous=${sync} batch=${batchSize}: ${total} events in ${secs.toFixed(2)} s = ${Math.round(total / secs)} events/s wall, ${Math.round(total / cpuSecs)} events per CPU-second (one thread)`);
}
