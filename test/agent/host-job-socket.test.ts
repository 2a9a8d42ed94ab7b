// agent/job-socket.ts: the root decision, request validation (table-driven), and a real socket server whose
// peers are real processes (kernel peer pid), fed malformed, oversized, slow and concurrent requests.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { ancestorsOf, callJobSocket, chooseJobRoot, jobOfCaller, parseRequest, startJobSocket } from '../../agent/job-socket.js';
import type { JobHost, ProcInfo } from '../../agent/job-socket.js';

const P = (pid: number, ppid: number, comm: string, ...argv: string[]): ProcInfo => ({ pid, ppid, comm, argv: argv.length ? argv : [comm] });

t.test('chooseJobRoot', async (t) => {
  const node = P(50, 40, 'node', 'node', '/usr/lib/runwarden/cli/runwarden.js', 'job', 'start');
  const hook = P(40, 30, 'bash', '/usr/bin/bash', '-e', '/runner/hooks/started.sh');
  const worker = P(30, 20, 'Runner.Worker', '/runner/bin/Runner.Worker', 'spawnclient', '118', '121');
  const listener = P(20, 1, 'Runner.Listener');
  const cases: { name: string; chain: ProcInfo[]; hint?: number; root?: number; via?: string; notes?: RegExp; code?: string }[] = [
    { name: 'github hook with hint', chain: [node, hook, worker, listener], hint: 30, root: 30, via: 'hint' },
    { name: 'github hook, no hint: skips CLI and hook script', chain: [node, hook, worker, listener], root: 30, via: 'walk', notes: /skipped hook script/ },
    { name: 'hint that is not an ancestor is ignored', chain: [node, hook, worker, listener], hint: 999, root: 30, via: 'walk', notes: /999 ignored: not an ancestor/ },
    { name: 'hint naming the caller itself is ignored', chain: [node, hook, worker, listener], hint: 50, root: 30, via: 'walk', notes: /50 ignored/ },
    { name: 'by hand from an interactive shell: root is the caller\'s parent', chain: [node, P(40, 30, 'bash', '-bash'), P(30, 1, 'sshd')], root: 40 },
    { name: 'bash -c runs the CLI: root is that shell', chain: [node, P(40, 30, 'bash', 'bash', '-c', 'runwarden job start; make'), P(30, 1, 'x')], root: 40 },
    { name: 'a shell wrapper around the CLI is skipped too', chain: [node, P(45, 40, 'runwarden', '/bin/sh', '/usr/local/bin/runwarden', 'job', 'start'), hook, worker], root: 30 },
    { name: 'gitlab: hook script run from the job shell', chain: [node, P(40, 30, 'sh', 'sh', '/opt/runwarden/agent/hooks/gitlab-pre-build.sh'), P(30, 20, 'bash', 'bash', '--login'), P(20, 1, 'gitlab-runner')], root: 30 },
    { name: 'a CLI wrapper started by the shebang (node options before the script) is skipped', chain: [node, P(45, 40, 'node', 'node', '--max-semi-space-size=4', '--single-threaded-gc', '/opt/runwarden/cli/runwarden.js', 'job', 'start'), hook, worker], root: 30, via: 'walk' },
    { name: 'orphan CLI: no root', chain: [P(50, 1, 'node', 'node', 'runwarden.js')], code: 'AGENT_ERR_JOB' },
    { name: 'caller gone', chain: [], code: 'AGENT_ERR_JOB' },
  ];
  for (const c of cases) {
    const r = chooseJobRoot(c.chain, c.hint);
    if (c.code) {
      t.equal(r.ok, false, c.name);
      if (!r.ok) t.equal(r.code, c.code, c.name);
      continue;
    }
    t.ok(r.ok, c.name);
    if (!r.ok) continue;
    t.equal(r.rootPid, c.root, c.name);
    if (c.via) t.equal(r.via, c.via, c.name);
    if (c.notes) t.match(r.notes.join('\n'), c.notes, c.name);
  }
});

t.test('jobOfCaller and ancestorsOf', async (t) => {
  const table = new Map([[5, P(5, 4, 'a')], [4, P(4, 3, 'b')], [3, P(3, 1, 'c')], [1, P(1, 0, 'init')]]);
  const chain = ancestorsOf(5, (p) => table.get(p));
  t.same(chain.map((p) => p.pid), [5, 4, 3, 1]);
  t.same(ancestorsOf(5, (p) => table.get(p), 2).map((p) => p.pid), [5, 4]);
  const loop = new Map([[7, P(7, 8, 'x')], [8, P(8, 7, 'y')]]);
  t.same(ancestorsOf(7, (p) => loop.get(p)).map((p) => p.pid), [7, 8], 'a ppid cycle ends the walk');
  t.equal(jobOfCaller(chain, [{ jobId: 'j1', rootPid: 3 }, { jobId: 'j2', rootPid: 9 }]), 'j1');
  t.equal(jobOfCaller(chain, [{ jobId: 'outer', rootPid: 3 }, { jobId: 'inner', rootPid: 4 }]), 'inner', 'nearest root wins');
  t.equal(jobOfCaller(chain, [{ jobId: 'j2', rootPid: 9 }]), undefined);
});

t.test('parseRequest', async (t) => {
  const cases: [string, string | RegExp][] = [
    ['{"op":"status"}', 'status'],
    ['{"op":"start","env":{"A":"1"},"cwd":"/w","rootPid":12}', 'start'],
    ['{"op":"end"}', 'end'],
    ['{"op":"end","jobId":"gh:x","exitCode":-1}', 'end'],
    ['not json', /not JSON/],
    ['[1,2]', /JSON object/],
    ['{"op":"reboot"}', /unknown op "reboot"/],
    ['{"op":"start"}', /needs env/],
    ['{"op":"start","env":{"A":1}}', /env\.A must be a string/],
    ['{"op":"start","env":{},"rootPid":-3}', /rootPid must be a positive integer/],
    ['{"op":"start","env":{},"rootPid":"12"}', /rootPid must be a positive integer/],
    ['{"op":"end","jobId":""}', /jobId must be a non-empty string/],
    ['{"op":"end","exitCode":1.5}', /exitCode must be an integer/],
  ];
  for (const [line, want] of cases) {
    const r = parseRequest(line);
    if (typeof want === 'string') {
      t.ok(r.ok && r.req.op === want, line);
    } else {
      t.equal(r.ok, false, line);
      if (!r.ok) { t.equal(r.code, 'AGENT_ERR_REQUEST', line); t.match(r.message, want, line); }
    }
  }
});

interface Call { op: string; rootPid?: number; peerPid?: number; jobId?: string; exitCode?: number }

function fakeHost(calls: Call[]): JobHost {
  const jobs = new Map<string, number>();
  let n = 0;
  return {
    async start({ rootPid, peerPid }) {
      calls.push({ op: 'start', rootPid, peerPid });
      const jobId = `job${++n}`;
      jobs.set(jobId, rootPid);
      return { jobId };
    },
    async end(jobId, exitCode, peerPid) {
      calls.push({ op: 'end', jobId, exitCode, peerPid });
      jobs.delete(jobId);
      return { survivors: 0 };
    },
    jobs: () => [...jobs].map(([jobId, rootPid]) => ({ jobId, rootPid })),
    status: () => ({ jobs: jobs.size }),
  };
}

/** Sends raw bytes, returns every answer line until the server closes or `lines` answers came. */
function raw(path: string, data: string | Buffer, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = '';
    const done = (): void => { c.destroy(); resolve(buf.split('\n').filter(Boolean)); };
    c.on('connect', () => c.write(data));
    c.on('data', (d) => { buf += d.toString(); if (buf.split('\n').filter(Boolean).length >= lines) done(); });
    c.on('close', done);
    c.on('error', (e) => { if (buf) done(); else reject(e); });
  });
}

/** A real process (bash → python) that connects, sends one request and prints the answer. */
function fromChild(path: string, req: object, shell: string): Promise<{ answer: Record<string, unknown>; shellPid: number }> {
  const py = `import socket,sys;s=socket.socket(socket.AF_UNIX);s.connect(${JSON.stringify(path)});s.sendall(${JSON.stringify(JSON.stringify(req) + '\n')}.encode());f=s.makefile();print(f.readline().strip())`;
  return new Promise((resolve, reject) => {
    // `echo $$` first so bash stays the parent (a lone command would be exec'd in place of bash).
    const c = spawn('bash', ['-c', `echo $$; ${shell} python3 -c '${py.replace(/'/g, "'\\''")}'; true`]);
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('error', reject);
    c.on('close', () => {
      const [pid, answer] = out.trim().split('\n');
      try { resolve({ shellPid: Number(pid), answer: JSON.parse(answer ?? '') as Record<string, unknown> }); } catch (e) { reject(new Error(`bad child output ${out}: ${String(e)}`)); }
    });
  });
}

t.test('socket server: real peers, bad requests, limits', async (t) => {
  // sun_path holds 107 bytes: tap's testdir paths are too long for a socket.
  const dir = mkdtempSync('/tmp/rw-js-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'run', 'agent.sock');
  const calls: Call[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => { logs.push(JSON.parse(s) as Record<string, unknown>); } });
  const srv = await startJobSocket({ path, host: fakeHost(calls), logger, limits: { maxRequestBytes: 4096, requestTimeoutMillis: 500 } });
  t.teardown(() => srv.close());
  t.equal(statSync(path).mode & 0o777, 0o660, 'socket is 0660');
  t.equal(statSync(join(dir, 'run')).mode & 0o777, 0o755, 'socket dir is 0755');

  await t.rejects(startJobSocket({ path, host: fakeHost([]), logger }), { code: 'AGENT_ERR_JOB', message: /already listening/ }, 'a second agent on the same socket is refused');

  const st = await callJobSocket(path, { op: 'status' });
  t.same(st, { ok: true, jobs: 0 });

  // Malformed, then valid, on one connection: error answer and the connection keeps serving.
  const answers = await raw(path, 'garbage\n{"op":"status"}\n', 2);
  t.same(answers.map((a) => JSON.parse(a) as unknown), [
    { ok: false, code: 'AGENT_ERR_REQUEST', message: 'request is not JSON' },
    { ok: true, jobs: 0 },
  ]);
  t.ok(logs.some((l) => l.msg === 'job socket request refused' && l.code === 'AGENT_ERR_REQUEST'), 'refusal logged');

  const big = await raw(path, 'x'.repeat(10_000), 1);
  t.match(JSON.parse(big[0] ?? '{}'), { ok: false, code: 'AGENT_ERR_REQUEST', message: /exceeds 4096 bytes/ });

  const slow = await raw(path, '{"op":"sta', 1);
  t.match(JSON.parse(slow[0] ?? '{}'), { ok: false, code: 'AGENT_ERR_REQUEST', message: /no complete request within 500 ms/ });

  // Two concurrent starts from two different shells: each gets its own shell as root, by the kernel's peer pid.
  const [a, b] = await Promise.all([
    fromChild(path, { op: 'start', env: {}, rootPid: 1 }, ''),
    fromChild(path, { op: 'start', env: {} }, ''),
  ]);
  t.match(a.answer, { ok: true, rootPid: a.shellPid, notes: [/RUNWARDEN_JOB_ROOT_PID=1 ignored/] }, 'a forged root pid (init) is not taken');
  t.match(b.answer, { ok: true, rootPid: b.shellPid });
  t.not(a.answer.jobId, b.answer.jobId);
  const starts = calls.filter((c) => c.op === 'start');
  t.same(new Set(starts.map((c) => c.rootPid)), new Set([a.shellPid, b.shellPid]));

  // `end` from a process under neither job's root finds nothing to end.
  calls.length = 0;
  const c = await fromChild(path, { op: 'end' }, '');
  t.match(c.answer, { ok: false, code: 'AGENT_ERR_JOB', message: /no running job has the caller/ });
  t.equal(calls.length, 0);

  // After all that the server still answers.
  t.match(await callJobSocket(path, { op: 'status' }), { ok: true });
  t.ok(srv.stats().refused >= 4);
});

t.test('socket group', async (t) => {
  const dir = mkdtempSync('/tmp/rw-js-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logger = pino({ level: 'silent' });
  const byName = await startJobSocket({ path: join(dir, 'a.sock'), group: 'daemon', host: fakeHost([]), logger });
  t.teardown(() => byName.close());
  t.equal(statSync(join(dir, 'a.sock')).gid, 1, 'group by name (daemon = gid 1)');
  const byGid = await startJobSocket({ path: join(dir, 'b.sock'), group: '2', host: fakeHost([]), logger });
  t.teardown(() => byGid.close());
  t.equal(statSync(join(dir, 'b.sock')).gid, 2, 'group by gid');
  await t.rejects(startJobSocket({ path: join(dir, 'c.sock'), group: 'no-such-group-xyz', host: fakeHost([]), logger }), { code: 'CONFIG_ERR_INVALID', message: /no such group no-such-group-xyz/ });
});

t.test('callJobSocket when nothing listens', async (t) => {
  await t.rejects(callJobSocket(join(t.testdir(), 'none.sock'), { op: 'status' }), { code: 'AGENT_ERR_JOB', message: /agent not reachable .*ENOENT/ });
});
