// An in-memory Store for ingest tests: dedupe on (agent, boot, seq), seq gaps as losses, injectable failures.
import type { RawEvent } from '../../proto/types.js';
import type { AppendResult, EventFilter, Loss, Store, StoredEvent, StoredFinding } from '../../collector/store-types.js';

export interface MemoryStore extends Store {
  rows: StoredEvent[];
  checkpoints: number[];
  closed: boolean;
  /** The next appendEvents throws this (once). */
  failNext(e: Error): void;
}

export function createMemoryStore(): MemoryStore {
  const rows: StoredEvent[] = [];
  const seen = new Set<string>();
  const high = new Map<string, number>();
  const lossList: Loss[] = [];
  const checkpoints: number[] = [];
  let fail: Error | undefined;
  let cursor = 0;
  const store: MemoryStore = {
    rows,
    checkpoints,
    closed: false,
    failNext(e) { fail = e; },
    appendEvents(events: readonly RawEvent[], receivedNs: number): AppendResult {
      if (store.closed) throw new Error('store is closed');
      if (fail) { const e = fail; fail = undefined; throw e; }
      const out: AppendResult = { stored: 0, duplicates: 0, ids: [] };
      for (const { event } of events) {
        const key = `${event.agentId}\u0000${event.bootId}\u0000${event.seq}`;
        if (seen.has(key)) { out.duplicates++; continue; }
        seen.add(key);
        const hk = `${event.agentId}\u0000${event.bootId}`;
        const h = high.get(hk) ?? 0;
        if (event.seq > h + 1) lossList.push({ agentId: event.agentId, bootId: event.bootId, fromSeq: h + 1, toSeq: event.seq - 1, recordedNs: receivedNs });
        if (event.seq > h) high.set(hk, event.seq);
        const id = rows.length + 1;
        rows.push({ id, event });
        out.ids.push(id);
        out.stored++;
      }
      return out;
    },
    appendFindings: (_f, through) => { if (through !== undefined) cursor = Math.max(cursor, through); return []; },
    detectionCursor: () => cursor,
    setDetectionCursor: (id: number) => { cursor = Math.max(cursor, id); },
    eventsAfter: (afterId: number, limit: number) => rows.filter((r) => r.id > afterId).slice(0, limit),
    queryEvents: (f: EventFilter) => rows.filter((r) => (f.agentId === undefined || r.event.agentId === f.agentId) && (f.afterId === undefined || r.id > f.afterId)).slice(0, f.limit ?? Infinity),
    queryFindings: (): StoredFinding[] => [],
    losses: (agentId?: string) => lossList.filter((l) => agentId === undefined || l.agentId === agentId),
    checkpoint: (nowNs: number) => { checkpoints.push(nowNs); },
    count: () => rows.length,
    close: () => { store.closed = true; },
  };
  return store;
}
