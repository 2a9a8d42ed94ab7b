// The collector's counters and the Prometheus text exposition (format 0.0.4) of them. No I/O.
import type { SinkStats } from './alerts/dispatcher.js';

/** Reasons a frame or connection is refused; each is one label value of rejected_frames_total. */
export const REJECT_REASONS = [
  'auth', 'garbage', 'truncated', 'invalid', 'too-large', 'protocol', 'agent-mismatch', 'text-frame', 'store', 'hello-timeout',
] as const;
export type RejectReason = typeof REJECT_REASONS[number];

/** Upper bounds (seconds) of the batch-commit latency histogram buckets. */
export const COMMIT_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface Metrics {
  eventsIngested(n: number): void;
  duplicates(n: number): void;
  rejected(reason: RejectReason): void;
  losses(n: number): void;
  agentConnected(): void;
  agentDisconnected(): void;
  commitSeconds(seconds: number): void;
  /** Detection's progress, reported by collector/detection.ts. */
  detection(d: DetectionSnapshot): void;
  /** Where the alert sinks' counters are read at each snapshot (collector/alerts/dispatcher.ts stats()). */
  alertSource(read: () => Record<string, SinkStats>): void;
  snapshot(): MetricsSnapshot;
  /** Prometheus text format. */
  render(): string;
}

export interface MetricsSnapshot {
  eventsIngested: number;
  duplicates: number;
  rejected: Record<RejectReason, number>;
  losses: number;
  connectedAgents: number;
  commits: { count: number; sumSeconds: number; buckets: number[] };
  detection: DetectionSnapshot;
  /** Per alert sink, by its name (`webhook[0]`). */
  alerts: Record<string, SinkStats>;
}

export interface DetectionSnapshot {
  evaluated: number;     // events run through the rules
  findings: number;      // findings stored
  errors: number;        // events the engine failed on, findings that could not be stored, worker restarts
  lagEvents: number;     // committed events not yet evaluated
}

export function createMetrics(): Metrics {
  let ingested = 0;
  let dups = 0;
  let lost = 0;
  let connected = 0;
  const rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
  const buckets = COMMIT_BUCKETS_SECONDS.map(() => 0);
  let commitCount = 0;
  let commitSum = 0;
  let det: DetectionSnapshot = { evaluated: 0, findings: 0, errors: 0, lagEvents: 0 };
  let readAlerts: () => Record<string, SinkStats> = () => ({});

  const snapshot = (): MetricsSnapshot => ({
    eventsIngested: ingested, duplicates: dups, rejected: { ...rejected }, losses: lost, connectedAgents: connected,
    commits: { count: commitCount, sumSeconds: commitSum, buckets: [...buckets] },
    detection: { ...det },
    alerts: readAlerts(),
  });

  return {
    eventsIngested: (n) => { ingested += n; },
    duplicates: (n) => { dups += n; },
    rejected: (reason) => { rejected[reason] += 1; },
    losses: (n) => { lost += n; },
    agentConnected: () => { connected += 1; },
    agentDisconnected: () => { connected = Math.max(0, connected - 1); },
    commitSeconds: (s) => {
      commitCount += 1;
      commitSum += s;
      // Non-cumulative here; render() accumulates, as the text format wants `le` buckets.
      const i = COMMIT_BUCKETS_SECONDS.findIndex((b) => s <= b);
      if (i >= 0) buckets[i] = (buckets[i] ?? 0) + 1;
    },
    detection: (d) => { det = { ...d }; },
    alertSource: (read) => { readAlerts = read; },
    snapshot,
    render: () => renderText(snapshot()),
  };
}

export function renderText(s: MetricsSnapshot): string {
  const lines: string[] = [];
  const counter = (name: string, help: string, value: number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
  };
  counter('runwarden_events_ingested_total', 'Events newly committed to the audit store.', s.eventsIngested);
  counter('runwarden_events_duplicate_total', 'Events received again and dropped by (agent_id, boot_id, seq) dedupe.', s.duplicates);
  counter('runwarden_events_lost_total', 'Events missing from agent sequences (seq gaps and dropped reports).', s.losses);
  lines.push('# HELP runwarden_rejected_frames_total Frames or connections refused, by reason.', '# TYPE runwarden_rejected_frames_total counter');
  for (const r of REJECT_REASONS) lines.push(`runwarden_rejected_frames_total{reason="${r}"} ${s.rejected[r]}`);
  lines.push('# HELP runwarden_connected_agents Agents with an open, greeted stream.', '# TYPE runwarden_connected_agents gauge', `runwarden_connected_agents ${s.connectedAgents}`);
  const h = 'runwarden_batch_commit_seconds';
  lines.push(`# HELP ${h} Time to commit one batch to the store.`, `# TYPE ${h} histogram`);
  let acc = 0;
  COMMIT_BUCKETS_SECONDS.forEach((b, i) => {
    acc += s.commits.buckets[i] ?? 0;
    lines.push(`${h}_bucket{le="${b}"} ${acc}`);
  });
  lines.push(`${h}_bucket{le="+Inf"} ${s.commits.count}`, `${h}_sum ${s.commits.sumSeconds}`, `${h}_count ${s.commits.count}`);
  counter('runwarden_detection_events_total', 'Committed events evaluated by the rule engine.', s.detection.evaluated);
  counter('runwarden_findings_total', 'Findings stored.', s.detection.findings);
  counter('runwarden_detection_errors_total', 'Rule-engine failures on an event, findings not stored, detection worker restarts.', s.detection.errors);
  lines.push('# HELP runwarden_detection_lag_events Committed events the rule engine has not evaluated yet.', '# TYPE runwarden_detection_lag_events gauge',
    `runwarden_detection_lag_events ${s.detection.lagEvents}`);
  const sinks = Object.entries(s.alerts);
  const perSink = (name: string, type: 'counter' | 'gauge', help: string, value: (st: SinkStats) => number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [sink, st] of sinks) lines.push(`${name}{sink="${labelValue(sink)}"} ${value(st)}`);
  };
  perSink('runwarden_alerts_sent_total', 'counter', 'Findings delivered by an alert sink.', (st) => st.sent);
  perSink('runwarden_alert_retries_total', 'counter', 'Deliveries retried after a retryable failure (receiver down, 5xx, 429).', (st) => st.retries);
  perSink('runwarden_alerts_failed_total', 'counter', 'Findings given up on: permanent failure or attempts exhausted.', (st) => st.failed);
  lines.push('# HELP runwarden_alerts_dropped_total Findings an alert sink did not send, by reason (never sent again).', '# TYPE runwarden_alerts_dropped_total counter');
  for (const [sink, st] of sinks) {
    lines.push(`runwarden_alerts_dropped_total{sink="${labelValue(sink)}",reason="queue-full"} ${st.droppedQueueFull}`,
      `runwarden_alerts_dropped_total{sink="${labelValue(sink)}",reason="rate-limited"} ${st.droppedRateLimited}`);
  }
  perSink('runwarden_alerts_queued', 'gauge', 'Findings waiting in an alert sink\'s queue (retries included).', (st) => st.queued);
  return lines.join('\n') + '\n';
}

/** Label value escaping of the text format: backslash, double quote and newline. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Reads one sample back from the text format (tests, bench). Labels as written, e.g. `{reason="auth"}`. */
export function sampleValue(text: string, name: string, labels = ''): number | undefined {
  const prefix = `${name}${labels} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

/** Quantile estimate from histogram buckets (upper bound of the bucket holding the q-th sample). */
export function histogramQuantile(s: MetricsSnapshot['commits'], q: number): number {
  if (s.count === 0) return 0;
  const target = Math.ceil(q * s.count);
  let acc = 0;
  for (const [i, b] of COMMIT_BUCKETS_SECONDS.entries()) {
    acc += s.buckets[i] ?? 0;
    if (acc >= target) return b;
  }
  return Number.POSITIVE_INFINITY;
}
