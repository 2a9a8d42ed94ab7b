// A finding: what a rule concluded, with the events that prove it. Stored chained, reported, alerted.
import type { Severity } from '../cli/config.js';

export interface Finding {
  ruleId: string;
  title: string;
  severity: Severity;
  tags: string[];                // CICD-SEC-n, ATT&CK technique ids, class names
  jobId: string;
  agentId: string;
  tsNs: number;
  explanation: string;           // one line a human can act on; never a secret value
  evidence: FindingEvidence[];
}

export interface FindingEvidence {
  eventId?: number;              // row id in the audit store, when stored
  agentId: string;
  bootId: string;
  seq: number;
  kind: string;
  pid?: number;
  summary: string;               // e.g. "exec curl -sSf http://…", "connect 127.7.7.7:80 (webhook.site)"
}
