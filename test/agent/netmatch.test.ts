// agent/netmatch.ts: CIDR membership and allow-list matching.
import t from 'tap';
import { destinationAllowed, domainAllowed, ipInNets, netPolicy, parseCidr } from '../../agent/netmatch.js';

const nets = ['10.0.0.0/8', '127.0.0.1/32', '::1/128', 'fc00::/7', '192.168.1.0/24'].map((c) => parseCidr(c)!);
const cases: [string, boolean][] = [
  ['10.1.2.3', true], ['11.0.0.1', false], ['127.0.0.1', true], ['127.0.0.2', false], ['::1', true],
  ['::2', false], ['fd12:3456::1', true], ['fe80::1', false], ['::ffff:10.9.9.9', true], ['192.168.1.255', true],
  ['192.168.2.1', false], ['not-an-ip', false],
];
for (const [ip, want] of cases) t.test(ip, async (t) => { t.equal(ipInNets(ip, nets), want); });

t.test('allow list', async (t) => {
  const p = netPolicy(['127.0.0.1/32'], ['github.com', '*.npmjs.org', '127.8.0.0/16']);
  t.ok(domainAllowed('api.github.com', p));
  t.ok(domainAllowed('GitHub.com.', p));
  t.notOk(domainAllowed('evilgithub.com', p));
  t.ok(domainAllowed('registry.npmjs.org', p));
  t.notOk(domainAllowed(undefined, p));
  t.ok(destinationAllowed('127.8.8.8', undefined, p));
  t.notOk(destinationAllowed('127.7.7.7', 'webhook.site', p));
});
