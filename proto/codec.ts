// Encodes and decodes websocket frames and events (proto/runwarden.proto); decode failures become typed errors.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { RwError } from './errors.js';
import { EVENT_KINDS } from './types.js';
import type { EventKind, Frame, RawEvent, RwEvent } from './types.js';
import { compileEventCodec, FALLBACK } from './wire.js';
import type { WireFieldSpec, WireMessageSpec } from './wire.js';

const PROTO_PATH = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../proto/runwarden.proto' : './runwarden.proto', import.meta.url));
const root = protobuf.parse(readFileSync(PROTO_PATH, 'utf8'), { keepCase: false }).root;
const FrameT = root.lookupType('runwarden.v1.Frame');
const EventT = root.lookupType('runwarden.v1.Event');
const BatchT = root.lookupType('runwarden.v1.Batch');

/** The schema of Event and every message under it, for proto/wire.ts (the per-event path). */
function wireSpecs(top: protobuf.Type): WireMessageSpec[] {
  const out = new Map<string, WireMessageSpec>();
  const visit = (t: protobuf.Type): void => {
    if (out.has(t.fullName)) return;
    const fields: WireFieldSpec[] = [];
    out.set(t.fullName, { name: t.fullName, fields });
    for (const f of t.fieldsArray) {
      f.resolve();
      const base = { id: f.id, name: f.name, repeated: f.repeated, packed: f.packed, ...(f.partOf ? { oneof: f.partOf.name } : {}) };
      if (f instanceof protobuf.MapField) {
        fields.push({ ...base, type: f.keyType === 'string' && f.type === 'string' ? 'map<string,string>' : 'unsupported' });
      } else if (f.resolvedType instanceof protobuf.Type) {
        visit(f.resolvedType);
        fields.push({ ...base, type: 'message', message: f.resolvedType.fullName });
      } else if (f.resolvedType instanceof protobuf.Enum) {
        fields.push({ ...base, type: 'enum', enumValues: f.resolvedType.values });
      } else {
        const known = ['string', 'bool', 'int32', 'uint32', 'uint64'] as const;
        fields.push({ ...base, type: (known as readonly string[]).includes(f.type) ? f.type as (typeof known)[number] : 'unsupported' });
      }
    }
  };
  visit(top);
  return [...out.values()];
}
const fast = compileEventCodec(wireSpecs(EventT), EventT.fullName);

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: false, oneofs: true, arrays: false };

/** Frame field numbers (wire walk below must agree with the .proto). */
const FRAME_BATCH_FIELD = 3;
const BATCH_ID_FIELD = 1;
const BATCH_EVENTS_FIELD = 2;

export const PROTO_PATH_ON_DISK = PROTO_PATH;

function toWire(ev: RwEvent): Record<string, unknown> {
  const { kind, ...rest } = ev as RwEvent & Record<string, unknown>;
  void kind;
  return rest;
}

export function encodeEvent(ev: RwEvent): Uint8Array {
  try {
    // `kind` is no Event field, so the compiled encoder ignores it as fromObject would: no copy without it.
    return fast.encode(ev as unknown as Record<string, unknown>);
  } catch (e) {
    if (e !== FALLBACK) throw e;
  }
  return EventT.encode(EventT.fromObject(toWire(ev))).finish();
}

export function encodeFrame(frame: Frame): Uint8Array {
  let obj: Record<string, unknown>;
  switch (frame.type) {
    case 'batch':
      obj = { batch: { batchId: frame.batch.batchId, events: frame.batch.events.map(toWire) } };
      break;
    case 'hello': obj = { hello: frame.hello }; break;
    case 'welcome': obj = { welcome: frame.welcome }; break;
    case 'ack': obj = { ack: frame.ack }; break;
    case 'reject': obj = { reject: frame.reject }; break;
  }
  return FrameT.encode(FrameT.fromObject(obj)).finish();
}

const varintBytes = (v: number): number => {
  let n = 1;
  while (v >= 128) { v = Math.floor(v / 128); n++; }
  return n;
};
/** Base-128 varint of a non-negative integer below 2^53 (what protobufjs writes for it as uint32 or uint64). */
function putVarint(buf: Buffer, o: number, v: number): number {
  while (v >= 128) { buf[o++] = (v % 128) | 128; v = Math.floor(v / 128); }
  buf[o++] = v;
  return o;
}

/**
 * Encode a batch frame from events already encoded (the spool keeps encoded events): one buffer of the exact
 * size, the events copied in once; the bytes protobufjs writes (Frame.batch { batch_id, events: bytes… }).
 */
export function encodeBatchFrameRaw(batchId: number, events: readonly Uint8Array[]): Uint8Array {
  if (!Number.isSafeInteger(batchId) || batchId < 0) {
    const w = protobuf.Writer.create();
    w.uint32((FRAME_BATCH_FIELD << 3) | 2).fork();
    w.uint32((BATCH_ID_FIELD << 3) | 0).uint64(batchId);
    for (const e of events) w.uint32((BATCH_EVENTS_FIELD << 3) | 2).bytes(e);
    w.ldelim();
    return w.finish();
  }
  let body = 1 + varintBytes(batchId);
  for (const e of events) body += 1 + varintBytes(e.length) + e.length;
  const buf = Buffer.allocUnsafe(1 + varintBytes(body) + body);
  let o = 0;
  buf[o++] = (FRAME_BATCH_FIELD << 3) | 2;
  o = putVarint(buf, o, body);
  buf[o++] = (BATCH_ID_FIELD << 3) | 0;
  o = putVarint(buf, o, batchId);
  for (const e of events) {
    buf[o++] = (BATCH_EVENTS_FIELD << 3) | 2;
    o = putVarint(buf, o, e.length);
    buf.set(e, o);
    o += e.length;
  }
  return buf;
}

function wrap(e: unknown, what: string): RwError {
  if (e instanceof RwError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  // protobufjs raises RangeError("index out of range: …") when a length runs past the end.
  const truncated = e instanceof RangeError || /index out of range/.test(msg);
  return new RwError(truncated ? 'PROTO_ERR_TRUNCATED' : 'PROTO_ERR_MALFORMED', `${what}: ${msg}`, { cause: e });
}

/** Checks the contract that protobuf itself cannot: identity, sequence, exactly one body. */
export function validateEvent(ev: RwEvent): void {
  if (!ev.agentId) throw new RwError('PROTO_ERR_INVALID', 'event without agent_id');
  if (!ev.bootId) throw new RwError('PROTO_ERR_INVALID', 'event without boot_id', { details: { agentId: ev.agentId } });
  if (!Number.isSafeInteger(ev.seq) || ev.seq < 1) {
    throw new RwError('PROTO_ERR_INVALID', `event seq must be a positive integer, got ${String(ev.seq)}`);
  }
  if (!(EVENT_KINDS as readonly string[]).includes(ev.kind)) {
    throw new RwError('PROTO_ERR_INVALID', `event ${ev.seq} has no body`);
  }
}

// Copies into a fresh object rather than `delete obj.body`: deleting a property turns the object into a slow
// dictionary, and this runs once per received event.
function fromObject(obj: Record<string, unknown>): RwEvent {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) if (k !== 'body') out[k] = obj[k];
  out.kind = obj.body as EventKind | undefined;
  const ev = out as unknown as RwEvent;
  ev.seq = (ev.seq ?? 0) as number;
  ev.tsNs = (ev.tsNs ?? 0) as number;
  validateEvent(ev);
  return ev;
}

export function decodeEvent(bytes: Uint8Array): RwEvent {
  // protobufjs decodes strings of a Buffer with Buffer's UTF-8 decoder and of other arrays with its own: the
  // compiled path only does the former. Buffers are what ws, the spool and SQLite hand over.
  if (Buffer.isBuffer(bytes)) {
    let d: ReturnType<typeof fast.decode> | undefined;
    try {
      d = fast.decode(bytes);
    } catch (e) {
      if (e !== FALLBACK) throw e;
    }
    if (d) {
      // As fromObject below builds it: the fields in order, then kind, then seq and tsNs if they were absent.
      const ev = d.fields as unknown as RwEvent;
      (d.fields as { kind?: string }).kind = d.member;
      ev.seq = (ev.seq ?? 0) as number;
      ev.tsNs = (ev.tsNs ?? 0) as number;
      validateEvent(ev);
      return ev;
    }
  }
  let msg: protobuf.Message;
  try {
    msg = EventT.decode(bytes);
  } catch (e) {
    throw wrap(e, 'event');
  }
  return fromObject(EventT.toObject(msg, TO_OBJECT));
}

export interface DecodeLimits { maxFrameBytes: number; maxBatchEvents: number }

/**
 * Decode one frame. Batches are walked by hand so that every event keeps the exact bytes it
 * arrived as (unknown fields included): those bytes are what the audit chain stores.
 */
export function decodeFrame(bytes: Uint8Array, limits: DecodeLimits): { frame: Frame; raw?: RawEvent[] } {
  if (bytes.length > limits.maxFrameBytes) {
    throw new RwError('PROTO_ERR_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${limits.maxFrameBytes}`);
  }
  if (bytes.length === 0) throw new RwError('PROTO_ERR_INVALID', 'empty frame');
  const batch = tryDecodeBatch(bytes, limits);
  if (batch) return batch;
  let obj: Record<string, unknown>;
  try {
    obj = FrameT.toObject(FrameT.decode(bytes), TO_OBJECT);
  } catch (e) {
    throw wrap(e, 'frame');
  }
  switch (obj.body) {
    case 'hello': {
      const h = obj.hello as Frame & { agentId?: string; bootId?: string };
      if (!h.agentId || !h.bootId) throw new RwError('PROTO_ERR_INVALID', 'hello without agent_id or boot_id');
      return { frame: { type: 'hello', hello: obj.hello as never } };
    }
    case 'welcome': return { frame: { type: 'welcome', welcome: obj.welcome as never } };
    case 'ack': {
      const a = obj.ack as { batchId?: number };
      return { frame: { type: 'ack', ack: { ...(obj.ack as object), batchId: a.batchId ?? 0 } } };
    }
    case 'reject': return { frame: { type: 'reject', reject: obj.reject as never } };
    default: throw new RwError('PROTO_ERR_INVALID', 'frame has no body');
  }
}

function tryDecodeBatch(bytes: Uint8Array, limits: DecodeLimits): { frame: Frame; raw: RawEvent[] } | undefined {
  const r = protobuf.Reader.create(bytes);
  let batchBytes: Uint8Array | undefined;
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag >>> 3 === FRAME_BATCH_FIELD && (tag & 7) === 2) batchBytes = r.bytes();
      else if (tag >>> 3 >= 1 && tag >>> 3 <= 5 && tag >>> 3 !== FRAME_BATCH_FIELD) return undefined; // another body
      else r.skipType(tag & 7);
    }
  } catch (e) {
    throw wrap(e, 'frame');
  }
  if (!batchBytes) return undefined;
  const b = protobuf.Reader.create(batchBytes);
  let batchId = 0;
  const raw: RawEvent[] = [];
  try {
    while (b.pos < b.len) {
      const tag = b.uint32();
      const field = tag >>> 3;
      if (field === BATCH_ID_FIELD && (tag & 7) === 0) batchId = Number(b.uint64().toString());
      else if (field === BATCH_EVENTS_FIELD && (tag & 7) === 2) {
        if (raw.length >= limits.maxBatchEvents) {
          throw new RwError('PROTO_ERR_TOO_LARGE', `batch holds more than ${limits.maxBatchEvents} events`);
        }
        const evBytes = b.bytes();
        raw.push({ event: decodeEvent(evBytes), bytes: evBytes });
      } else b.skipType(tag & 7);
    }
  } catch (e) {
    throw wrap(e, 'batch');
  }
  const events = raw.map((x) => x.event);
  void BatchT;
  return { frame: { type: 'batch', batch: { batchId, events } }, raw };
}
