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
  /** Chains the findings; `detectedThrough` (the last event id detection has evaluated) is saved in the same transaction. */
  appendFindings(findings: readonly Finding[], detectedThrough?: number): number[];
  /** The last event id detection has evaluated (0 on a new database). */
  detectionCursor(): number;
  /** Saves the detection cursor alone (no findings since the last save). */
  setDetectionCursor(id: number): void;
  /** Up to `limit` events with id > afterId, in id order, decoded from the bytes the agent sent (what detection reads). */
  eventsAfter(afterId: number, limit: number): StoredEvent[];
  queryEvents(filter: EventFilter): StoredEvent[];
  queryFindings(filter: FindingFilter): StoredFinding[];
  losses(agentId?: string): Loss[];
  /** Signs the current chain heads (ed25519) and stores the checkpoint. */
  checkpoint(nowNs: number): void;
  count(): number;
  close(): void;
}
