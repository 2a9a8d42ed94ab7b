// agent/spool.ts on real files: append/read/ack across segments, bounded size, torn tails, restart.
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openSpool } from '../../agent/spool.js';

const rec = (i: number, size = 10): Uint8Array => Buffer.alloc(size, i % 256);
const ids = (rs: Uint8Array[]): number[] => rs.map((r) => r[0] as number);

void t.test('append, read in batches, ack deletes whole segments', async (t) => {
  const dir = t.testdir();
  const s = openSpool({ dir, maxBytes: 1 << 20, segmentMaxBytes: 100 });
  for (let i = 0; i < 20; i++) t.equal(s.append([rec(i)]), 1);
  t.equal(s.bytes(), 20 * 14);
  const segs = readdirSync(dir).filter((n) => n.endsWith('.seg'));
  t.ok(segs.length >= 3, `rolled into ${segs.length} segments`);
  // 14-byte records in 100-byte segments: 8 per segment, so reading 9 spans two
  const a = s.read(s.acked(), 9, 1 << 20);
  t.same(ids(a.records), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  const b = s.read(a.next, 100, 1 << 20);
  t.same(ids(b.records), Array.from({ length: 11 }, (_, i) => i + 9));
  t.equal(s.countAfter(a.next), 11);
  s.ack(a.next);
  t.equal(s.countAfter(s.acked()), 11);
  t.ok(readdirSync(dir).filter((n) => n.endsWith('.seg')).length < segs.length, 'acked segment deleted');
  s.ack(b.next);
  t.equal(s.countAfter(s.acked()), 0);
  t.ok(s.bytes() <= 100 + 14, 'only the open segment remains');
  s.close();
});

void t.test('maxBytes bounds the spool; the refused suffix is reported, not written', async (t) => {
  const s = openSpool({ dir: t.testdir(), maxBytes: 100, segmentMaxBytes: 64 * 1024 });
  t.equal(s.append([rec(1, 40), rec(2, 40), rec(3, 40)]), 2, 'two of 44 bytes fit in 100');
  t.notOk(s.fits(40));
  t.equal(s.append([rec(4, 40)]), 0);
  const r = s.read(s.acked(), 10, 1 << 20);
  t.same(ids(r.records), [1, 2]);
  s.ack(r.next);
  s.close();
});

void t.test('read respects maxBytes but always returns at least one record', async (t) => {
  const s = openSpool({ dir: t.testdir(), maxBytes: 1 << 20 });
  s.append([rec(1, 500), rec(2, 500), rec(3, 500)]);
  t.same(ids(s.read(s.acked(), 10, 1000).records), [1, 2]);
  t.same(ids(s.read(s.acked(), 10, 999).records), [1]);
  t.same(ids(s.read(s.acked(), 10, 100).records), [1]);
  s.close();
});

void t.test('restart replays unacked records in order and drops a torn tail', async (t) => {
  const dir = t.testdir();
  const s1 = openSpool({ dir, maxBytes: 1 << 20, segmentMaxBytes: 50 });
  for (let i = 0; i < 10; i++) s1.append([rec(i)]);
  const first = s1.read(s1.acked(), 4, 1 << 20);
  s1.ack(first.next);
  s1.close();
  // a process killed mid-write leaves half a record at the end of the last segment
  const last = readdirSync(dir).filter((n) => n.endsWith('.seg')).sort().at(-1) as string;
  appendFileSync(join(dir, last), Buffer.from([50, 0, 0, 0, 1, 2]));

  const s2 = openSpool({ dir, maxBytes: 1 << 20, segmentMaxBytes: 50 });
  t.equal(s2.countAfter(s2.acked()), 6);
  s2.append([rec(99)]);
  const all = s2.read(s2.acked(), 100, 1 << 20);
  t.same(ids(all.records), [4, 5, 6, 7, 8, 9, 99], 'oldest first, new records after');
  s2.ack(all.next);
  s2.close();
  const s3 = openSpool({ dir, maxBytes: 1 << 20, segmentMaxBytes: 50 });
  t.equal(s3.countAfter(s3.acked()), 0, 'nothing replayed after a full ack');
  s3.close();
});

void t.test('an unusable directory is a typed error', async (t) => {
  const dir = t.testdir({ file: 'x' });
  t.throws(() => openSpool({ dir: join(dir, 'file', 'sub'), maxBytes: 100 }), { code: 'AGENT_ERR_SPOOL' });
});

void t.test('the ack cursor reaches disk at most every cursorPersistMillis: a crash resends acked records, never loses one', async (t) => {
  const dir = t.testdir();
  const s1 = openSpool({ dir, maxBytes: 1 << 20, cursorPersistMillis: 60_000 });
  for (let i = 0; i < 10; i++) s1.append([rec(i)]);
  const a = s1.read(s1.acked(), 4, 1 << 20);
  s1.ack(a.next); // first ack: written at once
  const b = s1.read(s1.acked(), 3, 1 << 20);
  s1.ack(b.next); // within the window: kept in memory
  t.same(ids(b.records), [4, 5, 6]);
  // killed here (no close): the reopened spool replays from the last cursor on disk
  const s2 = openSpool({ dir, maxBytes: 1 << 20 });
  t.same(ids(s2.read(s2.acked(), 100, 1 << 20).records), [4, 5, 6, 7, 8, 9], 'the three acked since are resent (the collector dedupes), nothing unacked is missing');
  s2.close();
  const s3 = openSpool({ dir, maxBytes: 1 << 20, cursorPersistMillis: 60_000 });
  const c = s3.read(s3.acked(), 3, 1 << 20);
  s3.ack(c.next);
  const d = s3.read(s3.acked(), 2, 1 << 20);
  s3.ack(d.next);
  s3.close(); // close writes the latest cursor
  const s4 = openSpool({ dir, maxBytes: 1 << 20 });
  t.same(ids(s4.read(s4.acked(), 100, 1 << 20).records), [9], 'after a clean close only the unacked record is left');
  s4.close();
});

void t.test('a fully acked open segment is written on, not replaced: no file per delivered batch', async (t) => {
  const dir = t.testdir();
  const s = openSpool({ dir, maxBytes: 1 << 20, segmentMaxBytes: 1000 });
  const segs = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort();
  let from = s.acked();
  const seen = new Set<string>();
  for (let batch = 0; batch < 20; batch++) {
    t.equal(s.append([rec(batch), rec(batch + 100)]), 2);
    for (const n of segs()) seen.add(n);
    const r = s.read(from, 100, 1 << 20);
    t.same(ids(r.records), [batch, batch + 100], `batch ${batch} read back alone`);
    s.ack(r.next);
    from = r.next;
    t.equal(s.countAfter(s.acked()), 0);
    t.equal(s.bytes(), 0, 'acked bytes are not spooled bytes');
  }
  t.equal(seen.size, 1, 'twenty delivered batches, one segment file');
  s.close();
  t.same(segs(), [], 'a clean close deletes the fully acked segment');
  const s2 = openSpool({ dir, maxBytes: 1 << 20, segmentMaxBytes: 1000 });
  t.equal(s2.countAfter(s2.acked()), 0, 'nothing replayed');
  s2.close();
});

void t.test('the room of a fully acked open segment is reclaimed when maxBytes needs it', async (t) => {
  const s = openSpool({ dir: t.testdir(), maxBytes: 100, segmentMaxBytes: 64 * 1024 });
  t.equal(s.append([rec(1, 40), rec(2, 40)]), 2);
  s.ack(s.read(s.acked(), 10, 1 << 20).next);
  t.ok(s.fits(40), 'fits counts the acked segment as free');
  t.equal(s.append([rec(3, 40), rec(4, 40)]), 2, 'both fit once the acked segment is deleted');
  t.equal(s.append([rec(5, 40)]), 0, 'unacked records still bound the spool');
  t.same(ids(s.read(s.acked(), 10, 1 << 20).records), [3, 4]);
  s.close();
});

void t.test('a process killed with a fully acked open segment replays nothing, and the segment goes at the next ack', async (t) => {
  const dir = t.testdir();
  const s1 = openSpool({ dir, maxBytes: 1 << 20, cursorPersistMillis: 0 });
  s1.append([rec(1), rec(2)]);
  s1.ack(s1.read(s1.acked(), 10, 1 << 20).next);
  // no close(): the process died here
  const s2 = openSpool({ dir, maxBytes: 1 << 20 });
  t.equal(s2.countAfter(s2.acked()), 0, 'nothing replayed');
  s2.append([rec(3)]);
  const r = s2.read(s2.acked(), 10, 1 << 20);
  t.same(ids(r.records), [3]);
  s2.ack(r.next);
  t.equal(readdirSync(dir).filter((n) => n.endsWith('.seg')).length, 1, 'the old segment is deleted, the new one stays open');
  s2.close();
});
