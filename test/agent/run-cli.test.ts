// `runwarden run` end to end: the real CLI (built dist) spawned on pipes and under a real pty.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pty from 'node-pty';
import { Ajv } from 'ajv';
import Database from 'better-sqlite3';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'cli/runwarden.js');
const schema = JSON.parse(readFileSync(join(ROOT, 'agent/report.schema.json'), 'utf8')) as object;
const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);

const baseEnv = (): Record<string, string> => {
  const e: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG']) if (process.env[k]) e[k] = process.env[k] as string;
  return e;
};

interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string; pid: number }

function runCli(args: string[], opts: { cwd: string; env?: Record<string, string>; onSpawn?: (pid: number) => void; countOnly?: boolean }): Promise<Result & { bytes: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: opts.env ?? baseEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let bytes = 0;
    let err = '';
    c.stdout.on('data', (b: Buffer) => { bytes += b.length; if (!opts.countOnly) out.push(b); });
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('error', reject);
    c.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: err, pid: c.pid as number, bytes }));
    opts.onSpawn?.(c.pid as number);
  });
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(d));
    } catch { /* gone */ }
  }
  return kids;
}

void t.test('exit status is the command\'s', async (t) => {
  const dir = t.testdir();
  const r = await runCli(['run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'], { cwd: dir });
  t.equal(r.code, 7);
  t.equal(r.stdout.toString(), 'out\n');
  t.match(r.stderr, /^err\n/);
  t.match(r.stderr, /runwarden: job local:\d+ \(generic manual, trusted\) exit 7/);
});

void t.test('usage and config errors exit 2', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'network:\n  trusted: [nonsense]\nbogus: 1\n' });
  const noCmd = await runCli(['run'], { cwd: dir });
  t.equal(noCmd.code, 2);
  t.match(noCmd.stderr, /no command given/);
  const badSev = await runCli(['run', '--fail-on', 'severe', '--', 'true'], { cwd: dir });
  t.equal(badSev.code, 2);
  t.match(badSev.stderr, /--fail-on must be one of/);
  const badCfg = await runCli(['run', '--config', 'bad.yaml', '--', 'true'], { cwd: dir });
  t.equal(badCfg.code, 2);
  t.match(badCfg.stderr, /network\.trusted: not a CIDR: nonsense/);
  t.match(badCfg.stderr, /bogus: unknown key/);
  const missing = await runCli(['run', '--config', 'nope.yaml', '--', 'true'], { cwd: dir });
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read nope\.yaml/);
  const notFound = await runCli(['run', '--', 'definitely-not-a-command-xyz'], { cwd: dir });
  t.equal(notFound.code, 127);
});

void t.test('SIGTERM to runwarden is forwarded to the command: exit 143', async (t) => {
  const dir = t.testdir();
  let rwPid = 0;
  const done = runCli(['run', '--', 'sleep', '30'], { cwd: dir, onSpawn: (p) => { rwPid = p; } });
  let sleeper: number | undefined;
  // Sensors attach first (seconds on a busy machine): wait for the command itself.
  for (let i = 0; i < 600 && sleeper === undefined; i++) {
    await new Promise((r) => setTimeout(r, 50));
    sleeper = childrenOf(rwPid).find((k) => { try { return readFileSync(`/proc/${k}/comm`, 'utf8').trim() === 'sleep'; } catch { return false; } });
  }
  t.ok(sleeper, 'command started');
  // Only runwarden's pid is signalled (it runs in its own process group): the command dies only if forwarded.
  process.kill(rwPid, 'SIGTERM');
  const r = await done;
  t.equal(r.code, 143);
  t.match(r.stderr, /exit 143 \(SIGTERM\)/);
  t.throws(() => process.kill(sleeper as number, 0), 'command is gone');
});

void t.test('SIGTERM while the sensors start: the command is not run, the sensor is stopped, exit 143', async (t) => {
  const dir = t.testdir();
  let rwPid = 0;
  const done = runCli(['run', '--', 'sleep', '30'], { cwd: dir, onSpawn: (p) => { rwPid = p; } });
  const comm = (k: number): string => { try { return readFileSync(`/proc/${k}/comm`, 'utf8').trim(); } catch { return ''; } };
  let sensorPid: number | undefined;
  for (let i = 0; i < 600 && sensorPid === undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    sensorPid = childrenOf(rwPid).find((k) => ['bpftrace', 'runwarden-senso', 'strace'].includes(comm(k)));
  }
  t.ok(sensorPid, 'the sensor process started');
  t.notOk(childrenOf(rwPid).some((k) => comm(k) === 'sleep'), 'the command has not started yet');
  process.kill(rwPid, 'SIGTERM');
  const r = await done;
  t.equal(r.code, 143);
  t.match(r.stderr, /SIGTERM before the command started; it was not run/);
  t.throws(() => process.kill(sensorPid as number, 0), 'the sensor process is gone, not orphaned');
});

void t.test('50 MB of output: every byte delivered', async (t) => {
  const dir = t.testdir();
  const size = 50 * 1024 * 1024;
  const t0 = Date.now();
  const r = await runCli(['run', '--', 'head', '-c', String(size), '/dev/zero'], { cwd: dir, countOnly: true });
  t.equal(r.code, 0);
  t.equal(r.bytes, size);
  t.comment(`50 MB through runwarden run in ${Date.now() - t0} ms`);
});

void t.test('in a pty: colours survive, the caller\'s width is seen, exit status kept', async (t) => {
  const dir = t.testdir();
  const p = pty.spawn(process.execPath, [CLI, 'run', '--', 'sh', '-c', 'printf "\\033[31mred\\033[0m\\n"; tput cols; test -t 0 && test -t 1 && echo both-tty; exit 5'], {
    name: 'xterm-256color', cols: 133, rows: 41, cwd: dir, env: { ...baseEnv(), TERM: 'xterm-256color' },
  });
  let out = '';
  p.onData((d) => { out += d; });
  const exit = await new Promise<{ exitCode: number }>((r) => p.onExit(r));
  t.equal(exit.exitCode, 5);
  t.ok(out.includes('\x1b[31mred\x1b[0m'), 'ANSI colour escape passed through unchanged');
  t.match(out, /^133\r?$/m, 'tput cols sees the caller\'s width');
  t.match(out, /both-tty/, 'the command runs on a terminal');
});

void t.test('in a pty: a resize of the caller reaches the command', async (t) => {
  const dir = t.testdir();
  const p = pty.spawn(process.execPath, [CLI, 'run', '--', 'sh', '-c', 'trap "stty size; exit 0" WINCH; echo ready; i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; exit 9'], {
    name: 'xterm', cols: 80, rows: 24, cwd: dir, env: { ...baseEnv(), TERM: 'xterm' },
  });
  let out = '';
  p.onData((d) => { out += d; });
  // The sensor attaches before the command starts (seconds under load): wait for the command itself.
  for (let i = 0; i < 600 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  p.resize(101, 33);
  const exit = await new Promise<{ exitCode: number }>((r) => p.onExit(r));
  t.equal(exit.exitCode, 0);
  t.match(out, /33 101/);
});

void t.test('in a pty: keystrokes reach the command (raw mode forwarding)', async (t) => {
  const dir = t.testdir();
  const p = pty.spawn(process.execPath, [CLI, 'run', '--', 'sh', '-c', 'echo ready; read line; echo "got:$line"'], {
    name: 'xterm', cols: 80, rows: 24, cwd: dir, env: { ...baseEnv(), TERM: 'xterm' },
  });
  let out = '';
  p.onData((d) => { out += d; });
  // The sensor attaches before the command starts (seconds under load): wait for the command itself.
  for (let i = 0; i < 600 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  p.write('hello\r');
  const exit = await new Promise<{ exitCode: number }>((r) => p.onExit(r));
  t.equal(exit.exitCode, 0);
  t.match(out, /got:hello/);
});

void t.test('GitHub job: report validates against the schema, step summary gets Markdown', async (t) => {
  const dir = t.testdir({
    ws: {
      '.github': { workflows: { 'ci.yml': 'on: push\njobs: {}\n' } },
      'package.json': JSON.stringify({ name: 'w', scripts: { postinstall: 'node x.js' } }),
      'src.txt': 'original\n',
      'gone.txt': 'bye\n',
    },
    'event.json': JSON.stringify({
      action: 'opened', number: 42, repository: { full_name: 'acme/widget', fork: false },
      pull_request: { number: 42, head: { ref: 'patch-1', repo: { full_name: 'mallory/widget', fork: true } }, base: { ref: 'main', repo: { full_name: 'acme/widget' } } },
    }),
    'summary.md': '# earlier step\n',
  });
  const ws = join(dir, 'ws');
  const git = (...a: string[]) => new Promise<void>((res, rej) => {
    const c = spawn('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...a], { cwd: ws, stdio: 'ignore' });
    c.on('close', (code) => (code === 0 ? res() : rej(new Error(`git ${a.join(' ')} → ${code}`))));
  });
  await git('init', '-q', '-b', 'main');
  await git('add', '-A');
  await git('commit', '-qm', 'init');
  const secret = 'ghs_' + 'A1b2C3d4'.repeat(4);
  const env = {
    ...baseEnv(), GITHUB_ACTIONS: 'true', GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: join(dir, 'event.json'),
    GITHUB_REPOSITORY: 'acme/widget', GITHUB_REF: 'refs/pull/42/merge', GITHUB_RUN_ID: '9001', GITHUB_RUN_ATTEMPT: '1',
    GITHUB_JOB: 'build', GITHUB_WORKFLOW: 'CI', GITHUB_ACTOR: 'mallory', GITHUB_WORKSPACE: ws, GITHUB_BASE_REF: 'main',
    GITHUB_STEP_SUMMARY: join(dir, 'summary.md'), GITHUB_TOKEN: secret,
  };
  mkdirSync(join(dir, 'out'));
  const report = join(dir, 'out', 'report.json');
  const r = await runCli(['run', '--report', report, '--', 'sh', '-c', `echo changed > src.txt; rm gone.txt; echo new > new.txt; sleep 0.3; echo ${secret} >/dev/null`], { cwd: ws, env });
  t.equal(r.code, 0, r.stderr);
  const text = readFileSync(report, 'utf8');
  const rep = JSON.parse(text) as { job: Record<string, unknown>; findings: unknown[]; summary: Record<string, unknown> };
  t.ok(validate(rep), JSON.stringify(validate.errors));
  t.notOk(text.includes(secret), 'no secret value in the report');
  t.match(rep.job, {
    id: 'gh:acme_widget:9001:1:build', provider: 'github', trigger: 'pull_request', untrusted: true, fork: true,
    prNumber: 42, headRepo: 'mallory/widget', baseRef: 'main', repo: 'acme/widget', workspace: ws, exitCode: 0,
  });
  t.match((rep.job.command as string[])[2], /\[redacted:GITHUB_TOKEN\]/);
  const hashes = rep.job.configHashes as Record<string, string>;
  t.match(hashes, { '.github/workflows/ci.yml': /^[0-9a-f]{64}$/, 'package.json': /^[0-9a-f]{64}$/, 'package.json#scripts': /^[0-9a-f]{64}$/ });
  t.same(rep.summary.secrets, ['GITHUB_TOKEN']);
  t.same(rep.summary.workspace, { changed: ['src.txt'], deleted: ['gone.txt'], truncated: false });
  t.ok((rep.summary.filesWritten as number) >= 2, 'src.txt and new.txt seen written');
  // A fork pull request rewriting a tracked file during the job is source tampering (THREATS.md class 15).
  t.ok((rep.findings as { ruleId: string; severity: string }[]).some((f) => f.ruleId === 'tracked-source-modified' && f.severity === 'high'), 'tracked file rewrite found');
  // The tracked set, hashed while the collector and the sensor came up, reached the job before it started: the
  // agent classed the write of src.txt as a tracked file's.
  const db = new Database(join(ws, '.runwarden', 'audit.db'), { readonly: true });
  const classes = (db.prepare("select json_extract(body, '$.pathClass') as c from events where kind = 'file' and json_extract(body, '$.path') = ?")
    .all(join(ws, 'src.txt')) as { c: string }[]).map((x) => x.c);
  db.close();
  t.ok(classes.length > 0 && classes.every((c) => c === 'workspace-tracked'), `src.txt written as a tracked file: ${classes.join(', ')}`);
  const md = readFileSync(join(dir, 'summary.md'), 'utf8');
  t.ok(md.startsWith('# earlier step\n'), 'appended, not overwritten');
  t.match(md, /### 🚨 Runwarden: \d+ finding\(s\)/);
  t.match(md, /tracked-source-modified/);
  t.match(md, /\*\*untrusted\*\* \(pull\\_request from fork mallory\/widget\)/);
  t.notOk(md.includes(secret));
});

void t.test('in-process seam: a JobWatch with findings drives --fail-on (exit 3) and the report', async (t) => {
  const { main } = await import('../../cli/commands/run.js');
  const dir = t.testdir();
  const errs: string[] = [];
  const io = { out: () => undefined, err: (s: string) => { errs.push(s); }, env: { PATH: process.env.PATH }, cwd: dir, version: 't', stdoutIsTTY: false };
  let startedWith = 0;
  let prepared = false;
  const raw: string[] = [];
  const deps = {
    createWatch: () => ({
      prepare: async () => { prepared = true; },
      wrapArgv: (argv: readonly string[]) => ['sh', '-c', 'echo wrapped; exec "$@"', 'sh', ...argv],
      attach: (pid: number) => { t.ok(prepared, 'prepared before spawn'); startedWith = pid; },
      onOutput: (c: Buffer) => { raw.push(c.toString()); },
      stop: async () => ({
        findings: [{ ruleId: 'proc-mem-read', severity: 'critical' as const, title: 'runner memory read', tags: ['CICD-SEC-4', 'T1003'], evidence: [{ agentId: 'a', bootId: 'b', seq: 3, kind: 'read', pid: 9, summary: 'open /proc/1/mem' }] }],
        summary: { sensor: 'ebpf', processes: 4, egress: [{ dst: '127.7.7.7:443', domain: 'webhook.site', count: 2, allowed: false }] },
      }),
    }),
  };
  const report = join(dir, 'r.json');
  const code = await main(['--report', report, '--fail-on', 'high', '--', 'true'], io, deps);
  t.equal(code, 3);
  t.ok(startedWith > 0);
  t.equal(raw.join(''), 'wrapped\n', 'the watch saw the raw output of the wrapped command');
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { sensor: string; processes: number } };
  t.ok(validate(rep), JSON.stringify(validate.errors));
  t.equal(rep.summary.sensor, 'ebpf');
  t.equal(rep.summary.processes, 4);
  t.match(errs.join(''), /CRITICAL +proc-mem-read +runner memory read/);
  const below = await main(['--fail-on', 'critical', '--', 'sh', '-c', 'exit 4'], io, {
    createWatch: () => ({ prepare: async () => undefined, attach: () => undefined, stop: async () => ({ findings: [{ ruleId: 'x', severity: 'high' as const, title: 'x', tags: [], evidence: [] }], summary: {} }) }),
  });
  t.equal(below, 4, 'below the threshold: the command\'s status');
});
