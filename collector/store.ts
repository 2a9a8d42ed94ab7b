// The SQLite audit store (better-sqlite3, the only file importing it): WAL, migrations, chained appends,
// seq-gap (loss) bookkeeping, queries, signed checkpoints, and a read-only row reader for the verifier.
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { decodeEvent } from '../proto/codec.js';
import { RwError } from '../proto/errors.js';
import { EVENT_KINDS, kindFromName, kindName } from '../proto/types.js';
import type { EventKind, RawEvent, RwEvent } from '../proto/types.js';
import { SEVERITIES } from '../cli/config.js';
import type { Severity } from '../cli/config.js';
import { chainHash, GENESIS_HASH } from './chain.js';
import type { ChainRow, ChainValue } from './chain.js';
import { loadOrCreateCheckpointKey, signHash } from './checkpoint.js';
import type { CheckpointKey } from './checkpoint.js';
import type { Finding, FindingEvidence } from './finding.js';
import { CHAIN_COLUMNS, MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import type { ChainedTable } from './schema.js';
import type { EventFilter, FindingFilter, Loss, Store, StoredEvent, StoredFinding } from './store-types.js';

export interface StoreOptions {
  stateDir: string;
  logger?: Logger;
  /** FULL (default) fsyncs every commit: an acknowledged batch survives power loss. */
  synchronous?: 'NORMAL' | 'FULL';
  /** PRAGMA max_page_count: caps the file; reaching it raises COLLECTOR_ERR_DISK_FULL like a full disk. */
  maxPageCount?: number;
}

export const STORE_LIMITS = Object.freeze({
  defaultQueryLimit: 1000, maxQueryLimit: 100_000, busyTimeoutMillis: 5000,
  /**
   * Page size of a database this store creates (SQLite's default is 4096). An events row with its five index
   * entries is ~560 bytes; 16 KiB pages make its insert + commit ~25% cheaper (fewer WAL frames, splits and
   * B-tree levels; bench/store-append). Fixed when the file is created: existing databases keep theirs.
   */
  newDbPageSizeBytes: 16_384,
});

interface HeadRow { id: number; hash: Buffer }

function toStoreError(e: unknown, what: string): RwError {
  if (e instanceof RwError) return e;
  const code = (e as { code?: unknown }).code;
  const msg = e instanceof Error ? e.message : String(e);
  if (code === 'SQLITE_FULL' || (typeof code === 'string' && code.startsWith('SQLITE_IOERR') && /ENOSPC|disk is full/i.test(msg))) {
    return new RwError('COLLECTOR_ERR_DISK_FULL', `${what}: ${msg}`, { cause: e, details: { sqlite: code } });
  }
  return new RwError('COLLECTOR_ERR_STORE', `${what}: ${msg}`, { cause: e, details: { sqlite: typeof code === 'string' ? code : undefined } });
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new RwError('COLLECTOR_ERR_STORE', `database schema version ${current} is newer than this runwarden (${SCHEMA_VERSION})`);
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const orNull = <T>(v: T | undefined | null | '' | 0): T | null => (v === undefined || v === null || v === '' || v === 0 ? null : v as T);

function severityAtLeast(min: string): string[] {
  const i = SEVERITIES.indexOf(min as Severity);
  if (i < 0) throw new RwError('CLI_ERR_USAGE', `unknown severity ${min}: one of ${SEVERITIES.join(', ')}`);
  return SEVERITIES.slice(i);
}

export function openStore(path: string, opts: StoreOptions): Store {
  let db: Db;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    db = new Database(path);
    // Only takes effect on a new, empty file (and must come before WAL mode); on any other it does nothing.
    db.pragma(`page_size = ${STORE_LIMITS.newDbPageSizeBytes}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    db.pragma(`busy_timeout = ${STORE_LIMITS.busyTimeoutMillis}`);
    migrate(db);
    if (opts.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.floor(opts.maxPageCount)}`);
  } catch (e) {
    throw toStoreError(e, `cannot open audit store ${path}`);
  }
  return storeOn(db, loadOrCreateCheckpointKey(opts.stateDir), opts.logger);
}

/** The store for readers (CLI, API replicas): never creates the file, never writes; append/checkpoint throw. */
export function openStoreReadOnly(path: string): Store {
  let db: Db;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${STORE_LIMITS.busyTimeoutMillis}`);
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v !== SCHEMA_VERSION) throw new Error(`schema version ${v}, this runwarden reads ${SCHEMA_VERSION}`);
  } catch (e) {
    throw toStoreError(e, `cannot open audit database ${path}`);
  }
  return storeOn(db, undefined, undefined);
}

function storeOn(db: Db, key: CheckpointKey | undefined, log: Logger | undefined): Store {

  const evCols = CHAIN_COLUMNS.events;
  const insertEvent = db.prepare(
    `INSERT INTO events (${evCols.join(', ')}, prev_hash, hash) VALUES (${evCols.map(() => '?').join(', ')}, ?, ?)
     ON CONFLICT (agent_id, boot_id, seq) DO NOTHING`,
  );
  const fCols = CHAIN_COLUMNS.findings;
  const insertFinding = db.prepare(`INSERT INTO findings (${fCols.join(', ')}, prev_hash, hash) VALUES (${fCols.map(() => '?').join(', ')}, ?, ?)`);
  const cCols = CHAIN_COLUMNS.checkpoints;
  const insertCheckpoint = db.prepare(`INSERT INTO checkpoints (${cCols.join(', ')}, prev_hash, hash, signature) VALUES (${cCols.map(() => '?').join(', ')}, ?, ?, ?)`);
  const head: Record<ChainedTable, Statement> = {
    events: db.prepare('SELECT id, hash FROM events ORDER BY id DESC LIMIT 1'),
    findings: db.prepare('SELECT id, hash FROM findings ORDER BY id DESC LIMIT 1'),
    checkpoints: db.prepare('SELECT id, hash FROM checkpoints ORDER BY id DESC LIMIT 1'),
  };
  const maxSeq = db.prepare('SELECT MAX(seq) AS m FROM events WHERE agent_id = ? AND boot_id = ?').pluck();
  const insertLoss = db.prepare('INSERT INTO loss (agent_id, boot_id, from_seq, to_seq, recorded_ns) VALUES (?, ?, ?, ?, ?)');
  const lossCovering = db.prepare(
    'SELECT from_seq AS fromSeq, to_seq AS toSeq, recorded_ns AS recordedNs FROM loss WHERE agent_id = ? AND boot_id = ? AND from_seq <= ? ORDER BY from_seq DESC LIMIT 1',
  );
  const deleteLoss = db.prepare('DELETE FROM loss WHERE agent_id = ? AND boot_id = ? AND from_seq = ?');
  const storedRaw = db.prepare('SELECT raw FROM events WHERE agent_id = ? AND boot_id = ? AND seq = ?').pluck();
  const countEvents = db.prepare('SELECT COUNT(*) FROM events').pluck();
  const countFindings = db.prepare('SELECT COUNT(*) FROM findings').pluck();

  const headOf = (t: ChainedTable): { id: number; hash: Buffer } => {
    const r = head[t].get() as HeadRow | undefined;
    return r ? { id: r.id, hash: r.hash } : { id: 0, hash: GENESIS_HASH };
  };

  /** A seq `s` just stored below the stream's max: it was recorded missing, so shrink or split that range. */
  const fillGap = (agentId: string, bootId: string, s: number): void => {
    const l = lossCovering.get(agentId, bootId, s) as { fromSeq: number; toSeq: number; recordedNs: number } | undefined;
    if (!l || l.toSeq < s) return;
    deleteLoss.run(agentId, bootId, l.fromSeq);
    if (l.fromSeq <= s - 1) insertLoss.run(agentId, bootId, l.fromSeq, s - 1, l.recordedNs);
    if (s + 1 <= l.toSeq) insertLoss.run(agentId, bootId, s + 1, l.toSeq, l.recordedNs);
  };

  const appendTx = db.transaction((events: readonly RawEvent[], receivedNs: number) => {
    const recvNs = Math.trunc(receivedNs);
    let { id, hash: prev } = headOf('events');
    const ids: number[] = [];
    let duplicates = 0;
    // Highest seq stored per (agent, boot) stream, read once per stream per batch inside this transaction.
    const streams = new Map<string, number>();
    const gaps: Array<{ agentId: string; bootId: string; fromSeq: number; toSeq: number }> = [];
    const conflicts: Array<{ agentId: string; bootId: string; seq: number }> = [];
    const values: ChainValue[] = new Array(evCols.length);
    let lastAgent: string | undefined;
    let lastBoot: string | undefined;
    let sk = '';
    for (const raw of events) {
      const ev = raw.event;
      const kind = ev.kind;
      const body = (ev as unknown as Record<string, unknown>)[kind] ?? {};
      values[0] = id + 1;
      values[1] = ev.agentId;
      values[2] = ev.bootId;
      values[3] = ev.seq;
      values[4] = ev.tsNs;
      values[5] = recvNs;
      values[6] = kindName(kind);
      values[7] = orNull(ev.host);
      values[8] = orNull(ev.jobId);
      values[9] = ev.pid ?? null;
      values[10] = ev.ppid ?? null;
      values[11] = ev.uid ?? null;
      values[12] = orNull(ev.comm);
      values[13] = orNull(ev.exe);
      values[14] = ev.secretNames && ev.secretNames.length > 0 ? JSON.stringify(ev.secretNames) : null;
      values[15] = JSON.stringify(body);
      values[16] = asBuffer(raw.bytes);
      if (ev.agentId !== lastAgent || ev.bootId !== lastBoot) { lastAgent = ev.agentId; lastBoot = ev.bootId; sk = `${ev.agentId}\0${ev.bootId}`; }
      let max = streams.get(sk);
      if (max === undefined) max = (maxSeq.get(ev.agentId, ev.bootId) as number | null) ?? 0;
      const hash = chainHash(prev, 'events', values);
      const info = insertEvent.run(...values, prev, hash);
      if (info.changes === 0) {
        duplicates++;
        streams.set(sk, max);
        // Same (agent, boot, seq) with other bytes is an attempt to rewrite history or an agent bug: keep the first, say so.
        const stored = storedRaw.get(ev.agentId, ev.bootId, ev.seq) as Buffer | undefined;
        if (stored && !stored.equals(values[16] as Buffer)) conflicts.push({ agentId: ev.agentId, bootId: ev.bootId, seq: ev.seq });
        continue;
      }
      id++;
      prev = hash;
      ids.push(id);
      if (ev.seq > max + 1) {
        insertLoss.run(ev.agentId, ev.bootId, max + 1, ev.seq - 1, recvNs);
        gaps.push({ agentId: ev.agentId, bootId: ev.bootId, fromSeq: max + 1, toSeq: ev.seq - 1 });
      } else if (ev.seq < max) {
        fillGap(ev.agentId, ev.bootId, ev.seq);
      }
      streams.set(sk, Math.max(max, ev.seq));
    }
    return { stored: ids.length, duplicates, ids, gaps, conflicts };
  });
  const readCursor = db.prepare('SELECT last_event_id FROM detection_state WHERE id = 1').pluck();
  const writeCursor = db.prepare('UPDATE detection_state SET last_event_id = ? WHERE id = 1 AND last_event_id < ?');
  const rawAfter = db.prepare('SELECT id, raw FROM events WHERE id > ? ORDER BY id LIMIT ?');
  const findingsTx = db.transaction((findings: readonly Finding[], detectedThrough: number | undefined): number[] => {
    if (detectedThrough !== undefined) writeCursor.run(detectedThrough, detectedThrough);
    let { id, hash: prev } = headOf('findings');
    const ids: number[] = [];
    for (const f of findings) {
      const values: ChainValue[] = [
        id + 1, f.ruleId, f.title, f.severity, JSON.stringify(f.tags), f.jobId, f.agentId, f.tsNs, f.explanation, JSON.stringify(f.evidence),
      ];
      const hash = chainHash(prev, 'findings', values);
      insertFinding.run(...values, prev, hash);
      id++;
      prev = hash;
      ids.push(id);
    }
    return ids;
  });

  const checkpointTx = db.transaction((nowNs: number): void => {
    if (!key) throw new RwError('COLLECTOR_ERR_STORE', 'store is read-only');
    const ev = headOf('events');
    const fi = headOf('findings');
    const cp = headOf('checkpoints');
    const values: ChainValue[] = [
      cp.id + 1, nowNs, ev.id, ev.hash, countEvents.get() as number, fi.id, fi.hash, countFindings.get() as number, key.publicKeyDer,
    ];
    const hash = chainHash(cp.hash, 'checkpoints', values);
    insertCheckpoint.run(...values, cp.hash, hash, signHash(key.privateKey, hash));
  });

  const stmtCache = new Map<string, Statement>();
  const prepared = (sql: string): Statement => {
    let s = stmtCache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (stmtCache.size < 256) stmtCache.set(sql, s);
    }
    return s;
  };

  let closed = false;
  const ensureOpen = (): void => {
    if (closed) throw new RwError('COLLECTOR_ERR_STORE', 'store is closed');
  };
  const ensureWritable = (): void => {
    ensureOpen();
    if (!key) throw new RwError('COLLECTOR_ERR_STORE', 'store is read-only');
  };

  return {
    appendEvents(events, receivedNs) {
      ensureWritable();
      if (events.length === 0) return { stored: 0, duplicates: 0, ids: [] };
      let r: ReturnType<typeof appendTx>;
      try {
        r = appendTx.immediate(events, receivedNs);
      } catch (e) {
        const err = toStoreError(e, 'append events');
        log?.error({ err, events: events.length }, 'audit store append failed; batch not committed');
        throw err;
      }
      for (const c of r.conflicts) log?.warn(c, 'redelivered event differs from the stored one; the first is kept');
      for (const g of r.gaps) log?.warn({ agentId: g.agentId, bootId: g.bootId, fromSeq: g.fromSeq, toSeq: g.toSeq }, 'event sequence gap recorded as loss');
      return { stored: r.stored, duplicates: r.duplicates, ids: r.ids };
    },

    appendFindings(findings, detectedThrough) {
      ensureWritable();
      if (findings.length === 0 && detectedThrough === undefined) return [];
      try {
        return findingsTx.immediate(findings, detectedThrough);
      } catch (e) {
        throw toStoreError(e, 'append findings');
      }
    },

    detectionCursor(): number {
      ensureOpen();
      return (readCursor.get() as number | undefined) ?? 0;
    },

    setDetectionCursor(id: number): void {
      ensureWritable();
      try {
        writeCursor.run(id, id);
      } catch (e) {
        throw toStoreError(e, 'save detection cursor');
      }
    },

    eventsAfter(afterId: number, limit: number): StoredEvent[] {
      ensureOpen();
      const rows = rawAfter.all(afterId, Math.min(limit, STORE_LIMITS.maxQueryLimit)) as { id: number; raw: Buffer }[];
      return rows.map((r) => ({ id: r.id, event: decodeEvent(r.raw) }));
    },

    queryEvents(filter: EventFilter): StoredEvent[] {
      ensureOpen();
      const where: string[] = [];
      const args: Array<string | number> = [];
      if (filter.jobId !== undefined) { where.push('job_id = ?'); args.push(filter.jobId); }
      if (filter.kinds && filter.kinds.length > 0) {
        where.push(`kind IN (${filter.kinds.map(() => '?').join(', ')})`);
        args.push(...filter.kinds.map(kindName));
      }
      if (filter.pid !== undefined) { where.push('pid = ?'); args.push(filter.pid); }
      if (filter.agentId !== undefined) { where.push('agent_id = ?'); args.push(filter.agentId); }
      if (filter.sinceNs !== undefined) { where.push('ts_ns >= ?'); args.push(filter.sinceNs); }
      if (filter.untilNs !== undefined) { where.push('ts_ns <= ?'); args.push(filter.untilNs); }
      if (filter.afterId !== undefined) { where.push('id > ?'); args.push(filter.afterId); }
      const limit = Math.min(filter.limit ?? STORE_LIMITS.defaultQueryLimit, STORE_LIMITS.maxQueryLimit);
      const sql = `SELECT id, agent_id, boot_id, seq, ts_ns, kind, host, job_id, pid, ppid, uid, comm, exe, secret_names, body
        FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${limit}`;
      return (prepared(sql).all(...args) as EventRowOut[]).map(rowToEvent);
    },

    queryFindings(filter: FindingFilter): StoredFinding[] {
      ensureOpen();
      const where: string[] = [];
      const args: Array<string | number> = [];
      if (filter.jobId !== undefined) { where.push('job_id = ?'); args.push(filter.jobId); }
      if (filter.minSeverity !== undefined) {
        const sev = severityAtLeast(filter.minSeverity);
        where.push(`severity IN (${sev.map(() => '?').join(', ')})`);
        args.push(...sev);
      }
      if (filter.sinceNs !== undefined) { where.push('ts_ns >= ?'); args.push(filter.sinceNs); }
      const limit = Math.min(filter.limit ?? STORE_LIMITS.defaultQueryLimit, STORE_LIMITS.maxQueryLimit);
      const sql = `SELECT id, rule_id, title, severity, tags, job_id, agent_id, ts_ns, explanation, evidence
        FROM findings ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${limit}`;
      return (prepared(sql).all(...args) as FindingRowOut[]).map((r) => ({
        id: r.id, ruleId: r.rule_id, title: r.title, severity: r.severity as Severity, tags: JSON.parse(r.tags) as string[],
        jobId: r.job_id, agentId: r.agent_id, tsNs: r.ts_ns, explanation: r.explanation, evidence: JSON.parse(r.evidence) as FindingEvidence[],
      }));
    },

    losses(agentId?: string): Loss[] {
      ensureOpen();
      const sql = `SELECT agent_id AS agentId, boot_id AS bootId, from_seq AS fromSeq, to_seq AS toSeq, recorded_ns AS recordedNs
        FROM loss ${agentId === undefined ? '' : 'WHERE agent_id = ?'} ORDER BY agent_id, boot_id, from_seq`;
      return prepared(sql).all(...(agentId === undefined ? [] : [agentId])) as Loss[];
    },

    checkpoint(nowNs: number): void {
      ensureWritable();
      try {
        checkpointTx.immediate(nowNs);
      } catch (e) {
        throw toStoreError(e, 'write checkpoint');
      }
    },

    count(): number {
      ensureOpen();
      // Ids run 1..n with no gaps (the chain requires it), so the head id is the count without a table scan.
      return headOf('events').id;
    },

    close(): void {
      if (closed) return;
      closed = true;
      if (key) try { db.pragma('optimize'); } catch { /* best effort on a full disk */ }
      db.close();
    },
  };
}

interface EventRowOut {
  id: number; agent_id: string; boot_id: string; seq: number; ts_ns: number; kind: string; host: string | null; job_id: string | null;
  pid: number | null; ppid: number | null; uid: number | null; comm: string | null; exe: string | null; secret_names: string | null; body: string;
}
interface FindingRowOut {
  id: number; rule_id: string; title: string; severity: string; tags: string; job_id: string; agent_id: string; ts_ns: number; explanation: string; evidence: string;
}

function rowToEvent(r: EventRowOut): StoredEvent {
  const kind: EventKind = kindFromName(r.kind) ?? (EVENT_KINDS.includes(r.kind as EventKind) ? (r.kind as EventKind) : 'status');
  const ev: Record<string, unknown> = { agentId: r.agent_id, bootId: r.boot_id, seq: r.seq, tsNs: r.ts_ns };
  if (r.host !== null) ev.host = r.host;
  if (r.job_id !== null) ev.jobId = r.job_id;
  if (r.pid !== null) ev.pid = r.pid;
  if (r.ppid !== null) ev.ppid = r.ppid;
  if (r.uid !== null) ev.uid = r.uid;
  if (r.comm !== null) ev.comm = r.comm;
  if (r.exe !== null) ev.exe = r.exe;
  if (r.secret_names !== null) ev.secretNames = JSON.parse(r.secret_names) as string[];
  ev.kind = kind;
  ev[kind] = JSON.parse(r.body) as unknown;
  return { id: r.id, event: ev as unknown as RwEvent };
}

export interface CheckpointRow {
  id: number; tsNs: bigint; eventsHeadId: number; eventsHeadHash: Buffer; eventsCount: number;
  findingsHeadId: number; findingsHeadHash: Buffer; findingsCount: number; publicKey: Buffer;
  chain: ChainRow; signature: Buffer;
}

/** Read-only access for the verifier: raw chained rows in id order, exactly as stored (integers as bigint). */
export interface AuditReader {
  rows(table: ChainedTable): Iterable<ChainRow>;
  checkpoints(): CheckpointRow[];
  hashOf(table: 'events' | 'findings', id: number): Buffer | undefined;
  close(): void;
}

export function openAuditReader(path: string): AuditReader {
  let db: Db;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v === 0 || v > SCHEMA_VERSION) throw new Error(`not a runwarden audit database (schema version ${v})`);
  } catch (e) {
    throw new RwError('COLLECTOR_ERR_STORE', `cannot open audit database ${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  db.defaultSafeIntegers(true);
  // One read transaction: every table is read from the same snapshot while a collector keeps appending.
  db.exec('BEGIN');
  const select = (t: ChainedTable): Statement =>
    db.prepare(`SELECT ${CHAIN_COLUMNS[t].join(', ')}, prev_hash, hash FROM ${t} ORDER BY id`).raw(true);
  return {
    *rows(t) {
      const n = CHAIN_COLUMNS[t].length;
      for (const r of select(t).iterate() as Iterable<ChainValue[]>) {
        yield { values: r.slice(0, n), prevHash: r[n] as Uint8Array, hash: r[n + 1] as Uint8Array };
      }
    },
    checkpoints() {
      const n = CHAIN_COLUMNS.checkpoints.length;
      const rows = db.prepare(`SELECT ${CHAIN_COLUMNS.checkpoints.join(', ')}, prev_hash, hash, signature FROM checkpoints ORDER BY id`).raw(true).all() as ChainValue[][];
      return rows.map((r) => ({
        id: Number(r[0]), tsNs: r[1] as bigint, eventsHeadId: Number(r[2]), eventsHeadHash: r[3] as Buffer, eventsCount: Number(r[4]),
        findingsHeadId: Number(r[5]), findingsHeadHash: r[6] as Buffer, findingsCount: Number(r[7]), publicKey: r[8] as Buffer,
        chain: { values: r.slice(0, n), prevHash: r[n] as Uint8Array, hash: r[n + 1] as Uint8Array }, signature: r[n + 2] as Buffer,
      }));
    },
    hashOf(t, id) {
      const r = db.prepare(`SELECT hash FROM ${t === 'events' ? 'events' : 'findings'} WHERE id = ?`).pluck().get(id) as Buffer | undefined;
      return r;
    },
    close() {
      if (!db.open) return;
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    },
  };
}
