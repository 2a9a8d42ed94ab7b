// Baselines: merge of observed runs, validation of stored bodies, store errors, the trusted-run predicate.
import t from 'tap';
import { baselineName, createBaselines, createMemoryBaselineStore, isTrustedRun } from '../../collector/baseline.js';
import type { BaselineStore } from '../../collector/baseline.js';

const K = { repo: 'acme/w', workflow: 'ci', job: 'build' };

t.test('learn merges, sorts, caps and counts runs', async (t) => {
  const store = createMemoryBaselineStore();
  const b = createBaselines(store, { limits: { maxEntriesPerList: 3 } });
  t.equal(b.view(K), undefined);
  b.learn(K, { egress: ['b.example', 'a.example'], executables: ['/usr/bin/cc'], writeRoots: ['$WORKSPACE/build'], configHashes: { 'ci.yml': '1' } }, 10);
  const v = b.learn(K, { egress: ['c.example', 'd.example', 'e.example'], executables: [], writeRoots: [], configHashes: { 'ci.yml': '2' } }, 20);
  t.same(v?.egress, ['a.example', 'b.example', 'c.example']);
  t.same(v?.configHashes, { 'ci.yml': '2' });
  t.equal(v?.runs, 2);
  t.equal(v?.updatedNs, 20);
  t.same(b.view(K), v, 'stored as JSON and read back');
  t.same(b.list().map((x) => baselineName(x.key)), ['acme/w/ci/build']);
  t.same(b.list('other/repo'), [], 'list filters by repository');
  t.equal(b.reset(K), true);
  t.equal(b.reset(K), false);
});

// Stored bodies that are not a baseline: each reads as none, is reported once per read, and is replaced by learning.
const corrupt: [string, string, RegExp][] = [
  ['not JSON', '{nope', /^not JSON: /],
  ['null', 'null', /^not a JSON object$/],
  ['array', '[1,2]', /^not a JSON object$/],
  ['string', '"x"', /^not a JSON object$/],
  ['egress not a list', '{"egress":"a.example"}', /^egress is not a list of strings$/],
  ['executables with a number', '{"executables":["/bin/sh",3]}', /^executables is not a list of strings$/],
  ['configHashes a list', '{"configHashes":["x"]}', /^configHashes is not an object of strings$/],
  ['configHashes with a number', '{"configHashes":{"ci.yml":1}}', /^configHashes is not an object of strings$/],
];
for (const [name, body, reason] of corrupt) {
  t.test(`corrupt stored body (${name}) reads as no baseline and is reported`, async (t) => {
    const store = createMemoryBaselineStore();
    store.put(K, body, 1);
    const reports: [string, string][] = [];
    const b = createBaselines(store, { onCorrupt: (k, r) => reports.push([baselineName(k), r]) });
    t.equal(b.view(K), undefined);
    t.equal(reports.length, 1);
    t.equal(reports[0]?.[0], 'acme/w/ci/build');
    t.match(reports[0]?.[1], reason);
    const listed = b.list();
    t.equal(listed.length, 1);
    t.match(listed[0], { key: K, corrupt: reason }, 'list names the corrupt entry instead of dropping it');
    const v = b.learn(K, { egress: ['a.example'], executables: [], writeRoots: [], configHashes: {} }, 5);
    t.match(v, { egress: ['a.example'], runs: 1, updatedNs: 5 }, 'the next trusted run starts the baseline afresh');
    t.same(b.view(K), v);
  });
}

t.test('a valid body with missing fields reads with defaults', async (t) => {
  const store = createMemoryBaselineStore();
  store.put(K, '{"egress":["a.example"]}', 1);
  t.same(createBaselines(store).view(K), { egress: ['a.example'], executables: [], writeRoots: [], configHashes: {}, runs: 0, updatedNs: 0 });
});

t.test('store errors: thrown without onStoreError, reported and survived with it', async (t) => {
  const boom = new Error('database is locked');
  const failing: BaselineStore = { get: () => { throw boom; }, put: () => { throw boom; }, delete: () => { throw boom; }, list: () => { throw boom; } };
  const obs = { egress: [], executables: [], writeRoots: [], configHashes: {} };
  const strict = createBaselines(failing);
  t.throws(() => strict.view(K), boom);
  t.throws(() => strict.learn(K, obs, 1), boom);
  t.throws(() => strict.reset(K), boom, 'reset is never guarded: the CLI reports it');
  const seen: string[] = [];
  const lenient = createBaselines(failing, { onStoreError: (op, k, err) => seen.push(`${op} ${baselineName(k)} ${(err as Error).message}`) });
  t.equal(lenient.view(K), undefined);
  t.equal(lenient.learn(K, obs, 1), undefined);
  t.same(seen, ['view acme/w/ci/build database is locked', 'learn acme/w/ci/build database is locked']);
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
