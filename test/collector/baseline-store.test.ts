// The baselines table over real SQLite files: migration 3 on new and existing audit databases, round trips with
// updated_ns, read-only opening, and errors that name the file.
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { createBaselines } from '../../collector/baseline.js';
import { openBaselineStore } from '../../collector/baseline-store.js';
import { BASELINES_SINCE_VERSION, MIGRATIONS, SCHEMA_VERSION } from '../../collector/schema.js';
import { openStore } from '../../collector/store.js';
import { encodeEvent } from '../../proto/codec.js';
import type { RwEvent } from '../../proto/types.js';

const K1 = { repo: 'acme/w', workflow: 'ci', job: 'build' };
const K2 = { repo: 'acme/w', workflow: 'ci', job: 'alpha' };
const K3 = { repo: 'zeta/x', workflow: 'release', job: 'publish' };

function newDb(dir: string): string {
  const db = join(dir, 'audit.db');
  openStore(db, { stateDir: join(dir, 'state'), synchronous: 'NORMAL' }).close();
  return db;
}

t.test('a new audit database has the baselines table at the current schema version', async (t) => {
  const db = newDb(t.testdir());
  const raw = new Database(db, { readonly: true });
  t.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.equal(BASELINES_SINCE_VERSION, 3);
  t.match(MIGRATIONS[BASELINES_SINCE_VERSION - 1], /CREATE TABLE baselines/, 'MIGRATIONS[2] is the baselines step');
  t.same(raw.prepare('PRAGMA table_info(baselines)').all().map((c) => (c as { name: string }).name), ['repo', 'workflow', 'job', 'body', 'updated_ns']);
  raw.close();
});

t.test('put/get/list/delete round trip; updated_ns is stored beside the body', async (t) => {
  const db = newDb(t.testdir());
  const s = openBaselineStore(db);
  t.equal(s.get(K1), undefined);
  s.put(K1, '{"egress":["a.example"]}', 1_700_000_000_123_456_789);
  s.put(K2, '{}', 5);
  s.put(K3, '{}', 6);
  s.put(K1, '{"egress":["b.example"]}', 1_700_000_000_999_000_000);
  t.equal(s.get(K1), '{"egress":["b.example"]}', 'the second put replaced the first');
  t.same(s.list().map((r) => r.key), [K2, K1, K3], 'ordered by repo, workflow, job');
  t.same(s.list('acme/w').map((r) => r.key.job), ['alpha', 'build']);
  const raw = new Database(db, { readonly: true });
  const row = raw.prepare('SELECT updated_ns FROM baselines WHERE job = ?').safeIntegers(true).get('build') as { updated_ns: bigint };
  t.ok(row.updated_ns > 1_700_000_000_900_000_000n && row.updated_ns < 1_700_000_001_000_000_000n, `updated_ns ${row.updated_ns}`);
  t.equal(raw.prepare('SELECT count(*) FROM baselines').pluck().get(), 3);
  raw.close();
  t.equal(s.delete(K1), true);
  t.equal(s.delete(K1), false);
  t.equal(s.get(K1), undefined);
  s.close();
  s.close(); // idempotent
});

t.test('an existing version-2 database is migrated: events kept, baselines table added', async (t) => {
  const dir = t.testdir();
  const db = join(dir, 'audit.db');
  const old = new Database(db);
  old.pragma('journal_mode = WAL');
  for (let v = 0; v < 2; v++) { old.exec(MIGRATIONS[v] as string); old.pragma(`user_version = ${v + 1}`); }
  old.close();
  t.throws(() => openBaselineStore(db), { code: 'COLLECTOR_ERR_STORE', message: /audit\.db: schema version 2 has no baselines table \(start this version's collector once to migrate it\)/ });
  const store = openStore(db, { stateDir: join(dir, 'state'), synchronous: 'NORMAL' });
  const ev = { agentId: 'a', bootId: 'b', seq: 1, tsNs: 1, kind: 'exec', pid: 1, exec: { argv: ['true'] } } as RwEvent;
  store.appendEvents([{ event: ev, bytes: encodeEvent(ev) }], 2);
  t.equal(store.count(), 1);
  const s = openBaselineStore(db);
  createBaselines(s).learn(K1, { egress: ['a.example'], executables: [], writeRoots: [], configHashes: {} }, 9);
  t.match(createBaselines(s).view(K1), { egress: ['a.example'], runs: 1, updatedNs: 9 });
  s.close();
  store.close();
});

t.test('read-only: show works while writes throw; a writer elsewhere is seen', async (t) => {
  const db = newDb(t.testdir());
  const rw = openBaselineStore(db);
  const ro = openBaselineStore(db, { readonly: true });
  rw.put(K1, '{}', 1);
  t.equal(ro.get(K1), '{}', 'a read-only connection sees the committed row');
  t.throws(() => ro.put(K2, '{}', 1), { code: 'COLLECTOR_ERR_STORE', message: /read-only/ });
  t.throws(() => ro.delete(K1), { code: 'COLLECTOR_ERR_STORE', message: /read-only/ });
  ro.close();
  rw.close();
});

t.test('a body stored as something else than text comes back as text for the validator to judge', async (t) => {
  const db = newDb(t.testdir());
  const raw = new Database(db);
  raw.prepare('INSERT INTO baselines VALUES (?, ?, ?, ?, ?)').run(K1.repo, K1.workflow, K1.job, Buffer.from('\x00\xff'), 1);
  raw.prepare('INSERT INTO baselines VALUES (?, ?, ?, ?, ?)').run(K2.repo, K2.workflow, K2.job, 42, 1);
  raw.close();
  const s = openBaselineStore(db);
  const reasons: string[] = [];
  const b = createBaselines(s, { onCorrupt: (k, r) => reasons.push(`${k.job}: ${r}`) });
  t.equal(b.view(K1), undefined);
  t.equal(b.view(K2), undefined);
  t.match(reasons, [/^build: not JSON/, /^alpha: not a JSON object$/]);
  s.close();
});

t.test('errors name the file', async (t) => {
  const dir = t.testdir({ 'junk.db': 'this is not sqlite at all, just text padded out to look like a file'.repeat(20) });
  t.throws(() => openBaselineStore(join(dir, 'missing.db')), { code: 'COLLECTOR_ERR_STORE', message: /missing\.db/ });
  t.throws(() => openBaselineStore(join(dir, 'junk.db')), { code: 'COLLECTOR_ERR_STORE', message: /junk\.db: file is not a database/ });
  const empty = join(dir, 'empty.db');
  new Database(empty).close();
  t.throws(() => openBaselineStore(empty), { code: 'COLLECTOR_ERR_STORE', message: /schema version 0 has no baselines table \(not a runwarden audit database\)/ });
  const newer = join(dir, 'newer.db');
  const n = new Database(newer);
  n.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  n.close();
  t.throws(() => openBaselineStore(newer), { code: 'COLLECTOR_ERR_STORE', message: /newer than this runwarden/ });
});
