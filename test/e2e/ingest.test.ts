// Acceptance over real processes: `runwarden collector` + load-agent children on loopback websockets.
// Build first: npx tsc -p tsconfig.build.json
import t from 'tap';
import { openStoreReadOnly } from '../../collector/store.js';
import { verifyStore } from '../../collector/verify.js';
import { assertBuilt, lastJson, metricsText, startCollectorProc, startLoadAgent, stop, waitFor, writeCollectorConfig } from '../helpers/procs.js';
import { sampleValue } from '../../collector/metrics.js';

assertBuilt();

interface Counts { rows: number; distinct: number; byBoot: Map<string, number[]> }

function countRows(db: string): Counts {
  const store = openStoreReadOnly(db);
  try {
    const byBoot = new Map<string, number[]>();
    const seen = new Set<string>();
    let rows = 0;
    let afterId = 0;
    for (;;) {
      const page = store.queryEvents({ afterId, limit: 50_000 });
      if (page.length === 0) break;
      for (const r of page) {
        rows++;
        seen.add(`${r.event.agentId}/${r.event.bootId}/${r.event.seq}`);
        const k = `${r.event.agentId}/${r.event.bootId}`;
        const l = byBoot.get(k) ?? [];
        l.push(r.event.seq);
        byBoot.set(k, l);
      }
      afterId = (page.at(-1) as { id: number }).id;
    }
    return { rows, distinct: seen.size, byBoot };
  } finally {
    store.close();
  }
}

const isOneToN = (seqs: number[], n: number): boolean => seqs.length === n && [...seqs].sort((a, b) => a - b).every((s, i) => s === i + 1);

t.test('5 agents × 20 000 events → exactly 100 000 rows, verify ok', async (t) => {
  const dir = t.testdir();
  const col = await startCollectorProc(writeCollectorConfig(dir));
  t.teardown(() => stop(col, 'SIGKILL'));
  const agents = Array.from({ length: 5 }, (_, i) => startLoadAgent(col.url, `${dir}/agent${i}`, 20_000));
  const exits = await Promise.all(agents.map((a) => a.exited));
  t.same(exits.map((e) => e.code), [0, 0, 0, 0, 0], 'every agent flushed');
  t.same(await stop(col), { code: 0, signal: null }, 'collector exits 0 on SIGTERM');
  const c = countRows(`${dir}/audit.db`);
  t.equal(c.rows, 100_000);
  t.equal(c.distinct, 100_000);
  t.equal(c.byBoot.size, 5);
  for (const [k, seqs] of c.byBoot) t.ok(isOneToN(seqs, 20_000), `${k}: seq 1..20000`);
  const v = verifyStore(`${dir}/audit.db`);
  t.match(v, { ok: true, rows: { events: 100_000 } });
});

t.test('collector SIGKILLed mid-stream and restarted: every event exactly once', async (t) => {
  const dir = t.testdir();
  const cfg = writeCollectorConfig(dir);
  const col1 = await startCollectorProc(cfg);
  const agents = Array.from({ length: 3 }, (_, i) => startLoadAgent(col1.url, `${dir}/agent${i}`, 20_000));
  await waitFor('ingest to be under way', async () => {
    const v = sampleValue(await metricsText(col1.port), 'runwarden_events_ingested_total') ?? 0;
    return v > 5000 ? v : undefined;
  });
  await stop(col1, 'SIGKILL');
  const col2 = await startCollectorProc(cfg, ['--port', String(col1.port)]);
  t.teardown(() => stop(col2, 'SIGKILL'));
  const exits = await Promise.all(agents.map((a) => a.exited));
  t.same(exits.map((e) => e.code), [0, 0, 0]);
  const dups = sampleValue(await metricsText(col2.port), 'runwarden_events_duplicate_total') ?? 0;
  t.comment(`redelivered and deduped after the crash: ${dups}`);
  await stop(col2);
  const c = countRows(`${dir}/audit.db`);
  t.equal(c.rows, 60_000);
  t.equal(c.distinct, 60_000);
  for (const [k, seqs] of c.byBoot) t.ok(isOneToN(seqs, 20_000), `${k}: seq 1..20000 exactly once`);
  t.match(verifyStore(`${dir}/audit.db`), { ok: true });
});

t.test('agent SIGKILLed while the collector is down; both restarted: spooled events arrive', async (t) => {
  const dir = t.testdir();
  const cfg = writeCollectorConfig(dir);
  const probe = await startCollectorProc(cfg);
  const port = probe.port;
  await stop(probe);
  const agent1 = startLoadAgent(`ws://127.0.0.1:${port}`, `${dir}/agent`, 5000);
  const spooled = await waitFor('agent to spool', () => lastJson(agent1.stdout, 'spooled'));
  t.match(spooled, { spooled: 5000, acked: 0 });
  t.same(await stop(agent1, 'SIGKILL'), { code: null, signal: 'SIGKILL' });
  const col = await startCollectorProc(cfg, ['--port', String(port)]);
  t.teardown(() => stop(col, 'SIGKILL'));
  const agent2 = startLoadAgent(col.url, `${dir}/agent`, 10);
  t.equal((await agent2.exited).code, 0);
  await stop(col);
  const c = countRows(`${dir}/audit.db`);
  t.equal(c.rows, 5010);
  const boot1 = `${String(spooled.agentId)}/${String(spooled.bootId)}`;
  t.ok(isOneToN(c.byBoot.get(boot1) ?? [], 5000), 'the killed boot\'s 5000 events, with their original boot id and seq');
  t.equal(c.byBoot.size, 2);
});
