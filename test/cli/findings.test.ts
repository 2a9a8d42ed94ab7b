// `runwarden findings` over a real DB file and over the collector API on port 0.
import t from 'tap';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openStore } from '../../collector/store.js';
import { createApiHandler } from '../../collector/http-api.js';
import { main } from '../../cli/main.js';
import type { CliIo } from '../../cli/io.js';

const NOW_NS = Date.now() * 1e6;

async function runIn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { out: (s) => { stdout += s; }, err: (s) => { stderr += s; }, env: {}, cwd: process.cwd(), version: '0.0.0', stdoutIsTTY: false };
  return { code: await main(args, io), stdout, stderr };
}

void t.test('findings: filters and formats from --db and --url', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'audit.db');
  const store = openStore(db, { stateDir: dir, synchronous: 'NORMAL' });
  store.appendFindings([
    { ruleId: 'exfil.webhook', title: 'curl to webhook.site', severity: 'critical', tags: ['CICD-SEC-4', 'T1567'], jobId: 'j1', agentId: 'a1', tsNs: NOW_NS - 3600e9, explanation: 'e1', evidence: [{ agentId: 'a1', bootId: 'b1', seq: 2, kind: 'net', summary: 'connect 127.7.7.7:80' }] },
    { ruleId: 'info.rule', title: 'noted', severity: 'info', tags: [], jobId: 'j2', agentId: 'a1', tsNs: NOW_NS - 60e9, explanation: 'e2', evidence: [] },
    { ruleId: 'mid.rule', title: 'middling', severity: 'medium', tags: [], jobId: 'j1', agentId: 'a1', tsNs: NOW_NS - 30e9, explanation: 'e3', evidence: [] },
  ]);
  const token = 'rw-findings-token';
  const api = createApiHandler({ store, apiTokenSha256: [createHash('sha256').update(token).digest('hex')] });
  const server = createServer((req, res) => { if (!api(req, res)) { res.writeHead(404); res.end(); } });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.close(() => { store.close(); r(); }); }));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const cases: Array<[string[], string[]]> = [
    [[], ['exfil.webhook', 'info.rule', 'mid.rule']],
    [['--severity', 'medium'], ['exfil.webhook', 'mid.rule']],
    [['--severity', 'critical'], ['exfil.webhook']],
    [['--job', 'j2'], ['info.rule']],
    [['--since', '10m'], ['info.rule', 'mid.rule']],
    [['--limit', '1'], ['exfil.webhook']],
  ];
  for (const [args, want] of cases) {
    for (const src of [['--db', db], ['--url', url, '--token', token]]) {
      const r = await runIn(['findings', ...src, ...args, '--format', 'jsonl']);
      t.equal(r.code, 0, r.stderr);
      t.same(r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { ruleId: string }).ruleId), want, `${src[0]} ${args.join(' ')}`);
    }
  }
  const j = await runIn(['findings', '--db', db, '--format', 'json', '--severity', 'critical']);
  t.match(JSON.parse(j.stdout), [{ id: 1, ruleId: 'exfil.webhook', severity: 'critical', title: 'curl to webhook.site', tags: ['CICD-SEC-4', 'T1567'], jobId: 'j1', explanation: 'e1', evidence: [{ seq: 2, summary: 'connect 127.7.7.7:80' }] }]);
  const table = await runIn(['findings', '--db', db, '--severity', 'critical']);
  t.match(table.stdout, /^ID\s+TIME\s+SEVERITY\s+RULE\s+JOB\s+TITLE\n1\s+\S+Z\s+critical\s+exfil\.webhook\s+j1\s+curl to webhook\.site\n$/);
  for (const args of [['--severity', 'urgent'], ['--format', 'csv'], ['--kind', 'exec'], ['extra']]) {
    const r = await runIn(['findings', '--db', db, ...args]);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, /^runwarden findings: /);
  }
});
