// The audit chain: canonical bytes of a row, hash = SHA-256(prev_hash ‖ canonical bytes), and the walk that
// finds the first broken link. Pure (hashing only): rows come in as value arrays in CHAIN_COLUMNS order.
import { hash as oneShotHash } from 'node:crypto';

/** A stored column value as better-sqlite3 returns it (bigint when read with safeIntegers). */
export type ChainValue = null | undefined | number | bigint | string | Uint8Array;

export const HASH_BYTES = 32;
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);

// One tag byte per value, so a NULL, the integer 1, the text "1" and the blob 0x31 never encode alike.
const TAG_NULL = 0;
const TAG_INT = 1;
const TAG_TEXT = 2;
const TAG_BLOB = 3;
const TAG_REAL = 4;
const TWO_32 = 0x1_0000_0000;

const TWO_63 = 2 ** 63;

/**
 * Canonical bytes are built in one reusable scratch buffer (grown on demand, never shrunk): one allocation
 * and one hash call per row instead of one Buffer per row plus a BigInt per nanosecond timestamp.
 * Single-threaded use only (each thread has its own module instance).
 */
let scratch: Buffer = Buffer.allocUnsafe(64 * 1024);
const headers = new Map<string, Buffer>();

/** tag ‖ u32 length ‖ UTF-8 of the table name, cached: a store hashes into three tables. */
function tableHeader(table: string): Buffer {
  let h = headers.get(table);
  if (!h) {
    const name = Buffer.from(table, 'utf8');
    h = Buffer.allocUnsafe(5 + name.length);
    h[0] = TAG_TEXT;
    h.writeUInt32BE(name.length, 1);
    name.copy(h, 5);
    if (headers.size < 64) headers.set(table, h);
  }
  return h;
}

/** An upper bound of the encoded size: UTF-8 takes at most 3 bytes per UTF-16 unit. */
function maxLength(values: readonly ChainValue[]): number {
  let n = 0;
  for (const v of values) {
    if (v === null || v === undefined) n += 1;
    else if (typeof v === 'number' || typeof v === 'bigint') n += 9;
    else if (typeof v === 'string') n += 5 + 3 * v.length;
    else n += 5 + v.byteLength;
  }
  return n;
}

/** int64 big-endian from hi (signed 32) and lo (unsigned 32) halves. */
function putInt64(buf: Buffer, o: number, hi: number, lo: number): number {
  buf[o] = hi >>> 24; buf[o + 1] = hi >>> 16; buf[o + 2] = hi >>> 8; buf[o + 3] = hi;
  buf[o + 4] = lo >>> 24; buf[o + 5] = lo >>> 16; buf[o + 6] = lo >>> 8; buf[o + 7] = lo;
  return o + 8;
}

/** UTF-8 of `v` at `o` (capacity checked by the caller); ASCII is copied in JS, anything else by Buffer.write. */
function putUtf8(buf: Buffer, o: number, v: string): number {
  const n = v.length;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0x80) return i + buf.write(v.slice(i), o + i, 'utf8');
    buf[o + i] = c;
  }
  return n;
}

/** Writes prefix ‖ canonical bytes into the scratch buffer; returns their length. */
function encodeIntoScratch(table: string, values: readonly ChainValue[], prefix: Uint8Array | undefined): number {
  const header = tableHeader(table);
  const pre = prefix?.byteLength ?? 0;
  const bound = pre + header.length + 4 + maxLength(values);
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const buf = scratch;
  if (prefix) buf.set(prefix, 0);
  let o = pre;
  buf.set(header, o);
  o += header.length;
  const count = values.length;
  buf[o] = count >>> 24; buf[o + 1] = count >>> 16; buf[o + 2] = count >>> 8; buf[o + 3] = count;
  o += 4;
  for (const v of values) {
    if (v === null || v === undefined) {
      buf[o++] = TAG_NULL;
    } else if (typeof v === 'bigint') {
      buf[o++] = TAG_INT;
      o = buf.writeBigInt64BE(v, o);
    } else if (typeof v === 'number') {
      // Nanosecond timestamps exceed 2^53; SQLite stores the integral double as that exact int64. Splitting an
      // integral double below 2^63 into 32-bit halves is exact (division by a power of two, an exact remainder).
      if (Number.isInteger(v) && v >= -TWO_63 && v < TWO_63) {
        buf[o++] = TAG_INT;
        const hi = Math.floor(v / TWO_32);
        o = putInt64(buf, o, hi, v - hi * TWO_32);
      } else if (Number.isInteger(v)) {
        buf[o++] = TAG_INT;
        o = buf.writeBigInt64BE(BigInt(v), o); // out of int64 range: throws, as SQLite could not store it either
      } else {
        buf[o++] = TAG_REAL;
        o = buf.writeDoubleBE(v, o);
      }
    } else if (typeof v === 'string') {
      buf[o] = TAG_TEXT;
      const n = putUtf8(buf, o + 5, v);
      buf[o + 1] = n >>> 24; buf[o + 2] = n >>> 16; buf[o + 3] = n >>> 8; buf[o + 4] = n;
      o += 5 + n;
    } else {
      const n = v.byteLength;
      buf[o] = TAG_BLOB;
      buf[o + 1] = n >>> 24; buf[o + 2] = n >>> 16; buf[o + 3] = n >>> 8; buf[o + 4] = n;
      buf.set(v, o + 5);
      o += 5 + n;
    }
  }
  return o;
}

/**
 * Canonical bytes of one row: table name, column count, then each value as tag ‖ payload
 * (integers int64 big-endian, text u32 length ‖ UTF-8, blob u32 length ‖ bytes, real float64 big-endian).
 * An integer written as a JS number and read back as a bigint encodes identically.
 */
export function canonicalBytes(table: string, values: readonly ChainValue[], prefix?: Uint8Array): Buffer {
  const n = encodeIntoScratch(table, values, prefix);
  return Buffer.from(scratch.subarray(0, n));
}

/**
 * SHA-256(prev_hash ‖ canonical bytes), hashed in one call over the scratch buffer (once per stored row).
 * The digest comes back as a 'binary' (latin1) string, one char per byte, lossless, and goes into Node's pooled small
 * Buffers: a 'buffer' digest is a fresh ArrayBuffer per row, whose allocation and sweeping cost ~1 µs a row.
 */
export function chainHash(prevHash: Uint8Array, table: string, values: readonly ChainValue[]): Buffer {
  const n = encodeIntoScratch(table, values, prevHash); // first: it may replace `scratch`
  return Buffer.from(oneShotHash('sha256', scratch.subarray(0, n), 'binary'), 'binary');
}

const isHash = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.byteLength === HASH_BYTES;

/** One stored row as the verifier reads it: values in CHAIN_COLUMNS order (values[0] is the id). */
export interface ChainRow { values: readonly ChainValue[]; prevHash: Uint8Array; hash: Uint8Array }

export type ChainWalk =
  | { ok: true; rows: number; headId: number; headHash: Buffer }
  | { ok: false; rowId: number; reason: string };

/**
 * Walks a table's rows in id order and returns the first broken link. Ids must run 1, 2, 3 … so that a
 * deleted or inserted row shows even when its neighbours' hashes were recomputed by hand.
 */
export function walkChain(table: string, rows: Iterable<ChainRow>): ChainWalk {
  let prev: Buffer = GENESIS_HASH;
  let expectId = 1;
  let n = 0;
  for (const row of rows) {
    const id = Number(row.values[0]);
    if (id !== expectId) {
      return { ok: false, rowId: id, reason: id > expectId ? `row id ${id} follows ${expectId - 1}: rows ${expectId}..${id - 1} are missing` : `row id ${id} out of order after ${expectId - 1}` };
    }
    if (!isHash(row.prevHash) || !isHash(row.hash)) {
      return { ok: false, rowId: id, reason: 'prev_hash or hash is not a 32-byte blob' };
    }
    if (!Buffer.from(row.prevHash).equals(prev)) {
      return { ok: false, rowId: id, reason: 'prev_hash does not match the hash of the row before' };
    }
    const h = chainHash(prev, table, row.values);
    if (!h.equals(Buffer.from(row.hash))) {
      return { ok: false, rowId: id, reason: 'hash does not match the row content' };
    }
    prev = h;
    expectId++;
    n++;
  }
  return { ok: true, rows: n, headId: expectId - 1, headHash: prev };
}
