// agent/secrets/exposure.ts: event bodies without values; argv and DNS name scans.
import t from 'tap';
import { createDnsScanner, createExposureReporter, scanArgv, scanDnsName } from '../../../agent/secrets/exposure.js';
import { fingerprint } from '../../../agent/secrets/fingerprint.js';
import { createScanner } from '../../../agent/secrets/scanner.js';

const key = Buffer.alloc(32, 7);
const secrets = [
  { name: 'GITHUB_TOKEN', value: 'ghp_R4nd0mT0k3nV4lu3xyzABCDEFGHIJKLMN0123' },
  { name: 'AWS_SECRET_ACCESS_KEY', value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
];
const [gh, aws] = secrets.map((s) => s.value) as [string, string];

function base32(data: Buffer): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = '';
  for (const b of data) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}
const labels = (s: string) => (s.match(/.{1,63}/g) ?? []).join('.');

t.test('event body: name, fingerprint, channel, encoding, location; never the value', async (t) => {
  const scanner = createScanner(secrets);
  const rep = createExposureReporter(secrets, key);
  const hits = scanner.scan(Buffer.from(`x ${Buffer.from(aws).toString('base64')}`), 'LOG', 'stdout');
  const ev = hits.map((h) => rep.toEvent(h));
  t.same(ev, [{ secretName: 'AWS_SECRET_ACCESS_KEY', fingerprint: fingerprint(key, aws), channel: 'LOG', encoding: 'base64', location: 'stdout' }]);
  const json = JSON.stringify(ev);
  for (const s of secrets) t.notOk(json.includes(s.value));
  t.equal(rep.fingerprintOf(0), fingerprint(key, gh));
  t.throws(() => rep.fingerprintOf(5), RangeError);
});

t.test('argv', async (t) => {
  const scanner = createScanner(secrets);
  const rows: [string[], string[]][] = [
    [['curl', '-H', `Authorization: token ${gh}`, 'https://x'], ['GITHUB_TOKEN/plain']],
    [['sh', '-c', `echo ${Buffer.from(aws).toString('hex')} ${aws}`], ['AWS_SECRET_ACCESS_KEY/hex', 'AWS_SECRET_ACCESS_KEY/plain']],
    [['node', '-e', `f("${gh}")`, `--t=${gh}`], ['GITHUB_TOKEN/plain']],
    [['ls', '-la'], []],
    [['split', gh.slice(0, 20), gh.slice(20)], []],
  ];
  for (const [argv, want] of rows) {
    const got = scanArgv(scanner, argv, 'pid:42');
    t.same(got.map((e) => `${e.secretName}/${e.encoding}`).sort(), want, argv.join(' ').slice(0, 30));
    for (const e of got) t.equal(e.channel, 'ARGV');
  }
  t.equal(scanArgv(scanner, ['a', 'b', gh], 'p')[0]?.offset, 2, 'offset is the argument index');
});

t.test('DNS names: hex, base32, plain, any case, cut into labels', async (t) => {
  const scanner = createDnsScanner(secrets);
  const hex = Buffer.from(aws).toString('hex');
  const rows: [string, string[]][] = [
    [`${labels(hex)}.x.attacker.example`, ['AWS_SECRET_ACCESS_KEY/hex']],
    [`${labels(hex.toUpperCase())}.attacker.example.`, ['AWS_SECRET_ACCESS_KEY/hex']],
    [`${labels(base32(Buffer.from(`:${gh}`)))}.attacker.example`, ['GITHUB_TOKEN/base32']],
    [`${gh.toLowerCase()}.attacker.example`, ['GITHUB_TOKEN/plain']],
    [`${gh}.attacker.example`, ['GITHUB_TOKEN/plain']],
    [`${labels(Buffer.from(gh).toString('base64url'))}.e.example`, ['GITHUB_TOKEN/base64url']],
    ['www.example.com', []],
    ['a1b2c3d4e5f60718293a4b5c6d7e8f90.cdn.example', []],
  ];
  for (const [name, want] of rows) {
    const got = scanDnsName(scanner, name);
    t.same(got.map((e) => `${e.secretName}/${e.encoding}`), want, name.slice(0, 40));
    for (const e of got) { t.equal(e.channel, 'DNS'); t.equal(e.location, name); }
  }
});
