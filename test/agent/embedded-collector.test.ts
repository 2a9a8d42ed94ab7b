// `runwarden run`'s embedded collector runs in a process of its own: the process that watches the job holds no
// SQLite, and a collector killed in the middle of the job is restarted on its port with nothing lost.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { EMBEDDED_NODE_FLAGS, startEmbeddedCollector } from '../../agent/embedded-collector.js';
import { parseConfig } from '../../cli/config.js';
import type { Config } from '../../cli/config.js';
import { createLogger } from '../../cli/logger.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'cli/runwarden.js');

function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, LANG: 'C.UTF-8' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
  });
}

// The job's shell finds the collector as its sibling: the child of its parent (the run) running embedded-main
// (not the shell itself, whose script names it too).
const FIND = 'for p in $(pgrep -P $PPID); do [ $p != $$ ] && grep -q embedded-main /proc/$p/cmdline 2>/dev/null && echo $p; done';

t.test('the collector is a separate process; the run process does not load SQLite', async (t) => {
  const dir = t.testdir();
  const script = `C=$(${FIND}); echo "collector=$C"; ` +
    'if grep -q better_sqlite3 /proc/$PPID/maps; then echo run-has-sqlite; fi; if grep -q better_sqlite3 /proc/$C/maps; then echo collector-has-sqlite; fi; ' +
    'tr "\\0" " " < /proc/$C/cmdline; echo';
  const r = await runCli(['run', '--db', join(dir, 'audit.db'), '--', 'sh', '-c', script], dir);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /collector=\d+\n/);
  t.notMatch(r.stdout, /run-has-sqlite/);
  t.match(r.stdout, /collector-has-sqlite/);
  // Cold for one job: baseline code and feedback at the first call (EMBEDDED_NODE_FLAGS).
  for (const f of EMBEDDED_NODE_FLAGS) t.ok(r.stdout.includes(` ${f} `), `the collector runs with ${f}`);
  const v = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--db', join(dir, 'audit.db')], { encoding: 'utf8' });
  t.equal(v.status, 0, v.stdout + v.stderr);
});

t.test('collector killed mid-job: restarted on its port, every event stored once, the chain verifies', async (t) => {
  const dir = t.testdir();
  // Markers before, during and after the collector is down; the job keeps running meanwhile.
  const script = `for i in $(seq 1 20); do /bin/echo before-$i >/dev/null; done; C=$(${FIND}); kill -9 $C; ` +
    'for i in $(seq 1 20); do /bin/echo during-$i >/dev/null; done; sleep 2; ' +
    `N=$(${FIND}); [ -n "$N" ] && [ "$N" != "$C" ] && echo restarted; ` +
    'for i in $(seq 1 20); do /bin/echo after-$i >/dev/null; done; exit 5';
  const db = join(dir, 'audit.db');
  const report = join(dir, 'report.json');
  const r = await runCli(['run', '--db', db, '--report', report, '--', 'sh', '-c', script], dir);
  t.equal(r.code, 5, 'the job\'s exit status');
  t.match(r.stdout, /restarted/, 'a new collector process runs after the kill');
  const v = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--db', db], { encoding: 'utf8' });
  t.equal(v.status, 0, v.stdout + v.stderr);
  const d = new Database(db, { readonly: true });
  t.teardown(() => d.close());
  const q = spawnSync(process.execPath, [CLI, 'audit', 'query', '--db', db, '--kind', 'exec', '--limit', '100000', '--format', 'jsonl'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  t.equal(q.status, 0, q.stderr);
  const argv = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as { argv?: string[] }).map((e) => (e.argv ?? []).join(' '));
  for (const phase of ['before', 'during', 'after']) {
    for (let i = 1; i <= 20; i++) {
      const n = argv.filter((a) => a === `/bin/echo ${phase}-${i}`).length;
      if (n !== 1) t.fail(`${phase}-${i} stored ${n} times`);
    }
  }
  t.pass('60 marker execs, each stored once');
  const rep = JSON.parse(readFileSync(report, 'utf8')) as { summary: { processes: number }; findings: { ruleId: string }[] };
  t.ok(rep.summary.processes >= 60, `report counts ${rep.summary.processes} processes`);
  // The kill itself is evidence, stored and evaluated by the restarted collector.
  t.ok(rep.findings.some((f) => f.ruleId === 'watcher-killed'), 'the kill of the collector is a finding');
  const log = readFileSync(join(dir, 'runwarden.log'), 'utf8');
  t.match(log, /embedded collector exited \(SIGKILL\).*restarting it on port \d+/);
});

t.test('the collector\'s pid is known as soon as it is forked, before it listens (run starts the sensor meanwhile)', async (t) => {
  const dir = t.testdir();
  const parsed = parseConfig({}, {});
  if (!parsed.ok) throw new Error('default config');
  const config = { ...parsed.config, collector: { ...parsed.config.collector, host: '127.0.0.1', port: 0, db: join(dir, 'audit.db'), stateDir: join(dir, 'state') } } as Config;
  const seen: number[] = [];
  let listening = false;
  const starting = startEmbeddedCollector({
    config, logFile: join(dir, 'runwarden.log'), base: {}, logger: createLogger({ level: 'warn', destination: join(dir, 'agent.log') }),
    onSpawn: (pid) => { seen.push(pid); t.equal(listening, false, 'before it listens'); },
  });
  t.equal(seen.length, 1, 'synchronously, when the start is asked');
  const c = await starting;
  listening = true;
  t.teardown(() => c.close());
  t.same(seen, [c.pid], 'the pid of the collector that then listens');
});
