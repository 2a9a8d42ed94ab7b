// agent/dns-parse.ts: queries, answers, compression, truncation and garbage, table-driven.
import t from 'tap';
import { answerAddresses, ipv6Text, parseDns } from '../../agent/dns-parse.js';

const name = (n: string) => Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
const header = (id: number, flags: number, qd: number, an: number) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0); b.writeUInt16BE(flags, 2); b.writeUInt16BE(qd, 4); b.writeUInt16BE(an, 6);
  return b;
};
const q = (n: string, type: number) => Buffer.concat([name(n), Buffer.from([0, type, 0, 1])]);
const rr = (type: number, data: Buffer) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(0xc00c, 0); b.writeUInt16BE(type, 2); b.writeUInt16BE(1, 4); b.writeUInt32BE(300, 6); b.writeUInt16BE(data.length, 10);
  return Buffer.concat([b, data]);
};
const v6 = Buffer.from('20010db8000000000000000000000001', 'hex');
const query = Buffer.concat([header(0x1234, 0x0100, 1, 0), q('Example.COM', 1)]);
const answer = Buffer.concat([header(0x1234, 0x8180, 1, 3), q('example.com', 1), rr(1, Buffer.from([93, 184, 216, 34])), rr(28, v6),
  rr(5, Buffer.from([0xc0, 0x0c]))]);

const cases: [string, Buffer, unknown][] = [
  ['query', query, { ok: true, message: { id: 0x1234, response: false, rcode: 0, questions: [{ name: 'example.com', qtype: 1 }], answers: [], truncated: false } }],
  ['answer with A, AAAA and a compressed CNAME', answer, { ok: true, message: { id: 0x1234, response: true, rcode: 0, truncated: false,
    questions: [{ name: 'example.com', qtype: 1 }],
    answers: [{ name: 'example.com', type: 1, ttl: 300, data: '93.184.216.34' }, { name: 'example.com', type: 28, ttl: 300, data: '2001:db8::1' },
      { name: 'example.com', type: 5, ttl: 300, data: 'example.com' }] } }],
  ['NXDOMAIN', Buffer.concat([header(7, 0x8183, 1, 0), q('nope.test', 28)]), { ok: true, message: { id: 7, response: true, rcode: 3, questions: [{ name: 'nope.test', qtype: 28 }], answers: [], truncated: false } }],
  ['answer cut by the capture', answer.subarray(0, answer.length - 20), { ok: true, message: { truncated: true } }],
  ['short header', Buffer.from([1, 2, 3]), { ok: false, reason: 'shorter than the 12-byte header' }],
  ['question past the end', Buffer.concat([header(1, 0x100, 1, 0), Buffer.from([5, 97])]), { ok: false }],
  ['pointer loop', Buffer.concat([header(1, 0x100, 1, 0), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), { ok: false, reason: 'compression loop' }],
  ['not a QUERY opcode', Buffer.concat([header(1, 0x2800, 1, 0), q('a.b', 1)]), { ok: false, reason: 'opcode is not QUERY' }],
  ['absurd counts', header(1, 0x100, 9999, 0), { ok: false, reason: 'record count out of bounds' }],
  ['odd label bytes escaped', Buffer.concat([header(2, 0x100, 1, 0), Buffer.from([3, 97, 46, 0x20, 0, 0, 1, 0, 1])]),
    { ok: true, message: { questions: [{ name: 'a\\046\\032', qtype: 1 }] } }],
];
for (const [label, bytes, want] of cases) {
  t.test(label, async (t) => { t.match(parseDns(bytes), want); });
}

t.test('answerAddresses keeps A and AAAA data', async (t) => {
  const r = parseDns(answer);
  t.ok(r.ok);
  if (r.ok) t.same(answerAddresses(r.message), ['93.184.216.34', '2001:db8::1']);
});

t.test('ipv6Text follows RFC 5952', async (t) => {
  const table: [string, string][] = [
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000100000001000000000001', '2001:db8:1:0:1::1'],
    ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
    ['fe800000000000000000000000000000', 'fe80::'],
  ];
  for (const [hex, want] of table) t.equal(ipv6Text(Buffer.from(hex, 'hex')), want, hex);
});
