// The byte strings under which a secret value can appear in a stream (plain and encoded), each with its label.

/** Labels carried in SecretExposure.encoding. */
export type EncodingLabel = 'plain' | 'base64' | 'base64url' | 'base64x2' | 'hex' | 'url' | 'json' | 'base32';
export const ENCODING_LABELS: readonly EncodingLabel[] = Object.freeze([
  'plain', 'base64', 'base64url', 'base64x2', 'hex', 'url', 'json', 'base32',
]);

export interface EncodedPattern {
  encoding: EncodingLabel;
  bytes: Buffer;
}

export interface EncodingOptions {
  /** Which labels to produce; default all but base32 (base32 is for DNS names). */
  labels?: readonly EncodingLabel[];
  /**
   * Shortest pattern kept, in bytes. Below ~64 bits of content a pattern starts matching random
   * data (hex carries 4 bits per byte, so hex patterns need twice the length: see minBitsPerPattern).
   */
  minPatternBytes?: number;
  /** Shortest pattern kept, in bits of information carried by the pattern's alphabet. */
  minPatternBits?: number;
}

export const ENCODING_DEFAULTS = Object.freeze({
  labels: Object.freeze(['plain', 'base64', 'base64url', 'base64x2', 'hex', 'url', 'json'] as EncodingLabel[]),
  minPatternBytes: 8,
  minPatternBits: 56,
});

/** Lines of a multi-line secret shorter than this are not patterns of their own. */
const MULTILINE_MIN_LINE_CHARS = 16;

// Bits of information per pattern byte, by alphabet (an upper bound: the value itself may carry less).
const BITS_PER_BYTE: Readonly<Record<EncodingLabel, number>> = {
  plain: 8, json: 8, url: 8, base64: 6, base64url: 6, base64x2: 6, hex: 4, base32: 5,
};

/**
 * Bits per character a value can carry, judged by its alphabet: a short all-hex or all-digit value
 * is as common in random data as a short hex pattern.
 */
function valueBitsPerByte(value: string): number {
  if (/^[0-9]+$/.test(value)) return 3.3;
  if (/^[0-9a-f]+$/i.test(value)) return 4;
  if (/^[A-Za-z0-9+/=_-]+$/.test(value)) return 6;
  return 8;
}

/**
 * The stable middle of base64(S) for every S that contains `data` at an offset ≡ `align` (mod 3).
 * Characters that mix in bits of the unknown neighbouring bytes are cut: with 1 unknown byte before,
 * the first 2 characters; with 2, the first 3; after the end, the character holding a partial group.
 */
export function base64Middle(data: Buffer, align: 0 | 1 | 2, url = false): string {
  const padded = Buffer.concat([Buffer.alloc(align), data]);
  let s = padded.toString(url ? 'base64url' : 'base64').replace(/=+$/, '');
  const tailBytes = padded.length % 3;
  if (tailBytes !== 0) s = s.slice(0, -1);
  const head = align === 0 ? 0 : align === 1 ? 2 : 3;
  return s.slice(head);
}

/** The stable middle of base32(S) (RFC 4648, lowercase, no padding) for S holding `data` at offset ≡ align (mod 5). */
export function base32Middle(data: Buffer, align: 0 | 1 | 2 | 3 | 4): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = Buffer.concat([Buffer.alloc(align), data]);
  const totalBits = bytes.length * 8;
  // Character i covers bits [5i, 5i+5); keep it only when every bit comes from `data`.
  const firstKnownBit = align * 8;
  let out = '';
  for (let bit = 0; bit + 5 <= totalBits; bit += 5) {
    if (bit < firstKnownBit) continue;
    let v = 0;
    for (let k = 0; k < 5; k++) {
      const b = bit + k;
      const byte = bytes[b >> 3] as number;
      v = (v << 1) | ((byte >> (7 - (b & 7))) & 1);
    }
    out += alphabet[v];
  }
  return out;
}

function percentAll(data: Buffer): string {
  let s = '';
  for (const b of data) s += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  return s;
}

/**
 * Every byte pattern under which `value` may appear, deduplicated (first label wins), without
 * variants identical to plain and without patterns too short to tell from random data.
 */
export function encodingsOf(value: string, options: EncodingOptions = {}): EncodedPattern[] {
  const labels = new Set(options.labels ?? ENCODING_DEFAULTS.labels);
  const minBytes = options.minPatternBytes ?? ENCODING_DEFAULTS.minPatternBytes;
  const minBits = options.minPatternBits ?? ENCODING_DEFAULTS.minPatternBits;
  const raw = Buffer.from(value, 'utf8');
  const candidates: [EncodingLabel, string][] = [];
  if (labels.has('plain')) {
    candidates.push(['plain', value]);
    if (value.includes('\n')) {
      // A pty turns LF into CRLF; and a multi-line secret (PEM body) leaks line by line as easily as
      // whole, so every substantial line counts too (armour lines are the same in every key: skipped).
      candidates.push(['plain', value.replace(/\r?\n/g, '\r\n')]);
      for (const line of value.split(/\r?\n/)) {
        const l = line.trim();
        if (l.length >= MULTILINE_MIN_LINE_CHARS && !l.startsWith('-----')) candidates.push(['plain', l]);
      }
    }
  }
  if (labels.has('base64') || labels.has('base64url') || labels.has('base64x2')) {
    for (const a of [0, 1, 2] as const) {
      const std = base64Middle(raw, a);
      if (labels.has('base64')) candidates.push(['base64', std]);
      if (labels.has('base64url')) candidates.push(['base64url', base64Middle(raw, a, true)]);
      if (labels.has('base64x2')) {
        // The inner middle sits at any offset of the inner encoding, so the outer one needs all 3 alignments.
        const inner = Buffer.from(std, 'latin1');
        for (const b of [0, 1, 2] as const) candidates.push(['base64x2', base64Middle(inner, b)]);
      }
    }
  }
  if (labels.has('hex')) {
    const hex = raw.toString('hex');
    candidates.push(['hex', hex], ['hex', hex.toUpperCase()]);
  }
  if (labels.has('url')) candidates.push(['url', encodeURIComponent(value)], ['url', percentAll(raw)]);
  if (labels.has('json')) candidates.push(['json', JSON.stringify(value).slice(1, -1)]);
  if (labels.has('base32')) for (const a of [0, 1, 2, 3, 4] as const) candidates.push(['base32', base32Middle(raw, a)]);

  const seen = new Set<string>();
  const out: EncodedPattern[] = [];
  const plainBits = valueBitsPerByte(value);
  for (const [encoding, text] of candidates) {
    const bytes = Buffer.from(text, encoding === 'plain' || encoding === 'json' || encoding === 'url' ? 'utf8' : 'latin1');
    const bits = encoding === 'plain' || encoding === 'json' || encoding === 'url' ? raw.length * plainBits : bytes.length * BITS_PER_BYTE[encoding];
    if (bytes.length < minBytes || bits < minBits) continue;
    if (encoding !== 'plain' && bytes.equals(raw)) continue;
    const key = bytes.toString('latin1');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ encoding, bytes });
  }
  return out;
}
