// agent/daemon.ts in process: collector away at start (spool, hooks still answer), sensor degrade vs. explicit
// backend, AgentStatus on sensor changes, jobs ended when their root dies, one job cannot end another's.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseConfig } from '../../cli/config.js';
import type { Config } from '../../cli/config.js';
import { startCollector } from '../../collector/daemon.js';
import { AGENT_LIMITS, checkAgentConfig, startAgent } from '../../agent/daemon.js';
import { callJobSocket } from '../../agent/job-socket.js';
import type { Attribution } from '../../agent/core.js';
import { createAttribution } from '../../agent/attribution.js';
import { createProcTable } from '../../agent/proc-table.js';
import { readStat } from '../../agent/procfs-read.js';
import type { Sensor, SensorEvent, SensorStatus } from '../../agent/sensors/types.js';
import type { RwEvent } from '../../proto/types.js';
import { TOKEN, collectorConfig, logSink } from '../helpers/ingest-env.js';

/** A sensor at the seam: no kernel probes, status the test can change; its attribution is the real one. */
function fakeSensor(): { sensor: Sensor; attribution: Attribution; set(s: Partial<SensorStatus>): void; emit(ev: SensorEvent): void } {
  let status: SensorStatus = { sensor: 'ebpf', capabilities: ['exec'], blindSpots: [], drops: 0, running: false };
  let cb: (ev: SensorEvent) => void = () => {};
  const table = createProcTable();
  const attr = createAttribution(table, { readPpid: (pid) => readStat(pid)?.ppid });
  return {
    sensor: {
      start: async () => { status = { ...status, running: true }; },
      onEvent: (f) => { cb = f; },
      onLoss: () => {},
      status: () => status,
      close: async () => { status = { ...status, running: false }; },
    },
    attribution: {
      registerJob: (j, r) => attr.registerJob(j, r), unregisterJob: (j) => attr.unregisterJob(j),
      observe: (ev) => { table.apply(ev); attr.observe(ev); }, jobOf: (p) => attr.jobOf(p),
      ancestry: (p, m) => attr.ancestry(p, m), domainFor: (p, ip) => attr.domainFor(p, ip), members: (j) => attr.members(j),
    },
    set: (s) => { status = { ...status, ...s }; },
    emit: (ev) => cb(ev),
  };
}

function agentConfig(dir: string, url: string, over: Record<string, unknown> = {}): Readonly<Config> {
  const r = parseConfig({
    agent: { stateDir: join(dir, 'state'), socketPath: join(dir, 'a.sock'), collectorUrl: url, token: TOKEN, flushDeadlineMillis: 3000, ...over },
  }, {});
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** bash (the "worker") runs python, which sends one request from under it; prints bash's pid and the answer. */
function underShell(path: string, req: object, tail = ''): Promise<{ shellPid: number; answer: Record<string, unknown> }> {
  const py = `import socket;s=socket.socket(socket.AF_UNIX);s.connect(${JSON.stringify(path)});s.sendall(${JSON.stringify(JSON.stringify(req) + '\n')}.encode());print(s.makefile().readline().strip())`;
  return new Promise((resolve, reject) => {
    const c = spawn('bash', ['-c', `echo $$; python3 -c '${py}'; ${tail} true`]);
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('error', reject);
    c.on('close', () => {
      const [pid, answer] = out.trim().split('\n');
      try { resolve({ shellPid: Number(pid), answer: JSON.parse(answer ?? '') as Record<string, unknown> }); } catch (e) { reject(new Error(`bad output ${out}: ${String(e)}`)); }
    });
  });
}

t.test('checkAgentConfig', async (t) => {
  const base = (over: Record<string, unknown>): Readonly<Config> => agentConfig('/tmp/x', 'ws://127.0.0.1:1', over);
  const cases: [Record<string, unknown>, RegExp | undefined][] = [
    [{}, undefined],
    [{ collectorUrl: '' }, /collectorUrl is required/],
    [{ collectorUrl: 'http://x' }, /ws:\/\/ or wss:\/\//],
    [{ token: '' }, /token is required/],
    [{ socketPath: 'rel.sock' }, /absolute path/],
    [{ socketPath: '/' + 'x'.repeat(120) }, /longer than 107 bytes/],
    [{ sensor: 'ptrace' }, /ptrace follows one wrapped command/],
  ];
  for (const [over, want] of cases) {
    if (!want) { t.doesNotThrow(() => checkAgentConfig(base(over)), JSON.stringify(over)); continue; }
    t.throws(() => checkAgentConfig(base(over)), { code: 'CONFIG_ERR_INVALID', message: want }, JSON.stringify(over));
  }
});

t.test('collector away at start: jobs still register, events spool, then arrive', async (t) => {
  const dir = mkdtempSync('/tmp/rw-hd-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const fake = fakeSensor();
  const sink = logSink();
  const agent = await startAgent({ config: agentConfig(dir, `ws://127.0.0.1:${port}`), logger: sink.logger, createSensor: async () => fake });
  let agentClosed = false;
  t.teardown(async () => { if (!agentClosed) await agent.close(); });
  t.equal(agent.status().uplink.connected, false);

  const r = await underShell(agent.socketPath, { op: 'start', env: { GITLAB_CI: 'true', CI_PROJECT_PATH: 'g/p', CI_JOB_ID: '77', CI_PIPELINE_SOURCE: 'push', CI_PROJECT_ID: '1' } });
  t.match(r.answer, { ok: true, jobId: 'gl:g_p:77', rootPid: r.shellPid });
  // The root (bash) has exited: the agent ends the job itself and reports it.
  await new Promise((res) => setTimeout(res, AGENT_LIMITS.pollMillis * 2 + AGENT_LIMITS.drainMillis + 200));
  t.same(agent.status().jobs, [], 'job whose root died without job end is ended');
  t.ok(sink.lines.some((l) => l.msg === 'job end' && l.why === 'job root exited without job end' && l.jobId === 'gl:g_p:77'));
  t.ok(agent.status().uplink.pending >= 3, 'status, job start, job end wait in the spool');

  const ccfg = collectorConfig(join(dir, 'col'), { port });
  const col = await startCollector({ config: ccfg, logger: logSink().logger });
  t.teardown(() => col.close());
  const deadline = Date.now() + 15_000;
  while (agent.status().uplink.pending > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  t.equal(agent.status().uplink.pending, 0, 'spool drained once the collector is up');
  const kinds = col.store.queryEvents({ jobId: 'gl:g_p:77' }).map((e) => e.event.kind);
  t.same(kinds, ['jobStart', 'jobEnd']);
  const jobEnd = col.store.queryEvents({ jobId: 'gl:g_p:77', kinds: ['jobEnd'] })[0]?.event as RwEvent | undefined;
  t.match(jobEnd, { kind: 'jobEnd', jobEnd: { exitCode: -1 } });
  t.ok(col.store.queryEvents({ kinds: ['status'] }).some((e) => e.event.kind === 'status' && e.event.status.sensor === 'ebpf'), 'AgentStatus at start');

  // A sensor change goes out as a new AgentStatus.
  fake.set({ running: false, message: 'bpftrace exited (status 1); restarting' });
  const until = Date.now() + AGENT_LIMITS.pollMillis * 3;
  let changed: RwEvent | undefined;
  while (!changed && Date.now() < until) {
    await new Promise((res) => setTimeout(res, 200));
    changed = col.store.queryEvents({ kinds: ['status'] }).map((e) => e.event).find((e) => e.kind === 'status' && e.status.message?.includes('restarting'));
  }
  t.ok(changed, 'AgentStatus after the sensor stopped');
  t.ok(sink.lines.some((l) => l.msg === 'sensor status changed' && l.level === 40));

  await agent.close();
  agentClosed = true;
  await t.rejects(callJobSocket(agent.socketPath, { op: 'status' }), { code: 'AGENT_ERR_JOB' }, 'socket gone after close');
});

t.test('sensor: auto degrades loudly, an explicit backend fails', async (t) => {
  const dir = mkdtempSync('/tmp/rw-hd-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const broken = async (): Promise<never> => { throw Object.assign(new Error('bpftrace not found'), { code: 'AGENT_ERR_SENSOR' }); };
  await t.rejects(startAgent({ config: agentConfig(dir, `ws://127.0.0.1:${port}`, { sensor: 'ebpf' }), logger: logSink().logger, createSensor: broken }), { message: 'bpftrace not found' });
  const sink = logSink();
  const agent = await startAgent({ config: agentConfig(dir, `ws://127.0.0.1:${port}`), logger: sink.logger, createSensor: broken });
  t.teardown(() => agent.close());
  t.match(agent.status().sensor, { sensor: 'none', running: false, message: /no sensor: bpftrace not found/ });
  t.ok(sink.lines.some((l) => l.level === 50 && /DEGRADED/.test(String(l.msg))), 'degrade logged at error level');
  const st = await callJobSocket(agent.socketPath, { op: 'status' });
  t.match(st, { ok: true, sensor: { sensor: 'none' }, jobs: [] });
});

t.test('one job cannot end another job', async (t) => {
  const dir = mkdtempSync('/tmp/rw-hd-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fake = fakeSensor();
  const agent = await startAgent({ config: agentConfig(dir, `ws://127.0.0.1:${await freePort()}`), logger: logSink().logger, createSensor: async () => fake });
  t.teardown(() => agent.close());
  // Worker 1 stays alive (sleep) while worker 2 tries to end its job by id, then ends its own.
  const w1 = spawn('bash', ['-c', `python3 -c 'import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(${JSON.stringify(agent.socketPath)});s.sendall(b"{\\"op\\":\\"start\\",\\"env\\":{\\"BUILDKITE\\":\\"true\\",\\"BUILDKITE_JOB_ID\\":\\"one\\"}}\\n");print(s.makefile().readline().strip(),flush=True)'; sleep 30; true`]);
  t.teardown(() => { w1.kill('SIGKILL'); });
  const first = await new Promise<string>((res) => { let o = ''; w1.stdout.on('data', (d: Buffer) => { o += d.toString(); if (o.includes('\n')) res(o); }); });
  t.match(JSON.parse(first), { ok: true, jobId: 'bk:one', rootPid: w1.pid });
  const other = await underShell(agent.socketPath, { op: 'end', jobId: 'bk:one' });
  t.match(other.answer, { ok: false, code: 'AGENT_ERR_JOB', message: /is not the caller's/ });
  t.same(agent.status().jobs.map((j) => j.jobId), ['bk:one'], 'job one still running');
  // Same job id from another root while it runs: refused, the first registration stands.
  const dup = await underShell(agent.socketPath, { op: 'start', env: { BUILDKITE: 'true', BUILDKITE_JOB_ID: 'one' } });
  t.match(dup.answer, { ok: false, code: 'AGENT_ERR_JOB', message: /already running under root pid/ });
});
