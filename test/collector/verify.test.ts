// collector/verify.ts: what only signed checkpoints can catch (a chain recomputed after tampering, deleted
// checkpoints, foreign keys), on real files edited with the sqlite3 shell.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { encodeEvent } from '../../proto/codec.js';
import type { RwEvent } from '../../proto/types.js';
import { chainHash, GENESIS_HASH } from '../../collector/chain.js';
import { PUBLIC_KEY_FILE } from '../../collector/checkpoint.js';
import { openAuditReader, openStore } from '../../collector/store.js';
import { verifyStore } from '../../collector/verify.js';

const T0 = 1_764_000_000_000_000_000;
const ev = (seq: number): RwEvent => ({ agentId: 'a1', bootId: 'b1', seq, tsNs: T0 + seq, pid: seq, comm: 'sh', kind: 'exec', exec: { argv: ['sh'] } });

function makeDb(dir: string, stateDir = dir): string {
  const path = join(dir, 'audit.db');
  const s = openStore(path, { stateDir });
  s.appendEvents([1, 2, 3, 4].map((i) => ({ event: ev(i), bytes: encodeEvent(ev(i)) })), T0);
  s.checkpoint(T0 + 1);
  s.appendEvents([5, 6].map((i) => ({ event: ev(i), bytes: encodeEvent(ev(i)) })), T0);
  s.checkpoint(T0 + 2);
  s.close();
  return path;
}
const sql = (db: string, stmt: string): void => { execFileSync('sqlite3', [db, stmt]); };

void t.test('a row modified and the whole chain recomputed is caught by the signed head', async (t) => {
  const dir = t.testdir();
  const db = makeDb(dir);
  sql(db, "UPDATE events SET comm = 'evil' WHERE id = 3");
  const reader = openAuditReader(db);
  const rows = [...reader.rows('events')];
  reader.close();
  let prev = GENESIS_HASH;
  const updates: string[] = [];
  for (const r of rows) {
    const h = chainHash(prev, 'events', r.values);
    updates.push(`UPDATE events SET prev_hash = X'${prev.toString('hex')}', hash = X'${h.toString('hex')}' WHERE id = ${String(r.values[0])};`);
    prev = h;
  }
  sql(db, updates.join('\n'));
  t.match(verifyStore(db), { ok: false, table: 'events', rowId: 4, reason: /hash differs from the one checkpoint 1 signed/ });
});

void t.test('checkpoints are chained: deleting an earlier one is caught', async (t) => {
  const dir = t.testdir();
  const db = makeDb(dir);
  sql(db, 'DELETE FROM checkpoints WHERE id = 1');
  t.match(verifyStore(db), { ok: false, table: 'checkpoints', rowId: 2, reason: /missing/ });
});

void t.test('keys: pinned, unpinned, mixed', async (t) => {
  const dir = t.testdir({ s1: {}, s2: {} });
  const db = makeDb(dir, join(dir, 's1'));
  t.match(verifyStore(db), { ok: true, keyPinned: false, checkpoints: 2, unsealed: { events: 0 } });
  t.match(verifyStore(db, { publicKeyPath: join(dir, 's1', PUBLIC_KEY_FILE) }), { ok: true, keyPinned: true });
  // Reopen with another key pair: the new checkpoint is signed by a different key than the first two.
  const s = openStore(db, { stateDir: join(dir, 's2') });
  s.checkpoint(T0 + 3);
  s.close();
  t.match(verifyStore(db), { ok: false, table: 'checkpoints', rowId: 3, reason: /different key/ });
  t.match(verifyStore(db, { publicKeyPath: join(dir, 's2', PUBLIC_KEY_FILE) }), { ok: false, table: 'checkpoints', rowId: 1, reason: /other than the one given/ });
  t.throws(() => verifyStore(db, { publicKeyPath: join(dir, 'nope.pub') }), { code: 'AUDIT_ERR_CHECKPOINT' });
});

void t.test('a file that is not an audit database is a typed error, not a verdict', async (t) => {
  const dir = t.testdir({ 'x.db': 'not sqlite at all' });
  t.throws(() => verifyStore(join(dir, 'x.db')), { code: 'COLLECTOR_ERR_STORE' });
  t.throws(() => verifyStore(join(dir, 'missing.db')), { code: 'COLLECTOR_ERR_STORE' });
});
