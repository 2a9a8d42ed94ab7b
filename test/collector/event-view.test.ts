// collector/event-view.ts: per-kind flat fields and the table's detail line.
import t from 'tap';
import { eventDetail, eventView, findingView, isoFromNs } from '../../collector/event-view.js';
import type { RwEvent } from '../../proto/types.js';

const base = { agentId: 'a', bootId: 'b', seq: 1, tsNs: 1_764_000_000_123_000_000 };

void t.test('views per kind', async (t) => {
  const cases: Array<[RwEvent, Record<string, unknown>, string]> = [
    [{ ...base, kind: 'exec', exec: { argv: ['curl', '-d', '@x'], cwd: '/w' } }, { kind: 'exec', argv: ['curl', '-d', '@x'], cwd: '/w' }, 'curl -d @x'],
    [{ ...base, kind: 'net', net: { dstIp: '1.2.3.4', dstPort: 443, domain: 'x.test' } }, { dst: '1.2.3.4', port: 443, domain: 'x.test' }, '1.2.3.4:443 (x.test)'],
    [{ ...base, kind: 'dns', dns: { name: 'x.test', answers: ['1.2.3.4', '::1'] } }, { name: 'x.test', answers: ['1.2.3.4', '::1'] }, 'x.test → 1.2.3.4, ::1'],
    [{ ...base, kind: 'file', file: { op: 'RENAME', path: '/a' } }, { path: '/a', op: 'RENAME' }, 'RENAME /a'],
    [{ ...base, kind: 'read', read: { path: '/proc/9/environ', targetPid: 9 } }, { path: '/proc/9/environ', targetPid: 9 }, '/proc/9/environ'],
    [{ ...base, kind: 'access', access: { kind: 'PTRACE_ATTACH', targetPid: 9 } }, { op: 'PTRACE_ATTACH', targetPid: 9 }, 'PTRACE_ATTACH pid 9'],
    [{ ...base, kind: 'secret', secret: { secretName: 'NPM_TOKEN', channel: 'EGRESS' } }, { secretName: 'NPM_TOKEN', channel: 'EGRESS' }, 'NPM_TOKEN via EGRESS'],
    [{ ...base, kind: 'jobStart', jobStart: { repo: 'o/r' } }, { kind: 'job_start', body: { repo: 'o/r' } }, '{"repo":"o/r"}'],
  ];
  for (const [ev, want, detail] of cases) {
    const v = eventView({ id: 7, event: ev });
    t.match(v, { id: 7, seq: 1, ts: '2025-11-24T16:00:00.123Z', tsNs: base.tsNs, agentId: 'a', bootId: 'b', ...want }, ev.kind);
    t.equal(eventDetail(v), detail, `${ev.kind} detail`);
    t.equal(Object.keys(v).at(-1), 'body');
  }
  t.notOk('jobId' in eventView({ id: 1, event: { ...base, jobId: '', kind: 'exit', exit: {} } }), 'empty fields are left out');
});

void t.test('findingView and isoFromNs', async (t) => {
  t.same(findingView({ id: 1, ruleId: 'r', title: 't', severity: 'high', tags: ['x'], jobId: 'j', agentId: 'a', tsNs: 0, explanation: 'e', evidence: [] }),
    { id: 1, ts: '1970-01-01T00:00:00.000Z', tsNs: 0, ruleId: 'r', severity: 'high', title: 't', tags: ['x'], jobId: 'j', agentId: 'a', explanation: 'e', evidence: [] });
  t.equal(isoFromNs(Number.MAX_VALUE), '', 'out-of-range time prints empty, does not throw');
});
