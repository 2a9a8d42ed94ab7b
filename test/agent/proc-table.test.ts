// agent/proc-table.ts: fork/exec/exit bookkeeping, LRU bound, exit grace, container ids.
import t from 'tap';
import { containerIdFromCgroup, createProcTable } from '../../agent/proc-table.js';

t.test('fork inherits, exec replaces, exit marks and sweep drops after the grace period', async (t) => {
  const pt = createProcTable({ exitGraceNs: 1000 });
  pt.upsert(10, { comm: 'bash', exe: '/bin/bash', argv: ['bash'], uid: 1000, cgroup: '/ci' });
  pt.apply({ kind: 'fork', tsNs: 100, pid: 10, fork: { childPid: 11 } });
  t.match(pt.get(11), { pid: 11, ppid: 10, comm: 'bash', exe: '/bin/bash', uid: 1000, cgroup: '/ci', startNs: 100 });
  pt.apply({ kind: 'exec', tsNs: 200, pid: 11, ppid: 10, comm: 'curl', exe: '/usr/bin/curl', exec: { argv: ['curl', 'x'] } });
  t.match(pt.get(11), { comm: 'curl', exe: '/usr/bin/curl', argv: ['curl', 'x'], startNs: 100 });
  pt.apply({ kind: 'exit', tsNs: 300, pid: 11, exit: { code: 0 } });
  t.equal(pt.get(11)?.exitNs, 300);
  t.equal(pt.sweep(1000), 0, 'within grace');
  t.equal(pt.sweep(1301), 1);
  t.equal(pt.get(11), undefined);
});

t.test('a recycled pid starts a fresh entry', async (t) => {
  const pt = createProcTable();
  pt.apply({ kind: 'exec', tsNs: 1, pid: 5, ppid: 1, comm: 'old', exe: '/old', exec: { argv: ['old'] } });
  pt.apply({ kind: 'exit', tsNs: 2, pid: 5, exit: { code: 0 } });
  pt.apply({ kind: 'fork', tsNs: 3, pid: 7, comm: 'sh', fork: { childPid: 5 } });
  t.match(pt.get(5), { ppid: 7, comm: 'sh', startNs: 3 });
  t.equal(pt.get(5)?.exitNs, undefined);
  t.equal(pt.get(5)?.exe, undefined);
});

t.test('bounded: least recently used goes first', async (t) => {
  const pt = createProcTable({ maxEntries: 3 });
  for (const pid of [1, 2, 3]) pt.upsert(pid, { comm: `p${pid}` });
  pt.get(1);
  pt.upsert(4, { comm: 'p4' });
  t.equal(pt.size(), 3);
  t.equal(pt.get(2), undefined);
  t.ok(pt.get(1));
  t.equal(pt.evicted(), 1);
});

t.test('bounded: a new entry stays when every older one was used; each used one gets one more chance', async (t) => {
  const pt = createProcTable({ maxEntries: 3 });
  for (const pid of [1, 2, 3]) pt.upsert(pid, { comm: `p${pid}` });
  for (const pid of [1, 2, 3]) pt.get(pid);
  pt.upsert(4, { comm: 'p4' });
  t.equal(pt.size(), 3);
  t.ok(pt.peek(4), 'the entry just added is kept');
  t.equal(pt.peek(1), undefined, 'the oldest goes once its chance is used up');
  t.ok(pt.peek(2) && pt.peek(3));
  pt.get(3);
  pt.upsert(5, { comm: 'p5' });
  t.equal(pt.peek(2), undefined, '2 was not used again: it goes before 3, which was');
  t.ok(pt.peek(3) && pt.peek(4) && pt.peek(5));
  t.equal(pt.evicted(), 2);
});

t.test('peek reads without refreshing: the peeked entry is still the first to go', async (t) => {
  const pt = createProcTable({ maxEntries: 3 });
  for (const pid of [1, 2, 3]) pt.upsert(pid, { comm: `p${pid}` });
  t.equal(pt.peek(1)?.comm, 'p1');
  t.equal(pt.peek(9), undefined);
  pt.upsert(4, { comm: 'p4' });
  t.equal(pt.peek(1), undefined);
  t.equal(pt.peek(2)?.comm, 'p2');
});

t.test('other events create a minimal entry, never overwrite', async (t) => {
  const pt = createProcTable();
  pt.apply({ kind: 'net', tsNs: 1, pid: 9, comm: 'nc', uid: 0, net: { dstIp: '1.2.3.4' } });
  t.match(pt.get(9), { pid: 9, comm: 'nc', uid: 0 });
  pt.apply({ kind: 'net', tsNs: 2, pid: 9, comm: 'other', net: {} });
  t.equal(pt.get(9)?.comm, 'nc');
});

t.test('containerIdFromCgroup', async (t) => {
  const id = 'a'.repeat(64);
  const table: [string, string | undefined][] = [
    [`0::/system.slice/docker-${id}.scope`, id], [`12:memory:/docker/${id}`, id], [`0::/kubepods/burstable/pod1/cri-containerd-${id}.scope`, id],
    ['0::/user.slice/user-0.slice/session-1.scope', undefined], ['0::/', undefined],
  ];
  for (const [cg, want] of table) t.equal(containerIdFromCgroup(cg), want, cg);
});
