// `runwarden baseline show|reset` over baselines a real `runwarden collector` learned: agents replay jobs through
// the real uplink, the detection worker learns from trusted runs into the audit DB, the CLI reads and resets them.
// Build first: npx tsc -p tsconfig.build.json
import t from 'tap';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStoreReadOnly } from '../../collector/store.js';
import type { StoredFinding } from '../../collector/store-types.js';
import { sampleValue } from '../../collector/metrics.js';
import { assertBuilt, CLI, metricsText, replayEvents, startCollectorProc, stop, waitFor, writeCollectorConfig } from '../helpers/procs.js';
import type { CollectorProc } from '../helpers/procs.js';

assertBuilt();

interface JobSpec {
  id: string;
  job?: string;
  trigger?: string;
  ref?: string;
  untrusted?: boolean;
  /** Secret names the job and its curl hold. */
  secrets?: string[];
  /** Destinations curl connects to, as [domain, ip]. */
  egress: [string, string][];
}

/** One job as JSON lines: start, a shell, curl connecting to each destination, end with exit 0. */
function jobLines(j: JobSpec): string {
  const secretNames = j.secrets ?? [];
  const start = {
    provider: 'github', repo: 'acme/widget', workflow: 'ci.yml', job: j.job ?? 'build', trigger: j.trigger ?? 'push',
    untrusted: j.untrusted ?? false, fork: j.untrusted ?? false, ref: j.ref ?? 'refs/heads/main', workspace: '/w/widget',
    rootPid: 1000, secretNames, configHashes: { '.github/workflows/ci.yml': 'a'.repeat(64) },
  };
  const lines: unknown[] = [
    { kind: 'jobStart', jobId: j.id, pid: 1000, comm: 'bash', jobStart: start },
    { kind: 'exec', jobId: j.id, pid: 1000, ppid: 900, comm: 'bash', exe: '/usr/bin/bash', secretNames, exec: { argv: ['bash', '-e', 'step.sh'], cwd: '/w/widget', ancestry: ['Runner.Worker'] } },
    { kind: 'exec', jobId: j.id, pid: 1001, ppid: 1000, comm: 'curl', exe: '/usr/bin/curl', secretNames, exec: { argv: ['curl', '-sSfO', 'https://cdn.vendor.example/tool.tgz'], cwd: '/w/widget', ancestry: ['bash', 'Runner.Worker'] } },
    ...j.egress.map(([domain, ip]) => ({ kind: 'net', jobId: j.id, pid: 1001, ppid: 1000, comm: 'curl', secretNames, net: { family: 'INET', proto: 'TCP', dstIp: ip, dstPort: 443, domain } })),
    { kind: 'exit', jobId: j.id, pid: 1001, ppid: 1000, comm: 'curl', exit: { code: 0 } },
    { kind: 'jobEnd', jobId: j.id, pid: 1000, jobEnd: { exitCode: 0, survivors: [] } },
  ];
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

interface Cli { code: number | null; stdout: string; stderr: string }

function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Cli> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    c.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Replays jobs through a real agent uplink and waits until the collector has evaluated everything it stored. */
async function replay(col: CollectorProc, dir: string, name: string, jobs: JobSpec[]): Promise<void> {
  const file = join(dir, `${name}.jsonl`);
  writeFileSync(file, jobs.map(jobLines).join(''));
  await replayEvents(col.url, join(dir, `agent-${name}`), file);
  await waitFor(`detection to evaluate ${name}`, async () => {
    const m = await metricsText(col.port);
    const ingested = sampleValue(m, 'runwarden_events_ingested_total') ?? -1;
    const evaluated = sampleValue(m, 'runwarden_detection_events_total') ?? -2;
    return ingested > 0 && evaluated === ingested && sampleValue(m, 'runwarden_detection_lag_events') === 0 ? true : undefined;
  }, 60_000);
}

function findingsOf(db: string, jobId: string): StoredFinding[] {
  const s = openStoreReadOnly(db);
  try { return s.queryFindings({ jobId }); } finally { s.close(); }
}

const egressFindings = (fs: StoredFinding[]): string[] => fs.filter((f) => f.ruleId === 'secret-bearing-egress').map((f) => f.explanation);

interface ShownBaseline { key: string; repo: string; workflow: string; job: string; view: { egress: string[]; runs: number; updatedNs: number; configHashes: Record<string, string> } }

async function showJson(dir: string, db: string): Promise<ShownBaseline[]> {
  const r = await cli(['baseline', 'show', '--db', db, '--format', 'json'], dir);
  if (r.code !== 0) throw new Error(`baseline show exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ShownBaseline[];
}

t.test('a trusted run teaches a baseline that survives a restart; known egress is quiet, new egress is flagged; PRs teach nothing; reset forgets', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'audit.db');
  const cfg = writeCollectorConfig(dir);
  let col = await startCollectorProc(cfg);
  t.teardown(() => stop(col, 'SIGKILL'));

  // (a) A quiet push to main: curl fetches from the vendor CDN, holding no secret.
  await replay(col, dir, 'trusted', [{ id: 'push-1', egress: [['cdn.vendor.example', '203.0.113.8']] }]);
  t.same(findingsOf(db, 'push-1').filter((f) => f.severity !== 'info' && f.severity !== 'low'), [], 'the teaching run is quiet');
  t.same(await stop(col), { code: 0, signal: null });
  col = await startCollectorProc(cfg);

  const shown = await showJson(dir, db);
  t.equal(shown.length, 1, JSON.stringify(shown));
  t.match(shown[0], { key: 'acme/widget/ci.yml/build', repo: 'acme/widget', workflow: 'ci.yml', job: 'build', view: { egress: ['cdn.vendor.example'], runs: 1, configHashes: { '.github/workflows/ci.yml': 'a'.repeat(64) } } });
  t.ok((shown[0]?.view.updatedNs ?? 0) > Date.now() * 1e6 - 600e9, 'updatedNs is the teaching job end');
  const table = await cli(['baseline', 'show', '--db', db], dir);
  t.equal(table.code, 0);
  t.match(table.stdout, /^acme\/widget\/ci\.yml\/build {2}\(1 trusted run\(s\), updated \d{4}-\d\d-\d\dT[\d:.]+Z\)\n {2}egress: cdn\.vendor\.example\n {2}executables: 2\n {2}write roots: -\n {2}CI definitions: \.github\/workflows\/ci\.yml\n$/);
  const viaConfig = await cli(['baseline', 'show', '--config', cfg, '--format', 'json'], dir);
  t.equal(viaConfig.code, 0, viaConfig.stderr);
  t.same(JSON.parse(viaConfig.stdout), shown, '--config resolves collector.db');
  const viaEnv = await cli(['baseline', 'show', '--format', 'json'], dir, { RUNWARDEN_COLLECTOR_DB: db });
  t.same(JSON.parse(viaEnv.stdout), shown, 'RUNWARDEN_COLLECTOR_DB resolves it too');

  // (b) The same job holding a secret: the baseline destination is quiet, a new one is flagged. The same run for a
  // job with no baseline flags both, so the quiet one is the baseline's doing.
  const egress: [string, string][] = [['cdn.vendor.example', '203.0.113.8'], ['drop.attacker.example', '198.51.100.7']];
  await replay(col, dir, 'secret', [
    { id: 'push-2', secrets: ['NPM_TOKEN'], egress },
    { id: 'push-other', job: 'deploy', secrets: ['NPM_TOKEN'], egress },
  ]);
  const known = egressFindings(findingsOf(db, 'push-2'));
  t.equal(known.length, 1, JSON.stringify(known));
  t.match(known[0], /drop\.attacker\.example 198\.51\.100\.7:443/);
  const unknown = egressFindings(findingsOf(db, 'push-other'));
  t.equal(unknown.length, 2, 'without a baseline both destinations are flagged');
  t.ok(unknown.some((e) => e.includes('cdn.vendor.example')));

  // (c) Untrusted runs (a fork's pull request, a push to a feature branch) and the run that raised a finding teach nothing.
  await replay(col, dir, 'untrusted', [
    { id: 'pr-1', trigger: 'pull_request', ref: 'refs/pull/7/merge', untrusted: true, egress: [['pr.only.example', '192.0.2.10']] },
    { id: 'feature-1', ref: 'refs/heads/feature', egress: [['feature.only.example', '192.0.2.11']] },
    { id: 'pr-new', job: 'lint', trigger: 'pull_request', ref: 'refs/pull/7/merge', untrusted: true, egress: [['pr.only.example', '192.0.2.10']] },
  ]);
  const after = await showJson(dir, db);
  t.same(after.map((b) => b.key), ['acme/widget/ci.yml/build'], 'no baseline for the PR-only job, none for push-2\'s flagged sibling');
  t.same(after[0]?.view.egress, ['cdn.vendor.example']);
  t.equal(after[0]?.view.runs, 1, 'runs unchanged');

  // A second quiet trusted run merges into the baseline.
  await replay(col, dir, 'trusted-2', [{ id: 'push-3', egress: [['mirror.vendor.example', '203.0.113.9']] }]);
  t.match((await showJson(dir, db))[0]?.view, { egress: ['cdn.vendor.example', 'mirror.vendor.example'], runs: 2 });

  // (d) reset forgets it (while the collector runs); the next run of the job sees no baseline.
  const filtered = await cli(['baseline', 'show', '--db', db, '--repo', 'other/repo'], dir);
  t.equal(filtered.stdout, 'no baselines learned yet\n');
  const reset = await cli(['baseline', 'reset', '--db', db, '--repo', 'acme/widget', '--workflow', 'ci.yml', '--job', 'build'], dir);
  t.same(reset, { code: 0, stdout: 'baseline acme/widget/ci.yml/build removed\n', stderr: '' });
  t.same(await showJson(dir, db), []);
  const again = await cli(['baseline', 'reset', '--db', db, '--repo', 'acme/widget', '--workflow', 'ci.yml', '--job', 'build'], dir);
  t.same(again, { code: 1, stdout: 'no baseline acme/widget/ci.yml/build\n', stderr: '' });
  await replay(col, dir, 'after-reset', [{ id: 'push-4', secrets: ['NPM_TOKEN'], egress: [['cdn.vendor.example', '203.0.113.8']] }]);
  t.equal(egressFindings(findingsOf(db, 'push-4')).length, 1, 'the forgotten destination is flagged again');
  t.same(await stop(col), { code: 0, signal: null });
});

t.test('a corrupt baselines row is logged and ignored by detection, named by show, and replaced by the next trusted run', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'audit.db');
  const cfg = writeCollectorConfig(dir);
  const col = await startCollectorProc(cfg);
  t.teardown(() => stop(col, 'SIGKILL'));
  const raw = new Database(db);
  raw.prepare('INSERT INTO baselines (repo, workflow, job, body, updated_ns) VALUES (?, ?, ?, ?, ?)').run('acme/widget', 'ci.yml', 'build', '{"egress": "cdn.vendor.example"', 1);
  raw.close();

  const show = await cli(['baseline', 'show', '--db', db], dir);
  t.equal(show.code, 0);
  t.equal(show.stdout, 'no baselines learned yet\n');
  t.match(show.stderr, /^runwarden baseline: acme\/widget\/ci\.yml\/build is corrupt \(not JSON: [^\n]+\); `runwarden baseline reset --repo acme\/widget --workflow ci\.yml --job build` removes it\n$/);

  await replay(col, dir, 'over-corrupt', [{ id: 'push-c', secrets: ['NPM_TOKEN'], egress: [['cdn.vendor.example', '203.0.113.8']] }]);
  t.equal(egressFindings(findingsOf(db, 'push-c')).length, 1, 'detection ran, treating the corrupt row as no baseline');
  const warn = col.stderr.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'stored baseline is corrupt: ignored, the next trusted run replaces it');
  t.match(warn, { level: 40, component: 'detection', baseline: 'acme/widget/ci.yml/build', reason: /^not JSON: / });
  const m = await metricsText(col.port);
  t.equal(sampleValue(m, 'runwarden_detection_errors_total'), 0, 'no rule-engine failure, no worker restart');

  await replay(col, dir, 'replace', [{ id: 'push-r', egress: [['cdn.vendor.example', '203.0.113.8']] }]);
  t.match(await showJson(dir, db), [{ key: 'acme/widget/ci.yml/build', view: { egress: ['cdn.vendor.example'], runs: 1 } }]);
  t.same(await stop(col), { code: 0, signal: null });
});

t.test('usage and database errors', async (t) => {
  const dir = t.testdir({ 'old.db': '' });
  const missing = await cli(['baseline', 'show', '--db', 'nope.db'], dir);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^runwarden baseline: no audit database at .*nope\.db\n$/);
  const dflt = await cli(['baseline', 'show'], dir, { RUNWARDEN_COLLECTOR_DB: join(dir, 'absent.db') });
  t.equal(dflt.code, 2);
  t.match(dflt.stderr, /no audit database at .*absent\.db \(give --db FILE\)/);
  const v2 = join(dir, 'v2.db');
  const d = new Database(v2);
  d.pragma('user_version = 2');
  d.close();
  const old = await cli(['baseline', 'show', '--db', v2], dir);
  t.equal(old.code, 1);
  t.match(old.stderr, /COLLECTOR_ERR_STORE: cannot open the baselines of .*v2\.db: schema version 2 has no baselines table/);
  const noRepo = await cli(['baseline', 'reset', '--db', v2], dir);
  t.equal(noRepo.code, 2);
  t.match(noRepo.stderr, /baseline reset needs --repo/);
  const badFormat = await cli(['baseline', 'show', '--db', v2, '--format', 'yaml'], dir);
  t.equal(badFormat.code, 2);
  t.match(badFormat.stderr, /--format must be table or json, got yaml/);
  const noSub = await cli(['baseline', '--db', v2], dir);
  t.equal(noSub.code, 2);
  t.match(noSub.stderr, /usage: runwarden baseline show\|reset/);
  const file = await cli(['baseline', 'show', '--file', 'x.json'], dir);
  t.equal(file.code, 2);
  t.match(file.stderr, /unknown option --file/, 'the JSON file store is gone');
});
