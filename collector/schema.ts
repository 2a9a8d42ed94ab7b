// The audit database schema: migrations keyed on PRAGMA user_version, and the column order each chain hashes.
// Pure: collector/store.ts applies MIGRATIONS; collector/verify.ts reads the same column lists.

/** Columns of `events` covered by the audit chain, in canonical order (prev_hash and hash are the chain itself). */
export const EVENT_CHAIN_COLUMNS = [
  'id', 'agent_id', 'boot_id', 'seq', 'ts_ns', 'received_ns', 'kind', 'host', 'job_id',
  'pid', 'ppid', 'uid', 'comm', 'exe', 'secret_names', 'body', 'raw',
] as const;

export const FINDING_CHAIN_COLUMNS = [
  'id', 'rule_id', 'title', 'severity', 'tags', 'job_id', 'agent_id', 'ts_ns', 'explanation', 'evidence',
] as const;

/** A checkpoint's hash covers these; its signature covers the hash. */
export const CHECKPOINT_CHAIN_COLUMNS = [
  'id', 'ts_ns', 'events_head_id', 'events_head_hash', 'events_count',
  'findings_head_id', 'findings_head_hash', 'findings_count', 'public_key',
] as const;

export type ChainedTable = 'events' | 'findings' | 'checkpoints';

export const CHAIN_COLUMNS: Readonly<Record<ChainedTable, readonly string[]>> = Object.freeze({
  events: EVENT_CHAIN_COLUMNS,
  findings: FINDING_CHAIN_COLUMNS,
  checkpoints: CHECKPOINT_CHAIN_COLUMNS,
});

/**
 * MIGRATIONS[i] moves the database from user_version i to i + 1. Append only: never edit a shipped step.
 * Row ids are assigned by the store (head id + 1), never by SQLite, because the id is hashed.
 */
export const MIGRATIONS: readonly string[] = Object.freeze([
  `
  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts_ns INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    host TEXT,
    job_id TEXT,
    pid INTEGER,
    ppid INTEGER,
    uid INTEGER,
    comm TEXT,
    exe TEXT,
    secret_names TEXT,
    body TEXT NOT NULL,
    raw BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    UNIQUE (agent_id, boot_id, seq)
  );
  CREATE INDEX events_job ON events (job_id);
  CREATE INDEX events_kind ON events (kind);
  CREATE INDEX events_pid ON events (pid);
  CREATE INDEX events_ts ON events (ts_ns);

  CREATE TABLE loss (
    agent_id TEXT NOT NULL,
    boot_id TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    recorded_ns INTEGER NOT NULL,
    PRIMARY KEY (agent_id, boot_id, from_seq)
  ) WITHOUT ROWID;

  CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    tags TEXT NOT NULL,
    job_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    ts_ns INTEGER NOT NULL,
    explanation TEXT NOT NULL,
    evidence TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
  );
  CREATE INDEX findings_job ON findings (job_id);
  CREATE INDEX findings_ts ON findings (ts_ns);

  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    events_head_id INTEGER NOT NULL,
    events_head_hash BLOB NOT NULL,
    events_count INTEGER NOT NULL,
    findings_head_id INTEGER NOT NULL,
    findings_head_hash BLOB NOT NULL,
    findings_count INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    signature BLOB NOT NULL
  );
  `,
  // 2: where detection (a worker thread tailing the events table) has got to, so a restart resumes there.
  // Bookkeeping, not evidence: not chained. An existing database starts at its head (history is not re-evaluated).
  `
  CREATE TABLE detection_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL
  );
  INSERT INTO detection_state (id, last_event_id) VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM events));
  `,
]);

export const SCHEMA_VERSION = MIGRATIONS.length;
