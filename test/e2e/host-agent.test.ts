// Host mode end to end: a real collector process, the real `runwarden agent` (root, eBPF sensor), two
// concurrent "runner workers" (bash) that register through the real hook scripts, and the audit DB as judge.
import t from 'tap';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStoreReadOnly } from '../../collector/store.js';
import { CORE_LIMITS } from '../../agent/core.js';
import type { RwEvent } from '../../proto/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'cli/runwarden.js');
const HOOKS = join(ROOT, 'agent/hooks');

t.setTimeout(240_000);

interface Proc { child: ChildProcess; out: () => string; err: () => string; exit: Promise<number | null> }

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function until<T>(what: string, f: () => T | undefined, timeoutMillis: number): Promise<T> {
  const end = Date.now() + timeoutMillis;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function sh(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('bash', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, out, err }));
  });
}

t.test('host agent: two concurrent jobs kept apart, survivors, status, strays', async (t) => {
  const dir = mkdtempSync('/tmp/rw-host-');   // short: a socket path holds 107 bytes
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'audit.db');
  const sock = join(dir, 'run/agent.sock');
  const home = join(dir, 'home');
  mkdirSync(home);
  writeFileSync(join(home, '.npmrc'), '//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n');
  const bin = join(dir, 'runwarden');
  writeFileSync(bin, `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });

  const tok = start([CLI, 'token']);
  await tok.exit;
  const { token, sha256 } = JSON.parse(tok.out()) as { token: string; sha256: string };

  writeFileSync(join(dir, 'collector.yaml'), `collector:\n  tokens: [{ agentId: "*", sha256: "${sha256}" }]\n`);
  const collector = start([CLI, 'collector', '--config', join(dir, 'collector.yaml'), '--port', '0', '--db', db, '--state-dir', join(dir, 'collector')]);
  t.teardown(async () => { collector.child.kill('SIGTERM'); await collector.exit; });
  const url = await until('collector url', () => /"url":"(ws:\/\/127\.0\.0\.1:\d+)"/.exec(collector.err())?.[1], 15_000);

  // Config errors fail fast with exit 2 before anything starts.
  const bad = start([CLI, 'agent', '--socket', join(dir, 'x.sock'), '--state-dir', join(dir, 'bad-state')]);
  t.equal(await bad.exit, 2, 'no collector configured: exit 2');
  t.match(bad.err(), /agent\.collectorUrl is required/);
  t.match(bad.err(), /agent\.token is required/);

  writeFileSync(join(dir, 'agent.yaml'), `log:\n  level: info\nagent:\n  sensitivePaths: [${JSON.stringify(join(home, '.npmrc'))}]\n`);
  const agent = start([CLI, 'agent', '--config', join(dir, 'agent.yaml'), '--socket', sock, '--state-dir', join(dir, 'state'), '--collector', url, '--token', token]);
  const stopped = { code: undefined as number | null | undefined };
  t.teardown(async () => { if (stopped.code === undefined) { agent.child.kill('SIGKILL'); await agent.exit; } });
  await until('agent listening', () => /listening on/.test(agent.err()) || (agent.child.exitCode !== null ? (() => { throw new Error(agent.err()); })() : undefined), 60_000);

  // agent status: JSON and table.
  const stJson = start([CLI, 'agent', 'status', '--socket', sock, '--format', 'json']);
  t.equal(await stJson.exit, 0);
  const status = JSON.parse(stJson.out()) as { sensor: { sensor: string; running: boolean; capabilities: string[] }; jobs: unknown[]; agentId: string; uplink: { connected: boolean } };
  t.match(status, { sensor: { sensor: 'ebpf', running: true }, jobs: [] });
  if (status.sensor.capabilities.includes('kernel-program-libbpf')) {
    t.match(status, { sensor: { lag: { kernelProgramBacklogBytes: Number, kernelProgramBacklogPeakBytes: Number, kernelProgramWaits: 0, queuedEvents: Number } } }, 'how far behind the agent reads its sensor');
  }
  t.ok(status.sensor.capabilities.includes('exec'));
  const stTable = start([CLI, 'agent', 'status', '--socket', sock, '--format', 'table']);
  t.equal(await stTable.exit, 0);
  t.match(stTable.out(), /^agent +\S+ \(pid \d+/m);
  t.match(stTable.out(), /^sensor +ebpf running/m);
  if (status.sensor.capabilities.includes('kernel-program-libbpf')) t.match(stTable.out(), /^ {2}behind +\d+ B held by the kernel program \(peak \d+ B, 0 waits with it full\), \d+ events queued/m);
  const stNone = start([CLI, 'agent', 'status', '--socket', join(dir, 'nope.sock')]);
  t.equal(await stNone.exit, 1, 'status exits 1 when no agent runs');
  t.match(stNone.err(), /agent is not running/);

  const listener = createServer((s) => s.end('hi\n'));
  await new Promise<void>((r) => listener.listen(0, '127.3.3.3', r));
  t.teardown(() => listener.close());
  const port = (listener.address() as AddressInfo).port;

  // Two runner workers at once: each registers via the GitHub hook, overlaps the other, then ends.
  const ghEnv = (run: string): Record<string, string> => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, RUNWARDEN_BIN: bin, RUNWARDEN_SOCKET: sock,
    GITHUB_ACTIONS: 'true', GITHUB_REPOSITORY: 'acme/app', GITHUB_RUN_ID: run, GITHUB_RUN_ATTEMPT: '1', GITHUB_JOB: 'build',
    GITHUB_EVENT_NAME: 'push', GITHUB_REF: 'refs/heads/main', GITHUB_WORKSPACE: dir,
  });
  const workerA = `echo "worker $$"; sh ${HOOKS}/github-job-started.sh; sleep 1
cat "$HOME/.npmrc" > /dev/null
nohup sleep 30 > /dev/null 2>&1 &
echo "sleeper $!"
/bin/echo marker-a > /dev/null
/bin/echo "$NPM_TOKEN" > /dev/null; sleep 1
sh ${HOOKS}/github-job-completed.sh`;
  const workerB = `echo "worker $$"; sh ${HOOKS}/github-job-started.sh; sleep 1
curl -s --max-time 3 -o /dev/null http://127.3.3.3:${port}/
/bin/echo marker-b > /dev/null; sleep 1
sh ${HOOKS}/github-job-completed.sh`;
  const secret = 'npm_' + 'Zq7'.repeat(12);
  const [ra, rb] = await Promise.all([sh(workerA, { ...ghEnv('1001'), NPM_TOKEN: secret }), sh(workerB, ghEnv('1002'))]);
  t.equal(ra.code, 0, ra.err);
  t.equal(rb.code, 0, rb.err);
  const jobA = 'gh:acme_app:1001:1:build';
  const jobB = 'gh:acme_app:1002:1:build';
  t.match(ra.out, new RegExp(`^${jobA}$`, 'm'), 'hook printed job A id');
  t.match(rb.out, new RegExp(`^${jobB}$`, 'm'), 'hook printed job B id');
  const pidA = Number(/worker (\d+)/.exec(ra.out)?.[1]);
  const pidB = Number(/worker (\d+)/.exec(rb.out)?.[1]);
  const sleeper = Number(/sleeper (\d+)/.exec(ra.out)?.[1]);
  t.teardown(() => { try { process.kill(sleeper, 'SIGKILL'); } catch { /* gone */ } });
  t.match(ra.out, new RegExp(`^${jobA} survivors=1$`, 'm'), 'job A ends with the sleeper as the one survivor');
  t.match(rb.out, new RegExp(`^${jobB} survivors=0$`, 'm'));
  t.match(ra.err, new RegExp(`^::warning title=runwarden::process still running after the job: pid ${sleeper} sleep \\(sleep 30\\)$`, 'm'), 'the hook shows the survivor in the job log');
  t.notMatch(rb.err, /still running/);

  // Not under any runner: a plain shell registers and ends a job; it works and is logged.
  const stray = await sh(`echo "shell $$"; ${bin} job start --socket ${sock}; /bin/echo stray-marker; ${bin} job end --socket ${sock}; true`, { PATH: process.env.PATH ?? '/usr/bin:/bin' });
  const strayShell = Number(/shell (\d+)/.exec(stray.out)?.[1]);
  const strayJob = /^(local:\d+:\d+)$/m.exec(stray.out)?.[1];
  t.ok(strayJob, `stray job id printed: ${stray.out}`);
  t.equal(strayJob?.split(':')[2], String(strayShell), 'root of a stray job is the caller\'s parent shell');
  t.match(agent.err(), /job started outside any CI runner/);

  // A malformed request is answered with ok:false and the socket keeps serving.
  const answer = await new Promise<string>((resolve, reject) => {
    const c = createConnection(sock);
    let buf = '';
    c.on('connect', () => c.write('{"op":"start","env":"oops"}\n'));
    c.on('data', (d) => { buf += d.toString(); if (buf.includes('\n')) { c.end(); resolve(buf); } });
    c.on('error', reject);
  });
  t.match(JSON.parse(answer), { ok: false, code: 'AGENT_ERR_REQUEST', message: /start needs env/ });
  const after = start([CLI, 'agent', 'status', '--socket', sock, '--format', 'json']);
  t.equal(await after.exit, 0, 'still serving after a malformed request');
  t.same((JSON.parse(after.out()) as { jobs: unknown[] }).jobs, [], 'every job ended');

  // A hook never breaks the build: agent unreachable → warning, exit 0; --strict → exit 1.
  const lax = start([CLI, 'job', 'start', '--socket', join(dir, 'nope.sock')]);
  t.equal(await lax.exit, 0);
  t.match(lax.err(), /warning: agent not reachable/);
  const strict = start([CLI, 'job', 'start', '--strict', '--socket', join(dir, 'nope.sock')]);
  t.equal(await strict.exit, 1);

  // The audit DB: wait until both job ends have been committed.
  const events = (filter: { jobId?: string }): RwEvent[] => {
    if (!existsSync(db)) return [];
    const s = openStoreReadOnly(db);
    try { return s.queryEvents({ ...filter, limit: 100_000 }).map((e) => e.event); } finally { s.close(); }
  };
  await until('job ends in the DB', () => {
    const ends = events({}).filter((e) => e.kind === 'jobEnd');
    return ends.length >= 3 ? true : undefined;
  }, 30_000);
  const all = events({});
  const inA = all.filter((e) => e.jobId === jobA);
  const inB = all.filter((e) => e.jobId === jobB);
  const execs = (es: RwEvent[]): string[] => es.flatMap((e) => (e.kind === 'exec' ? [(e.exec.argv ?? []).join(' ')] : []));

  const startA = inA.find((e) => e.kind === 'jobStart');
  const startB = inB.find((e) => e.kind === 'jobStart');
  t.equal(startA?.kind === 'jobStart' ? startA.jobStart.rootPid : 0, pidA, 'job A root is worker A');
  t.equal(startB?.kind === 'jobStart' ? startB.jobStart.rootPid : 0, pidB, 'job B root is worker B');
  t.match(startA?.kind === 'jobStart' ? startA.jobStart : {}, { provider: 'github', repo: 'acme/app', trigger: 'push', untrusted: false });

  t.match(startA?.kind === 'jobStart' ? startA.jobStart.secretNames : [], ['NPM_TOKEN'], 'job A holds NPM_TOKEN (from the hook\'s env)');
  t.same(startB?.kind === 'jobStart' ? startB.jobStart.secretNames ?? [] : ['?'], [], 'job B holds no secret');
  t.ok(inA.some((e) => e.kind === 'secret' && e.secretNames?.includes('NPM_TOKEN')), 'the secret in an argv is reported as an exposure');
  const execA = execs(inA);
  const execB = execs(inB);
  t.ok(execA.some((a) => a === `cat ${home}/.npmrc`), `cat .npmrc in job A: ${execA.join(' | ')}`);
  t.ok(execA.some((a) => a === 'sleep 30'), 'nohup sleep in job A');
  t.ok(execA.includes('/bin/echo marker-a'), 'marker-a in job A');
  t.ok(execB.some((a) => a.startsWith('curl ') && a.includes('127.3.3.3')), `curl in job B: ${execB.join(' | ')}`);
  t.ok(execB.includes('/bin/echo marker-b'), 'marker-b in job B');
  t.notOk(execA.some((a) => a.includes('marker-b') || a.startsWith('curl')), 'nothing of B in A');
  t.notOk(execB.some((a) => a.includes('marker-a') || a.includes('.npmrc') || a === 'sleep 30'), 'nothing of A in B');
  // Every exec of the scripts' commands, wherever it landed (the workers' own exec predates their jobs).
  const workers = new Set([pidA, pidB, strayShell]);
  const wrongJob = all.filter((e) => e.kind === 'exec' && !workers.has(e.pid ?? 0) && /marker-[ab]|\.npmrc|127\.3\.3\.3|stray-marker/.test((e.exec.argv ?? []).join(' ')));
  t.equal(wrongJob.length, 5, 'the five matching script commands seen (cat, curl, three markers)');
  for (const e of wrongJob) {
    const argv = e.kind === 'exec' ? (e.exec.argv ?? []).join(' ') : '';
    const want = argv.includes('marker-a') || argv.includes('.npmrc') ? jobA : argv.includes('stray-marker') ? strayJob : jobB;
    t.equal(e.jobId, want, `exec "${argv}" is on ${want}`);
  }
  t.ok(inB.some((e) => e.kind === 'net' && e.net.dstIp === '127.3.3.3' && e.net.dstPort === port), 'curl connect in job B');
  t.ok(inA.some((e) => e.kind === 'read' && e.read.path === join(home, '.npmrc')), 'sensitive read of .npmrc in job A');

  const endA = inA.find((e) => e.kind === 'jobEnd');
  const endB = inB.find((e) => e.kind === 'jobEnd');
  const survA = endA?.kind === 'jobEnd' ? endA.jobEnd.survivors ?? [] : [];
  const survB = endB?.kind === 'jobEnd' ? endB.jobEnd.survivors ?? [] : [];
  t.same(survA.map((s) => [s.pid, s.comm]), [[sleeper, 'sleep']], 'job A: the nohup sleep survives, not the worker nor the hook');
  t.same(survB, [], 'job B: no survivors');

  // A host process outside every job unpacks 300 files into one directory, just before the agent stops: they are
  // aggregated per directory as a job's are, and what is still pending at the stop goes out with the last events.
  const unpack = join(dir, 'host-unpack');
  mkdirSync(unpack);
  const up = await sh(`echo "unpacker $$"; for i in $(seq 1 300); do : > ${unpack}/f$i; done`, { PATH: process.env.PATH ?? '/usr/bin:/bin' });
  const unpacker = Number(/unpacker (\d+)/.exec(up.out)?.[1]);
  // The same through a directory fd, as tar -C writes (openat(dirfd, "name")): the kernel's path is fd:N/name, made
  // absolute by the sensor, and must be classified as the absolute path to be aggregated (it went out file by file).
  const unpackFd = join(dir, 'host-unpack-fd');
  mkdirSync(unpackFd);
  const upFd = await sh(`python3 -c 'import os,sys
print("unpacker", os.getpid(), flush=True)
d = os.open(sys.argv[1], os.O_RDONLY)
for i in range(300): os.close(os.open("g%d" % i, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))' ${unpackFd}`, { PATH: process.env.PATH ?? '/usr/bin:/bin' });
  const unpackerFd = Number(/unpacker (\d+)/.exec(upFd.out)?.[1]);

  // Graceful stop: exit 0, socket gone, then nothing left spooled.
  agent.child.kill('SIGTERM');
  stopped.code = await agent.exit;
  t.equal(stopped.code, 0, agent.err().slice(-2000));
  const hostFiles = events({}).filter((e): e is Extract<RwEvent, { kind: 'file' }> => e.kind === 'file' && (e.file.path ?? '').startsWith(`${unpack}/`));
  const aggs = hostFiles.filter((e) => e.file.path === `${unpack}/*`);
  t.ok(hostFiles.every((e) => !e.jobId && e.pid === unpacker), 'host events of the unpacking shell, in no job');
  t.ok(aggs.length >= 1, 'the rest in aggregates');
  t.match(aggs[0]?.file.contentHint, /^aggregated: \d+ files, \d+ write-opens; e\.g\. f\d+/);
  t.equal(hostFiles.reduce((n, e) => n + (e.file.count ?? 0), 0), 300, 'the counts add up to the 300 files: none lost at the stop');
  t.ok(hostFiles.length <= 64 + CORE_LIMITS.plainFilesPerDir + 3, `${hostFiles.length} events for 300 files (the kernel prints the first 64, the agent sends ${CORE_LIMITS.plainFilesPerDir} one by one)`);
  const fdFiles = events({}).filter((e): e is Extract<RwEvent, { kind: 'file' }> => e.kind === 'file' && (e.file.path ?? '').startsWith(`${unpackFd}/`));
  t.ok(fdFiles.every((e) => !e.jobId && e.pid === unpackerFd && e.file.pathClass === 'tmp'), 'dirfd-relative writes: absolute, of class tmp, of the unpacker');
  t.equal(fdFiles.reduce((n, e) => n + (e.file.count ?? 0), 0), 300, 'dirfd-relative writes: the counts add up to 300');
  t.ok(fdFiles.length <= 64 + CORE_LIMITS.plainFilesPerDir + 3, `dirfd-relative writes: ${fdFiles.length} events for 300 files, aggregated`);
  t.notOk(existsSync(sock), 'socket removed');
  t.match(agent.err(), /agent stopped/);
  t.notMatch(agent.err(), /"level":(50|60)/, 'no error logs');
  t.notOk(agent.err().includes(secret), 'the secret value is in no agent log line');
  for (const f of [db, db + '-wal']) if (existsSync(f)) t.notOk(readFileSync(f).includes(secret), `the secret value is nowhere in ${f}`);
  t.notOk(readFileSync(join(dir, 'state', 'agent-id'), 'utf8').trim() === '', 'agent id kept');
});
