// What `runwarden run` reports of one job, read from the audit store: its findings and a summary of its events
// (processes, files written, egress, drops). Runs where the store is: the embedded collector's process.
import type { EgressSummary, ReportFinding, ReportSummary } from '../agent/report.js';
import type { Store } from './store-types.js';
import type { StoredEvent } from './store-types.js';

export const JOB_SUMMARY_LIMITS = Object.freeze({
  /** The job's events are read in pages, bounded: a build runs tens of thousands of processes. */
  pageEvents: 10_000,
  maxPages: 100,
  maxFiles: 100_000,
});

export interface JobSummary {
  findings: ReportFinding[];
  summary: Pick<ReportSummary, 'processes' | 'egress' | 'filesWritten'> & { drops: number };
}

function noteEgress(by: Map<string, EgressSummary>, e: StoredEvent['event']): void {
  if (e.kind !== 'net' || e.net.resolver || e.net.family === 'UNIX') return;
  const dst = `${e.net.dstIp ?? ''}:${e.net.dstPort ?? 0}`;
  const cur = by.get(dst);
  if (cur) { cur.count++; return; }
  by.set(dst, {
    dst, count: 1, proto: e.net.proto === 'UDP' ? 'udp' : 'tcp', allowed: Boolean(e.net.allowed || e.net.trusted),
    ...(e.net.domain ? { domain: e.net.domain } : {}),
  });
}

export function jobSummary(store: Store, jobId: string): JobSummary {
  const findings = store.queryFindings({ jobId }).map((f) => ({
    ruleId: f.ruleId, severity: f.severity, title: f.title, tags: f.tags, explanation: f.explanation, evidence: f.evidence,
  }));
  const files = new Set<string>();
  const egress = new Map<string, EgressSummary>();
  let drops = 0;
  let processes = 0;
  for (let afterId = 0, page = 0; page < JOB_SUMMARY_LIMITS.maxPages; page++) {
    const events = store.queryEvents({ jobId, kinds: ['exec', 'net', 'file', 'dropped'], afterId, limit: JOB_SUMMARY_LIMITS.pageEvents });
    for (const { event: e } of events) {
      if (e.kind === 'exec') processes++;
      else if (e.kind === 'file' && e.file.path && files.size < JOB_SUMMARY_LIMITS.maxFiles) files.add(e.file.newPath || e.file.path);
      else if (e.kind === 'dropped') drops += e.dropped.count ?? 0;
      else noteEgress(egress, e);
    }
    if (events.length < JOB_SUMMARY_LIMITS.pageEvents) break;
    afterId = events[events.length - 1]!.id;
  }
  return { findings, summary: { drops, processes, egress: [...egress.values()], filesWritten: files.size } };
}
