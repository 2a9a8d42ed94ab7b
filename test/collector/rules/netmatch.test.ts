// Destination matching: CIDRs (v4, v6, mapped), domains with subdomains and wildcards, entropy.
import t from 'tap';
import { domainMatches, entropy, ipInCidr, ipInCidrs, isIpLiteral } from '../../../collector/rules/netmatch.js';

const cidr: [string, string, boolean][] = [
  ['127.0.0.1', '127.0.0.1/32', true], ['127.0.0.2', '127.0.0.1/32', false], ['127.3.3.3', '127.0.0.0/8', true],
  ['192.168.1.1', '192.168.0.0/16', true], ['172.32.0.1', '172.16.0.0/12', false], ['::1', '::1/128', true],
  ['fd00::5', 'fc00::/7', true], ['2001:db8::1', 'fc00::/7', false], ['::ffff:10.0.0.1', '10.0.0.0/8', true],
  ['10.0.0.1', '::1/128', false], ['garbage', '10.0.0.0/8', false], ['10.0.0.1', '10.0.0.1', true], ['0.0.0.0', '0.0.0.0/0', true],
];
for (const [ip, c, want] of cidr) t.equal(ipInCidr(ip, c), want, `${ip} in ${c}`);
t.equal(ipInCidrs('', ['0.0.0.0/0']), false, 'empty ip never matches');
t.equal(ipInCidrs('8.8.8.8', ['example.com', '8.8.8.0/24']), true, 'domains in the list are skipped');

const dom: [string, string[], boolean][] = [
  ['github.com', ['github.com'], true], ['api.github.com', ['github.com'], true], ['evilgithub.com', ['github.com'], false],
  ['GitHub.com.', ['github.com'], true], ['a.b.example.org', ['*.example.org'], true], ['example.org', ['*.example.org'], false],
  ['x.com', ['10.0.0.0/8'], false], ['', ['github.com'], false],
];
for (const [d, l, want] of dom) t.equal(domainMatches(d, l), want, `${d} in ${l.join(',')}`);

t.equal(isIpLiteral('2001:db8::1'), true);
t.equal(isIpLiteral('1.2.3'), false);
t.equal(entropy(''), 0);
t.equal(entropy('ab'), 1);
t.ok(entropy('mzxw6ytboi4dsnzrgq2tmobyhaydkmjt') > 3.5);
