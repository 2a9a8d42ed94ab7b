// The Prometheus text of collector/metrics.ts: counters, the commit histogram, detection and alert-sink samples.
import t from 'tap';
import { createMetrics, sampleValue } from '../../collector/metrics.js';
import type { SinkStats } from '../../collector/alerts/dispatcher.js';

const sink = (o: Partial<SinkStats>): SinkStats => ({
  sent: 0, retries: 0, failed: 0, queued: 0, droppedQueueFull: 0, droppedRateLimited: 0, duplicates: 0, belowSeverity: 0, lastError: undefined, ...o,
});

t.test('counters, histogram and detection samples', async (t) => {
  const m = createMetrics();
  m.eventsIngested(5);
  m.rejected('auth');
  m.commitSeconds(0.003);
  m.commitSeconds(5);
  m.detection({ evaluated: 4, findings: 1, errors: 0, lagEvents: 1 });
  const text = m.render();
  t.equal(sampleValue(text, 'runwarden_events_ingested_total'), 5);
  t.equal(sampleValue(text, 'runwarden_rejected_frames_total', '{reason="auth"}'), 1);
  t.equal(sampleValue(text, 'runwarden_batch_commit_seconds_bucket', '{le="0.005"}'), 1, 'cumulative buckets');
  t.equal(sampleValue(text, 'runwarden_batch_commit_seconds_bucket', '{le="+Inf"}'), 2, 'beyond the last bucket counts in +Inf');
  t.equal(sampleValue(text, 'runwarden_detection_lag_events'), 1);
  t.notMatch(text, /runwarden_alerts_sent_total\{/, 'no sinks, no alert samples');
});

t.test('alert sinks: one sample per sink and counter, read at render time; label values escaped', async (t) => {
  const m = createMetrics();
  let stats: Record<string, SinkStats> = { 'webhook[0]': sink({ sent: 2, retries: 3, queued: 1, droppedRateLimited: 4 }) };
  m.alertSource(() => stats);
  const text = m.render();
  const cases: [string, string, number][] = [
    ['runwarden_alerts_sent_total', '{sink="webhook[0]"}', 2],
    ['runwarden_alert_retries_total', '{sink="webhook[0]"}', 3],
    ['runwarden_alerts_failed_total', '{sink="webhook[0]"}', 0],
    ['runwarden_alerts_queued', '{sink="webhook[0]"}', 1],
    ['runwarden_alerts_dropped_total', '{sink="webhook[0]",reason="rate-limited"}', 4],
    ['runwarden_alerts_dropped_total', '{sink="webhook[0]",reason="queue-full"}', 0],
  ];
  for (const [name, labels, want] of cases) t.equal(sampleValue(text, name, labels), want, `${name}${labels}`);
  t.match(text, /# TYPE runwarden_alerts_queued gauge\n/);
  stats = { 'odd"name\\x': sink({ sent: 7 }) };
  t.equal(sampleValue(m.render(), 'runwarden_alerts_sent_total', '{sink="odd\\"name\\\\x"}'), 7, 'escaped and re-read');
});
