// Event encoding and decoding compiled from the schema: one pass, plain objects, no protobufjs Message or Long
// in between. Byte-for-byte and value-for-value what proto/codec.ts's protobufjs path produces, for the inputs it
// accepts; anything else (an unusual value, a field type it does not know, an irregular encoding, any error)
// throws FALLBACK and the caller takes the protobufjs path, which decides. Pure: the schema comes in as data.

/** Thrown when this path cannot be sure to agree with protobufjs; never escapes proto/codec.ts. */
export const FALLBACK: unique symbol = Symbol('wire-fallback');

/** Scalar types the compiled path handles; any other field type makes its messages fall back when used. */
export type WireScalar = 'string' | 'bool' | 'int32' | 'uint32' | 'uint64';

/** One field of the schema, as read from the .proto's reflection (proto/codec.ts builds these). */
export interface WireFieldSpec {
  id: number;
  /** camelCase name: the key in the plain object. */
  name: string;
  type: WireScalar | 'enum' | 'message' | 'map<string,string>' | 'unsupported';
  repeated: boolean;
  packed: boolean;
  enumValues?: Readonly<Record<string, number>>;
  message?: string;
  /** Name of the oneof this field belongs to, if any. */
  oneof?: string;
}
export interface WireMessageSpec { name: string; fields: readonly WireFieldSpec[] }

/** Strings up to this many bytes are remembered per field for reuse (proto/wire.ts decode). */
const REUSE_MAX_BYTES = 64;

const K_UNSUPPORTED = 0;
const K_STRING = 1;
const K_BOOL = 2;
const K_INT32 = 3;
const K_UINT32 = 4;
const K_UINT64 = 5;
const K_ENUM = 6;
const K_MESSAGE = 7;
const K_MAP = 8;

interface Field {
  id: number;
  name: string;
  kind: number;
  repeated: boolean;
  packed: boolean;
  /** Varint of the key (id << 3 | wire type) as protobufjs writes it. */
  key: number;
  byName: Readonly<Record<string, number>>;
  byId: Readonly<Record<number, string>>;
  message: Message | undefined;
  oneof: string | undefined;
  /** Position in declaration (= id) order: decoded keys come out in this order. */
  index: number;
  /** The last short string decoded for this field and its bytes (decode reuses it when the bytes repeat). */
  lastString: string;
  lastBytes: Uint8Array;
  lastLength: number;
}
interface Message { name: string; fields: Field[]; byId: (Field | undefined)[]; byKey: Map<string, Field>; oneofs: string[] }

export interface CompiledEventCodec {
  /** protobufjs encode(fromObject(wire)) where `wire` is the event without `kind`; throws FALLBACK. */
  encode(wire: Readonly<Record<string, unknown>>): Buffer;
  /**
   * protobufjs toObject(decode(bytes), { longs: Number, enums: String, defaults: false, oneofs: true }), except that
   * the root's oneof is not a key: `member` is the name toObject would give it. Throws FALLBACK.
   */
  decode(bytes: Buffer): { fields: Record<string, unknown>; member: string | undefined };
}

const KIND: Record<WireFieldSpec['type'], number> = {
  string: K_STRING, bool: K_BOOL, int32: K_INT32, uint32: K_UINT32, uint64: K_UINT64, enum: K_ENUM, message: K_MESSAGE, 'map<string,string>': K_MAP, unsupported: K_UNSUPPORTED,
};
const wireTypeOf = (f: { kind: number; repeated: boolean; packed: boolean }): number =>
  f.kind === K_STRING || f.kind === K_MESSAGE || f.kind === K_MAP || (f.repeated && f.packed) ? 2 : 0;

export function compileEventCodec(specs: readonly WireMessageSpec[], rootName: string): CompiledEventCodec {
  const messages = new Map<string, Message>();
  for (const s of specs) messages.set(s.name, { name: s.name, fields: [], byId: [], byKey: new Map(), oneofs: [] });
  for (const s of specs) {
    const m = messages.get(s.name) as Message;
    const sorted = [...s.fields].sort((a, b) => a.id - b.id);
    sorted.forEach((f, index) => {
      const kind = f.type === 'message' && !messages.has(f.message ?? '') ? K_UNSUPPORTED : KIND[f.type];
      const byId: Record<number, string> = {};
      for (const [n, v] of Object.entries(f.enumValues ?? {})) byId[v] ??= n;
      const field: Field = {
        id: f.id, name: f.name, kind, repeated: f.repeated, packed: f.packed, key: 0, byName: f.enumValues ?? {}, byId,
        message: f.message ? messages.get(f.message) : undefined, oneof: f.oneof, index,
        lastString: '', lastBytes: new Uint8Array(kind === K_STRING ? REUSE_MAX_BYTES : 0), lastLength: -1,
      };
      field.key = f.id * 8 + wireTypeOf(field);
      m.fields.push(field);
      m.byId[f.id] = field;
      m.byKey.set(f.name, field);
      if (f.oneof && !m.oneofs.includes(f.oneof)) m.oneofs.push(f.oneof);
    });
  }
  const root = messages.get(rootName);
  if (!root) throw new Error(`no message ${rootName} in the schema`);

  // ---- encode: one growable scratch buffer, lengths of nested messages patched in place ----
  // Events are written straight into a slab and handed out as views of it (as Buffer.allocUnsafe pools small
  // buffers): no copy per event. An event that does not fit the slab's rest is written again into a new one.
  const SLAB_BYTES = 64 * 1024;
  let out = Buffer.allocUnsafe(SLAB_BYTES);
  let start = 0;
  let pos = 0;
  const RESTART: unique symbol = Symbol('slab-full');
  let need = 0;
  const ensure = (n: number): void => {
    if (pos + n <= out.length) return;
    need = pos - start + n;
    throw RESTART;
  };
  const varint32 = (v: number): void => {
    while (v > 127) { out[pos++] = (v & 127) | 128; v >>>= 7; }
    out[pos++] = v;
  };
  /** protobufjs writeVarint64 over (lo, hi), both unsigned 32-bit halves. */
  const varint64 = (lo: number, hi: number): void => {
    while (hi !== 0 || lo > 127) {
      out[pos++] = (lo & 127) | 128;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    out[pos++] = lo;
  };
  /** protobufjs int32(): a negative value is its 64-bit two's complement, 10 bytes. */
  const int32 = (v: number): void => {
    if (v >= 0) varint32(v);
    else varint64(v >>> 0, 0xffffffff);
  };
  /** Integers in [0, 2^63): the halves are exact (division by a power of two). */
  const uint64 = (v: number): void => {
    const hi = Math.floor(v / 4294967296);
    varint64(v - hi * 4294967296, hi);
  };
  /** ASCII only: anything else falls back (protobufjs's own UTF-8 writer decides lone surrogates). */
  const string = (s: string): void => {
    const n = s.length;
    ensure(10 + n);
    const at = pos;
    varint32(n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) { pos = at; throw FALLBACK; }
      out[pos + i] = c;
    }
    pos += n;
  };
  const isInt32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647;
  const isUint32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 4294967295;
  const isUint64 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 9223372036854775808;
  const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

  const scalar = (f: Field, v: unknown): void => {
    ensure(11);
    switch (f.kind) {
      case K_STRING: if (typeof v !== 'string') throw FALLBACK; string(v); return;
      case K_BOOL: if (typeof v !== 'boolean') throw FALLBACK; out[pos++] = v ? 1 : 0; return;
      case K_INT32: if (!isInt32(v)) throw FALLBACK; int32(v); return;
      case K_UINT32: if (!isUint32(v)) throw FALLBACK; varint32(v); return;
      case K_UINT64: if (!isUint64(v)) throw FALLBACK; uint64(v); return;
      case K_ENUM: {
        // fromObject: a known name, or a number kept as it is; anything else is dropped there, so falls back here.
        const n = typeof v === 'string' ? (Object.hasOwn(f.byName, v) ? f.byName[v] : undefined) : v;
        if (!isInt32(n)) throw FALLBACK;
        int32(n);
        return;
      }
      default: throw FALLBACK;
    }
  };
  /** Length-delimited body written after a one-byte length guess; moved right when the length needs more bytes. */
  const delimited = (write: () => void): void => {
    ensure(1);
    const at = pos++;
    write();
    const len = pos - at - 1;
    if (len < 128) { out[at] = len; return; }
    let extra = 0;
    for (let l = len >>> 7; l > 0; l >>>= 7) extra++;
    ensure(extra);
    out.copyWithin(at + 1 + extra, at + 1, pos);
    const end = pos + extra;
    pos = at;
    varint32(len);
    pos = end;
  };
  // Present fields of the message being written, per nesting depth, reused: [field, value] in field order.
  const presentFields: Field[][] = [];
  const presentValues: unknown[][] = [];
  let depth = 0;
  const message = (m: Message, obj: Record<string, unknown>): void => {
    // fromObject reads `d.x` for every field, own or inherited: only plain objects (whose prototype has no
    // field names) are walked by their keys here, which visits ~10 present keys instead of every field.
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) throw FALLBACK;
    const fs = (presentFields[depth] ??= []);
    const vs = (presentValues[depth] ??= []);
    let n = 0;
    let last = -1;
    let sorted = true;
    for (const k in obj) {
      const f = m.byKey.get(k);
      if (f === undefined) continue; // not a field (e.g. kind): fromObject ignores it
      const v = obj[k];
      if (v === undefined || v === null) continue; // fromObject's `d.x != null`
      if (f.index < last) sorted = false;
      last = f.index;
      fs[n] = f;
      vs[n] = v;
      n++;
    }
    if (!sorted) {
      // Insertion sort: a handful of keys, usually nearly in order. protobufjs writes fields in id order.
      for (let i = 1; i < n; i++) {
        const f = fs[i] as Field;
        const v = vs[i];
        let j = i - 1;
        while (j >= 0 && (fs[j] as Field).index > f.index) { fs[j + 1] = fs[j] as Field; vs[j + 1] = vs[j]; j--; }
        fs[j + 1] = f;
        vs[j + 1] = v;
      }
    }
    depth++;
    try {
      for (let i = 0; i < n; i++) field(fs[i] as Field, vs[i]);
    } finally {
      depth--;
      for (let i = 0; i < n; i++) vs[i] = undefined; // hold no references to the caller's values
    }
  };
  const field = (f: Field, v: unknown): void => {
    if (f.kind === K_UNSUPPORTED) throw FALLBACK;
    if (f.kind === K_MAP) {
      if (!isPlain(v)) throw FALLBACK;
      for (const k of Object.keys(v)) {
        const val = v[k];
        if (typeof val !== 'string' || k === '__proto__') throw FALLBACK;
        ensure(5);
        varint32(f.key);
        delimited(() => { ensure(1); out[pos++] = 10; string(k); ensure(1); out[pos++] = 18; string(val); });
      }
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw FALLBACK;
      if (v.length === 0) return;
      if (f.packed) {
        ensure(5);
        varint32(f.key);
        delimited(() => { for (const x of v) scalar(f, x); });
      } else {
        for (const x of v as unknown[]) {
          ensure(5);
          varint32(f.key);
          if (f.kind === K_MESSAGE) {
            if (!isPlain(x)) throw FALLBACK;
            delimited(() => message(f.message as Message, x));
          } else scalar(f, x);
        }
      }
    } else if (f.kind === K_MESSAGE) {
      if (!isPlain(v)) throw FALLBACK;
      ensure(5);
      varint32(f.key);
      delimited(() => message(f.message as Message, v));
    } else {
      ensure(5);
      varint32(f.key);
      scalar(f, v);
    }
  };

  // ---- decode: strict reads; where protobufjs's reader is lenient (or fails), fall back to it ----
  let buf: Buffer = Buffer.alloc(0);
  let p = 0;
  let limit = 0;
  let hi32 = 0;
  /** A varint's low 32 bits, its bits 32..63 in hi32. At most 10 bytes; within the current limit. */
  const varint = (): number => {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= limit) throw FALLBACK;
      const b = buf[p++] as number;
      if (i < 4) lo |= (b & 127) << (7 * i);
      else if (i === 4) { lo |= (b & 127) << 28; hi = (b & 127) >>> 4; }
      else hi |= (b & 127) << (7 * i - 32);
      if (b < 128) {
        // protobufjs reads 32-bit varints of 6..9 bytes differently (it skips exactly 5 more): leave those to it.
        hi32 = hi >>> 0;
        lenOfLast = i + 1;
        return lo >>> 0;
      }
    }
    throw FALLBACK;
  };
  let lenOfLast = 0;
  const varint32r = (): number => {
    const v = varint();
    if (lenOfLast > 5 && lenOfLast < 10) throw FALLBACK;
    return v;
  };
  const skip = (wt: number): void => {
    switch (wt) {
      case 0: do { if (p >= limit) throw FALLBACK; } while ((buf[p++] as number) & 128); return;
      case 1: p += 8; break;
      case 2: { const n = varint32r(); p += n; break; }
      case 5: p += 4; break;
      default: throw FALLBACK; // groups, invalid wire types
    }
    if (p > limit) throw FALLBACK;
  };
  const str = (f?: Field): string => {
    const n = varint32r();
    const end = p + n;
    if (end > limit) throw FALLBACK;
    // Agent, boot, job, host, comm, exe … repeat from one event to the next: the same bytes give the same string,
    // so the one already made is handed out again instead of a new copy (less to allocate and to keep alive).
    if (f !== undefined && n <= REUSE_MAX_BYTES) {
      const last = f.lastBytes;
      if (n === f.lastLength) {
        let i = 0;
        while (i < n && last[i] === buf[p + i]) i++;
        if (i === n) { p = end; return f.lastString; }
      }
      const s = (buf as unknown as { utf8Slice(from: number, to: number): string }).utf8Slice(p, end);
      last.set(buf.subarray(p, end));
      f.lastLength = n;
      f.lastString = s;
      p = end;
      return s;
    }
    const s = (buf as unknown as { utf8Slice(from: number, to: number): string }).utf8Slice(p, end); // as protobufjs's BufferReader
    p = end;
    return s;
  };
  const readScalar = (f: Field): unknown => {
    switch (f.kind) {
      case K_STRING: return str(f);
      case K_BOOL: return varint32r() !== 0;
      case K_INT32: return varint32r() | 0;
      case K_UINT32: return varint32r();
      case K_UINT64: { const lo = varint(); return lo + hi32 * 4294967296; }
      case K_ENUM: { const n = varint32r() | 0; const name = f.byId[n]; return name === undefined ? n : name; }
      default: throw FALLBACK;
    }
  };
  /** Member set last (in field order) of the root's oneof, read by decode() right after decodeMessage(root). */
  let rootMember: string | undefined;
  const decodeMessage = (m: Message, end: number, isRoot = false): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    let lastIndex = -1;
    let regular = true; // keys arrive in field order and no repeated field ended up empty
    let oneofField: Field | undefined;
    const outer = limit;
    limit = end;
    while (p < end) {
      const tag = varint32r();
      const wt = tag & 7;
      const f = m.byId[tag >>> 3];
      if (!f) { skip(wt); continue; }
      if (f.kind === K_UNSUPPORTED) throw FALLBACK;
      if (f.index < lastIndex && !Object.hasOwn(o, f.name)) regular = false;
      if (f.index > lastIndex) lastIndex = f.index;
      if (f.kind === K_MAP) {
        if (wt !== 2) throw FALLBACK;
        const n = varint32r();
        const e = p + n;
        if (e > end) throw FALLBACK;
        let k = '';
        let v = '';
        limit = e;
        while (p < e) {
          const t2 = varint32r();
          if (t2 === 10) k = str();
          else if (t2 === 18) v = str();
          else if ((t2 >>> 3) === 1 || (t2 >>> 3) === 2) throw FALLBACK;
          else skip(t2 & 7);
        }
        limit = end;
        if (k === '__proto__') throw FALLBACK;
        let map = o[f.name] as Record<string, string> | undefined;
        if (!map) { map = {}; o[f.name] = map; }
        map[k] = v;
      } else if (f.kind === K_MESSAGE) {
        if (wt !== 2) throw FALLBACK;
        const n = varint32r();
        const e = p + n;
        if (e > end) throw FALLBACK;
        const sub = decodeMessage(f.message as Message, e);
        limit = end;
        if (f.repeated) {
          let arr = o[f.name] as unknown[] | undefined;
          if (!arr) { arr = []; o[f.name] = arr; }
          arr.push(sub);
        } else o[f.name] = sub;
        if (f.oneof && (!oneofField || f.index > oneofField.index)) oneofField = f;
      } else if (f.repeated) {
        let arr = o[f.name] as unknown[] | undefined;
        if (!arr) { arr = []; o[f.name] = arr; }
        if (f.kind === K_STRING) {
          if (wt !== 2) throw FALLBACK;
          arr.push(str(f));
        } else if (wt === 2) {
          const n = varint32r();
          const e = p + n;
          if (e > end) throw FALLBACK;
          limit = e;
          while (p < e) arr.push(readScalar(f));
          limit = end;
          if (arr.length === 0) regular = false;
        } else if (wt === 0) arr.push(readScalar(f));
        else throw FALLBACK;
      } else {
        if (wt !== wireTypeOf(f)) throw FALLBACK;
        o[f.name] = readScalar(f);
        if (f.oneof && (!oneofField || f.index > oneofField.index)) oneofField = f;
      }
    }
    if (p !== end) throw FALLBACK;
    limit = outer;
    const r = regular ? o : reorder(m, o);
    // toObject's `oneofs: true`: the oneof's name holds the name of the set member that comes last in field order.
    // Nested messages have no oneof in this schema; more than one oneof in a message is left to protobufjs.
    if (m.oneofs.length > 1 || (m.oneofs.length === 1 && !isRoot)) throw FALLBACK;
    if (isRoot) rootMember = oneofField?.name;
    return r;
  };
  /** Keys in field order, empty repeated fields dropped: what toObject builds from a message decoded out of order. */
  const reorder = (m: Message, o: Record<string, unknown>): Record<string, unknown> => {
    const r: Record<string, unknown> = {};
    for (const f of m.fields) {
      if (!Object.hasOwn(o, f.name)) continue;
      const v = o[f.name];
      if (Array.isArray(v) && v.length === 0) continue;
      r[f.name] = v;
    }
    return r;
  };

  let encoding = false;
  const encodeOnce = (wire: Record<string, unknown>): Buffer => {
    for (;;) {
      pos = start;
      depth = 0;
      try {
        message(root, wire);
      } catch (e) {
        if (e === RESTART) {
          // A new slab; one event larger than a slab gets a buffer of its own (grown until it fits).
          out = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * need));
          start = 0;
          continue;
        }
        if (e === FALLBACK || e instanceof RangeError) throw FALLBACK;
        throw e;
      }
      const b = out.subarray(start, pos);
      // 8-byte alignment for the next event, as Node's pool keeps it.
      start = (pos + 7) & ~7;
      if (start >= out.length - 256) { out = Buffer.allocUnsafe(SLAB_BYTES); start = 0; }
      return b;
    }
  };

  return {
    encode(wire) {
      // The state above is shared: a getter on the input that encodes another event must not interleave with it.
      if (encoding) throw FALLBACK;
      encoding = true;
      try {
        return encodeOnce(wire as Record<string, unknown>);
      } finally {
        encoding = false;
      }
    },
    decode(bytes) {
      buf = bytes;
      p = 0;
      limit = bytes.length;
      rootMember = undefined;
      try {
        const fields = decodeMessage(root, bytes.length, true);
        return { fields, member: rootMember };
      } catch (e) {
        if (e === FALLBACK || e instanceof RangeError) throw FALLBACK;
        throw e;
      } finally {
        buf = EMPTY;
      }
    },
  };
}

const EMPTY = Buffer.alloc(0);
