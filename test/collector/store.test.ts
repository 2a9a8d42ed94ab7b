// collector/store.ts against real SQLite files: append, dedupe, loss ranges, queries, findings, checkpoints, disk full.
import t from 'tap';
import type { Test } from 'tap';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { encodeEvent } from '../../proto/codec.js';
import { decodeEvent } from '../../proto/codec.js';
import { isRwError } from '../../proto/errors.js';
import type { RawEvent, RwEvent } from '../../proto/types.js';
import { openAuditReader, openStore, openStoreReadOnly } from '../../collector/store.js';
import { verifyStore } from '../../collector/verify.js';
import { PRIVATE_KEY_FILE, PUBLIC_KEY_FILE } from '../../collector/checkpoint.js';
import type { Finding } from '../../collector/finding.js';
import pino from 'pino';
import { Writable } from 'node:stream';

const T0 = 1_764_000_000_000_000_000;
function ev(seq: number, over: Partial<RwEvent> = {}, bootId = 'b1'): RwEvent {
  return { agentId: 'a1', bootId, seq, tsNs: T0 + seq * 1_000_000, jobId: 'job-1', pid: 100 + (seq % 3), ppid: 1, uid: 1000, comm: 'sh', exe: '/bin/sh', kind: 'exec', exec: { argv: ['sh', '-c', `echo ${seq}`] }, ...over } as RwEvent;
}
const raw = (e: RwEvent): RawEvent => ({ event: e, bytes: encodeEvent(e) });
const seqs = (list: number[], bootId = 'b1'): RawEvent[] => list.map((s) => raw(ev(s, {}, bootId)));

function fresh(t: Test, extra: { maxPageCount?: number } = {}) {
  const dir = t.testdir();
  const path = join(dir, 'audit.db');
  const store = openStore(path, { stateDir: join(dir, 'state'), synchronous: 'NORMAL', ...extra });
  t.teardown(() => store.close());
  return { dir, path, store };
}

void t.test('append stores every column, keeps raw bytes with unknown fields, returns ids in order', async (t) => {
  const { path, store } = fresh(t);
  const e = ev(1, { host: 'runner-1', secretNames: ['NPM_TOKEN'] });
  // Field 999 (varint 7) is unknown to this schema: it must survive in `raw`.
  const bytes = Buffer.concat([Buffer.from(encodeEvent(e)), Buffer.from([0xb8, 0x3e, 0x07])]);
  const decoded = decodeEvent(bytes);
  const r = store.appendEvents([{ event: decoded, bytes }, raw(ev(2, { kind: 'net', net: { dstIp: '1.2.3.4', dstPort: 443, domain: 'x.test' } } as Partial<RwEvent>))], T0);
  t.same(r, { stored: 2, duplicates: 0, ids: [1, 2] });
  const got = store.queryEvents({});
  t.equal(got.length, 2);
  t.match(got[0], { id: 1, event: { agentId: 'a1', bootId: 'b1', seq: 1, host: 'runner-1', jobId: 'job-1', pid: 101, kind: 'exec', exec: { argv: ['sh', '-c', 'echo 1'] }, secretNames: ['NPM_TOKEN'] } });
  t.match(got[1], { id: 2, event: { kind: 'net', net: { dstIp: '1.2.3.4', dstPort: 443, domain: 'x.test' } } });
  store.close();
  const reader = openAuditReader(path);
  const rows = [...reader.rows('events')];
  reader.close();
  t.same(Buffer.from(rows[0]!.values[16] as Uint8Array), bytes, 'raw holds the exact bytes received');
  t.equal(rows[0]!.values[6], 'exec');
});

void t.test('redelivery is deduplicated, within and across batches, without moving the chain', async (t) => {
  const { path, store } = fresh(t);
  t.same(store.appendEvents(seqs([1, 2, 3]), T0), { stored: 3, duplicates: 0, ids: [1, 2, 3] });
  t.same(store.appendEvents(seqs([2, 3, 4, 4]), T0), { stored: 1, duplicates: 3, ids: [4] });
  t.same(store.appendEvents(seqs([1], 'b2'), T0), { stored: 1, duplicates: 0, ids: [5] }, 'another boot is another stream');
  t.equal(store.count(), 5);
  store.close();
  t.match(verifyStore(path), { ok: true, rows: { events: 5 } });
});

void t.test('seq gaps become loss ranges, filled in when the missing events arrive later', async (t) => {
  type Step = { append: number[]; boot?: string; losses: Array<[string, number, number]> };
  const cases: Array<{ name: string; steps: Step[] }> = [
    { name: 'no gap', steps: [{ append: [1, 2, 3], losses: [] }] },
    { name: 'gap then fill oldest-first', steps: [
      { append: [1, 2, 5, 6], losses: [['b1', 3, 4]] },
      { append: [3], losses: [['b1', 4, 4]] },
      { append: [4], losses: [] },
    ] },
    { name: 'fill from the top end', steps: [{ append: [1, 5], losses: [['b1', 2, 4]] }, { append: [4], losses: [['b1', 2, 3]] }] },
    { name: 'fill in the middle splits the range', steps: [{ append: [1, 10], losses: [['b1', 2, 9]] }, { append: [5], losses: [['b1', 2, 4], ['b1', 6, 9]] }] },
    { name: 'out of order inside one batch leaves no loss', steps: [{ append: [1, 3, 2, 5, 4], losses: [] }] },
    { name: 'stream first seen at seq 4', steps: [{ append: [4, 5], losses: [['b1', 1, 3]] }, { append: [1, 2, 3], losses: [] }] },
    { name: 'redelivered gap batch does not record the gap twice', steps: [{ append: [1, 4], losses: [['b1', 2, 3]] }, { append: [1, 4], losses: [['b1', 2, 3]] }] },
    { name: 'boots are separate streams', steps: [{ append: [1, 3], losses: [['b1', 2, 2]] }, { append: [2, 3], boot: 'b2', losses: [['b1', 2, 2], ['b2', 1, 1]] }] },
    { name: 'reconnect replays a late range after newer events', steps: [
      { append: [1, 2, 3, 20, 21], losses: [['b1', 4, 19]] },
      { append: [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19], losses: [] },
    ] },
  ];
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      const { path, store } = fresh(t);
      for (const s of c.steps) {
        store.appendEvents(seqs(s.append, s.boot), T0 + 5);
        t.same(store.losses().map((l) => [l.bootId, l.fromSeq, l.toSeq]), s.losses, `after ${s.append.join(',')}`);
      }
      store.close();
      t.match(verifyStore(path), { ok: true });
    });
  }
  const { store } = fresh(t);
  store.appendEvents(seqs([1, 3]), T0 + 5);
  t.same(store.losses('a1'), [{ agentId: 'a1', bootId: 'b1', fromSeq: 2, toSeq: 2, recordedNs: T0 + 5 }]);
  t.same(store.losses('other'), []);
});

void t.test('queries filter by job, kinds, pid, agent, time, afterId and limit', async (t) => {
  const { store } = fresh(t);
  store.appendEvents([
    raw(ev(1)),
    raw(ev(2, { jobId: 'job-2', kind: 'dns', dns: { name: 'x.test', answers: ['1.2.3.4'] } } as Partial<RwEvent>)),
    raw(ev(3, { kind: 'file', file: { op: 'CREATE', path: '/tmp/x' } } as Partial<RwEvent>)),
    raw(ev(4, { jobId: undefined })),
  ], T0);
  const ids = (f: Parameters<typeof store.queryEvents>[0]) => store.queryEvents(f).map((s) => s.id);
  const cases: Array<[string, Parameters<typeof store.queryEvents>[0], number[]]> = [
    ['all', {}, [1, 2, 3, 4]],
    ['job', { jobId: 'job-1' }, [1, 3]],
    ['kinds', { kinds: ['dns', 'file'] }, [2, 3]],
    ['pid', { pid: 101 }, [1, 4]],
    ['agent', { agentId: 'nobody' }, []],
    ['since', { sinceNs: T0 + 3_000_000 }, [3, 4]],
    ['until', { untilNs: T0 + 2_000_000 }, [1, 2]],
    ['afterId', { afterId: 2 }, [3, 4]],
    ['limit', { limit: 2 }, [1, 2]],
    ['combined', { jobId: 'job-1', kinds: ['exec'], pid: 101 }, [1]],
  ];
  for (const [name, f, want] of cases) t.same(ids(f), want, name);
  t.notOk('jobId' in store.queryEvents({ afterId: 3 })[0]!.event, 'host events have no jobId');
});

void t.test('findings are chained, filtered by job, severity and time', async (t) => {
  const { path, store } = fresh(t);
  const f = (sev: Finding['severity'], jobId: string, tsNs: number): Finding => ({
    ruleId: `r-${sev}`, title: `t ${sev}`, severity: sev, tags: ['CICD-SEC-4'], jobId, agentId: 'a1', tsNs, explanation: 'why',
    evidence: [{ eventId: 1, agentId: 'a1', bootId: 'b1', seq: 1, kind: 'exec', pid: 5, summary: 'exec curl' }],
  });
  t.same(store.appendFindings([f('low', 'j1', 10), f('high', 'j1', 20), f('critical', 'j2', 30)]), [1, 2, 3]);
  t.same(store.appendFindings([f('medium', 'j2', 40)]), [4]);
  t.same(store.queryFindings({ minSeverity: 'high' }).map((x) => x.id), [2, 3]);
  t.same(store.queryFindings({ jobId: 'j2' }).map((x) => x.id), [3, 4]);
  t.same(store.queryFindings({ sinceNs: 25 }).map((x) => x.id), [3, 4]);
  t.match(store.queryFindings({ limit: 1 })[0], { id: 1, ruleId: 'r-low', tags: ['CICD-SEC-4'], evidence: [{ summary: 'exec curl' }] });
  t.throws(() => store.queryFindings({ minSeverity: 'bogus' }), { code: 'CLI_ERR_USAGE' });
  store.close();
  t.match(verifyStore(path), { ok: true, rows: { findings: 4 } });
});

void t.test('checkpoint key: made once with mode 0600, reused on reopen; chain continues across reopen', async (t) => {
  const { dir, path, store } = fresh(t);
  store.appendEvents(seqs([1, 2]), T0);
  store.checkpoint(T0 + 1);
  store.close();
  const st = statSync(join(dir, 'state', PRIVATE_KEY_FILE));
  t.equal(st.mode & 0o777, 0o600);
  const again = openStore(path, { stateDir: join(dir, 'state') });
  again.appendEvents(seqs([3]), T0);
  again.checkpoint(T0 + 2);
  again.appendEvents(seqs([4]), T0);
  again.close();
  t.match(verifyStore(path, { publicKeyPath: join(dir, 'state', PUBLIC_KEY_FILE) }), {
    ok: true, rows: { events: 4, findings: 0 }, checkpoints: 2, keyPinned: true, unsealed: { events: 1, findings: 0 },
  });
});

void t.test('read-only store queries and refuses writes', async (t) => {
  const { path, store } = fresh(t);
  store.appendEvents(seqs([1]), T0);
  const ro = openStoreReadOnly(path);
  t.teardown(() => ro.close());
  t.equal(ro.queryEvents({}).length, 1);
  t.throws(() => ro.appendEvents(seqs([2]), T0), { code: 'COLLECTOR_ERR_STORE' });
  t.throws(() => ro.checkpoint(T0), { code: 'COLLECTOR_ERR_STORE' });
  t.throws(() => openStoreReadOnly(join(t.testdir(), 'none.db')), { code: 'COLLECTOR_ERR_STORE' });
});

void t.test('close is idempotent; a closed store throws a typed error', async (t) => {
  const { store } = fresh(t);
  store.close();
  store.close();
  t.throws(() => store.count(), { code: 'COLLECTOR_ERR_STORE' });
});

void t.test('disk full: SQLITE_FULL becomes COLLECTOR_ERR_DISK_FULL, nothing half-written, chain verifies', async (t) => {
  const { path, store } = fresh(t, { maxPageCount: 60 });
  let seq = 1;
  let committed = 0;
  let err: unknown;
  const big = 'x'.repeat(2000);
  for (let i = 0; i < 200 && err === undefined; i++) {
    const batch = Array.from({ length: 20 }, () => raw(ev(seq++, { exe: big })));
    const before = store.count();
    try {
      committed += store.appendEvents(batch, T0).stored;
    } catch (e) {
      err = e;
      t.equal(store.count(), before, 'the failed batch left no row behind');
    }
  }
  t.ok(isRwError(err, 'COLLECTOR_ERR_DISK_FULL'), `got ${String(err)}`);
  t.ok(committed > 0, 'some batches fit before the limit');
  t.equal(store.count(), committed);
  t.same(store.losses(), [], 'no loss row from the rolled-back batch');
  // Still usable: a tiny batch may not fit either, but must fail the same typed way or succeed whole.
  try { store.appendEvents(seqs([seq]), T0); committed++; } catch (e) { t.ok(isRwError(e, 'COLLECTOR_ERR_DISK_FULL')); }
  store.close();
  t.match(verifyStore(path), { ok: true, rows: { events: committed } });
});

void t.test('logs: a gap and a conflicting redelivery are warned about, with identities and no bodies', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } });
  const dir = t.testdir();
  const store = openStore(join(dir, 'audit.db'), { stateDir: dir, logger: pino({ base: null, timestamp: false }, sink) });
  t.teardown(() => store.close());
  store.appendEvents(seqs([1, 3]), T0);
  const forged = ev(3, { comm: 'forged' });
  t.same(store.appendEvents([raw(forged), raw(ev(1))], T0), { stored: 0, duplicates: 2, ids: [] });
  t.equal(store.queryEvents({ afterId: 1 })[0]?.event.comm, 'sh', 'the first delivery is kept');
  await new Promise((r) => setImmediate(r));
  t.same(lines, [
    { level: 40, agentId: 'a1', bootId: 'b1', fromSeq: 2, toSeq: 2, msg: 'event sequence gap recorded as loss' },
    { level: 40, agentId: 'a1', bootId: 'b1', seq: 3, msg: 'redelivered event differs from the stored one; the first is kept' },
  ]);
});

void t.test('disk full during a checkpoint is the same typed error and leaves the chain intact', async (t) => {
  const { path, store } = fresh(t, { maxPageCount: 40 });
  let seq = 1;
  let full = false;
  for (let i = 0; i < 100 && !full; i++) {
    try { store.appendEvents(Array.from({ length: 10 }, () => raw(ev(seq++, { exe: 'y'.repeat(1500) }))), T0); } catch (e) { full = isRwError(e, 'COLLECTOR_ERR_DISK_FULL'); }
  }
  t.ok(full);
  let cpErr: unknown;
  for (let i = 0; i < 5000 && cpErr === undefined; i++) { try { store.checkpoint(T0 + i); } catch (e) { cpErr = e; } }
  t.ok(isRwError(cpErr, 'COLLECTOR_ERR_DISK_FULL'), `got ${String(cpErr)}`);
  store.close();
  t.match(verifyStore(path), { ok: true });
});

void t.test('page size: a new database gets 16 KiB pages, an existing one keeps its own and goes on chaining', async (t) => {
  const { default: Database } = await import('better-sqlite3');
  const { path, store } = fresh(t);
  store.appendEvents(seqs([1, 2]), T0);
  store.close();
  const probe = (p: string): number => { const d = new Database(p, { readonly: true }); try { return d.pragma('page_size', { simple: true }) as number; } finally { d.close(); } };
  t.equal(probe(path), 16_384);

  // A database made with SQLite's default 4 KiB pages (as every earlier runwarden made them).
  const dir = t.testdir();
  const old = join(dir, 'old.db');
  const a = openStore(old, { stateDir: join(dir, 'state') });
  a.close();
  const d = new Database(old);
  d.pragma('journal_mode = DELETE');
  d.pragma('page_size = 4096');
  d.exec('VACUUM');
  d.pragma('journal_mode = WAL');
  d.close();
  t.equal(probe(old), 4096);
  const b = openStore(old, { stateDir: join(dir, 'state') });
  b.appendEvents(seqs([1, 2, 3]), T0);
  b.close();
  t.equal(probe(old), 4096, 'reopening does not change it');
  t.match(verifyStore(old), { ok: true, rows: { events: 3 } });
});
