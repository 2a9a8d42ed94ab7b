// Decides whether an address is inside a set of CIDRs and whether a destination is on the allow list. Pure.
import { isIPv4, isIPv6 } from 'node:net';

function v4ToBig(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function v6ToBig(ip: string): bigint {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // a trailing dotted quad (::ffff:1.2.3.4)
  const dq = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dq) {
    const v = v4ToBig(dq[1] as string);
    s = s.slice(0, -(dq[1] as string).length) + `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

interface Net { v6: boolean; base: bigint; bits: number }

export function parseCidr(cidr: string): Net | undefined {
  const [ip, b] = cidr.split('/') as [string, string | undefined];
  if (isIPv4(ip)) {
    const bits = b === undefined ? 32 : Number(b);
    return { v6: false, base: v4ToBig(ip) >> BigInt(32 - bits), bits };
  }
  if (isIPv6(ip)) {
    const bits = b === undefined ? 128 : Number(b);
    return { v6: true, base: v6ToBig(ip) >> BigInt(128 - bits), bits };
  }
  return undefined;
}

/** IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as IPv4. */
export function ipInNets(ip: string, nets: readonly Net[]): boolean {
  let v6 = isIPv6(ip);
  let value: bigint;
  if (v6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) {
    v6 = false;
    value = v4ToBig(ip.slice(7));
  } else if (v6) value = v6ToBig(ip);
  else if (isIPv4(ip)) value = v4ToBig(ip);
  else return false;
  const width = v6 ? 128 : 32;
  return nets.some((n) => n.v6 === v6 && value >> BigInt(width - n.bits) === n.base);
}

export interface NetPolicy { trusted: readonly Net[]; allowNets: readonly Net[]; allowDomains: readonly string[] }

export function netPolicy(trusted: readonly string[], allow: readonly string[]): NetPolicy {
  const nets = (xs: readonly string[]): Net[] => xs.map(parseCidr).filter((n): n is Net => n !== undefined);
  return {
    trusted: nets(trusted),
    allowNets: nets(allow.filter((a) => parseCidr(a))),
    allowDomains: allow.filter((a) => !parseCidr(a)).map((d) => d.toLowerCase().replace(/^\*\./, '').replace(/\.$/, '')),
  };
}

/** An allow-list domain covers itself and its subdomains. */
export function domainAllowed(domain: string | undefined, p: NetPolicy): boolean {
  if (!domain) return false;
  const d = domain.toLowerCase().replace(/\.$/, '');
  return p.allowDomains.some((a) => d === a || d.endsWith('.' + a));
}

export function destinationAllowed(ip: string, domain: string | undefined, p: NetPolicy): boolean {
  return domainAllowed(domain, p) || ipInNets(ip, p.allowNets);
}
