// proto/wire.ts (through proto/codec.ts): the compiled event path agrees with protobufjs byte for byte on encode
// and value for value, key order included, on decode; where it cannot, protobufjs decides (same errors).
import { readdirSync, readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import t from 'tap';
import type { Test } from 'tap';
import { decodeEvent, encodeEvent, PROTO_PATH_ON_DISK } from '../../proto/codec.js';
import { isRwError } from '../../proto/errors.js';
import type { RwEvent } from '../../proto/types.js';

// The reference: protobufjs as codec.ts used it for every event before the compiled path.
const root = protobuf.parse(readFileSync(PROTO_PATH_ON_DISK, 'utf8'), { keepCase: false }).root;
const EventT = root.lookupType('runwarden.v1.Event');
const TO_OBJECT = { longs: Number, enums: String, defaults: false, oneofs: true, arrays: false };
function refEncode(ev: Record<string, unknown>): Buffer {
  const { kind, ...rest } = ev;
  void kind;
  return Buffer.from(EventT.encode(EventT.fromObject(rest)).finish());
}
/** Decoded event, or the error class protobufjs raises. */
function refDecode(bytes: Uint8Array): unknown {
  let obj: Record<string, unknown>;
  try {
    obj = EventT.toObject(EventT.decode(bytes), TO_OBJECT);
  } catch (e) {
    return { error: e instanceof RangeError || /index out of range/.test(String(e)) ? 'PROTO_ERR_TRUNCATED' : 'PROTO_ERR_MALFORMED' };
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) if (k !== 'body') out[k] = obj[k];
  out.kind = obj.body;
  out.seq ??= 0;
  out.tsNs ??= 0;
  return out;
}
function ours(bytes: Uint8Array): unknown {
  try {
    return decodeEvent(bytes);
  } catch (e) {
    if (isRwError(e) && e.code === 'PROTO_ERR_INVALID') return 'invalid';
    if (isRwError(e)) return { error: e.code };
    throw e;
  }
}
const validOrInvalid = (ref: unknown): unknown => {
  if (typeof ref === 'object' && ref !== null && 'error' in ref) return ref;
  const ev = ref as RwEvent;
  return !ev.agentId || !ev.bootId || !Number.isSafeInteger(ev.seq) || ev.seq < 1 || ev.kind === undefined ? 'invalid' : ref;
};
/** Same values and the same key order at every level (JSON keeps order). */
function agree(t: Test, bytes: Buffer, what: string): void {
  const want = validOrInvalid(refDecode(bytes));
  const got = ours(bytes);
  t.same(got, want, what);
  t.equal(JSON.stringify(got), JSON.stringify(want), `${what}: key order`);
}

const base = { agentId: 'agent-1', bootId: 'boot-1', seq: 7, tsNs: 1764000000123456800, host: 'runner-3', jobId: 'job-9', pid: 4242, ppid: 4200, uid: 1001, comm: 'curl', exe: '/usr/bin/curl' };
const samples: Record<string, unknown>[] = [
  { ...base, kind: 'exec', exec: { argv: ['curl', '-sSf', 'http://x/m.py'], cwd: '/work', exeSha256: 'ab', cgroup: '/c', containerId: 'c1', euid: 0, argvTruncated: true, memfd: false, ancestry: ['bash', 'node'], stdin: 'pipe', stdout: 'tty', exeWrittenByJob: true, stdinPeerComm: 'curl' } },
  { ...base, kind: 'fork', fork: { childPid: -1 } },
  { ...base, kind: 'exit', exit: { code: -2147483648, signal: 2147483647, lifetimeNs: 2 ** 53 + 2 } },
  { ...base, kind: 'net', net: { family: 'INET6', proto: 'UDP', dstIp: '::1', dstPort: 65535, domain: 'a.b', result: -115, trusted: true, resolver: false, allowed: true } },
  { ...base, kind: 'net', net: { family: 3, proto: 7, dstPort: 0 } },
  { ...base, kind: 'dns', dns: { name: 'webhook.site', qtype: 28, answers: ['1.2.3.4', '::5'], rcode: 3, server: '127.0.0.53' } },
  { ...base, kind: 'file', file: { op: 'RENAME', path: '/a', newPath: '/b', mode: 0o755, count: 4294967295, contentSha256: 'cd', pathClass: 'workspace', contentHint: 'x=1', newPathClass: 'ci-config' } },
  { ...base, kind: 'read', read: { path: '/proc/1/environ', pathClass: 'proc-environ', targetPid: 1, targetComm: 'systemd', targetSecretNames: ['A', 'B'] } },
  { ...base, kind: 'access', access: { kind: 'KILL_WATCHER', targetPid: 9, targetComm: 'x', targetSecretNames: [], targetInJob: false, detail: 'signal 9' } },
  { ...base, kind: 'secret', secret: { secretName: 'NPM_TOKEN', fingerprint: 'f'.repeat(32), channel: 'EGRESS', encoding: 'base64x2', location: 'stdout' } },
  { ...base, kind: 'jobStart', jobStart: { provider: 'github', repo: 'a/b', workflow: 'ci.yml', job: 'build', runId: '1', ref: 'refs/heads/main', trigger: 'push', untrusted: false, fork: false, actor: 'me', workspace: '/w', configHashes: { '.github/workflows/ci.yml': 'aa', 2: 'numeric key', '': '' }, rootPid: 1, secretNames: ['GITHUB_TOKEN'], headRepo: 'c/d', baseRef: 'main', prNumber: 42, trustReason: 'push to a protected ref', refProtected: true } },
  { ...base, kind: 'jobEnd', jobEnd: { exitCode: 1, survivors: [{ pid: 5, comm: 'sleep', argv: ['sleep', '1000'], ancestry: [1, -3, 2147483647] }, {}], durationNs: 12 } },
  { ...base, kind: 'heartbeat', heartbeat: { queued: 0, spooledBytes: 2 ** 40 } },
  { ...base, kind: 'status', status: { sensor: 'ebpf', capabilities: ['a'], blindSpots: ['b', 'c'], drops: 3, version: '0.1.0', message: '' } },
  { ...base, kind: 'dropped', dropped: { count: 10, reason: 'spool-full', firstSeq: 1, lastSeq: 10 } },
  { agentId: 'a', bootId: 'b', seq: 1, tsNs: 0, kind: 'exec', exec: {} },
  { agentId: '', bootId: '', seq: 0, tsNs: 0, host: '', kind: 'fork', fork: { childPid: 0 }, secretNames: ['S'] },
  // Values the compiled encoder leaves to protobufjs: non-ASCII text, lone surrogates, strings where numbers belong, …
  { ...base, comm: 'é', kind: 'file', file: { path: '/tmp/日本語/😀', op: 'CREATE' } },
  { ...base, comm: '\ud800x', kind: 'exec', exec: { argv: ['\udc00'.repeat(50)] } },
  { ...base, seq: '12', pid: '7', kind: 'exec', exec: { argv: [1, 2] } },
  { ...base, pid: 2 ** 31, uid: -1, tsNs: 2 ** 64, kind: 'net', net: { family: 'NOPE', dstPort: 1.5 } },
  { ...base, kind: 'exec', exec: { argv: ['x'.repeat(300)], cwd: 'y'.repeat(20_000) } },
  { ...base, kind: 'jobStart', jobStart: { configHashes: { a: 1 } } },
  { ...base, kind: 'exec', exec: { argv: ['a'] }, net: { dstPort: 1 } },
];

// Events the scenario fixtures replay: every kind the agent makes, as it makes them.
for (const f of readdirSync(new URL('../fixtures/events/', import.meta.url))) {
  if (!f.endsWith('.jsonl')) continue;
  const lines = readFileSync(new URL(`../fixtures/events/${f}`, import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('{'));
  lines.forEach((l, i) => samples.push({ ...base, seq: i + 1, ...(JSON.parse(l) as Record<string, unknown>) }));
}

t.test('encode: the same bytes as protobufjs fromObject + encode', async (t) => {
  for (const [i, ev] of samples.entries()) {
    let want: Buffer | undefined;
    let wantErr: unknown;
    try { want = refEncode(ev); } catch (e) { wantErr = e; }
    if (want) t.equal(Buffer.from(encodeEvent(ev as unknown as RwEvent)).toString('hex'), want.toString('hex'), `sample ${i} (${String(ev.kind)})`);
    else t.throws(() => encodeEvent(ev as unknown as RwEvent), { message: (wantErr as Error).message }, `sample ${i} throws as protobufjs does`);
  }
  t.type(encodeEvent(samples[0] as unknown as RwEvent), Buffer, 'a Buffer, as protobufjs returns');
});

t.test('decode: the same object (keys in the same order) as protobufjs decode + toObject', async (t) => {
  for (const [i, ev] of samples.entries()) {
    let bytes: Buffer;
    try { bytes = refEncode(ev); } catch { continue; }
    agree(t, bytes, `sample ${i} (${String(ev.kind)})`);
  }
});

t.test('decode: irregular encodings agree too (out-of-order fields, repeats, packed, unknown fields, wire-type mismatches)', async (t) => {
  const W = (): protobuf.Writer => protobuf.Writer.create();
  const cases: Array<[string, Uint8Array]> = [
    ['fields out of order', W().uint32(26).fork().uint32(8).uint64(0).ldelim().uint32(24).uint64(5).uint32(10).string('a').uint32(18).string('b').finish()],
    ['scalar repeated: last wins', W().uint32(10).string('a').uint32(10).string('z').uint32(18).string('b').uint32(24).uint64(1).uint32(162).fork().ldelim().finish()],
    ['two oneof members', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(170).fork().uint32(8).int32(3).ldelim().uint32(162).fork().ldelim().finish()],
    ['message field twice', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(162).fork().uint32(10).string('x').ldelim().uint32(162).fork().uint32(18).string('/c').ldelim().finish()],
    ['repeated interleaved', W().uint32(10).string('a').uint32(98).string('s1').uint32(18).string('b').uint32(98).string('s2').uint32(24).uint64(1).uint32(162).fork().ldelim().finish()],
    ['unknown fields of every wire type', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(99 << 3).uint64(2 ** 40).uint32((98 << 3) | 1).fixed64(3).uint32((97 << 3) | 5).fixed32(4).uint32((96 << 3) | 2).string('zz').uint32(162).fork().ldelim().finish()],
    ['unknown group', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32((95 << 3) | 3).uint32(8).uint32(1).uint32((95 << 3) | 4).uint32(162).fork().ldelim().finish()],
    ['packed ancestry', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(242).fork().uint32(18).fork().uint32(34).fork().int32(1).int32(-2).ldelim().uint32(34).fork().ldelim().ldelim().ldelim().finish()],
    ['empty packed only', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(242).fork().uint32(18).fork().uint32(8).int32(1).uint32(34).fork().ldelim().ldelim().ldelim().finish()],
    ['string field sent as varint', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(40).uint32(5).uint32(162).fork().ldelim().finish()],
    ['uint64 sent as length-delimited', W().uint32(10).string('a').uint32(18).string('b').uint32(26).string('xx').uint32(162).fork().ldelim().finish()],
    ['int32 as a 6-byte varint', Buffer.concat([Buffer.from(W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(56).finish()), Buffer.from([0x81, 0x80, 0x80, 0x80, 0x80, 0x00]), Buffer.from(W().uint32(162).fork().ldelim().finish())])],
    ['11-byte varint', Buffer.concat([Buffer.from(W().uint32(10).string('a').uint32(18).string('b').uint32(24).finish()), Buffer.from([0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])])],
    ['map entry with extra fields and no value', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(234).fork().uint32(98).fork().uint32(10).string('k').uint32(24).uint32(9).ldelim().ldelim().finish()],
    ['map __proto__ key', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(234).fork().uint32(98).fork().uint32(10).string('__proto__').uint32(18).string('v').ldelim().ldelim().finish()],
    ['enum value unknown', W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(186).fork().uint32(8).int32(-7).ldelim().finish()],
    ['invalid UTF-8', Buffer.concat([Buffer.from(W().uint32(10).string('a').uint32(18).string('b').uint32(24).uint64(1).uint32(162).fork().ldelim().uint32(82).finish()), Buffer.from([3, 0xff, 0xc3, 0x28])])],
    ['empty', new Uint8Array(0)],
  ];
  for (const [what, bytes] of cases) agree(t, Buffer.from(bytes), what);
});

t.test('decode: truncations and byte flips of every sample agree (fallback decides errors)', async (t) => {
  let n = 0;
  let seed = 42;
  const rnd = (k: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k; };
  for (const ev of samples.slice(0, 20)) {
    let bytes: Buffer;
    try { bytes = refEncode(ev); } catch { continue; }
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 25))) {
      const a = bytes.subarray(0, cut);
      const want = JSON.stringify(validOrInvalid(refDecode(a)));
      if (JSON.stringify(ours(a)) !== want) t.fail(`cut at ${cut} of ${String(ev.kind)}`);
      n++;
    }
    for (let k = 0; k < 60; k++) {
      const b = Buffer.from(bytes);
      b[rnd(b.length)] = rnd(256);
      const want = JSON.stringify(validOrInvalid(refDecode(b)));
      if (JSON.stringify(ours(b)) !== want) t.fail(`flip in ${String(ev.kind)}: ${b.toString('hex')}`);
      n++;
    }
  }
  t.ok(n > 1000, `${n} mutated inputs compared`);
});

t.test('a Uint8Array that is not a Buffer takes protobufjs (its own UTF-8 decoder)', async (t) => {
  const bytes = refEncode(samples[0] as Record<string, unknown>);
  const u8 = new Uint8Array(bytes);
  t.same(decodeEvent(u8), refDecode(u8));
});

t.test('an input whose getter encodes another event gets the same bytes as protobufjs', async (t) => {
  const inner = { ...base, seq: 2, kind: 'fork', fork: { childPid: 3 } };
  let innerBytes: Uint8Array | undefined;
  const outer: Record<string, unknown> = { ...base, kind: 'exec', exec: { argv: ['a'] } };
  Object.defineProperty(outer, 'comm', { enumerable: true, get: () => { innerBytes = encodeEvent(inner as unknown as RwEvent); return 'outer'; } });
  const got = Buffer.from(encodeEvent(outer as unknown as RwEvent)).toString('hex');
  t.equal(got, refEncode({ ...base, comm: 'outer', kind: 'exec', exec: { argv: ['a'] } }).toString('hex'));
  t.equal(Buffer.from(innerBytes ?? []).toString('hex'), refEncode(inner).toString('hex'));
});
