// Splits a byte stream into text lines, a chunk at a time: the sensors' pipes carry tens of thousands of short
// lines a second, and readline's per-line events, string concatenation and decoder were a third of reading them.
// Pure: bytes in, strings out.

export interface LineSplitter {
  /** The complete lines of `chunk` (and of what the previous chunks left), without their line breaks. */
  push(chunk: Buffer): string[];
  /** What is left after the last line break (the stream ended without one), if anything. */
  end(): string | undefined;
}

export const LINE_SPLIT_DEFAULTS = Object.freeze({
  /** An unterminated line is handed over as it is once it reaches this size (a bounded buffer). */
  maxLineBytes: 4 * 1024 * 1024,
});

const LF = 0x0a;

/**
 * Lines end at "\n"; a "\r" before it is dropped too ("\r\n"), as readline does. A line break never falls inside
 * a UTF-8 sequence (0x0a is never a continuation byte), so each run of whole lines is decoded in one go.
 */
export function createLineSplitter(maxLineBytes: number = LINE_SPLIT_DEFAULTS.maxLineBytes): LineSplitter {
  let tail: Buffer | undefined;

  function strip(lines: string[]): string[] {
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i] as string;
      if (l.length > 0 && l.charCodeAt(l.length - 1) === 0x0d) lines[i] = l.slice(0, -1);
    }
    return lines;
  }

  return {
    push(chunk) {
      const buf = tail ? Buffer.concat([tail, chunk]) : chunk;
      tail = undefined;
      const last = buf.lastIndexOf(LF);
      if (last < 0) {
        if (buf.length >= maxLineBytes) return strip([buf.toString('utf8')]);
        tail = buf.length > 0 ? Buffer.from(buf) : undefined;
        return [];
      }
      if (last + 1 < buf.length) {
        const rest = buf.subarray(last + 1);
        // Copied: the stream may reuse the chunk's memory, and a slice would keep the whole chunk alive.
        if (rest.length >= maxLineBytes) {
          const lines = buf.toString('utf8', 0, last).split('\n');
          lines.push(rest.toString('utf8'));
          return strip(lines);
        }
        tail = Buffer.from(rest);
      }
      return strip(buf.toString('utf8', 0, last).split('\n'));
    },
    end() {
      const t = tail;
      tail = undefined;
      if (!t || t.length === 0) return undefined;
      const s = t.toString('utf8');
      return s.endsWith('\r') ? s.slice(0, -1) : s;
    },
  };
}
