// Builds a CI job's world for the scenario tests: a loopback-only network (DNS server + TCP/HTTP sinks on
// 127.77.x.x), a git workspace, a HOME with credential files, GitHub Actions env, a fake runner worker holding
// the secrets, and runs one `runwarden run` inside a private mount namespace whose resolv.conf points at our DNS.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { randomBytes, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, symlinkSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'cli/runwarden.js');
// The shared template project (a small C program with a Makefile and a workflow), beside this checkout as CI lays it out.
// A git worktree under <checkout>/../wt/<name> finds it one level further up.
export const TEMPLATE = ['../../../shared/scenarios/template', '../../../../shared/scenarios/template']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url))).find((p) => existsSync(p)) ?? fileURLToPath(new URL('../../../shared/scenarios/template', import.meta.url));
export const SEV: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** The resolver address: not 127.0.0.53, which systemd-resolved or the shared harness may hold. */
export const DNS_IP = '127.53.53.53';

/** Scenario names → sink addresses. Suffix matches (`*.name`) resolve too. */
export const ZONE: Record<string, string> = {
  'registry.npmjs.org': '127.77.8.8',
  'github.com': '127.77.9.9',
  'api.github.com': '127.77.9.10',
  'hooks.slack.com': '127.77.9.20',
  'pypi.org': '127.77.8.9',
  'metrics.widget-telemetry.io': '127.77.1.1',
  'collector.buildstats.dev': '127.77.1.2',
  'dl.toolz-cdn.net': '127.77.1.3',
  'oast.pro': '127.77.1.4',
  'mine.hashvault.pro': '127.77.4.4',
  'cdn.fastpkg.xyz': '127.77.1.5',
  'metadata.google.internal': '127.77.16.9',
  'sinkzone.test': '127.77.5.7',
};
export const SHELL_SINK = '127.77.3.3';
export const RAW_SINK = '127.77.2.2';
export const POOL_SINK = '127.77.4.4';

export interface Net {
  http: Record<string, number>;      // address → port of the HTTP sink there
  shellPort: number;                 // SHELL_SINK: sends commands then closes
  poolPort: number;                  // POOL_SINK:3333 stratum-ish
  received: string[];                // request bodies / lines seen (for sanity, never asserted on secrets)
  payloads: Map<string, Buffer>;     // path → body
  close(): Promise<void>;
}

function dnsAnswer(q: Buffer): Buffer {
  let i = 12;
  const labels: string[] = [];
  while (i < q.length && q[i] !== 0) { const n = q[i] as number; labels.push(q.subarray(i + 1, i + 1 + n).toString('latin1')); i += 1 + n; }
  const name = labels.join('.').toLowerCase();
  const qtype = q.readUInt16BE(i + 1);
  const question = q.subarray(12, i + 5);
  let ip = ZONE[name];
  if (!ip) for (const [k, v] of Object.entries(ZONE)) if (name.endsWith('.' + k)) ip = v;
  const head = Buffer.alloc(12);
  q.copy(head, 0, 0, 2);
  if (!ip || qtype !== 1) {
    head.writeUInt16BE(0x8180 | (ip ? 0 : 3), 2); head.writeUInt16BE(1, 4);
    return Buffer.concat([head, question]);
  }
  head.writeUInt16BE(0x8180, 2); head.writeUInt16BE(1, 4); head.writeUInt16BE(1, 6);
  const ans = Buffer.alloc(16);
  ans.writeUInt16BE(0xc00c, 0); ans.writeUInt16BE(1, 2); ans.writeUInt16BE(1, 4); ans.writeUInt32BE(30, 6); ans.writeUInt16BE(4, 10);
  ip.split('.').forEach((o, k) => ans.writeUInt8(Number(o), 12 + k));
  return Buffer.concat([head, question, ans]);
}

const listenTcp = (s: TcpServer | HttpServer, host: string, port: number): Promise<number> =>
  new Promise((res, rej) => { s.once('error', rej); s.listen(port, host, () => res((s.address() as { port: number }).port)); });

/** DNS on DNS_IP:53 (udp+tcp), HTTP sinks on every zone address, a shell sink and a pool sink. */
export async function startNet(): Promise<Net> {
  const closers: (() => void)[] = [];
  const received: string[] = [];
  const payloads = new Map<string, Buffer>();
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', (m, r) => { try { udp.send(dnsAnswer(m), r.port, r.address); } catch { /* malformed */ } });
  await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(53, DNS_IP, () => res()); });
  closers.push(() => udp.close());
  const dnsTcp = createTcpServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const a = dnsAnswer(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        const l = Buffer.alloc(2); l.writeUInt16BE(a.length); c.end(Buffer.concat([l, a]));
      }
    });
    c.on('error', () => undefined);
  });
  await listenTcp(dnsTcp, DNS_IP, 53);
  closers.push(() => dnsTcp.close());
  const http: Record<string, number> = {};
  for (const addr of new Set([...Object.values(ZONE), RAW_SINK])) {
    const s = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        received.push(`${req.method} ${req.url} ${Buffer.concat(chunks).length}`);
        const body = payloads.get((req.url ?? '/').split('?')[0] as string) ?? Buffer.from('ok\n');
        res.writeHead(200, { 'content-length': body.length, connection: 'close' });
        res.end(body);
      });
    });
    http[addr] = await listenTcp(s, addr, 0);
    closers.push(() => { s.closeAllConnections(); s.close(); });
  }
  const shell = createTcpServer((c) => {
    c.on('error', () => undefined);
    setTimeout(() => c.write('id\nexit\n'), 300);
    setTimeout(() => c.destroy(), 1500);
  });
  const shellPort = await listenTcp(shell, SHELL_SINK, 0);
  closers.push(() => shell.close());
  const pool = createTcpServer((c) => {
    c.on('error', () => undefined);
    c.once('data', () => c.end('{"id":1,"jsonrpc":"2.0","result":{"job":{"blob":"00","target":"ffff"}}}\n'));
  });
  const poolPort = await listenTcp(pool, POOL_SINK, 3333);
  closers.push(() => pool.close());
  return { http, shellPort, poolPort, received, payloads, async close() { for (const c of closers) c(); } };
}

/** `http://name:port` for a zone name. */
export function url(net: Net, name: string, path = '/'): string {
  const ip = ZONE[name] ?? Object.entries(ZONE).find(([k]) => name.endsWith('.' + k))?.[1];
  if (!ip) throw new Error(`not in zone: ${name}`);
  return `http://${name}:${net.http[ip]}${path}`;
}

const rnd = (n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'): string =>
  [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');

export function makeSecrets(): Record<string, string> {
  return {
    GITHUB_TOKEN: 'ghs_' + rnd(36),
    NPM_TOKEN: 'npm_' + rnd(36),
    AWS_ACCESS_KEY_ID: 'AKIA' + rnd(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'),
    AWS_SECRET_ACCESS_KEY: rnd(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'),
    SLACK_BOT_TOKEN: 'xoxb-' + rnd(12, '0123456789') + '-' + rnd(24),
  };
}

export interface JobSpec {
  name: string;
  script: string;                      // bash, run from the workspace
  trigger?: string;                    // default push
  fork?: boolean;
  ref?: string;
  allow?: string[];                    // extra network.allow entries
  bindOver?: string[];                 // host dirs replaced by an empty temp dir inside the job's mount namespace
  files?: Record<string, string>;      // extra files, relative to the world dir
  wsFiles?: Record<string, string>;    // files committed into the workspace before the job (the PR's content)
  prepare?: string;                    // shell run in the world dir before the job, unwatched
  extraEnv?: Record<string, string>;
  unixSockets?: string[];              // world-relative paths of unix-socket HTTP listeners to create
  decoyAgent?: boolean;                // an agent-like process `runwarden-agent` (DECOY_PID)
}

export interface World {
  dir: string; ws: string; home: string; tools: string; runnerRoot: string; runnerTemp: string;
  secrets: Record<string, string>; env: Record<string, string>; workerPid: number; worker: ChildProcess; extraPids: number[];
}

const git = (cwd: string, ...args: string[]): void => {
  execFileSync('git', ['-c', 'user.email=ci@example.invalid', '-c', 'user.name=ci', ...args], { cwd, stdio: 'ignore' });
};

function eventPayload(trigger: string, fork: boolean, ref: string): unknown {
  const repo = { full_name: 'acme/widget', default_branch: 'main', fork: false };
  if (trigger.startsWith('pull_request')) {
    const head = { ref: 'patch-1', sha: rnd(40, '0123456789abcdef'), repo: { full_name: fork ? 'mallory/widget' : 'acme/widget', fork } };
    return { action: 'synchronize', number: 7, repository: repo, pull_request: { number: 7, head, base: { ref: 'main', repo } } };
  }
  return { ref, repository: repo, pusher: { name: 'release-bot' } };
}

/** A fresh world: GitHub-style runner layout under <dir>/runner/_work, the template project as workspace. */
export function makeWorld(spec: JobSpec): World {
  const dir = mkdtempSync('/tmp/rwscen-');
  const runnerRoot = join(dir, 'runner');
  const ws = join(runnerRoot, '_work/widget/widget');
  mkdirSync(join(runnerRoot, '_work/widget'), { recursive: true });
  cpSync(TEMPLATE, ws, { recursive: true });
  const remote = join(dir, 'origin.git');
  execFileSync('git', ['init', '-q', '--bare', remote]);
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: ws });
  git(ws, 'add', '-A'); git(ws, 'commit', '-qm', 'init');
  git(ws, 'remote', 'add', 'origin', remote); git(ws, 'push', '-q', 'origin', 'main');
  const secrets = makeSecrets();
  const home = join(dir, 'home');
  for (const d of ['.aws', '.docker', '.ssh', '.config', '.kube', '.cache']) mkdirSync(join(home, d), { recursive: true });
  writeFileSync(join(home, '.npmrc'), `//registry.npmjs.org/:_authToken=${secrets.NPM_TOKEN}\n`);
  writeFileSync(join(home, '.aws/credentials'), `[default]\naws_access_key_id = ${secrets.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${secrets.AWS_SECRET_ACCESS_KEY}\n`);
  writeFileSync(join(home, '.docker/config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: Buffer.from('ci:' + secrets.GITHUB_TOKEN).toString('base64') } } }) + '\n');
  writeFileSync(join(home, '.git-credentials'), `https://x-access-token:${secrets.GITHUB_TOKEN}@github.com\n`);
  writeFileSync(join(home, '.kube/config'), `apiVersion: v1\nusers:\n- name: ci\n  user:\n    token: ${rnd(48)}\n`);
  writeFileSync(join(home, '.ssh/id_rsa'), `-----BEGIN OPENSSH PRIVATE KEY-----\n${rnd(300)}\n-----END OPENSSH PRIVATE KEY-----\n`, { mode: 0o600 });
  writeFileSync(join(home, '.bashrc'), '# bashrc\n');
  const tools = join(runnerRoot, '_work/_tool');
  mkdirSync(join(tools, 'node/20.11.0/x64/bin'), { recursive: true });
  writeFileSync(join(tools, 'node/20.11.0/x64/bin/node'), '#!/bin/sh\necho v20.11.0\n', { mode: 0o755 });
  mkdirSync(join(runnerRoot, '_work/_actions/actions/checkout/v4/dist'), { recursive: true });
  writeFileSync(join(runnerRoot, '_work/_actions/actions/checkout/v4/dist/index.js'), 'module.exports = {};\n');
  const runnerTemp = join(runnerRoot, '_work/_temp');
  const fc = join(runnerTemp, '_runner_file_commands');
  mkdirSync(fc, { recursive: true });
  for (const f of ['set_env', 'add_path', 'set_output', 'step_summary']) writeFileSync(join(fc, f), '');
  writeFileSync(join(dir, 'resolv.conf'), `nameserver ${DNS_IP}\noptions timeout:1 attempts:1\n`);
  for (const [p, c] of Object.entries(spec.files ?? {})) { mkdirSync(join(dir, p, '..'), { recursive: true }); writeFileSync(join(dir, p), c); }
  if (spec.wsFiles) {
    for (const [p, c] of Object.entries(spec.wsFiles)) { mkdirSync(join(ws, p, '..'), { recursive: true }); writeFileSync(join(ws, p), c); }
    git(ws, 'add', '-A'); git(ws, 'commit', '-qm', 'patch from the pull request');
  }

  const trigger = spec.trigger ?? 'push';
  const fork = spec.fork ?? false;
  const ref = spec.ref ?? (trigger.startsWith('pull_request') ? 'refs/pull/7/merge' : 'refs/heads/main');
  const evPath = join(dir, 'event.json');
  writeFileSync(evPath, JSON.stringify(eventPayload(trigger, fork, ref)));
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'LANG', 'TERM', 'USER', 'LOGNAME', 'SHELL']) if (process.env[k]) env[k] = process.env[k] as string;
  Object.assign(env, secrets, {
    HOME: home, CI: 'true', GITHUB_ACTIONS: 'true', RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', RUNNER_NAME: 'ci-box-1',
    RUNNER_ENVIRONMENT: 'self-hosted', RUNNER_TEMP: runnerTemp, RUNNER_TOOL_CACHE: tools, RUNNER_WORKSPACE: join(runnerRoot, '_work/widget'),
    GITHUB_WORKSPACE: ws, GITHUB_REPOSITORY: 'acme/widget', GITHUB_REPOSITORY_OWNER: 'acme', GITHUB_EVENT_NAME: trigger,
    GITHUB_EVENT_PATH: evPath, GITHUB_REF: ref, GITHUB_REF_NAME: ref.split('/').pop() as string,
    GITHUB_SHA: rnd(40, '0123456789abcdef'), GITHUB_RUN_ID: String(1000 + Math.floor(Math.random() * 1e6)), GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'build', GITHUB_WORKFLOW: 'CI', GITHUB_WORKFLOW_REF: `acme/widget/.github/workflows/ci.yml@${ref}`,
    GITHUB_ACTOR: fork ? 'mallory' : 'release-bot', GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_ENV: join(fc, 'set_env'), GITHUB_PATH: join(fc, 'add_path'), GITHUB_OUTPUT: join(fc, 'set_output'),
    GITHUB_STEP_SUMMARY: join(fc, 'step_summary'), SCEN_DIR: dir, SCEN_ORPHANS: join(dir, 'orphans'),
  });
  if (trigger.startsWith('pull_request')) { env.GITHUB_HEAD_REF = 'patch-1'; env.GITHUB_BASE_REF = 'main'; }
  // The worker: comm "Runner.Worker" (exec through a symlink), secrets in env and in memory.
  mkdirSync(join(dir, 'bin'));
  symlinkSync('/usr/bin/python3', join(dir, 'bin/Runner.Worker'));
  const worker = spawn(join(dir, 'bin/Runner.Worker'), ['-c',
    'import os,time\nblob=("|".join(f"{k}={v}" for k,v in os.environ.items() if k.endswith(("TOKEN","KEY","KEY_ID")))).encode()*8\nkeep=bytearray(blob)\nwhile True: time.sleep(1)'],
  { env: { ...process.env, ...secrets }, stdio: 'ignore', detached: true });
  env.WORKER_PID = String(worker.pid);
  const extra: number[] = [];
  if (spec.decoyAgent) {
    symlinkSync('/usr/bin/sleep', join(dir, 'bin/runwarden-agent'));
    const d = spawn(join(dir, 'bin/runwarden-agent'), ['300'], { stdio: 'ignore', detached: true });
    env.DECOY_PID = String(d.pid);
    extra.push(d.pid as number);
  }
  Object.assign(env, { RUNNER_ROOT: runnerRoot }, spec.extraEnv ?? {});
  if (spec.prepare) execFileSync('bash', ['-c', spec.prepare], { cwd: dir, env, stdio: 'ignore' });
  return { dir, ws, home, tools, runnerRoot, runnerTemp, secrets, env, workerPid: worker.pid as number, worker, extraPids: extra };
}

export interface RunResult {
  code: number | null; output: string; report: Report | undefined; reportText: string; db: string; world: World; ms: number;
}
export interface Finding { ruleId: string; severity: string; title: string }
export interface Report { findings: Finding[]; job: { trigger: string; untrusted: boolean; fork?: boolean } }

/** Runs the spec's script under `runwarden run` in a private mount namespace; cleans up leftovers. */
export async function runJob(spec: JobSpec, timeoutMs = 90_000): Promise<RunResult> {
  const world = makeWorld(spec);
  const db = join(world.dir, 'audit.db');
  const reportPath = join(world.dir, 'report.json');
  const config = join(world.dir, 'runwarden.json');
  writeFileSync(config, JSON.stringify({ network: { trusted: ['127.0.0.1/32', '::1/128'],
    allow: ['registry.npmjs.org', 'github.com', 'api.github.com', 'pypi.org', ...(spec.allow ?? [])] } }));
  const script = join(world.dir, 'job.sh');
  writeFileSync(script, 'set -u\n' + spec.script + '\n');
  const binds = (spec.bindOver ?? []).map((d, i) => { const t = join(world.dir, `bind${i}`); mkdirSync(t); return `mount --bind "${t}" "${d}" && `; }).join('');
  const inner = [process.execPath, CLI, 'run', '--report', reportPath, '--db', db, '--config', config, '--', 'bash', script];
  const sockets: TcpServer[] = [];
  for (const p of spec.unixSockets ?? []) {
    mkdirSync(join(world.dir, p, '..'), { recursive: true });
    const srv = createHttpServer((_q, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('[]'); });
    await new Promise<void>((res) => srv.listen(join(world.dir, p), () => res()));
    sockets.push(srv as unknown as TcpServer);
  }
  const t0 = Date.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const c = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "$0" /etc/resolv.conf && ${binds}exec "$@"`, join(world.dir, 'resolv.conf'), ...inner],
      { cwd: world.ws, env: world.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => { try { process.kill(-(c.pid as number), 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    c.on('close', (code) => { clearTimeout(timer); resolve({ code, output: out }); });
  });
  const ms = Date.now() - t0;
  killListed(join(world.dir, 'orphans'));
  for (const pid of [world.workerPid, ...world.extraPids]) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const s of sockets) s.close();
  let reportText = '';
  let report: Report | undefined;
  if (existsSync(reportPath)) { reportText = readFileSync(reportPath, 'utf8'); try { report = JSON.parse(reportText) as Report; } catch { /* broken */ } }
  return { code, output, report, reportText, db, world, ms };
}

function killListed(path: string): void {
  if (!existsSync(path)) return;
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    const pid = Number(l.trim());
    if (pid > 1) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export const topSeverity = (r: RunResult): number => Math.max(-1, ...(r.report?.findings ?? []).map((f) => SEV[f.severity] ?? -1));
export const ruleSummary = (r: RunResult): string => [...new Set((r.report?.findings ?? []).map((f) => `${f.ruleId}:${f.severity}`))].sort().join(' ');

/** Secret values (and their common encodings) that show up anywhere in the report file. */
export function leakedSecrets(r: RunResult): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(r.world.secrets)) {
    const forms = [v, Buffer.from(v).toString('base64'), Buffer.from(v).toString('hex'), encodeURIComponent(v)];
    if (forms.some((f) => r.reportText.includes(f))) out.push(k);
  }
  return out;
}

/** Events of the run (for evidence when a variant is missed). */
export function events(r: RunResult): string {
  try {
    return execFileSync(process.execPath, [CLI, 'audit', 'query', '--db', r.db, '--format', 'jsonl'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (e) { return `query failed: ${(e as Error).message}`; }
}

export function cleanup(r: RunResult): void {
  if (!process.env.RWSCEN_KEEP) rmSync(r.world.dir, { recursive: true, force: true });
}

/** Runs items with at most `n` at a time. */
export async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i] as T); } }));
  return out;
}

export const sha = (b: Buffer, alg: string, enc: 'hex' | 'base64'): string => createHash(alg).update(b).digest(enc);
