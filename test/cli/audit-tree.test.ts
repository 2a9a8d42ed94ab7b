// `runwarden audit tree`: a real job's process tree, with its reads and findings marked (and the pure builder).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { buildJobTree, renderTree } from '../../collector/job-tree.js';
import type { StoredEvent } from '../../collector/store-types.js';

const CLI = fileURLToPath(new URL('../../cli/runwarden.js', import.meta.url));

t.test('builder: children under parents, marks on the acting process', async (t) => {
  const h = { agentId: 'a', bootId: 'b', tsNs: 1, jobId: 'j' };
  const ev = (id: number, e: Record<string, unknown>): StoredEvent => ({ id, event: { ...h, seq: id, ...e } as never });
  const roots = buildJobTree([
    ev(1, { kind: 'exec', pid: 10, ppid: 1, exec: { argv: ['bash', 'x.sh'] } }),
    ev(2, { kind: 'exec', pid: 11, ppid: 10, exec: { argv: ['curl', 'http://x'] } }),
    ev(3, { kind: 'net', pid: 11, net: { dstIp: '127.7.7.7', dstPort: 80, domain: 'webhook.site' } }),
    ev(4, { kind: 'net', pid: 11, net: { dstIp: '127.0.0.53', dstPort: 53, resolver: true } }),
  ], [{ id: 1, ruleId: 'r1', severity: 'high', title: 't', tags: [], jobId: 'j', agentId: 'a', tsNs: 1, explanation: 'e', evidence: [{ agentId: 'a', bootId: 'b', seq: 3, kind: 'net', pid: 11, summary: 's' }] }], 10);
  t.equal(roots.length, 1);
  t.equal(roots[0]?.children[0]?.pid, 11);
  t.same(roots[0]?.children[0]?.marks, ['net 127.7.7.7:80 (webhook.site) [not allowed]', 'FINDING high r1']);
  t.match(renderTree(roots), /└─ 11 curl http:\/\/x/);
});

t.test('a real job', async (t) => {
  const dir = t.testdir();
  const home = join(dir, 'home');
  mkdirSync(home);
  writeFileSync(join(home, '.npmrc'), '//registry.npmjs.org/:_authToken=npm_treetesttoken0000000000000000000000\n');
  const db = join(dir, 'state', 'audit.db');
  const env = { PATH: process.env.PATH ?? '', HOME: home };
  const run = spawnSync(process.execPath, [CLI, 'run', '--db', db, '--report', join(dir, 'r.json'), '--', 'sh', '-c', 'cat "$HOME/.npmrc" >/dev/null; echo done'], { cwd: dir, env, encoding: 'utf8' });
  t.equal(run.status, 0, run.stderr);
  const jobs = JSON.parse(execFileSync(process.execPath, [CLI, 'audit', 'query', '--db', db, '--kind', 'job_start', '--format', 'json'], { encoding: 'utf8' })) as { jobId: string }[];
  const jobId = jobs[0]?.jobId ?? '';
  t.ok(jobId);
  const text = execFileSync(process.execPath, [CLI, 'audit', 'tree', jobId, '--db', db], { encoding: 'utf8' });
  if (!/cat/.test(text)) t.comment(readFileSync(join(dir, 'state', 'runwarden.log'), 'utf8'));
  t.match(text, /sh -c cat/);
  t.match(text, /└─ \d+ cat .*\.npmrc/);
  t.match(text, /read .*\.npmrc \[credential-file\]/);
  t.match(text, /FINDING high credential-file-read/);
  // The same high finding makes `--fail-on high` exit 3, while the command itself exited 0.
  const failOn = spawnSync(process.execPath, [CLI, 'run', '--db', db, '--fail-on', 'high', '--', 'sh', '-c', 'cat "$HOME/.npmrc" >/dev/null'], { cwd: dir, env, encoding: 'utf8' });
  t.equal(failOn.status, 3, '--fail-on high met');
  const failOnCritical = spawnSync(process.execPath, [CLI, 'run', '--db', db, '--fail-on', 'critical', '--', 'sh', '-c', 'cat "$HOME/.npmrc" >/dev/null'], { cwd: dir, env, encoding: 'utf8' });
  t.equal(failOnCritical.status, 0, '--fail-on critical not met by a high finding');
  const none = spawnSync(process.execPath, [CLI, 'audit', 'tree', 'no-such-job', '--db', db], { encoding: 'utf8' });
  t.equal(none.status, 2);
  t.match(none.stderr, /no events for job no-such-job/);
});
