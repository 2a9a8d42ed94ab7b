// Agent → collector transport: every event goes through the on-disk spool, is sent in batches over a
// websocket, and leaves the spool only when the collector acks it. The agent-side file importing ws.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { decodeFrame, encodeBatchFrameRaw, encodeEvent, encodeFrame } from '../proto/codec.js';
import { isRwError } from '../proto/errors.js';
import type { RwEvent } from '../proto/types.js';
import { backoffDelay } from './backoff.js';
import { openSpool } from './spool.js';
import type { Spool, SpoolCursor } from './spool.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event as the sensors produce it; the uplink adds agentId, bootId and seq. */
export type EventDraft = DistributiveOmit<RwEvent, 'agentId' | 'bootId' | 'seq'>;

export interface UplinkLimits {
  spoolMaxBytes: number;
  batchMaxEvents: number;
  batchMaxAgeMillis: number;
  /** Bytes of encoded events per Batch frame; keep under the collector's maxFrameBytes. */
  batchMaxBytes: number;
  /** Batches sent and not yet acked. */
  maxInflightBatches: number;
  heartbeatIntervalMillis: number;
  reconnectMinMillis: number;
  reconnectMaxMillis: number;
  /** Events encoded but not yet in the spool; beyond this, enqueue writes through synchronously. */
  maxPendingEvents: number;
}

export const UPLINK_DEFAULTS: UplinkLimits = Object.freeze({
  spoolMaxBytes: 256 * 1024 * 1024,
  batchMaxEvents: 512,
  batchMaxAgeMillis: 200,
  batchMaxBytes: 1024 * 1024,
  maxInflightBatches: 4,
  heartbeatIntervalMillis: 10_000,
  reconnectMinMillis: 100,
  reconnectMaxMillis: 10_000,
  maxPendingEvents: 512,
});

export interface UplinkOptions {
  url: string;
  token: string;
  spoolDir: string;
  agentId: string;
  bootId: string;
  host: string;
  logger: Logger;
  version?: string;
  /** PEM file of the CA that signed the collector's certificate (wss). */
  tlsCa?: string;
  limits?: Partial<UplinkLimits>;
  /** Injected for tests; default Math.random. */
  random?: () => number;
  /** Wall clock in ns since the epoch for heartbeat/dropped events; default Date.now()*1e6. */
  nowNs?: () => number;
}

export interface UplinkStats {
  lastSeq: number;
  enqueued: number;
  spooled: number;
  acked: number;
  duplicatesAcked: number;
  dropped: number;
  pending: number;        // in the spool, not yet acked (includes a previous boot's leftovers)
  spoolBytes: number;
  connected: boolean;
  connects: number;
  batchesSent: number;
}

export interface Uplink {
  start(): void;
  enqueue(draft: EventDraft): number;
  /** Resolves true once everything enqueued so far is acked, false at the deadline (ms from now). */
  flush(deadlineMillis: number): Promise<boolean>;
  close(): Promise<void>;
  stats(): UplinkStats;
}

interface Inflight { batchId: number; end: SpoolCursor; count: number }
interface DropRun { count: number; firstSeq: number; lastSeq: number }

export function createUplink(opts: UplinkOptions): Uplink {
  const lim: UplinkLimits = { ...UPLINK_DEFAULTS, ...opts.limits };
  const log = opts.logger.child({ agentId: opts.agentId, bootId: opts.bootId, component: 'uplink' });
  const random = opts.random ?? Math.random;
  const nowNs = opts.nowNs ?? ((): number => Date.now() * 1e6);
  const spool: Spool = openSpool({ dir: opts.spoolDir, maxBytes: lim.spoolMaxBytes });
  const ca = opts.tlsCa ? readFileSync(opts.tlsCa) : undefined;

  let seq = 0;
  let spoolOpen = true;
  let pending: { seq: number; bytes: Uint8Array }[] = [];
  let writeScheduled = false;
  const drops = new Map<string, DropRun>();
  const st = { enqueued: 0, spooled: 0, acked: 0, duplicatesAcked: 0, dropped: 0, connects: 0, batchesSent: 0 };

  let ws: WebSocket | undefined;
  let ready = false;
  let started = false;
  let closed = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let ageTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let sendCursor: SpoolCursor = spool.acked();
  let batchId = 0;
  let inflight: Inflight[] = [];
  let oldestUnsentAt: number | undefined;   // ms (monotonic) when the first unsent record was spooled
  let flushing = 0;
  let maxBatchEvents = lim.batchMaxEvents;
  let batchMaxBytes = lim.batchMaxBytes;
  const refusals = new Set<string>();
  const waiters: { target: SpoolCursor; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }[] = [];

  const mono = (): number => performance.now();
  const before = (a: SpoolCursor, b: SpoolCursor): boolean => a.segment < b.segment || (a.segment === b.segment && a.record < b.record);

  function noteDrop(reason: string, s: number): void {
    const d = drops.get(reason);
    if (d) { d.count++; d.lastSeq = s; } else drops.set(reason, { count: 1, firstSeq: s, lastSeq: s });
    st.dropped++;
    if (!d) log.warn({ reason, seq: s }, 'dropping events: spool has no room (a dropped event follows when it does)');
  }

  /** Encoded events go to disk in one write per tick (or per batchMaxEvents when a producer loops). */
  function writePending(): void {
    writeScheduled = false;
    if (closed && !spoolOpen) return;
    // Report earlier drops first, as soon as there is room for the report itself.
    for (const [reason, d] of drops) {
      const ev: RwEvent = { agentId: opts.agentId, bootId: opts.bootId, seq: 0, tsNs: nowNs(), host: opts.host, kind: 'dropped', dropped: { count: d.count, reason, firstSeq: d.firstSeq, lastSeq: d.lastSeq } };
      const probe = encodeEvent({ ...ev, seq: seq + 1 });
      if (!spool.fits(probe.length + 16)) break;
      ev.seq = ++seq;
      pending.unshift({ seq: ev.seq, bytes: encodeEvent(ev) });
      drops.delete(reason);
      log.info({ reason, count: d.count, firstSeq: d.firstSeq, lastSeq: d.lastSeq }, 'reported dropped events');
    }
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const n = spool.append(batch.map((p) => p.bytes));
    st.spooled += n;
    for (let i = n; i < batch.length; i++) noteDrop('spool-full', (batch[i] as { seq: number }).seq);
    if (n > 0) {
      oldestUnsentAt ??= mono();
      pump();
    }
  }
  function scheduleWrite(): void {
    if (pending.length >= lim.maxPendingEvents) { writePending(); return; }
    if (!writeScheduled) { writeScheduled = true; setImmediate(writePending); }
  }

  function pump(): void {
    if (!ready || !ws || closed) return;
    while (inflight.length < lim.maxInflightBatches) {
      const available = spool.countAfter(sendCursor);
      if (available === 0) { oldestUnsentAt = undefined; break; }
      const aged = oldestUnsentAt !== undefined && mono() - oldestUnsentAt >= lim.batchMaxAgeMillis;
      if (available < maxBatchEvents && !aged && flushing === 0) {
        if (!ageTimer) {
          const wait = Math.max(1, lim.batchMaxAgeMillis - (mono() - (oldestUnsentAt ?? mono())));
          ageTimer = setTimeout(() => { ageTimer = undefined; oldestUnsentAt ??= 0; pump(); }, wait);
        }
        break;
      }
      const { records, next } = spool.read(sendCursor, maxBatchEvents, batchMaxBytes);
      if (records.length === 0) break;
      batchId++;
      ws.send(encodeBatchFrameRaw(batchId, records), { binary: true });
      st.batchesSent++;
      inflight.push({ batchId, end: next, count: records.length });
      sendCursor = next;
      oldestUnsentAt = spool.countAfter(sendCursor) > 0 ? mono() : undefined;
    }
  }

  function settleWaiters(): void {
    const acked = spool.acked();
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i] as (typeof waiters)[number];
      if (!before(acked, w.target)) {
        clearTimeout(w.timer);
        waiters.splice(i, 1);
        w.resolve(true);
      }
    }
  }

  function onAck(id: number, duplicates: number): void {
    const head = inflight[0];
    if (!head || head.batchId !== id) {
      log.warn({ batchId: id, expected: head?.batchId }, 'ack out of order; reconnecting');
      ws?.terminate();
      return;
    }
    inflight.shift();
    spool.ack(head.end);
    st.acked += head.count;
    st.duplicatesAcked += duplicates;
    if (drops.size > 0) {
      writePending();
      // A flush waits for the drop report too: "flushed" must mean the collector knows of every loss.
      if (drops.size === 0) for (const w of waiters) w.target = spool.end();
    }
    settleWaiters();
    pump();
  }

  function connect(): void {
    reconnectTimer = undefined;
    if (closed) return;
    const sock = new WebSocket(opts.url, {
      headers: { authorization: `Bearer ${opts.token}` },
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      ...(ca ? { ca } : {}),
    });
    ws = sock;
    sock.on('open', () => {
      sock.send(encodeFrame({ type: 'hello', hello: { agentId: opts.agentId, bootId: opts.bootId, version: opts.version ?? '0.0.0', host: opts.host } }), { binary: true });
    });
    sock.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || sock !== ws) return;
      let frame;
      try {
        frame = decodeFrame(data, { maxFrameBytes: 1 << 20, maxBatchEvents: 1 }).frame;
      } catch (e) {
        log.warn({ err: isRwError(e) ? e.code : e }, 'undecodable frame from collector; reconnecting');
        sock.terminate();
        return;
      }
      if (frame.type === 'welcome') {
        ready = true;
        attempt = 0;
        st.connects++;
        refusals.clear();
        if (frame.welcome.maxBatchEvents) maxBatchEvents = Math.min(lim.batchMaxEvents, frame.welcome.maxBatchEvents);
        log.info({ url: opts.url, pending: spool.countAfter(spool.acked()) }, 'connected to collector');
        pump();
      } else if (frame.type === 'ack') {
        onAck(frame.ack.batchId, frame.ack.duplicates ?? 0);
      } else if (frame.type === 'reject') {
        log.warn({ code: frame.reject.code, message: frame.reject.message }, 'collector rejected the stream');
      }
    });
    let httpRefused = false;
    sock.on('unexpected-response', (_req, res) => {
      httpRefused = true;
      refused(`HTTP ${res.statusCode ?? 0}`);
      sock.terminate();
    });
    sock.on('error', (e) => { if (!httpRefused) refused((e as NodeJS.ErrnoException).code ?? e.message); });
    sock.on('close', (code) => {
      if (sock !== ws) return;
      ws = undefined;
      ready = false;
      // Unacked batches go back to the front of the line; the collector dedupes any that did commit.
      inflight = [];
      sendCursor = spool.acked();
      if (ageTimer) { clearTimeout(ageTimer); ageTimer = undefined; }
      if (closed) return;
      if (code === 1009 && batchMaxBytes > 1024) {
        // The collector's maxFrameBytes is below ours: smaller frames, rather than resending forever.
        batchMaxBytes = Math.max(1024, Math.floor(batchMaxBytes / 2));
        log.warn({ batchMaxBytes }, 'collector refused a frame as too big; halving the batch size');
      }
      if (code !== 1006) refused(`closed ${code}`);
      const delay = backoffDelay({ minMillis: lim.reconnectMinMillis, maxMillis: lim.reconnectMaxMillis }, attempt++, random());
      reconnectTimer = setTimeout(connect, delay);
    });
  }

  /** Logged once per kind of refusal until the next successful connect: an outage is one line, not thousands. */
  function refused(why: string): void {
    if (refusals.has(why) || refusals.size >= 16) return;
    refusals.add(why);
    log.warn({ why, url: opts.url }, 'collector unavailable; events stay spooled');
  }

  const uplink: Uplink = {
    start() {
      if (started || closed) return;
      started = true;
      connect();
      if (lim.heartbeatIntervalMillis > 0) {
        heartbeat = setInterval(() => {
          uplink.enqueue({ kind: 'heartbeat', tsNs: nowNs(), host: opts.host, heartbeat: { queued: spool.countAfter(spool.acked()) + pending.length, spooledBytes: spool.bytes() } });
        }, lim.heartbeatIntervalMillis);
        heartbeat.unref();
      }
    },
    enqueue(draft) {
      const s = ++seq;
      st.enqueued++;
      if (closed) { noteDrop('closed', s); return s; }
      // Object.assign, not a spread: V8 copies `{ ...draft, more }` through its slow runtime path (~2 µs per event
      // here, most of enqueue); the object is the same (draft's keys, then the identity, which wins).
      const ev = Object.assign({}, draft, { agentId: opts.agentId, bootId: opts.bootId, seq: s }) as RwEvent;
      let bytes: Uint8Array;
      try {
        bytes = encodeEvent(ev);
      } catch (e) {
        log.error({ err: e, seq: s, kind: draft.kind }, 'event cannot be encoded; counted as dropped');
        noteDrop('unencodable', s);
        return s;
      }
      if (bytes.length > lim.batchMaxBytes) { noteDrop('too-large', s); return s; }
      pending.push({ seq: s, bytes });
      scheduleWrite();
      return s;
    },
    flush(deadlineMillis) {
      writePending();
      // The target is the end of the spool now: later events are not this flush's business.
      const target = spool.end();
      if (!before(spool.acked(), target)) return Promise.resolve(drops.size === 0);
      flushing++;
      pump();
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          const i = waiters.findIndex((w) => w.timer === timer);
          if (i >= 0) waiters.splice(i, 1);
          resolve(false);
        }, Math.max(0, deadlineMillis));
        waiters.push({ target, timer, resolve });
      }).finally(() => { flushing--; });
    },
    async close() {
      if (closed) return;
      writePending();
      closed = true;
      if (heartbeat) clearInterval(heartbeat);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (ageTimer) clearTimeout(ageTimer);
      for (const w of waiters.splice(0)) { clearTimeout(w.timer); w.resolve(false); }
      const sock = ws;
      if (sock && sock.readyState !== WebSocket.CLOSED) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => { sock.terminate(); resolve(); }, 1000);
          sock.once('close', () => { clearTimeout(t); resolve(); });
          sock.close(1000, 'agent closing');
        });
      }
      spoolOpen = false;
      spool.close();
    },
    stats: () => ({
      lastSeq: seq, ...st,
      pending: spool.countAfter(spool.acked()) + pending.length,
      spoolBytes: spool.bytes(),
      connected: ready,
    }),
  };
  return uplink;
}
