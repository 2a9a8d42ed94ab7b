// agent/attribution.ts: job membership by ancestry, fallback to /proc ppid, DNS names on connects.
import t from 'tap';
import { createAttribution } from '../../agent/attribution.js';
import { createProcTable } from '../../agent/proc-table.js';

function setup(ppids: Record<number, number> = {}) {
  const table = createProcTable();
  const a = createAttribution(table, { readPpid: (pid) => ppids[pid], maxNamesPerJob: 2 });
  const feed = (ev: Parameters<typeof table.apply>[0]) => { table.apply(ev); a.observe(ev); return a.enrich(ev); };
  return { table, a, feed };
}

t.test('descendants of the root belong to the job, others do not', async (t) => {
  const { a, feed } = setup();
  a.registerJob('j1', 100);
  feed({ kind: 'fork', tsNs: 1, pid: 100, fork: { childPid: 101 } });
  feed({ kind: 'fork', tsNs: 2, pid: 101, fork: { childPid: 102 } });
  feed({ kind: 'exec', tsNs: 3, pid: 102, ppid: 101, comm: 'curl', exec: {} });
  feed({ kind: 'fork', tsNs: 4, pid: 50, fork: { childPid: 51 } });
  t.equal(a.jobOf(102), 'j1');
  t.equal(a.jobOf(100), 'j1');
  t.equal(a.jobOf(51), undefined);
  t.same(a.members('j1').sort(), [100, 101, 102]);
});

t.test('members: the job\'s live pids, after exits, table sweeps, pid reuse and the end of the job', async (t) => {
  const table = createProcTable({ exitGraceNs: 0 });
  const a = createAttribution(table, {});
  const feed = (ev: Parameters<typeof table.apply>[0]) => { table.apply(ev); a.observe(ev); };
  a.registerJob('j1', 100);
  feed({ kind: 'fork', tsNs: 1, pid: 100, fork: { childPid: 101 } });
  feed({ kind: 'fork', tsNs: 2, pid: 100, fork: { childPid: 102 } });
  feed({ kind: 'fork', tsNs: 3, pid: 50, fork: { childPid: 51 } });
  feed({ kind: 'exit', tsNs: 4, pid: 101, exit: { code: 0 } });
  t.same(a.members('j1').sort(), [100, 102]);
  table.sweep(1e18); // the exited entry leaves the table: it must not come back as live
  t.same(a.members('j1').sort(), [100, 102]);
  t.equal(a.jobOf(101), 'j1', 'an exited member still attributes its late events');
  feed({ kind: 'fork', tsNs: 5, pid: 50, fork: { childPid: 102 } }); // 102 exited unseen, its pid reused by a host process
  t.same(a.members('j1'), [100]);
  feed({ kind: 'fork', tsNs: 6, pid: 100, fork: { childPid: 101 } }); // 101 reused inside the job
  t.same(a.members('j1').sort(), [100, 101]);
  a.unregisterJob('j1');
  t.same(a.members('j1'), []);
  a.registerJob('j1', 200);
  t.same(a.members('j1'), [200], 'a job id used again starts with its new root only');
});

t.test('membership is fixed at fork: re-parenting to init keeps the job', async (t) => {
  const { a, table, feed } = setup();
  a.registerJob('j1', 100);
  feed({ kind: 'fork', tsNs: 1, pid: 100, fork: { childPid: 101 } });
  feed({ kind: 'fork', tsNs: 2, pid: 101, fork: { childPid: 102 } });
  feed({ kind: 'exit', tsNs: 3, pid: 101, exit: { code: 0 } });
  table.upsert(102, { ppid: 1 }); // what /proc would now say
  t.equal(a.jobOf(102), 'j1');
});

t.test('falls back to /proc ppid for processes the sensor never saw fork', async (t) => {
  const { a } = setup({ 300: 200, 200: 100, 100: 1 });
  a.registerJob('j2', 100);
  t.equal(a.jobOf(300), 'j2');
  t.equal(a.jobOf(999), undefined);
});

t.test('a job registered after a negative lookup still claims its tree', async (t) => {
  const { a } = setup({ 300: 200, 200: 1 });
  t.equal(a.jobOf(300), undefined);
  a.registerJob('late', 200);
  t.equal(a.jobOf(300), 'late');
  a.unregisterJob('late');
  t.equal(a.jobOf(300), undefined);
});

t.test('ancestry: nearest first, comm from the table, bounded, no cycles', async (t) => {
  const { a, table } = setup({ 4: 3, 3: 2, 2: 1 });
  table.upsert(3, { comm: 'make', ppid: 2 });
  table.upsert(2, { comm: 'bash' });
  t.same(a.ancestry(4), [{ pid: 3, comm: 'make' }, { pid: 2, comm: 'bash' }, { pid: 1 }]);
  t.same(a.ancestry(4, 1), [{ pid: 3, comm: 'make' }]);
  const c = setup({ 8: 9, 9: 8 });
  t.same(c.a.ancestry(8), [{ pid: 9 }]);
});

t.test('connects get the domain the job resolved to that IP, bounded per job', async (t) => {
  const { a, feed } = setup();
  a.registerJob('j1', 100);
  feed({ kind: 'fork', tsNs: 1, pid: 100, fork: { childPid: 101 } });
  feed({ kind: 'dns', tsNs: 2, pid: 101, dns: { name: 'evil.test', answers: ['203.0.113.9'] } });
  const net = feed({ kind: 'net', tsNs: 3, pid: 100, net: { dstIp: '203.0.113.9', dstPort: 443 } });
  t.equal(net.kind === 'net' && net.net.domain, 'evil.test', 'another process of the job resolved it');
  const host = feed({ kind: 'net', tsNs: 4, pid: 7, net: { dstIp: '203.0.113.9', dstPort: 443 } });
  t.equal(host.kind === 'net' && host.net.domain, undefined, 'host processes do not see job names');
  feed({ kind: 'dns', tsNs: 5, pid: 101, dns: { name: 'b.test', answers: ['198.51.100.1', '198.51.100.2'] } });
  t.equal(a.domainFor(100, '203.0.113.9'), undefined, 'oldest name evicted beyond the bound');
  t.equal(a.domainFor(100, '198.51.100.2'), 'b.test');
});
