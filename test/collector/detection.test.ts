// Detection in its worker thread over a real SQLite store: findings stored with their cursor, settled() waits for
// them, a restart resumes from the saved cursor, and the metrics report the lag.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDetection } from '../../collector/detection.js';
import type { Finding } from '../../collector/finding.js';
import { createMetrics } from '../../collector/metrics.js';
import { parseEventsJsonl } from '../../collector/rules/events-jsonl.js';
import { openStore } from '../../collector/store.js';
import { encodeEvent } from '../../proto/codec.js';
import type { RawEvent, RwEvent } from '../../proto/types.js';
import { logSink } from '../helpers/ingest-env.js';

const fixtures = fileURLToPath(new URL('../fixtures/events/', import.meta.url));
const raw = (events: RwEvent[]): RawEvent[] => events.map((event) => ({ event, bytes: encodeEvent(event) }));
const attack = (): RwEvent[] => parseEventsJsonl(readFileSync(join(fixtures, 'credential-files.attack.jsonl'), 'utf8'));

function setup(dir: string) {
  const db = join(dir, 'audit.db');
  const store = openStore(db, { stateDir: join(dir, 'state'), synchronous: 'NORMAL' });
  const sink = logSink();
  const metrics = createMetrics();
  const offered: (Finding & { id: number })[] = [];
  const detection = createDetection({
    store, dbPath: db, rulePaths: [], trustedCidrs: ['127.0.0.0/8'], allowList: [], logger: sink.logger, metrics,
    sinks: [{ offer: (f) => offered.push(f) }],
  });
  return { db, store, detection, metrics, offered, sink };
}

t.test('committed events are evaluated off the ingest path; settled() waits for their findings', async (t) => {
  const { store, detection, metrics, offered } = setup(t.testdir());
  const events = attack();
  const r = store.appendEvents(raw(events), Date.now() * 1e6);
  detection.onCommitted(r.ids.map((id, i) => ({ id, event: events[i] as RwEvent })));
  t.ok(await detection.settled(20_000), 'caught up');
  const stored = store.queryFindings({});
  t.ok(stored.some((f) => f.ruleId === 'credential-file-read-by-generic-tool'), 'the credential rule fired and its finding is stored');
  t.same(offered.map((f) => f.id).sort(), stored.map((f) => f.id).sort(), 'every stored finding went to the sinks with its id');
  t.ok(stored.every((f) => f.evidence.every((e) => typeof e.summary === 'string' && e.summary.length > 0)), 'evidence summaries crossed the thread');
  t.equal(store.detectionCursor(), r.ids[r.ids.length - 1], 'the cursor was saved with the findings');
  const snap = metrics.snapshot().detection;
  t.equal(snap.evaluated, events.length);
  t.equal(snap.lagEvents, 0);
  t.equal(snap.findings, stored.length);
  t.match(metrics.render(), /runwarden_detection_lag_events 0/);
  await detection.close(5000);
  store.close();
});

t.test('a restart resumes after the saved cursor: events committed while detection was down are evaluated once', async (t) => {
  const dir = t.testdir();
  const first = setup(dir);
  const benign = parseEventsJsonl(readFileSync(join(fixtures, 'credential-files.benign.jsonl'), 'utf8'));
  const r1 = first.store.appendEvents(raw(benign), Date.now() * 1e6);
  first.detection.onCommitted(r1.ids.map((id, i) => ({ id, event: benign[i] as RwEvent })));
  await first.detection.close(20_000);
  const cursor = first.store.detectionCursor();
  t.equal(cursor, r1.ids[r1.ids.length - 1], 'shutdown saved the cursor');
  const before = first.store.queryFindings({}).length;
  // Detection is down; ingest goes on.
  const evs = attack().map((e) => ({ ...e, bootId: 'boot-2' }));
  first.store.appendEvents(raw(evs), Date.now() * 1e6);
  first.store.close();

  const second = setup(dir);
  t.ok(await second.detection.settled(20_000), 'the new worker caught up without being told of the events');
  const after = second.store.queryFindings({});
  t.ok(after.length > before, 'the events stored while detection was down raised their findings');
  t.ok(after.slice(before).every((f) => f.evidence.every((e) => e.bootId === 'boot-2')), 'only the new events were evaluated, the old ones not again');
  await second.detection.close(5000);
  second.store.close();
});

t.test('settled() gives up at its deadline while the worker is behind, and says so', async (t) => {
  const { store, detection } = setup(t.testdir());
  const many: RwEvent[] = [];
  for (let i = 1; i <= 20_000; i++) many.push({ agentId: 'a', bootId: 'b', seq: i, tsNs: i, pid: 1000 + (i % 50), ppid: 1, comm: 'true', jobId: 'j', kind: 'exec', exec: { argv: ['/bin/true', String(i)], cwd: '/tmp' } } as RwEvent);
  const r = store.appendEvents(raw(many), Date.now() * 1e6);
  detection.onCommitted([{ id: r.ids[r.ids.length - 1] as number, event: many[many.length - 1] as RwEvent }]);
  t.equal(await detection.settled(0), false, 'not caught up at once');
  t.ok(detection.stats().lagEvents > 0, 'lag is visible');
  t.ok(await detection.settled(60_000), 'caught up later');
  t.equal(detection.stats().evaluated, 20_000);
  await detection.close(5000);
  store.close();
});

t.test('a worker that cannot start is logged, counted and restarted with backoff; ingest-side calls keep working', async (t) => {
  const dir = t.testdir();
  const store = openStore(join(dir, 'audit.db'), { stateDir: join(dir, 'state') });
  const sink = logSink();
  const metrics = createMetrics();
  const detection = createDetection({
    store, dbPath: join(dir, 'missing.db'), rulePaths: [], trustedCidrs: [], allowList: [], logger: sink.logger, metrics,
  });
  const deadline = Date.now() + 60_000; // each start loads the TypeScript sources anew: slow on a busy machine
  while (detection.stats().errors < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(detection.stats().errors >= 2, 'two failed starts counted', { lines: sink.lines.map((l) => l.msg) });
  t.ok(sink.lines.some((l) => l.msg === 'detection worker could not start' && String(l.reason).includes('missing.db')), 'the reason names the database');
  t.ok(sink.lines.some((l) => l.msg === 'detection worker exited; restarting'), 'restart logged');
  const events = attack();
  const r = store.appendEvents(raw(events), Date.now() * 1e6);
  detection.onCommitted(r.ids.map((id, i) => ({ id, event: events[i] as RwEvent })));
  t.equal(await detection.settled(200), false, 'nothing is evaluated, and settled() says so');
  t.equal(metrics.snapshot().detection.lagEvents, events.length, 'the lag shows in the metrics');
  await detection.close(0);
  store.close();
});
