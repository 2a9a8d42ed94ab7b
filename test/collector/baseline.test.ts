// Baselines: merge of observed runs, trusted-run predicate, store round trip and reset.
import t from 'tap';
import { createBaselines, createMemoryBaselineStore, isTrustedRun } from '../../collector/baseline.js';

t.test('learn merges, sorts, caps and counts runs', async (t) => {
  const store = createMemoryBaselineStore();
  const b = createBaselines(store, { maxEntriesPerList: 3 });
  const k = { repo: 'acme/w', workflow: 'ci', job: 'build' };
  t.equal(b.view(k), undefined);
  b.learn(k, { egress: ['b.example', 'a.example'], executables: ['/usr/bin/cc'], writeRoots: ['$WORKSPACE/build'], configHashes: { 'ci.yml': '1' } }, 10);
  const v = b.learn(k, { egress: ['c.example', 'd.example', 'e.example'], executables: [], writeRoots: [], configHashes: { 'ci.yml': '2' } }, 20);
  t.same(v.egress, ['a.example', 'b.example', 'c.example']);
  t.same(v.configHashes, { 'ci.yml': '2' });
  t.equal(v.runs, 2);
  t.equal(v.updatedNs, 20);
  t.same(b.view(k), v, 'stored as JSON and read back');
  t.same(b.list().map((x) => x.key), ['acme/w/ci/build']);
  t.equal(b.reset(k), true);
  t.equal(b.reset(k), false);
});

t.test('corrupt stored JSON reads as no baseline', async (t) => {
  const store = createMemoryBaselineStore();
  store.put('baseline\0r\0w\0j', '{nope');
  t.equal(createBaselines(store).view({ repo: 'r', workflow: 'w', job: 'j' }), undefined);
});

const runs: [Parameters<typeof isTrustedRun>[0], boolean][] = [
  [{ trigger: 'push', ref: 'refs/heads/main' }, true],
  [{ trigger: 'push', ref: 'refs/tags/v1.0.0' }, true],
  [{ trigger: 'schedule', ref: 'refs/heads/master' }, true],
  [{ trigger: 'push', ref: 'refs/heads/feature' }, false],
  [{ trigger: 'pull_request', ref: 'refs/heads/main' }, false],
  [{ trigger: 'push', ref: 'refs/heads/main', untrusted: true }, false],
  [{ trigger: 'push', ref: 'refs/heads/main', fork: true }, false],
  [{ trigger: 'pull_request_target', ref: 'refs/heads/main' }, false],
];
for (const [job, want] of runs) t.equal(isTrustedRun(job), want, JSON.stringify(job));
t.equal(isTrustedRun({ trigger: 'push', ref: 'refs/heads/release' }, ['refs/heads/release']), true, 'configured protected refs');
