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

function encodedLength(v: ChainValue): number {
  if (v === null || v === undefined) return 1;
  if (typeof v === 'number' || typeof v === 'bigint') return 9;
  if (typeof v === 'string') return 5 + Buffer.byteLength(v, 'utf8');
  return 5 + v.byteLength;
}

/**
 * Canonical bytes of one row: table name, column count, then each value as tag ‖ payload
 * (integers int64 big-endian, text u32 length ‖ UTF-8, blob u32 length ‖ bytes, real float64 big-endian).
 * An integer written as a JS number and read back as a bigint encodes identically.
 */
export function canonicalBytes(table: string, values: readonly ChainValue[], prefix?: Uint8Array): Buffer {
  const pre = prefix?.byteLength ?? 0;
  let len = pre + 5 + Buffer.byteLength(table, 'utf8') + 4;
  for (const v of values) len += encodedLength(v);
  const buf = Buffer.allocUnsafe(len);
  if (prefix) buf.set(prefix, 0);
  let o = pre;
  buf[o++] = TAG_TEXT;
  o = buf.writeUInt32BE(Buffer.byteLength(table, 'utf8'), o);
  o += buf.write(table, o, 'utf8');
  o = buf.writeUInt32BE(values.length, o);
  for (const v of values) {
    if (v === null || v === undefined) {
      buf[o++] = TAG_NULL;
    } else if (typeof v === 'bigint') {
      buf[o++] = TAG_INT;
      o = buf.writeBigInt64BE(v, o);
    } else if (typeof v === 'number') {
      if (Number.isSafeInteger(v)) {
        buf[o++] = TAG_INT;
        const hi = Math.floor(v / TWO_32);
        o = buf.writeInt32BE(hi, o);
        o = buf.writeUInt32BE(v - hi * TWO_32, o);
      } else if (Number.isInteger(v)) {
        // Nanosecond timestamps exceed 2^53; SQLite stores the integral double as that exact int64.
        buf[o++] = TAG_INT;
        o = buf.writeBigInt64BE(BigInt(v), o);
      } else {
        buf[o++] = TAG_REAL;
        o = buf.writeDoubleBE(v, o);
      }
    } else if (typeof v === 'string') {
      buf[o++] = TAG_TEXT;
      const n = buf.write(v, o + 4, 'utf8');
      buf.writeUInt32BE(n, o);
      o += 4 + n;
    } else {
      buf[o++] = TAG_BLOB;
      o = buf.writeUInt32BE(v.byteLength, o);
      buf.set(v, o);
      o += v.byteLength;
    }
  }
  return buf;
}

/** SHA-256(prev_hash ‖ canonical bytes), hashed in one call over one buffer (once per stored row). */
export function chainHash(prevHash: Uint8Array, table: string, values: readonly ChainValue[]): Buffer {
  return oneShotHash('sha256', canonicalBytes(table, values, prevHash), 'buffer');
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
