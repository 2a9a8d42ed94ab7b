// Destination matching for rules: IPv4/IPv6 in CIDR lists, domains against allow lists, label entropy.

function ipv4Bits(ip: string): bigint | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    v = (v << 8n) | BigInt(p);
  }
  return v;
}

function ipv6Bits(ip: string): bigint | undefined {
  let s = ip.toLowerCase();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  // IPv4-mapped tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (v4) {
    const b = ipv4Bits(v4[1] as string);
    if (b === undefined) return undefined;
    s = s.slice(0, -((v4[1] as string).length)) + ((b >> 16n).toString(16)) + ':' + ((b & 0xffffn).toString(16));
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 && missing !== 0) return undefined;
  if (missing < 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/** True when `ip` lies in `cidr` (a bare address counts as a /32 or /128). Mismatched families never match. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  if (net === undefined) return false;
  const isV4 = !net.includes(':');
  const a = isV4 ? ipv4Bits(ip) : ipv6Bits(ip);
  const b = isV4 ? ipv4Bits(net) : ipv6Bits(net);
  if (a === undefined || b === undefined) {
    // An IPv4-mapped IPv6 address matches IPv4 ranges.
    const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
    return isV4 && m ? ipInCidr(m[1] as string, cidr) : false;
  }
  const width = isV4 ? 32n : 128n;
  const bits = bitsText === undefined ? width : BigInt(Number(bitsText));
  if (bits < 0n || bits > width) return false;
  const shift = width - bits;
  return (a >> shift) === (b >> shift);
}

export function isIpLiteral(s: string): boolean {
  return ipv4Bits(s) !== undefined || (s.includes(':') && ipv6Bits(s) !== undefined);
}

export function ipInCidrs(ip: string, cidrs: readonly string[]): boolean {
  return ip !== '' && cidrs.some((c) => (c.includes('/') || isIpLiteral(c)) && ipInCidr(ip, c));
}

/**
 * True when `domain` equals an entry or is a subdomain of it; `*.x` matches subdomains of x only.
 * Entries that are CIDRs or IPs are skipped (see ipInCidrs).
 */
export function domainMatches(domain: string, entries: readonly string[]): boolean {
  const d = domain.toLowerCase().replace(/\.$/, '');
  if (d === '') return false;
  for (const raw of entries) {
    const e = raw.toLowerCase().replace(/\.$/, '');
    if (e === '' || e.includes('/') || isIpLiteral(e)) continue;
    if (e.startsWith('*.')) {
      if (d.endsWith(e.slice(1))) return true;
    } else if (d === e || d.endsWith('.' + e)) {
      return true;
    }
  }
  return false;
}

/** Shannon entropy in bits per character: DNS tunnels carry encoded payloads in labels (≈4+ bits/char). */
export function entropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}
