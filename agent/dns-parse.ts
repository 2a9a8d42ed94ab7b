// Parses DNS messages (RFC 1035 §4) captured from packets into queries and answers. Pure, bounded, never throws.

export interface DnsQuestion { name: string; qtype: number }
export interface DnsAnswer { name: string; type: number; ttl: number; data: string }
export interface DnsMessage {
  id: number;
  response: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsAnswer[];
  /** The capture ended before the declared records did (payloads are cut at a fixed length). */
  truncated: boolean;
}

export type DnsParseResult = { ok: true; message: DnsMessage } | { ok: false; reason: string };

const MAX_POINTER_HOPS = 16;
const MAX_NAME_BYTES = 255; // RFC 1035 §2.3.4
const MAX_RECORDS = 64;

type NameResult = { ok: true; name: string; next: number } | { ok: false; reason: string };

function readName(b: Uint8Array, start: number): NameResult {
  const labels: string[] = [];
  let pos = start;
  let next = -1;
  let hops = 0;
  let total = 0;
  for (;;) {
    if (pos >= b.length) return { ok: false, reason: 'name runs past the end' };
    const len = b[pos]!;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= b.length) return { ok: false, reason: 'pointer runs past the end' };
      if (++hops > MAX_POINTER_HOPS) return { ok: false, reason: 'compression loop' };
      if (next < 0) next = pos + 2;
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= b.length) return { ok: false, reason: 'pointer outside the message' };
      pos = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return { ok: false, reason: 'reserved label type' };
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if (pos + 1 + len > b.length) return { ok: false, reason: 'label runs past the end' };
    total += len + 1;
    if (total > MAX_NAME_BYTES) return { ok: false, reason: 'name longer than 255 bytes' };
    let label = '';
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = b[i]!;
      // Printable ASCII other than '.' and '\' kept as is; the rest escaped as \DDD (RFC 4343 §2.1).
      label += c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c ? String.fromCharCode(c) : '\\' + String(c).padStart(3, '0');
    }
    labels.push(label.toLowerCase());
    pos += 1 + len;
  }
  return { ok: true, name: labels.length ? labels.join('.') : '.', next };
}

function rdataText(b: Uint8Array, type: number, off: number, len: number): string {
  if (type === 1 && len === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  if (type === 28 && len === 16) return ipv6Text(b.subarray(off, off + 16));
  if (type === 5 || type === 2 || type === 12) {
    const n = readName(b, off);
    return n.ok ? n.name : '';
  }
  return '';
}

/** RFC 5952 text form of 16 address bytes. */
export function ipv6Text(a: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((a[i]! << 8) | a[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestStart === 0 && bestLen === 5 && words[5] === 0xffff) {
    return `::ffff:${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return hex.slice(0, bestStart).join(':') + '::' + hex.slice(bestStart + bestLen).join(':');
}

/** Parses one DNS message. A message cut short keeps the records read so far, with `truncated`. */
export function parseDns(b: Uint8Array): DnsParseResult {
  if (b.length < 12) return { ok: false, reason: 'shorter than the 12-byte header' };
  const id = (b[0]! << 8) | b[1]!;
  const flags = (b[2]! << 8) | b[3]!;
  if (((flags >> 11) & 0xf) !== 0) return { ok: false, reason: 'opcode is not QUERY' };
  const qd = (b[4]! << 8) | b[5]!;
  const an = (b[6]! << 8) | b[7]!;
  if (qd > MAX_RECORDS || an > MAX_RECORDS) return { ok: false, reason: 'record count out of bounds' };
  const message: DnsMessage = { id, response: (flags & 0x8000) !== 0, rcode: flags & 0xf, questions: [], answers: [], truncated: false };
  let pos = 12;
  for (let i = 0; i < qd; i++) {
    const n = readName(b, pos);
    if (!n.ok || n.next + 4 > b.length) {
      if (i === 0) return { ok: false, reason: n.ok ? 'question runs past the end' : n.reason };
      message.truncated = true;
      return { ok: true, message };
    }
    message.questions.push({ name: n.name, qtype: (b[n.next]! << 8) | b[n.next + 1]! });
    pos = n.next + 4;
  }
  for (let i = 0; i < an; i++) {
    const n = readName(b, pos);
    if (!n.ok || n.next + 10 > b.length) { message.truncated = true; break; }
    const type = (b[n.next]! << 8) | b[n.next + 1]!;
    const ttl = ((b[n.next + 4]! << 24) | (b[n.next + 5]! << 16) | (b[n.next + 6]! << 8) | b[n.next + 7]!) >>> 0;
    const rdlen = (b[n.next + 8]! << 8) | b[n.next + 9]!;
    const rdOff = n.next + 10;
    if (rdOff + rdlen > b.length) { message.truncated = true; break; }
    message.answers.push({ name: n.name, type, ttl, data: rdataText(b, type, rdOff, rdlen) });
    pos = rdOff + rdlen;
  }
  return { ok: true, message };
}

/** Addresses (A/AAAA data) of the answers, in order. */
export function answerAddresses(m: DnsMessage): string[] {
  return m.answers.filter((a) => (a.type === 1 || a.type === 28) && a.data !== '').map((a) => a.data);
}
