// Aho-Corasick multi-pattern matcher over bytes, compiled to a dense DFA on a compressed byte alphabet.
// Shared by the exposure scanner and the live redactor; the state is one integer, so matches spanning
// chunk boundaries need no tail buffer.

import { RwError } from '../../proto/errors.js';

export interface AutomatonOptions {
  /** ASCII case-insensitive: patterns and input are folded to lowercase (DNS names). */
  caseFold?: boolean;
  /** Upper bound on the transition table, in bytes (4 bytes per state per byte class). */
  maxTableBytes?: number;
}

export const AUTOMATON_DEFAULTS = Object.freeze({ maxTableBytes: 256 * 1024 * 1024 });

export interface Automaton {
  /** Byte → class index. */
  readonly classOf: Uint16Array;
  /** Number of byte classes; states are stored premultiplied by it. */
  readonly classes: number;
  /**
   * delta[state*classes + class] = next state × classes, negated when the next state ends a pattern
   * (the root never does, so the sign is unambiguous).
   */
  readonly delta: Int32Array;
  /** Longest pattern prefix the state stands for (bytes that may still start a match). */
  readonly depth: Int32Array;
  /** For a state number, every pattern id ending there (own and via suffix links); empty otherwise. */
  readonly outputs: ReadonlyArray<Int32Array | undefined>;
  readonly patternLength: Int32Array;
  readonly states: number;
  readonly tableBytes: number;
}

const EMPTY = new Int32Array(0);

function fold(b: number, caseFold: boolean): number {
  return caseFold && b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
}

/** Compile `patterns` (pattern id = index). Empty patterns are a bug: callers filter by length first. */
export function buildAutomaton(patterns: readonly Uint8Array[], options: AutomatonOptions = {}): Automaton {
  const caseFold = options.caseFold ?? false;
  const maxTableBytes = options.maxTableBytes ?? AUTOMATON_DEFAULTS.maxTableBytes;

  // Alphabet compression: every byte used by a pattern gets a class; all others share class 0.
  const classOf = new Uint16Array(256);
  let classes = 1;
  for (const p of patterns) {
    if (p.length === 0) throw new RwError('AGENT_ERR_SECRETS', 'empty pattern');
    for (const raw of p) {
      const b = fold(raw, caseFold);
      if (classOf[b] === 0) classOf[b] = classes++;
    }
  }
  if (caseFold) for (let b = 0x41; b <= 0x5a; b++) classOf[b] = classOf[b + 0x20] as number;

  let maxStates = 1;
  for (const p of patterns) maxStates += p.length;
  const boundBytes = maxStates * classes * 4;
  if (boundBytes > maxTableBytes) {
    throw new RwError('AGENT_ERR_SECRETS', 'secret patterns exceed the matcher size limit', {
      details: { tableBytes: boundBytes, maxTableBytes, patterns: patterns.length },
    });
  }

  // Trie, built straight into the row-major table (0 = no edge: the root is never a child).
  const table = new Int32Array(maxStates * classes);
  const depth = new Int32Array(maxStates);
  const own: (number[] | undefined)[] = [];
  let states = 1;
  patterns.forEach((p, id) => {
    let s = 0;
    for (const raw of p) {
      const c = classOf[fold(raw, caseFold)] as number;
      let next = table[s * classes + c] as number;
      if (next === 0) {
        next = states++;
        depth[next] = (depth[s] as number) + 1;
        table[s * classes + c] = next;
      }
      s = next;
    }
    (own[s] ??= []).push(id);
  });

  // Breadth-first failure links; each row is completed into full DFA transitions when dequeued.
  const fail = new Int32Array(states);
  const outputs: (Int32Array | undefined)[] = new Array<Int32Array | undefined>(states);
  const queue = new Int32Array(states);
  let head = 0;
  let tail = 0;
  for (let c = 0; c < classes; c++) {
    const u = table[c] as number;
    if (u !== 0) { fail[u] = 0; queue[tail++] = u; }
  }
  while (head < tail) {
    const r = queue[head++] as number;
    const fr = fail[r] as number;
    const mine = own[r];
    const inherited = outputs[fr];
    if (mine || inherited) {
      const merged = [...(mine ?? []), ...(inherited ?? EMPTY)];
      outputs[r] = Int32Array.from(merged);
    }
    for (let c = 0; c < classes; c++) {
      const u = table[r * classes + c] as number;
      if (u !== 0) {
        fail[u] = table[fr * classes + c] as number;
        queue[tail++] = u;
      } else {
        table[r * classes + c] = table[fr * classes + c] as number;
      }
    }
  }

  // In place: random secrets share few prefixes, so `states` is close to the bound and a copy would
  // only double the peak.
  const delta = table.subarray(0, states * classes);
  for (let i = 0; i < delta.length; i++) {
    const t = delta[i] as number;
    delta[i] = outputs[t] ? -(t * classes) : t * classes;
  }
  const patternLength = Int32Array.from(patterns, (p) => p.length);
  return {
    classOf, classes, delta, depth: depth.slice(0, states), outputs, patternLength, states,
    tableBytes: delta.byteLength,
  };
}

/** Pattern ids ending at the state `s` (premultiplied, sign already removed). */
export function outputsAt(a: Automaton, s: number): Int32Array {
  return a.outputs[(s / a.classes) | 0] ?? EMPTY;
}

/**
 * Feed `data` from state `start`; calls onMatch(state, index) at each byte ending a pattern and returns
 * the final state. The hot loop of scanning and redaction: one table load per byte, matches are rare.
 */
export function runAutomaton(
  a: Automaton, data: Uint8Array, start: number, onMatch: (state: number, index: number) => void,
): number {
  const delta = a.delta;
  const classOf = a.classOf;
  let s = start;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    s = delta[s + (classOf[data[i] as number] as number)] as number;
    if (s < 0) {
      s = -s;
      onMatch(s, i);
    }
  }
  return s;
}
