// The agent's durable queue: segment files of length-prefixed encoded events, a persisted ack cursor,
// bounded by maxBytes. What does not fit is refused (the caller counts it); nothing is lost silently.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { RwError } from '../proto/errors.js';

/** Position in the spool: record index inside a segment. Everything before it is acked. */
export interface SpoolCursor { segment: number; record: number }

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  /** A segment is closed once it reaches this size; acked segments are deleted whole. */
  segmentMaxBytes?: number;
  /** fsync each appended batch (survives power loss, not only process death). */
  fsyncEachAppend?: boolean;
  /**
   * The ack cursor is written to disk at most this often (and at close). Replacing the cursor file costs a
   * rename, which ext4 turns into a data flush; per ack it was most of the uplink's time. A cursor that is
   * behind after a crash only makes the agent resend acked events, which the collector deduplicates. At 250 ms the
   * rename was still ~5 % of a busy host agent's own time (bench/overhead-host.ts --profile-dir).
   */
  cursorPersistMillis?: number;
}

export const SPOOL_DEFAULTS = Object.freeze({ cursorPersistMillis: 1_000 });

export interface Spool {
  /** Appends a prefix of `records` that fits; returns how many were written. One write() per call. */
  append(records: readonly Uint8Array[]): number;
  /** Up to maxRecords (at least one if any) records after `from`, within maxBytes. */
  read(from: SpoolCursor, maxRecords: number, maxBytes: number): { records: Uint8Array[]; next: SpoolCursor };
  /** Everything before `to` is delivered: persist the cursor, delete whole segments before it. */
  ack(to: SpoolCursor): void;
  acked(): SpoolCursor;
  /** The cursor just past the last record written. */
  end(): SpoolCursor;
  /** Records after `from`. */
  countAfter(from: SpoolCursor): number;
  /** Bytes of the records on disk not yet acked (a fully acked open segment is not counted: its room is reused). */
  bytes(): number;
  fits(recordBytes: number): boolean;
  close(): void;
}

const HEADER = 4;
const SEG_RE = /^(\d{12})\.seg$/;
const CURSOR_FILE = 'cursor.json';

interface Segment { id: number; size: number; offsets: number[] | undefined; count: number }

const segName = (id: number): string => `${String(id).padStart(12, '0')}.seg`;

/** Offsets of whole records in `buf`; the first byte past the last whole record is `valid`. */
function scan(buf: Buffer): { offsets: number[]; valid: number } {
  const offsets: number[] = [];
  let p = 0;
  while (p + HEADER <= buf.length) {
    const len = buf.readUInt32LE(p);
    if (p + HEADER + len > buf.length) break;
    offsets.push(p);
    p += HEADER + len;
  }
  return { offsets, valid: p };
}

export function openSpool(opts: SpoolOptions): Spool {
  const dir = opts.dir;
  const segMax = opts.segmentMaxBytes ?? Math.max(1024, Math.min(4 * 1024 * 1024, Math.floor(opts.maxBytes / 8)));
  const fail = (what: string, e: unknown): never => {
    throw new RwError('AGENT_ERR_SPOOL', `${what}: ${(e as Error).message}`, { cause: e, details: { dir } });
  };
  try { mkdirSync(dir, { recursive: true, mode: 0o700 }); } catch (e) { fail(`cannot create spool dir ${dir}`, e); }

  let cursor: SpoolCursor = { segment: 0, record: 0 };
  try {
    const c = JSON.parse(readFileSync(join(dir, CURSOR_FILE), 'utf8')) as SpoolCursor;
    if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.record)) cursor = c;
  } catch { /* no cursor yet: everything on disk is unacked */ }

  const segments: Segment[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = SEG_RE.exec(name);
    if (!m) continue;
    const id = Number(m[1]);
    const path = join(dir, name);
    if (id < cursor.segment) { unlinkSync(path); continue; }
    const buf = readFileSync(path);
    const { offsets, valid } = scan(buf);
    // A torn tail is a batch the previous process was killed while writing: never acked, never sent whole.
    if (valid < buf.length) truncateSync(path, valid);
    segments.push({ id, size: valid, offsets, count: offsets.length });
  }

  let writeId = (segments.at(-1)?.id ?? cursor.segment) + 1;
  let fd = -1;
  let writeSeg: Segment | undefined;
  /** Records of the segment being written, kept so the sender does not re-read what it just wrote. */
  let writeRecords: Uint8Array[] = [];
  /** Index in the write segment of writeRecords[0]: the records before it are acked and no longer held. */
  let writeBase = 0;
  /**
   * Every record of the write segment is acked: the segment stays open for the next append instead of being deleted
   * at once. Deleting it on each full ack made every delivered batch cost a file create and an unlink; on a
   * journal-less ext4 with many recently freed inodes the create alone took ~1 ms (143 ms per `make -j2` job in the
   * agent's profile). It goes when it rolls, when its room is needed under maxBytes, and at close.
   */
  let ackedOpen = false;
  let cache: { id: number; buf: Buffer; offsets: number[] } | undefined;
  let total = segments.reduce((n, s) => n + s.size, 0);
  let closed = false;
  const persistEvery = opts.cursorPersistMillis ?? SPOOL_DEFAULTS.cursorPersistMillis;
  let persisted: SpoolCursor = { ...cursor };
  let persistedAt = 0;
  let persistTimer: NodeJS.Timeout | undefined;
  const persistCursor = (): void => {
    const c = { ...cursor };
    try {
      const tmp = join(dir, CURSOR_FILE + '.tmp');
      writeFileSync(tmp, JSON.stringify(c));
      renameSync(tmp, join(dir, CURSOR_FILE));
    } catch (e) {
      fail('cannot persist spool cursor', e);
    }
    persisted = c;
    persistedAt = Date.now();
  };

  /** Bytes on disk not yet acked: the fully acked open segment's are reusable room. */
  const unacked = (): number => total - (ackedOpen ? (writeSeg as Segment).size : 0);

  /** Deletes the fully acked write segment (ackedOpen): its bytes leave the bound. */
  const dropAckedOpen = (): void => {
    const seg = writeSeg as Segment;
    try { closeSync(fd); } catch (e) { fail('cannot close spool segment', e); }
    fd = -1;
    writeSeg = undefined;
    writeRecords = [];
    writeBase = 0;
    ackedOpen = false;
    segments.splice(segments.indexOf(seg), 1);
    total -= seg.size;
    if (cache?.id === seg.id) cache = undefined;
    try { unlinkSync(join(dir, segName(seg.id))); } catch (e) { fail('cannot delete acked segment', e); }
  };

  const openWriteSegment = (): void => {
    if (ackedOpen) dropAckedOpen();
    if (fd >= 0) {
      try { fsyncSync(fd); closeSync(fd); } catch (e) { fail('cannot close spool segment', e); }
      fd = -1;
    }
    try { fd = openSync(join(dir, segName(writeId)), 'wx', 0o600); } catch (e) { fail('cannot create spool segment', e); }
    writeSeg = { id: writeId, size: 0, offsets: undefined, count: 0 };
    writeRecords = [];
    writeBase = 0;
    segments.push(writeSeg);
    writeId++;
  };

  const recordsOf = (seg: Segment): { get: (i: number) => Uint8Array } => {
    if (seg === writeSeg) return { get: (i) => writeRecords[i - writeBase] as Uint8Array };
    if (cache?.id !== seg.id) {
      let buf: Buffer;
      try { buf = readFileSync(join(dir, segName(seg.id))); } catch (e) { return fail('cannot read spool segment', e); }
      cache = { id: seg.id, buf, offsets: seg.offsets ?? scan(buf).offsets };
    }
    const c = cache;
    return {
      get: (i) => {
        const off = c.offsets[i] as number;
        const len = c.buf.readUInt32LE(off);
        return c.buf.subarray(off + HEADER, off + HEADER + len);
      },
    };
  };

  const spool: Spool = {
    append(records) {
      if (closed) throw new RwError('AGENT_ERR_SPOOL', 'spool is closed');
      // The room of a fully acked open segment counts as free; it is deleted below if the batch needs it.
      const room = opts.maxBytes - unacked();
      let n = 0;
      let bytes = 0;
      for (const r of records) {
        if (bytes + HEADER + r.length > room) break;
        bytes += HEADER + r.length;
        n++;
      }
      if (n === 0) return 0;
      if (ackedOpen && total + bytes > opts.maxBytes) dropAckedOpen();
      if (!writeSeg || writeSeg.size >= segMax) openWriteSegment();
      ackedOpen = false;
      const buf = Buffer.allocUnsafe(bytes);
      let p = 0;
      for (let i = 0; i < n; i++) {
        const r = records[i] as Uint8Array;
        buf.writeUInt32LE(r.length, p);
        buf.set(r, p + HEADER);
        p += HEADER + r.length;
      }
      try {
        writeSync(fd, buf);
        if (opts.fsyncEachAppend) fsyncSync(fd);
      } catch (e) {
        fail('cannot append to spool', e);
      }
      const seg = writeSeg as Segment;
      for (let i = 0; i < n; i++) writeRecords.push(records[i] as Uint8Array);
      seg.size += bytes;
      seg.count += n;
      total += bytes;
      return n;
    },
    read(from, maxRecords, maxBytes) {
      // The position is two numbers until the end: one cursor object per read, not one per record.
      const out: Uint8Array[] = [];
      let segment = from.segment;
      let record = from.record;
      let bytes = 0;
      for (const seg of segments) {
        if (seg.id < segment) continue;
        if (seg.id > segment) { segment = seg.id; record = 0; }
        if (record >= seg.count) continue;
        const recs = recordsOf(seg);
        while (record < seg.count && out.length < maxRecords) {
          const r = recs.get(record);
          if (out.length > 0 && bytes + r.length > maxBytes) return { records: out, next: { segment, record } };
          out.push(r);
          bytes += r.length;
          record++;
        }
        if (out.length >= maxRecords) break;
      }
      return { records: out, next: { segment, record } };
    },
    ack(to) {
      if (closed) return;
      cursor = { ...to };
      const wait = persistEvery - (Date.now() - persistedAt);
      if (wait <= 0) persistCursor();
      else if (!persistTimer) {
        persistTimer = setTimeout(() => {
          persistTimer = undefined;
          // A failure here is retried at the next ack or at close; until then a restart only resends acked events.
          if (!closed) try { persistCursor(); } catch { /* see above */ }
        }, wait);
        persistTimer.unref();
      }
      // Deleting acked segments before the cursor reaches disk is safe: a reopened spool starts at the first
      // segment that still exists.
      while (segments.length > 0) {
        const s = segments[0] as Segment;
        const done = s.id < cursor.segment || (s.id === cursor.segment && cursor.record >= s.count);
        if (!done) break;
        if (s === writeSeg) {
          // Fully acked open segment: kept for the next append (ackedOpen); the records it held are let go.
          ackedOpen = true;
          writeBase = s.count;
          writeRecords = [];
          break;
        }
        segments.shift();
        total -= s.size;
        if (cache?.id === s.id) cache = undefined;
        try { unlinkSync(join(dir, segName(s.id))); } catch (e) { fail('cannot delete acked segment', e); }
      }
    },
    acked: () => ({ ...cursor }),
    end: () => {
      const last = segments.at(-1);
      return last ? { segment: last.id, record: last.count } : { ...cursor };
    },
    countAfter(from) {
      let n = 0;
      for (const s of segments) {
        if (s.id > from.segment) n += s.count;
        else if (s.id === from.segment) n += Math.max(0, s.count - from.record);
      }
      return n;
    },
    bytes: unacked,
    fits: (recordBytes) => unacked() + HEADER + recordBytes <= opts.maxBytes,
    close() {
      if (closed) return;
      if (persistTimer) { clearTimeout(persistTimer); persistTimer = undefined; }
      if (persisted.segment !== cursor.segment || persisted.record !== cursor.record) {
        try { persistCursor(); } catch { /* best effort at shutdown: acked events are resent and deduplicated */ }
      }
      closed = true;
      if (ackedOpen) {
        try { dropAckedOpen(); } catch { /* best effort at shutdown: a reopened spool deletes it at its first ack */ }
      } else if (fd >= 0) {
        try { fsyncSync(fd); closeSync(fd); } catch { /* best effort at shutdown */ }
        fd = -1;
      }
    },
  };
  return spool;
}

/** Size on disk of the spool directory's segments (tests, status). */
export function spoolDiskBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) if (SEG_RE.test(name)) n += statSync(join(dir, name)).size;
  return n;
}
