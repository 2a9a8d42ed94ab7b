// The contract every alert sink implements, and the payload they render from a finding.
import type { Finding } from '../finding.js';

export type SendResult =
  | { status: 'ok' }
  | { status: 'retryable'; retryInMillis?: number; error: string }
  | { status: 'failed'; error: string };

export interface AlertSink {
  readonly name: string;
  send(finding: Finding): Promise<SendResult>;
  close?(): Promise<void>;
}

/** The JSON body of webhook and file alerts: the finding plus a version so receivers can evolve. */
export function alertPayload(f: Finding): Record<string, unknown> {
  return {
    version: 1,
    type: 'runwarden.finding',
    ruleId: f.ruleId,
    title: f.title,
    severity: f.severity,
    tags: f.tags,
    jobId: f.jobId,
    agentId: f.agentId,
    tsNs: f.tsNs,
    explanation: f.explanation,
    evidence: f.evidence,
  };
}
