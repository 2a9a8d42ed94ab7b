// Streaming scan of job bytes (output, files, argv, DNS names) for secret values in plain and encoded forms.

import type { SecretChannel } from '../../proto/types.js';
import { buildAutomaton, outputsAt, runAutomaton } from './automaton.js';
import type { Automaton } from './automaton.js';
import { ENCODING_DEFAULTS, ENCODING_LABELS, encodingsOf } from './encodings.js';
import type { EncodingLabel, EncodingOptions } from './encodings.js';

export interface ScanSecret {
  name: string;
  value: string;
}

/** One secret seen once in one (channel, location): names and labels only, never the value. */
export interface Exposure {
  secretName: string;
  /** Index into the secrets given to createScanner (to look up its fingerprint). */
  secretIndex: number;
  encoding: EncodingLabel;
  channel: SecretChannel;
  location: string;
  /** Byte offset of the match start in that location's stream. */
  offset: number;
}

/** A match from a one-shot scan. */
export interface Match {
  secretName: string;
  secretIndex: number;
  encoding: EncodingLabel;
  start: number;
  end: number;
}

export interface ScannerOptions extends EncodingOptions, ScannerLimits {
  caseFold?: boolean;
}

export interface ScannerLimits {
  /** Streams (channel, location) whose state is kept; the least recently used is forgotten beyond it. */
  maxStreams?: number;
  /** Transition table limit; past it base64x2 patterns are dropped first (see info.droppedEncodings). */
  maxTableBytes?: number;
}

export const SCANNER_DEFAULTS = Object.freeze({ maxStreams: 4096, maxTableBytes: 128 * 1024 * 1024 });

export interface ScannerInfo {
  patterns: number;
  states: number;
  tableBytes: number;
  droppedEncodings: EncodingLabel[];
  /** Streams forgotten because of maxStreams (a match spanning the eviction point is missed). */
  evictedStreams: number;
}

export interface Scanner {
  /** Scan the next chunk of the (channel, location) stream; each (secret, encoding) is reported once per stream. */
  scan(chunk: Uint8Array, channel: SecretChannel, location: string): Exposure[];
  /** Forget one stream's state (its file was closed, its process exited). */
  endStream(channel: SecretChannel, location: string): void;
  /**
   * End every stream. Matches are reported as soon as their last byte is seen, so nothing is pending:
   * this returns [] and only releases state.
   */
  end(): Exposure[];
  /** Every match in one buffer, independent of stream state (argv, DNS names). */
  findAll(data: Uint8Array): Match[];
  readonly info: ScannerInfo;
}

interface StreamState {
  state: number;
  consumed: number;
  reported: Set<number>;
}

interface PatternRef {
  secretIndex: number;
  encoding: EncodingLabel;
}

function compile(secrets: readonly ScanSecret[], options: ScannerOptions, labels: readonly EncodingLabel[]):
  { automaton: Automaton; refs: PatternRef[] } {
  const refs: PatternRef[] = [];
  const bytes: Buffer[] = [];
  secrets.forEach((s, secretIndex) => {
    for (const p of encodingsOf(s.value, { ...options, labels })) {
      refs.push({ secretIndex, encoding: p.encoding });
      bytes.push(p.bytes);
    }
  });
  const automaton = buildAutomaton(bytes, {
    caseFold: options.caseFold ?? false,
    maxTableBytes: options.maxTableBytes ?? SCANNER_DEFAULTS.maxTableBytes,
  });
  return { automaton, refs };
}

export function createScanner(secrets: readonly ScanSecret[], options: ScannerOptions = {}): Scanner {
  let labels = options.labels ?? ENCODING_DEFAULTS.labels;
  const droppedEncodings: EncodingLabel[] = [];
  let compiled: { automaton: Automaton; refs: PatternRef[] };
  for (;;) {
    try {
      compiled = compile(secrets, options, labels);
      break;
    } catch (e) {
      // Degrade by the encoding with the most and longest patterns before giving up.
      if (!labels.includes('base64x2')) throw e;
      labels = labels.filter((l) => l !== 'base64x2');
      droppedEncodings.push('base64x2');
    }
  }
  const { automaton, refs } = compiled;
  const maxStreams = options.maxStreams ?? SCANNER_DEFAULTS.maxStreams;
  const streams = new Map<string, StreamState>();
  const info: ScannerInfo = {
    patterns: refs.length, states: automaton.states, tableBytes: automaton.tableBytes,
    droppedEncodings, evictedStreams: 0,
  };
  const labelIndex = new Map(ENCODING_LABELS.map((l, i) => [l, i]));

  function streamOf(channel: SecretChannel, location: string): StreamState {
    const key = `${channel}\u0000${location}`;
    let st = streams.get(key);
    if (st) {
      // Map order is insertion order: re-insert to make it the most recently used.
      streams.delete(key);
    } else {
      st = { state: 0, consumed: 0, reported: new Set() };
      if (streams.size >= maxStreams) {
        const oldest = streams.keys().next().value as string;
        streams.delete(oldest);
        info.evictedStreams++;
      }
    }
    streams.set(key, st);
    return st;
  }

  const run = (data: Uint8Array, start: number, onMatch: (s: number, i: number) => void): number =>
    runAutomaton(automaton, data, start, onMatch);

  return {
    info,
    scan(chunk, channel, location) {
      const st = streamOf(channel, location);
      const out: Exposure[] = [];
      const base = st.consumed;
      st.state = run(chunk, st.state, (s, i) => {
        for (const id of outputsAt(automaton, s)) {
          const ref = refs[id] as PatternRef;
          const key = ref.secretIndex * 16 + (labelIndex.get(ref.encoding) as number);
          if (st.reported.has(key)) continue;
          st.reported.add(key);
          const secret = secrets[ref.secretIndex] as ScanSecret;
          out.push({
            secretName: secret.name, secretIndex: ref.secretIndex, encoding: ref.encoding, channel, location,
            offset: base + i + 1 - (automaton.patternLength[id] as number),
          });
        }
      });
      st.consumed += chunk.length;
      return out;
    },
    endStream(channel, location) {
      streams.delete(`${channel}\u0000${location}`);
    },
    end() {
      streams.clear();
      return [];
    },
    findAll(data) {
      const out: Match[] = [];
      run(data, 0, (s, i) => {
        for (const id of outputsAt(automaton, s)) {
          const ref = refs[id] as PatternRef;
          out.push({ secretName: (secrets[ref.secretIndex] as ScanSecret).name, secretIndex: ref.secretIndex, encoding: ref.encoding, start: i + 1 - (automaton.patternLength[id] as number), end: i + 1 });
        }
      });
      return out;
    },
  };
}

/** One line on the compiled matcher's size, for logs and the bench. */
export function describeScanner(s: Scanner): string {
  return `${s.info.patterns} patterns, ${s.info.states} states, ${(s.info.tableBytes / 1048576).toFixed(1)} MiB table`;
}
