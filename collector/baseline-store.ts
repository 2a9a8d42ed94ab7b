// The baselines table of the audit database (better-sqlite3) as a BaselineStore, on a connection of its own:
// the detection worker learns through it beside the read-only event reader, the CLI shows and resets through it.
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { RwError } from '../proto/errors.js';
import type { BaselineKey, BaselineStore } from './baseline.js';
import { BASELINES_SINCE_VERSION, SCHEMA_VERSION } from './schema.js';

export interface SqliteBaselineStore extends BaselineStore {
  close(): void;
}

export const BASELINE_STORE_LIMITS = Object.freeze({
  /** Waits this long for the ingest writer's lock: learning is once per trusted job end, a commit takes milliseconds. */
  busyTimeoutMillis: 5000,
});

/**
 * Opens the baselines of an existing audit database (the collector created and migrated it).
 * `readonly` for `baseline show`. Throws COLLECTOR_ERR_STORE naming the file when it has no baselines table.
 */
export function openBaselineStore(path: string, o: { readonly?: boolean } = {}): SqliteBaselineStore {
  let db: Db | undefined;
  try {
    db = new Database(path, { readonly: o.readonly === true, fileMustExist: true });
    db.pragma(`busy_timeout = ${BASELINE_STORE_LIMITS.busyTimeoutMillis}`);
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v > SCHEMA_VERSION) throw new Error(`schema version ${v} is newer than this runwarden (${SCHEMA_VERSION})`);
    if (v < BASELINES_SINCE_VERSION) {
      throw new Error(`schema version ${v} has no baselines table (${v === 0 ? 'not a runwarden audit database' : 'start this version\'s collector once to migrate it'})`);
    }
    if (o.readonly !== true) {
      // The collector made the file WAL (persistent); a learned baseline may be lost with power, not corrupted.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
  } catch (e) {
    db?.close();
    const code = (e as { code?: unknown }).code;
    throw new RwError('COLLECTOR_ERR_STORE', `cannot open the baselines of ${path}: ${(e as Error).message}`, {
      cause: e, details: { sqlite: typeof code === 'string' ? code : undefined },
    });
  }
  const conn = db;
  const get = conn.prepare('SELECT body FROM baselines WHERE repo = ? AND workflow = ? AND job = ?').pluck();
  const put = o.readonly === true ? undefined : conn.prepare(
    `INSERT INTO baselines (repo, workflow, job, body, updated_ns) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (repo, workflow, job) DO UPDATE SET body = excluded.body, updated_ns = excluded.updated_ns`,
  );
  const del = o.readonly === true ? undefined : conn.prepare('DELETE FROM baselines WHERE repo = ? AND workflow = ? AND job = ?');
  const all = conn.prepare('SELECT repo, workflow, job, body FROM baselines ORDER BY repo, workflow, job');
  const ofRepo = conn.prepare('SELECT repo, workflow, job, body FROM baselines WHERE repo = ? ORDER BY workflow, job');
  const readOnly = (): never => { throw new RwError('COLLECTOR_ERR_STORE', `baselines of ${path} are open read-only`); };
  // A body written by something else (a BLOB, a number) is handed on as text: the pure side says it is corrupt.
  const text = (b: unknown): string => (typeof b === 'string' ? b : Buffer.isBuffer(b) ? b.toString('utf8') : String(b));
  const args = (k: BaselineKey): [string, string, string] => [k.repo, k.workflow, k.job];
  const wrap = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof RwError) throw e;
      const code = (e as { code?: unknown }).code;
      throw new RwError(code === 'SQLITE_FULL' ? 'COLLECTOR_ERR_DISK_FULL' : 'COLLECTOR_ERR_STORE', `${what}: ${(e as Error).message}`, {
        cause: e, details: { sqlite: typeof code === 'string' ? code : undefined },
      });
    }
  };
  return {
    get: (k) => wrap('reading a baseline', () => {
      const b = get.get(...args(k));
      return b === undefined ? undefined : text(b);
    }),
    put: (k, json, updatedNs) => wrap('saving a baseline', () => { (put ?? readOnly()).run(...args(k), json, Math.trunc(updatedNs)); }),
    delete: (k) => wrap('removing a baseline', () => (del ?? readOnly()).run(...args(k)).changes > 0),
    list: (repo) => wrap('listing baselines', () => {
      const rows = (repo === undefined ? all.all() : ofRepo.all(repo)) as { repo: string; workflow: string; job: string; body: unknown }[];
      return rows.map((r) => ({ key: { repo: r.repo, workflow: r.workflow, job: r.job }, json: text(r.body) }));
    }),
    close: () => { if (conn.open) conn.close(); },
  };
}
