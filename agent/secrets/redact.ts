// Live redaction of the wrapped command's output: every secret value or encoding becomes `***`.
// Bytes are held back only while they may still start a match (at most the longest pattern − 1),
// so a stream without newlines is emitted promptly.

import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { buildAutomaton, outputsAt, runAutomaton } from './automaton.js';
import { encodingsOf } from './encodings.js';
import type { EncodingOptions } from './encodings.js';
import type { ScanSecret } from './scanner.js';

export const REDACTION_MARK = Buffer.from('***');

export interface RedactorOptions extends EncodingOptions {
  maxTableBytes?: number;
}

export interface Redactor {
  /** Bytes that are final (redacted); the rest of `chunk` is held until it cannot be a match start. */
  push(chunk: Uint8Array): Buffer;
  /** Everything still held, redacted; the redactor can then start a new stream. */
  end(): Buffer;
  /** Bytes currently held back (bounded by the longest pattern). */
  readonly heldBytes: number;
  /** Marks written so far (overlapping matches count once). */
  readonly redactions: number;
  /**
   * One whole string (an argv element, a path), apart from the stream and without touching its state: the same
   * result as push + end on a fresh redactor, and the string itself, not a copy, when it holds nothing to replace.
   */
  redactString(text: string): string;
}

/**
 * Adds [start, end) to sorted, disjoint ranges, merging it with the ranges it overlaps; returns how many it
 * absorbed. Ends arrive in non-decreasing order, so only the tail of the list can overlap. Ranges that merely
 * touch stay apart: in a stream the first may already be emitted when the second is found, and output must not
 * depend on how the input was chunked.
 */
function mergeRange(ranges: [number, number][], start: number, end: number): number {
  let s = start;
  let e = end;
  let absorbed = 0;
  for (;;) {
    const last = ranges[ranges.length - 1];
    if (!last || last[1] <= s) break;
    s = Math.min(s, last[0]);
    e = Math.max(e, last[1]);
    ranges.pop();
    absorbed++;
  }
  ranges.push([s, e]);
  return absorbed;
}

/**
 * `data` (which starts at absolute offset dataStart) up to upTo with the ranges that end by then replaced by the
 * mark; those ranges are taken off the list.
 */
function takeRedacted(ranges: [number, number][], data: Buffer, dataStart: number, upTo: number): Buffer {
  const parts: Buffer[] = [];
  let pos = dataStart;
  while (ranges.length > 0 && (ranges[0] as [number, number])[1] <= upTo) {
    const [s, e] = ranges.shift() as [number, number];
    if (s > pos) parts.push(data.subarray(pos - dataStart, s - dataStart));
    parts.push(REDACTION_MARK);
    pos = Math.max(pos, e);
  }
  if (upTo > pos) parts.push(data.subarray(pos - dataStart, upTo - dataStart));
  // A single part is a view of the input chunk: streams hand chunks over, so no copy is needed.
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}

export function createRedactor(secrets: readonly ScanSecret[], options: RedactorOptions = {}): Redactor {
  const bytes: Buffer[] = [];
  for (const s of secrets) for (const p of encodingsOf(s.value, options)) bytes.push(p.bytes);
  const a = buildAutomaton(bytes, options.maxTableBytes === undefined ? {} : { maxTableBytes: options.maxTableBytes });
  const { classes, depth, patternLength } = a;

  let state = 0;
  let consumed = 0;           // absolute offset of the end of the input seen
  let held: Buffer = Buffer.alloc(0);
  let heldStart = 0;          // absolute offset of held[0]
  // Disjoint, sorted [start, end) ranges to replace, absolute offsets, not yet emitted.
  const ranges: [number, number][] = [];
  let redactions = 0;

  function addRange(start: number, end: number): void {
    redactions += 1 - mergeRange(ranges, start, end);
  }

  const emit = (data: Buffer, dataStart: number, upTo: number): Buffer => takeRedacted(ranges, data, dataStart, upTo);

  return {
    get heldBytes() { return held.length; },
    get redactions() { return redactions; },
    push(chunk) {
      const data = held.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([held, chunk]);
      const dataStart = heldStart;
      const base = consumed;
      const s = runAutomaton(a, chunk, state, (st, i) => {
        const end = base + i + 1;
        for (const id of outputsAt(a, st)) addRange(end - (patternLength[id] as number), end);
      });
      state = s;
      consumed += chunk.length;
      // Bytes before `boundary` can no longer begin a match; a pending range straddling it pulls it back.
      let boundary = consumed - (depth[(s / classes) | 0] as number);
      for (const [rs, re] of ranges) {
        if (re > boundary) { if (rs < boundary) boundary = rs; break; }
      }
      const out = emit(data, dataStart, boundary);
      held = Buffer.from(data.subarray(boundary - dataStart));
      heldStart = boundary;
      return out;
    },
    redactString(text) {
      if (text.length === 0) return text;
      const data = Buffer.from(text, 'utf8');
      let found: [number, number][] | undefined;
      runAutomaton(a, data, 0, (st, i) => {
        const end = i + 1;
        for (const id of outputsAt(a, st)) mergeRange(found ??= [], end - (patternLength[id] as number), end);
      });
      return found ? takeRedacted(found, data, 0, data.length).toString('utf8') : text;
    },
    end() {
      const out = emit(held, heldStart, consumed);
      held = Buffer.alloc(0);
      heldStart = consumed;
      state = 0;
      return out;
    },
  };
}

/** Stream wrapper: pipe the command's output through it before it reaches the terminal or log. */
export function createRedactStream(secrets: readonly ScanSecret[], options: RedactorOptions = {}): Transform {
  const r = createRedactor(secrets, options);
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      const out = r.push(chunk);
      cb(null, out.length > 0 ? out : undefined);
    },
    flush(cb: TransformCallback) {
      const out = r.end();
      cb(null, out.length > 0 ? out : undefined);
    },
  });
}
