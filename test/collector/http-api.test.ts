// collector/http-api.ts on a real node:http server on port 0: bearer tokens (sha256), filters, read-only, routing.
import t from 'tap';
import type { Test } from 'tap';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encodeEvent } from '../../proto/codec.js';
import type { RwEvent } from '../../proto/types.js';
import { openStore } from '../../collector/store.js';
import { createApiHandler, eventFilterFromParams, eventFilterToParams, findingFilterFromParams } from '../../collector/http-api.js';

const T0 = 1_764_000_000_000_000_000;
const TOKEN = 'rw_api_test_token_1';
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

async function serve(t: Test) {
  const dir = t.testdir();
  const store = openStore(join(dir, 'audit.db'), { stateDir: dir, synchronous: 'NORMAL' });
  const evs: RwEvent[] = [
    { agentId: 'a1', bootId: 'b1', seq: 1, tsNs: T0, jobId: 'j1', pid: 5, kind: 'exec', exec: { argv: ['curl', 'x'] } },
    { agentId: 'a1', bootId: 'b1', seq: 2, tsNs: T0 + 1e9, jobId: 'j1', pid: 6, kind: 'net', net: { dstIp: '127.7.7.7', dstPort: 80 } },
    { agentId: 'a1', bootId: 'b1', seq: 3, tsNs: T0 + 2e9, jobId: 'j2', pid: 5, kind: 'dns', dns: { name: 'x.test' } },
  ];
  store.appendEvents(evs.map((e) => ({ event: e, bytes: encodeEvent(e) })), T0);
  store.appendFindings([
    { ruleId: 'r1', title: 'low one', severity: 'low', tags: [], jobId: 'j1', agentId: 'a1', tsNs: T0, explanation: 'e', evidence: [] },
    { ruleId: 'r2', title: 'high one', severity: 'high', tags: ['CICD-SEC-4'], jobId: 'j2', agentId: 'a1', tsNs: T0 + 1e9, explanation: 'e', evidence: [] },
  ]);
  const api = createApiHandler({ store, apiTokenSha256: [sha('other-token'), sha(TOKEN)] });
  const server = createServer((req, res) => {
    if (!api(req, res)) { res.writeHead(418); res.end('not api'); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.close(() => { store.close(); r(); }); }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (path: string, token: string | null = TOKEN, method = 'GET') => {
    const res = await fetch(base + path, { method, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) as Record<string, unknown> : undefined, text };
  };
  return { get };
}

void t.test('tokens: missing, wrong and malformed are 401; a configured one passes', async (t) => {
  const { get } = await serve(t);
  for (const [name, tok] of [['missing', null], ['wrong', 'nope'], ['hash instead of token', sha(TOKEN)], ['empty', '']] as const) {
    const r = await get('/api/events', tok);
    t.equal(r.status, 401, name);
    t.equal(r.headers.get('www-authenticate'), 'Bearer');
  }
  t.equal((await get('/api/events', 'other-token')).status, 200, 'every configured hash works');
  t.equal((await get('/api/nothing')).status, 404);
  t.equal((await get('/api/nothing', null)).status, 401, 'auth before routing: no endpoint discovery');
});

void t.test('read-only: writes are 405; paths outside /api/ are left to the caller', async (t) => {
  const { get } = await serve(t);
  for (const m of ['POST', 'PUT', 'DELETE']) t.equal((await get('/api/events', TOKEN, m)).status, 405, m);
  const r = await get('/healthz', null);
  t.equal(r.status, 418);
  t.equal(r.text, 'not api');
  t.equal((await get('/apix')).status, 418, 'a prefix is not the /api/ tree');
});

void t.test('events endpoint filters', async (t) => {
  const { get } = await serve(t);
  const ids = async (q: string) => ((await get(`/api/events${q}`)).body?.events as Array<{ id: number }>).map((e) => e.id);
  const cases: Array<[string, number[]]> = [
    ['', [1, 2, 3]],
    ['?job=j1', [1, 2]],
    ['?kind=net,dns', [2, 3]],
    ['?kind=net&kind=exec', [1, 2]],
    ['?pid=5', [1, 3]],
    [`?since=${BigInt(T0 + 1e9)}`, [2, 3]],
    [`?until=${encodeURIComponent(new Date((T0 + 1e9) / 1e6).toISOString())}`, [1, 2]],
    ['?after=1&limit=1', [2]],
    ['?agent=zz', []],
  ];
  for (const [q, want] of cases) t.same(await ids(q), want, q || 'no filter');
  const one = (await get('/api/events?kind=exec')).body?.events as Array<Record<string, unknown>>;
  t.match(one[0], { id: 1, seq: 1, kind: 'exec', jobId: 'j1', agentId: 'a1', pid: 5, argv: ['curl', 'x'], body: { argv: ['curl', 'x'] } });
  for (const q of ['?kind=bogus', '?pid=-1', '?limit=0', '?since=yesterday-ish']) {
    const r = await get(`/api/events${q}`);
    t.equal(r.status, 400, q);
    t.type(r.body?.error, 'string');
  }
});

void t.test('findings endpoint filters', async (t) => {
  const { get } = await serve(t);
  const ids = async (q: string) => ((await get(`/api/findings${q}`)).body?.findings as Array<{ id: number }>).map((e) => e.id);
  t.same(await ids(''), [1, 2]);
  t.same(await ids('?severity=medium'), [2]);
  t.same(await ids('?job=j1'), [1]);
  t.same(await ids(`?since=${BigInt(T0 + 1e6)}`), [2]);
  t.equal((await get('/api/findings?severity=urgent')).status, 400);
});

void t.test('filters survive the trip through query parameters', async (t) => {
  const f = { jobId: 'j 1&x', kinds: ['exec', 'jobStart'] as const, pid: 7, agentId: 'a', sinceNs: T0, untilNs: T0 + 5, afterId: 3, limit: 9 };
  t.same(eventFilterFromParams(eventFilterToParams({ ...f, kinds: [...f.kinds] })), { ...f, kinds: [...f.kinds] });
  t.same(findingFilterFromParams(new URLSearchParams('severity=high&limit=99999999')), { minSeverity: 'high', limit: 10000 }, 'limit is capped');
  t.throws(() => createApiHandler({ store: undefined as never, apiTokenSha256: ['plaintext-token'] }), { code: 'CONFIG_ERR_INVALID' });
});
