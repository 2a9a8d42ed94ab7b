// `runwarden audit verify` on real DB files tampered with by the real sqlite3 shell: exit 1 naming the first broken row.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeEvent } from '../../proto/codec.js';
import type { RwEvent } from '../../proto/types.js';
import { openStore } from '../../collector/store.js';
import { PUBLIC_KEY_FILE } from '../../collector/checkpoint.js';

const CLI = new URL('../../cli/runwarden.js', import.meta.url).pathname;
const T0 = 1_764_000_000_000_000_000;

function ev(seq: number): RwEvent {
  return { agentId: 'a1', bootId: 'b1', seq, tsNs: T0 + seq, jobId: 'j1', pid: 100 + seq, comm: 'sh', kind: 'exec', exec: { argv: ['sh', String(seq)] } };
}

/** 6 events, 2 findings; checkpoint signed at events head 4, findings head 2. */
function makeDb(dir: string): string {
  const path = join(dir, 'audit.db');
  const s = openStore(path, { stateDir: dir });
  s.appendEvents([1, 2, 3, 4].map((i) => ({ event: ev(i), bytes: encodeEvent(ev(i)) })), T0);
  s.appendFindings([1, 2].map((i) => ({ ruleId: `r${i}`, title: 't', severity: 'high' as const, tags: [], jobId: 'j1', agentId: 'a1', tsNs: T0, explanation: 'e', evidence: [] })));
  s.checkpoint(T0 + 100);
  s.appendEvents([5, 6].map((i) => ({ event: ev(i), bytes: encodeEvent(ev(i)) })), T0);
  s.close();
  return path;
}

const sql = (db: string, stmt: string): void => { execFileSync('sqlite3', [db, stmt]); };
const verify = (...args: string[]) => spawnSync(process.execPath, [CLI, 'audit', 'verify', ...args], { encoding: 'utf8' });

void t.test('intact database: exit 0, counts, pinned key', async (t) => {
  const dir = t.testdir();
  const db = makeDb(dir);
  const r = verify('--db', db);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /intact: 6 events, 2 findings, 1 checkpoints; signatures checked against .*checkpoint-ed25519\.pub; 2 events and 0 findings after the last checkpoint are not yet signed/);
  const j = verify('--db', db, '--format', 'json');
  t.same(JSON.parse(j.stdout), { ok: true, rows: { events: 6, findings: 2 }, checkpoints: 1, keyPinned: true, unsealed: { events: 2, findings: 0 } });
});

const SWAP = `
  CREATE TEMP TABLE t AS SELECT * FROM events WHERE id IN (2, 3);
  UPDATE events SET (agent_id, boot_id, seq, ts_ns, received_ns, kind, host, job_id, pid, ppid, uid, comm, exe, secret_names, body, raw, prev_hash, hash) =
    (SELECT agent_id, boot_id, -seq, ts_ns, received_ns, kind, host, job_id, pid, ppid, uid, comm, exe, secret_names, body, raw, prev_hash, hash FROM t WHERE t.id = 5 - events.id)
    WHERE id IN (2, 3);
  UPDATE events SET seq = -seq WHERE id IN (2, 3);`;

const cases: Array<{ name: string; stmt: string; table: string; row: number; reason: RegExp }> = [
  { name: 'a column modified', stmt: "UPDATE events SET comm = 'evil' WHERE id = 3", table: 'events', row: 3, reason: /hash does not match the row content/ },
  { name: 'the raw bytes modified', stmt: 'UPDATE events SET raw = X\'00\' WHERE id = 5', table: 'events', row: 5, reason: /content/ },
  { name: 'a row deleted', stmt: 'DELETE FROM events WHERE id = 2', table: 'events', row: 3, reason: /rows 2\.\.2 are missing/ },
  {
    name: 'a row inserted',
    stmt: `INSERT INTO events SELECT 7, agent_id, boot_id, 99, ts_ns, received_ns, kind, host, job_id, pid, ppid, uid, 'evil', exe, secret_names, body, raw, hash, randomblob(32) FROM events WHERE id = 6`,
    table: 'events', row: 7, reason: /content/,
  },
  { name: "two rows' content swapped", stmt: SWAP, table: 'events', row: 2, reason: /prev_hash|content/ },
  { name: 'the tail deleted back past the checkpoint', stmt: 'DELETE FROM events WHERE id >= 3', table: 'events', row: 4, reason: /checkpoint 1 signed events head 4, the table ends at 2/ },
  { name: 'a finding modified', stmt: "UPDATE findings SET severity = 'info' WHERE id = 2", table: 'findings', row: 2, reason: /content/ },
  { name: 'all findings deleted', stmt: 'DELETE FROM findings', table: 'findings', row: 2, reason: /tail deleted/ },
  { name: 'a checkpoint signature altered', stmt: 'UPDATE checkpoints SET signature = randomblob(64) WHERE id = 1', table: 'checkpoints', row: 1, reason: /signature does not verify/ },
  { name: 'a hash column made text', stmt: "UPDATE events SET hash = 'x' WHERE id = 1", table: 'events', row: 1, reason: /32-byte blob/ },
];

for (const c of cases) {
  void t.test(c.name, async (t) => {
    const dir = t.testdir();
    const db = makeDb(dir);
    sql(db, c.stmt);
    const r = verify('--db', db);
    t.equal(r.status, 1, `exit 1 (stderr: ${r.stderr})`);
    t.match(r.stdout, new RegExp(`^audit trail BROKEN: table ${c.table}, row ${c.row}: `));
    t.match(r.stdout, c.reason);
    if (c === cases[0] || c === cases[5]) {
      const j = verify('--db', db, '--format', 'json');
      t.equal(j.status, 1);
      t.match(JSON.parse(j.stdout), { ok: false, table: c.table, rowId: c.row });
    }
  });
}

void t.test('checkpoint signed by another key: pinned key catches it', async (t) => {
  const a = t.testdir({ other: {} });
  const db = makeDb(a);
  // A second store in another state dir makes a different key pair.
  const other = openStore(join(a, 'other', 'x.db'), { stateDir: join(a, 'other') });
  other.close();
  const r = verify('--db', db, '--public-key', join(a, 'other', PUBLIC_KEY_FILE));
  t.equal(r.status, 1);
  t.match(r.stdout, /table checkpoints, row 1: signed by a key other than the one given/);
  copyFileSync(join(a, 'other', PUBLIC_KEY_FILE), join(a, PUBLIC_KEY_FILE));
  t.equal(verify('--db', db).status, 1, 'the key file next to the DB is used by default');
});

void t.test('usage errors exit 2', async (t) => {
  const dir = t.testdir();
  for (const args of [['--db', join(dir, 'missing.db')], ['--bogus'], ['--db', 'x', '--format', 'xml']]) {
    const r = verify(...args);
    t.equal(r.status, 2, args.join(' '));
    t.match(r.stderr, /^runwarden audit: /);
  }
  const r = spawnSync(process.execPath, [CLI, 'audit'], { encoding: 'utf8' });
  t.equal(r.status, 2);
  t.match(r.stderr, /needs a subcommand/);
});
