// One agent stream: Hello → Welcome, then Batch → commit → Ack; every protocol fault closes with its code.
import type { Logger } from 'pino';
import { decodeFrame, encodeFrame } from '../proto/codec.js';
import { isRwError } from '../proto/errors.js';
import type { RwError } from '../proto/errors.js';
import type { RawEvent } from '../proto/types.js';
import type { Auth } from './auth.js';
import type { Metrics, RejectReason } from './metrics.js';
import type { CommitOutcome, GroupCommitter } from './group-commit.js';
import type { StoredEvent } from './store-types.js';

/** RFC 6455 §7.4.1 close codes used by the collector. */
export const CLOSE = Object.freeze({
  normal: 1000, goingAway: 1001, protocol: 1002, unsupported: 1003, invalidPayload: 1007, policy: 1008, tooBig: 1009, internal: 1011,
});

/** What the connection needs from the socket: ws stays in server.ts. */
export interface FrameTransport {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface IngestLimits { maxFrameBytes: number; maxBatchEvents: number; helloTimeoutMillis: number }

export interface IngestDeps {
  committer: GroupCommitter;
  metrics: Metrics;
  auth: Auth;
  logger: Logger;
  collectorId: string;
  version: string;
  limits: IngestLimits;
  /** Wall clock in ns since the epoch (received_ns of stored rows). */
  nowNs: () => number;
  /** Highest seq seen per agent boot, shared by all connections, to count gaps as losses. */
  seqHighWater: SeqHighWater;
  /** Called after each commit and before its Ack, with the newly stored events in order (no duplicates). */
  onCommitted?: (stored: StoredEvent[]) => void;
}

export interface IngestConnection {
  onMessage(data: Uint8Array, isBinary: boolean): void;
  /** The socket is gone (any reason). */
  onClosed(): void;
  /** ws itself refused a message (over maxPayload, bad websocket framing). */
  onTransportError(reason: RejectReason, message: string): void;
  readonly agentId: string | undefined;
}

export interface SeqHighWater { observe(key: string, seq: number): number }

/** A bounded map of (agent, boot) → highest seq; returns how many seqs were skipped before `seq`. */
export function createSeqHighWater(maxKeys = 10_000): SeqHighWater {
  const high = new Map<string, number>();
  return {
    observe(key, seq) {
      const h = high.get(key);
      if (h !== undefined && seq <= h) return 0;
      if (h === undefined && high.size >= maxKeys) {
        const oldest = high.keys().next().value;
        if (oldest !== undefined) high.delete(oldest);
      }
      high.delete(key); // re-insert: Map order doubles as recency for eviction
      high.set(key, seq);
      return h === undefined ? 0 : seq - h - 1;
    },
  };
}

function reasonOf(e: RwError): { reason: RejectReason; code: number } {
  switch (e.code) {
    case 'PROTO_ERR_TRUNCATED': return { reason: 'truncated', code: CLOSE.protocol };
    case 'PROTO_ERR_MALFORMED': return { reason: 'garbage', code: CLOSE.protocol };
    case 'PROTO_ERR_TOO_LARGE': return { reason: 'too-large', code: CLOSE.tooBig };
    default: return { reason: 'invalid', code: CLOSE.invalidPayload };
  }
}

export function createIngestConnection(transport: FrameTransport, granted: string, connId: string, deps: IngestDeps): IngestConnection {
  const log = deps.logger.child({ connId });
  let agentId: string | undefined;
  let closed = false;
  let greeted = false;
  const helloTimer = setTimeout(() => {
    if (!greeted) fail('hello-timeout', CLOSE.policy, `no Hello within ${deps.limits.helloTimeoutMillis} ms`);
  }, deps.limits.helloTimeoutMillis);
  helloTimer.unref();

  /** Counted and logged once per connection: after the close nothing more is read from it. */
  function fail(reason: RejectReason, code: number, message: string, rejectCode?: string): void {
    if (closed) return;
    closed = true;
    clearTimeout(helloTimer);
    deps.metrics.rejected(reason);
    log.warn({ reason, closeCode: code, agentId }, `closing stream: ${message}`);
    if (rejectCode) {
      try { transport.send(encodeFrame({ type: 'reject', reject: { code: rejectCode, message } })); } catch { /* socket already failing */ }
    }
    // Close reasons must fit a control frame (123 bytes).
    transport.close(code, message.slice(0, 120));
  }

  function handleBatch(batchId: number, raw: RawEvent[]): void {
    if (!greeted || agentId === undefined) {
      fail('protocol', CLOSE.protocol, 'batch before hello', 'COLLECTOR_ERR_PROTOCOL');
      return;
    }
    for (const r of raw) {
      if (r.event.agentId !== agentId) {
        fail('agent-mismatch', CLOSE.policy, `event for agent ${r.event.agentId} on the stream of ${agentId}`, 'COLLECTOR_ERR_AUTH');
        return;
      }
    }
    deps.committer.submit({ raw, done: (outcome) => acked(batchId, raw, outcome) });
  }

  function acked(batchId: number, raw: readonly RawEvent[], outcome: CommitOutcome): void {
    if (!outcome.ok) {
      // No ack: the agent keeps the batch spooled and resends after reconnecting.
      const e = outcome.error;
      const code = isRwError(e) ? e.code : 'COLLECTOR_ERR_STORE';
      if (closed) return;
      closed = true;
      deps.metrics.rejected('store');
      log.error({ err: e, reason: 'store', closeCode: CLOSE.internal, agentId, batchId }, 'store failed to commit a batch');
      try { transport.send(encodeFrame({ type: 'reject', reject: { code, message: 'store failed; retry later' } })); } catch { /* gone */ }
      transport.close(CLOSE.internal, code);
      return;
    }
    deps.metrics.eventsIngested(outcome.stored);
    deps.metrics.duplicates(outcome.duplicates);
    let lost = 0;
    // One stream key per boot, not per event: a batch is one agent's, nearly always of one boot.
    let boot: string | undefined;
    let key = '';
    for (const r of raw) {
      if (r.event.bootId !== boot) { boot = r.event.bootId; key = `${r.event.agentId}\u0000${boot}`; }
      lost += deps.seqHighWater.observe(key, r.event.seq);
      if (r.event.kind === 'dropped') lost += r.event.dropped.count ?? 0;
    }
    if (lost > 0) deps.metrics.losses(lost);
    if (deps.onCommitted && outcome.rows.length > 0) {
      try {
        deps.onCommitted(outcome.rows);
      } catch (e) {
        // Detection is downstream of the audit log: the batch is committed, so it is still acked.
        log.error({ err: e, agentId, batchId }, 'onCommitted hook failed');
      }
    }
    // A stream closed meanwhile gets no ack; its agent resends and the store dedupes.
    transport.send(encodeFrame({ type: 'ack', ack: { batchId, stored: outcome.stored, duplicates: outcome.duplicates } }));
  }

  return {
    get agentId() { return agentId; },
    onMessage(data, isBinary) {
      if (closed) return;
      if (!isBinary) {
        fail('text-frame', CLOSE.unsupported, 'text frames are not part of the protocol');
        return;
      }
      let decoded;
      try {
        decoded = decodeFrame(data, deps.limits);
      } catch (e) {
        if (!isRwError(e)) throw e;
        const { reason, code } = reasonOf(e);
        fail(reason, code, e.message);
        return;
      }
      const { frame, raw } = decoded;
      switch (frame.type) {
        case 'hello': {
          if (greeted) { fail('protocol', CLOSE.protocol, 'second hello', 'COLLECTOR_ERR_PROTOCOL'); return; }
          if (!deps.auth.allows(granted, frame.hello.agentId)) {
            fail('agent-mismatch', CLOSE.policy, `token is not valid for agent ${frame.hello.agentId}`, 'COLLECTOR_ERR_AUTH');
            return;
          }
          greeted = true;
          clearTimeout(helloTimer);
          agentId = frame.hello.agentId;
          deps.metrics.agentConnected();
          log.info({ agentId, bootId: frame.hello.bootId, agentVersion: frame.hello.version, host: frame.hello.host }, 'agent connected');
          transport.send(encodeFrame({
            type: 'welcome', welcome: { collectorId: deps.collectorId, version: deps.version, maxBatchEvents: deps.limits.maxBatchEvents },
          }));
          return;
        }
        case 'batch':
          handleBatch(frame.batch.batchId, raw ?? []);
          return;
        default:
          fail('protocol', CLOSE.protocol, `unexpected ${frame.type} frame from an agent`, 'COLLECTOR_ERR_PROTOCOL');
      }
    },
    onTransportError(reason, message) {
      if (closed) return;
      closed = true;
      clearTimeout(helloTimer);
      deps.metrics.rejected(reason);
      log.warn({ reason, agentId }, `stream refused by the websocket layer: ${message}`);
    },
    onClosed() {
      clearTimeout(helloTimer);
      closed = true;
      if (greeted) {
        greeted = false;
        deps.metrics.agentDisconnected();
        log.info({ agentId }, 'agent disconnected');
      }
    },
  };
}
