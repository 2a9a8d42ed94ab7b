// The audit store's interface: what ingest, detection, the HTTP API and the CLI may ask of it.
// SQLite (collector/store.ts) implements it; a PostgreSQL store would implement the same.
import type { EventKind, RawEvent, RwEvent } from '../proto/types.js';
import type { Finding } from './finding.js';

export interface AppendResult {
  stored: number;       // rows newly committed
  duplicates: number;   // (agent_id, boot_id, seq) already present
  ids: number[];        // row ids of the newly stored events, in input order (duplicates omitted)
}

export interface StoredEvent {
  id: number;           // row id: position in the audit chain
  event: RwEvent;
}

export interface EventFilter {
  jobId?: string;
  kinds?: EventKind[];
  pid?: number;
  agentId?: string;
  sinceNs?: number;
  untilNs?: number;
  afterId?: number;     // paging / tailing
  limit?: number;
}

export interface FindingFilter { jobId?: string; minSeverity?: string; sinceNs?: number; limit?: number }

export interface StoredFinding extends Finding { id: number }

export interface Loss { agentId: string; bootId: string; fromSeq: number; toSeq: number; recordedNs: number }

export interface Store {
  /** One transaction: dedupe on (agent_id, boot_id, seq), record seq gaps as loss, chain every row. */
  appendEvents(events: readonly RawEvent[], receivedNs: number): AppendResult;
  appendFindings(findings: readonly Finding[]): number[];
  queryEvents(filter: EventFilter): StoredEvent[];
  queryFindings(filter: FindingFilter): StoredFinding[];
  losses(agentId?: string): Loss[];
  /** Signs the current chain heads (ed25519) and stores the checkpoint. */
  checkpoint(nowNs: number): void;
  count(): number;
  close(): void;
}
