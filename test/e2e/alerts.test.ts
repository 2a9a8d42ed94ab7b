// Alerts end to end (issue 6): a real `runwarden collector` with a webhook sink, agents replaying attack jobs
// through the real uplink, a receiver on loopback. Each (job, rule) is POSTed once with a valid
// X-Runwarden-Signature; a receiver that is down gets retries while ingest goes on, and the findings arrive
// once it is up. Build first: npx tsc -p tsconfig.build.json
import t from 'tap';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { openStoreReadOnly } from '../../collector/store.js';
import type { StoredFinding } from '../../collector/store-types.js';
import { sampleValue } from '../../collector/metrics.js';
import { assertBuilt, ROOT, metricsText, replayEvents, startCollectorProc, stop, waitFor, writeCollectorConfig } from '../helpers/procs.js';
import type { CollectorProc } from '../helpers/procs.js';

assertBuilt();
const SECRET = 'hmac-secret-for-the-alert-test';
const SINK = 'webhook[0]';

interface Post { headers: IncomingHttpHeaders; body: string }

function receiver(posts: Post[], port = 0): Promise<Server> {
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => { posts.push({ headers: req.headers, body }); res.writeHead(204).end(); });
  });
  return new Promise((resolve, reject) => { srv.once('error', reject); srv.listen(port, '127.0.0.1', () => resolve(srv)); });
}

const validSignature = (p: Post): boolean => {
  const want = Buffer.from('sha256=' + createHmac('sha256', SECRET).update(p.body).digest('hex'));
  const got = Buffer.from(String(p.headers['x-runwarden-signature'] ?? ''));
  return got.length === want.length && timingSafeEqual(got, want);
};

/** The recorded credential-theft job (cat of cloud, npm and git credentials), once per job id. */
function attackJobs(ids: string[]): string {
  const lines = readFileSync(join(ROOT, 'test/fixtures/events/credential-files.attack.jsonl'), 'utf8').split('\n').filter((l) => l.startsWith('{'));
  return ids.map((id) => lines.map((l) => JSON.stringify({ ...(JSON.parse(l) as object), jobId: id })).join('\n')).join('\n') + '\n';
}

async function replay(col: CollectorProc, dir: string, name: string, jsonl: string): Promise<number> {
  const file = join(dir, `${name}.jsonl`);
  writeFileSync(file, jsonl);
  await replayEvents(col.url, join(dir, `agent-${name}`), file);
  return jsonl.trim().split('\n').length;
}

async function evaluated(col: CollectorProc, events: number): Promise<string> {
  return waitFor('detection to evaluate every event', async () => {
    const m = await metricsText(col.port);
    return (sampleValue(m, 'runwarden_detection_events_total') ?? -1) >= events && sampleValue(m, 'runwarden_detection_lag_events') === 0 ? m : undefined;
  }, 60_000);
}

function findings(db: string): StoredFinding[] {
  const s = openStoreReadOnly(db);
  try { return s.queryFindings({}); } finally { s.close(); }
}

const distinctJobRules = (fs: StoredFinding[]): string[] => [...new Set(fs.map((f) => `${f.jobId} ${f.ruleId}`))].sort();
const postedJobRules = (ps: Post[]): string[] => ps.map((p) => { const b = JSON.parse(p.body) as { jobId: string; ruleId: string }; return `${b.jobId} ${b.ruleId}`; }).sort();

t.test('every (job, rule) is POSTed once, signed; the body is the stored finding', async (t) => {
  const dir = t.testdir();
  const posts: Post[] = [];
  const srv = await receiver(posts);
  t.teardown(() => { srv.close(); });
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`;
  const col = await startCollectorProc(writeCollectorConfig(dir, { alerts: [{ type: 'webhook', url, secret: SECRET, minSeverity: 'low', maxPerMinute: 1000 }] }));
  t.teardown(() => stop(col, 'SIGKILL'));

  const n = await replay(col, dir, 'attacks', attackJobs(['job-a', 'job-b', 'job-c']));
  await evaluated(col, n);
  const stored = findings(join(dir, 'audit.db')).filter((f) => f.severity !== 'info');
  const want = distinctJobRules(stored);
  t.ok(want.length >= 3, `findings in all three jobs: ${want.join(', ')}`);
  t.same([...new Set(stored.map((f) => f.jobId))].sort(), ['job-a', 'job-b', 'job-c']);
  await waitFor('one POST per (job, rule)', () => (posts.length >= want.length ? true : undefined), 30_000);
  await new Promise((r) => setTimeout(r, 500)); // nothing more may follow
  t.same(postedJobRules(posts), want, 'one POST per (job, rule), none twice');
  t.ok(posts.every(validSignature), 'every POST carries a valid X-Runwarden-Signature');
  t.ok(posts.every((p) => p.headers['content-type']?.startsWith('application/json')), 'JSON bodies');
  const bodies = posts.map((p) => JSON.parse(p.body) as { ruleId: string; jobId: string; severity: string; title: string; evidence: unknown[] });
  for (const b of bodies) {
    const f = stored.find((x) => x.jobId === b.jobId && x.ruleId === b.ruleId);
    t.match(b, { severity: f?.severity, title: f?.title }, `${b.jobId} ${b.ruleId} matches its stored finding`);
    t.ok(b.evidence.length > 0, 'evidence travels with the alert');
  }
  // A tampered body would not verify: the check above can fail.
  const forged = { headers: posts[0]?.headers ?? {}, body: (posts[0]?.body ?? '').replace('job-', 'jab-') };
  t.notOk(validSignature(forged), 'a modified body fails the signature check');
  const m = await metricsText(col.port);
  t.equal(sampleValue(m, 'runwarden_alerts_sent_total', `{sink="${SINK}"}`), want.length, 'sent counter');
  t.equal(sampleValue(m, 'runwarden_alert_retries_total', `{sink="${SINK}"}`), 0);
});

t.test('receiver down: ingest goes on, deliveries are retried and arrive once it is up', async (t) => {
  const dir = t.testdir();
  // A port nobody listens on yet: connections are refused until the receiver starts on it.
  const probe = await receiver([]);
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const col = await startCollectorProc(writeCollectorConfig(dir, { alerts: [{ type: 'webhook', url: `http://127.0.0.1:${port}/hook`, secret: SECRET, minSeverity: 'low', maxPerMinute: 1000 }] }));
  t.teardown(() => stop(col, 'SIGKILL'));

  const n1 = await replay(col, dir, 'first', attackJobs(['down-1', 'down-2']));
  const m1 = await evaluated(col, n1);
  t.equal(sampleValue(m1, 'runwarden_events_ingested_total'), n1, 'every event was committed and acked while the receiver is down');
  const stored1 = findings(join(dir, 'audit.db')).filter((f) => f.severity !== 'info');
  t.ok(stored1.length >= 2, 'findings are stored while the receiver is down');
  await waitFor('a retry', async () => ((sampleValue(await metricsText(col.port), 'runwarden_alert_retries_total', `{sink="${SINK}"}`) ?? 0) > 0 ? true : undefined), 20_000);
  // More events while alerts are failing: ingest is not blocked by the sink.
  const n2 = await replay(col, dir, 'second', attackJobs(['down-3']));
  const m2 = await evaluated(col, n1 + n2);
  t.equal(sampleValue(m2, 'runwarden_events_ingested_total'), n1 + n2, 'ingest continues');
  t.equal(sampleValue(m2, 'runwarden_alerts_sent_total', `{sink="${SINK}"}`), 0, 'nothing delivered yet');
  t.ok((sampleValue(m2, 'runwarden_alerts_queued', `{sink="${SINK}"}`) ?? 0) > 0, 'deliveries wait in the queue');

  const posts: Post[] = [];
  const srv = await receiver(posts, port);
  t.teardown(() => { srv.close(); });
  const want = distinctJobRules(findings(join(dir, 'audit.db')).filter((f) => f.severity !== 'info'));
  await waitFor('the queued alerts to arrive', () => (posts.length >= want.length ? true : undefined), 60_000);
  await new Promise((r) => setTimeout(r, 500));
  t.same(postedJobRules(posts), want, 'each (job, rule) delivered once after the retries');
  t.ok(posts.every(validSignature), 'signed');
  const m3 = await metricsText(col.port);
  t.equal(sampleValue(m3, 'runwarden_alerts_failed_total', `{sink="${SINK}"}`), 0, 'none given up');
  t.equal(sampleValue(m3, 'runwarden_alerts_queued', `{sink="${SINK}"}`), 0, 'queue drained');
});
