// `runwarden audit query` end to end: a real DB file, and the same query through a collector API on port 0.
import t from 'tap';
import type { Test } from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeEvent } from '../../proto/codec.js';
import type { RwEvent } from '../../proto/types.js';
import { openStore } from '../../collector/store.js';
import { createApiHandler } from '../../collector/http-api.js';
import { main } from '../../cli/main.js';
import type { CliIo } from '../../cli/io.js';

const CLI = new URL('../../cli/runwarden.js', import.meta.url).pathname;
const TOKEN = 'rw_cli_token';
const NOW_NS = Date.now() * 1e6;

/** In-process, through the real dispatcher (exit-code mapping included) with captured output: fast enough for tables of cases. */
async function runIn(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { out: (s) => { stdout += s; }, err: (s) => { stderr += s; }, env: { ...env }, cwd: process.cwd(), version: '0.0.0', stdoutIsTTY: false };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
    });
  });
}

const EVENTS: RwEvent[] = [
  { agentId: 'a1', bootId: 'b1', seq: 1, tsNs: NOW_NS - 3600e9, jobId: 'j1', pid: 10, ppid: 1, comm: 'bash', exe: '/bin/bash', kind: 'exec', exec: { argv: ['curl', '-sSf', 'http://webhook.site/x'] } },
  { agentId: 'a1', bootId: 'b1', seq: 2, tsNs: NOW_NS - 60e9, jobId: 'j1', pid: 11, ppid: 10, comm: 'curl', kind: 'net', net: { dstIp: '127.7.7.7', dstPort: 80, domain: 'webhook.site' } },
  { agentId: 'a1', bootId: 'b1', seq: 3, tsNs: NOW_NS - 59e9, jobId: 'j1', pid: 11, comm: 'curl', kind: 'dns', dns: { name: 'webhook.site', answers: ['127.7.7.7'] } },
  { agentId: 'a1', bootId: 'b1', seq: 4, tsNs: NOW_NS - 58e9, jobId: 'j2', pid: 12, comm: 'sh', kind: 'file', file: { op: 'CREATE', path: '/tmp/payload' } },
];

async function setup(t: Test) {
  const dir = t.testdir();
  const db = join(dir, 'audit.db');
  const store = openStore(db, { stateDir: dir, synchronous: 'NORMAL' });
  store.appendEvents(EVENTS.map((e) => ({ event: e, bytes: encodeEvent(e) })), NOW_NS);
  const api = createApiHandler({ store, apiTokenSha256: [createHash('sha256').update(TOKEN).digest('hex')] });
  const server = createServer((req, res) => { if (!api(req, res)) { res.writeHead(404); res.end(); } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.close(() => { store.close(); r(); }); }));
  return { db, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

void t.test('json output carries the documented fields, same from --db and --url', async (t) => {
  const { db, url } = await setup(t);
  const fromDb = await run(['audit', 'query', '--db', db, '--format', 'json']);
  t.equal(fromDb.code, 0, fromDb.stderr);
  const rows = JSON.parse(fromDb.stdout) as Array<Record<string, unknown>>;
  t.equal(rows.length, 4);
  t.match(rows[0], { seq: 1, ts: new Date((NOW_NS - 3600e9) / 1e6).toISOString(), kind: 'exec', jobId: 'j1', agentId: 'a1', pid: 10, ppid: 1, exe: '/bin/bash', comm: 'bash', argv: ['curl', '-sSf', 'http://webhook.site/x'], body: { argv: ['curl', '-sSf', 'http://webhook.site/x'] } });
  t.match(rows[1], { kind: 'net', dst: '127.7.7.7', port: 80, domain: 'webhook.site' });
  t.match(rows[2], { kind: 'dns', name: 'webhook.site', answers: ['127.7.7.7'] });
  t.match(rows[3], { kind: 'file', path: '/tmp/payload', op: 'CREATE', jobId: 'j2' });
  const fromUrl = await run(['audit', 'query', '--url', url, '--token', TOKEN, '--format', 'json']);
  t.equal(fromUrl.code, 0, fromUrl.stderr);
  t.same(JSON.parse(fromUrl.stdout), rows);
  const viaEnv = await run(['audit', 'query', '--url', url, '--format', 'json'], { RUNWARDEN_API_TOKEN: TOKEN });
  t.same(JSON.parse(viaEnv.stdout), rows, 'token from RUNWARDEN_API_TOKEN');
});

void t.test('filters, in both modes', async (t) => {
  const { db, url } = await setup(t);
  const cases: Array<[string[], number[]]> = [
    [['--job', 'j1'], [1, 2, 3]],
    [['--kind', 'net,dns'], [2, 3]],
    [['--kind', 'net', '--kind', 'file'], [2, 4]],
    [['--pid', '11'], [2, 3]],
    [['--since', '30m'], [2, 3, 4]],
    [['--until', new Date((NOW_NS - 600e9) / 1e6).toISOString()], [1]],
    [['--since', '2h', '--limit', '2'], [1, 2]],
    [['--job', 'nope'], []],
  ];
  for (const [args, want] of cases) {
    for (const src of [['--db', db], ['--url', url, '--token', TOKEN]]) {
      const r = await runIn(['audit', 'query', ...src, ...args, '--format', 'jsonl']);
      t.equal(r.code, 0, r.stderr);
      t.same(r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq), want, `${src[0]} ${args.join(' ')}`);
    }
  }
});

void t.test('table output', async (t) => {
  const { db } = await setup(t);
  const r = await runIn(['audit', 'query', '--db', db, '--kind', 'exec,net']);
  t.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  t.match(lines[0], /^ID\s+TIME\s+KIND\s+JOB\s+PID\s+PPID\s+COMM\s+DETAIL$/);
  t.match(lines[1], /^1\s+\S+Z\s+exec\s+j1\s+10\s+1\s+bash\s+curl -sSf http:\/\/webhook\.site\/x$/);
  t.match(lines[2], /^2\s+\S+Z\s+net\s+j1\s+11\s+10\s+curl\s+127\.7\.7\.7:80 \(webhook\.site\)$/);
  t.equal(lines.length, 3);
});

void t.test('errors: bad flags exit 2, bad token exit 1', async (t) => {
  const { db, url } = await setup(t);
  const usage: string[][] = [
    ['--db', db, '--kind', 'exec,bogus'],
    ['--db', db, '--pid', 'abc'],
    ['--db', db, '--limit', '0'],
    ['--db', db, '--since', 'last tuesday'],
    ['--db', db, '--format', 'yaml'],
    ['--db', db, '--frobnicate'],
    ['--db', db, '--url', url],
    ['--url', url],
    ['--url', 'ftp://x', '--token', 't'],
    ['--db', db, '--token', 't'],
    ['--db', join(db, 'missing')],
  ];
  for (const args of usage) {
    const r = await runIn(['audit', 'query', ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, /^runwarden audit: \S/);
    t.equal(r.stdout, '');
  }
  const bad = await run(['audit', 'query', '--url', url, '--token', 'tok-Zq9x']);
  t.equal(bad.code, 1, 'a real process exits 1');
  t.match(bad.stderr, /COLLECTOR_ERR_AUTH/);
  t.notMatch(bad.stderr, /tok-Zq9x/, 'the token is not echoed');
  const usage2 = await run(['audit', 'query', '--db', db, '--kind', 'bogus']);
  t.equal(usage2.code, 2, 'a real process exits 2 on a bad flag');
  const down = await runIn(['audit', 'query', '--url', 'http://127.0.0.1:1', '--token', 't']);
  t.equal(down.code, 1);
  t.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
});
