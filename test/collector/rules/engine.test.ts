// The engine: dedupe per (job, rule, key) with escalation, sequences (order, window, scope), bounded state,
// evidence and explanations, baselines learned from trusted runs and queried by rules.
import t from 'tap';
import type { RwEvent } from '../../../proto/types.js';
import { createBaselines, createMemoryBaselineStore } from '../../../collector/baseline.js';
import { createEngine, renderOutput, summarizeEvent } from '../../../collector/rules/engine.js';
import { loadRules } from '../../../collector/rules/loader.js';
import type { CompiledRule } from '../../../collector/rules/loader.js';
import { loadRulePack } from '../../../collector/rules/pack.js';

let seq = 0;
function ev(o: Record<string, unknown>): RwEvent {
  seq++;
  return { agentId: 'a', bootId: 'b', seq, tsNs: (o.tsNs as number | undefined) ?? seq * 1e6, jobId: 'j', ...o } as unknown as RwEvent;
}
function rules(text: string): CompiledRule[] {
  const r = loadRules([{ path: 't.yaml', text }]);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.rules;
}
const opts = { trustedCidrs: ['127.0.0.0/8'], allowList: ['registry.npmjs.org'] };

t.test('dedupe per (job, rule, key), escalation reports again, other jobs separate', async (t) => {
  const e = createEngine({ ...opts, rules: rules(`rules:
  - id: w
    title: write
    severity: medium
    condition: 'ev.kind == "file"'
    severity_if: [{when: 'ev.file.count > 1', severity: high}]
    key: 'x.path'
    output: '{ev.comm} wrote {x.path}'
`) });
  const w = (path: string, count = 1, jobId = 'j') => e.process(ev({ kind: 'file', jobId, pid: 1, comm: 'sh', file: { op: 'OPEN_WRITE', path, count } }));
  t.equal(w('/a').length, 1);
  t.equal(w('/a').length, 0, 'same key again: suppressed');
  t.equal(w('/b').length, 1, 'another key');
  const up = w('/a', 2);
  t.equal(up.length, 1, 'escalation reports again');
  t.equal(up[0]!.severity, 'high');
  t.equal(w('/a', 1, 'other').length, 1, 'another job');
  t.match(e.stats(), { findings: 4, suppressedDuplicates: 1, evalErrors: 0 });
});

const seqRules = (scope: string, ordered = true) => rules(`rules:
  - id: s
    title: seq
    severity: high
    sequence:
      scope: ${scope}
      within: 10s
      ordered: ${ordered}
      steps:
        - {name: a, condition: 'ev.kind == "net"'}
        - {name: b, condition: 'ev.kind == "exec" && ev.comm == "sh"'}
    output: 'seq by {ev.comm}'
`);
const net = (pid: number, ppid: number, tsNs?: number) => ev({ kind: 'net', pid, ppid, comm: 'curl', net: { dstIp: '203.0.113.1', dstPort: 80 }, ...(tsNs ? { tsNs } : {}) });
const sh = (pid: number, ppid: number, tsNs?: number) => ev({ kind: 'exec', pid, ppid, comm: 'sh', exec: { argv: ['sh'] }, ...(tsNs ? { tsNs } : {}) });

t.test('sequence: ordered, same process', async (t) => {
  const e = createEngine({ ...opts, rules: seqRules('process') });
  t.equal(e.process(sh(5, 1)).length, 0, 'B before A does not count when ordered');
  t.equal(e.process(net(5, 1)).length, 0);
  const f = e.process(sh(5, 1));
  t.equal(f.length, 1);
  t.same(f[0]!.evidence.map((x) => x.kind), ['net', 'exec']);
  t.equal(e.process(net(6, 1)).length + e.process(sh(7, 1)).length, 0, 'different processes do not combine');
});

t.test('sequence: window expires', async (t) => {
  const e = createEngine({ ...opts, rules: seqRules('job') });
  e.process(net(5, 1, 1e9));
  t.equal(e.process(sh(6, 1, 12e9)).length, 0, 'outside 10s');
  e.process(net(5, 1, 13e9));
  t.equal(e.process(sh(6, 1, 14e9)).length, 1, 'inside 10s');
});

t.test('sequence: unordered siblings (curl | sh) in either order', async (t) => {
  for (const order of ['sh-first', 'net-first']) {
    const e = createEngine({ ...opts, rules: seqRules('parent', false) });
    const a = order === 'sh-first' ? [sh(11, 10), net(12, 10)] : [net(12, 10), sh(11, 10)];
    t.equal(e.process(a[0]!).length, 0);
    t.equal(e.process(a[1]!).length, 1, order);
    const other = createEngine({ ...opts, rules: seqRules('parent', false) });
    other.process(sh(11, 10));
    t.equal(other.process(net(22, 20)).length, 0, 'not siblings');
  }
});

t.test('sequence: tree scope follows fork/exec lineage', async (t) => {
  const e = createEngine({ ...opts, rules: seqRules('tree') });
  e.process(ev({ kind: 'exec', pid: 100, ppid: 1, comm: 'python3', exec: { argv: ['python3', 'x.py'] } }));
  e.process(net(100, 1));
  e.process(ev({ kind: 'fork', pid: 100, comm: 'python3', fork: { childPid: 101 } }));
  t.equal(e.process(sh(101, 100)).length, 1, 'child of the connecting process');
  t.equal(e.process(sh(300, 2)).length, 0, 'unrelated process');
});

t.test('an exec delivered before the fork that made the child keeps its argv', async (t) => {
  const e = createEngine({ ...opts, rules: rules(`rules:
  - id: py-net
    title: python one-liner connects
    severity: high
    condition: 'ev.kind == "net" && x.argvText.startsWith("python3 -c")'
    output: '{x.argvText}'
`) });
  e.process(ev({ kind: 'exec', pid: 10, ppid: 1, comm: 'bash', tsNs: 1e6, exec: { argv: ['bash', 'job.sh'] } }));
  e.process(ev({ kind: 'exec', pid: 11, ppid: 10, comm: 'python3', tsNs: 3e6, exec: { argv: ['python3', '-c', 'x'] } }));
  e.process(ev({ kind: 'fork', pid: 10, comm: 'bash', tsNs: 2e6, fork: { childPid: 11 } }));
  t.equal(e.process(ev({ kind: 'net', pid: 11, comm: 'python3', tsNs: 4e6, net: { family: 'INET', dstIp: '203.0.113.1', dstPort: 443 } })).length, 1);
  // A fork that really is newer (pid reuse after exit) still resets the child.
  e.process(ev({ kind: 'exit', pid: 11, tsNs: 5e6, exit: {} }));
  e.process(ev({ kind: 'fork', pid: 10, comm: 'bash', tsNs: 6e6, fork: { childPid: 11 } }));
  t.equal(e.process(ev({ kind: 'net', pid: 11, comm: 'bash', tsNs: 7e6, net: { family: 'INET', dstIp: '203.0.113.2', dstPort: 443 } })).length, 0);
});

t.test('bounded: jobs evicted oldest first, per-job process table capped', async (t) => {
  const e = createEngine({ ...opts, rules: [], limits: { maxJobs: 3, maxProcsPerJob: 10 } });
  for (let i = 0; i < 5; i++) e.process(ev({ kind: 'exec', jobId: `j${i}`, pid: 1, comm: 'sh', exec: { argv: ['sh'] } }));
  t.match(e.stats(), { jobs: 3, jobsEvicted: 2 });
  for (let p = 0; p < 50; p++) e.process(ev({ kind: 'exec', jobId: 'big', pid: 1000 + p, ppid: 1, comm: 'cc', exec: { argv: ['cc'] } }));
  t.ok(e.stats().procsEvicted >= 40);
  t.equal(e.endJob('big').length, 0);
  t.equal(e.endJob('nope').length, 0);
});

t.test('evaluation errors are counted, not thrown', async (t) => {
  const e = createEngine({ ...opts, rules: rules(`rules:
  - {id: bad, title: t, severity: low, condition: 'ev.nosuch.field == 1', output: o}
`) });
  t.equal(e.process(ev({ kind: 'exec', pid: 1, comm: 'x', exec: {} })).length, 0);
  t.match(e.stats(), { evalErrors: 1, lastEvalError: /^bad: / });
});

t.test('secret-bearing egress consults the trusted baseline; baselines are learned only from trusted, quiet runs', async (t) => {
  const pack = loadRulePack([]);
  if (!pack.ok) throw new Error('pack');
  const store = createMemoryBaselineStore();
  const baselines = createBaselines(store);
  const job = (id: string, trigger: string, ref: string, hashes: Record<string, string>) => ev({ kind: 'jobStart', jobId: id, pid: 1, jobStart: { repo: 'acme/w', workflow: 'ci', job: 'b', trigger, ref, untrusted: false, secretNames: ['TOKEN'], configHashes: hashes, rootPid: 1 } });
  const connect = (id: string) => ev({ kind: 'net', jobId: id, pid: 2, ppid: 1, comm: 'curl', secretNames: ['TOKEN'], net: { dstIp: '203.0.113.8', dstPort: 443, domain: 'cdn.vendor.example' } });
  const run = (id: string, trigger: string, ref: string, hashes: Record<string, string>) => {
    const e = createEngine({ ...opts, rules: pack.rules, baselines });
    const out = [...e.process(job(id, trigger, ref, hashes)), ...e.process(connect(id)), ...e.process(ev({ kind: 'jobEnd', jobId: id, pid: 1, jobEnd: { exitCode: 0 } }))];
    e.endJob(id);
    return { out, stats: e.stats() };
  };
  const first = run('j1', 'push', 'refs/heads/main', { '.github/workflows/ci.yml': 'aaa' });
  t.ok(first.out.some((f) => f.ruleId === 'secret-bearing-egress'), 'unknown egress is flagged before any baseline');
  t.equal(first.stats.baselinesLearned, 0, 'a run with a high finding teaches nothing');
  // Teach from a quiet trusted run, then the same egress is known.
  baselines.learn({ repo: 'acme/w', workflow: 'ci', job: 'b' }, { egress: ['cdn.vendor.example'], executables: [], writeRoots: [], configHashes: { '.github/workflows/ci.yml': 'aaa' } }, 1);
  const second = run('j2', 'push', 'refs/heads/main', { '.github/workflows/ci.yml': 'aaa' });
  t.same(second.out.map((f) => f.ruleId), [], 'known egress, same CI definition: quiet');
  t.equal(second.stats.baselinesLearned, 1, 'quiet trusted run teaches');
  t.equal(baselines.view({ repo: 'acme/w', workflow: 'ci', job: 'b' })!.runs, 2);
  const drift = run('j3', 'push', 'refs/heads/feature', { '.github/workflows/ci.yml': 'bbb' });
  t.same(drift.out.map((f) => f.ruleId), ['ci-definition-drift']);
  t.equal(drift.stats.baselinesLearned, 0, 'a feature branch teaches nothing');
  const pr = run('j4', 'pull_request', 'refs/pull/1/merge', { '.github/workflows/ci.yml': 'aaa' });
  t.equal(pr.stats.baselinesLearned, 0, 'a PR teaches nothing');
});

t.test('rendering', async (t) => {
  t.equal(renderOutput('{a.b} and {a.l} {a.o} {missing.x}', { a: { b: 1, l: ['x', { comm: 'sleep', pid: 3 }], o: { k: 1 } } }), '1 and x sleep(3) {"k":1}');
  t.equal(renderOutput('x'.repeat(500), {}).length, 398);
  t.equal(summarizeEvent(ev({ kind: 'net', comm: 'curl', net: { dstIp: '1.2.3.4', dstPort: 80, domain: 'a.example' } })), 'connect 1.2.3.4:80 (a.example) by curl');
  t.match(summarizeEvent(ev({ kind: 'file', comm: 'sed', file: { op: 'RENAME', path: '/w/a', newPath: '/w/b', newPathClass: 'workspace-tracked' } })), /rename \/w\/a → \/w\/b \[workspace-tracked\] by sed/);
});
