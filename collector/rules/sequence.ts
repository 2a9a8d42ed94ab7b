// Sequence rules: "A then B within T in the same process / sibling group / tree / job", as bounded partial matches.
import type { FindingEvidence } from '../finding.js';
import type { CompiledSequence, SequenceScope } from './loader.js';

export interface SeqPoint { pid: number; ppid: number; ancestors: readonly number[]; tsNs: number }
export interface Partial {
  /** Steps matched so far (indexes into the sequence's steps). */
  matched: number[];
  first: SeqPoint;
  evidence: FindingEvidence[];
  /** first.pid and matched steps: two partials with the same key make the same progress. */
  key: string;
}

const keyOf = (pid: number, matched: readonly number[]): string => `${pid}:${matched.join(',')}`;
export interface SeqStep { partials: Partial[]; completed: Partial[]; evicted: number }

/** Whether `b` is related to `a` the way the scope demands. Symmetric so unordered sequences work both ways. */
export function inScope(scope: SequenceScope, a: SeqPoint, b: SeqPoint): boolean {
  switch (scope) {
    case 'job': return true;
    case 'process': return a.pid === b.pid;
    case 'parent': return (a.ppid > 0 && a.ppid === b.ppid) || a.pid === b.ppid || b.pid === a.ppid || a.pid === b.pid;
    case 'tree': return a.pid === b.pid || b.ancestors.includes(a.pid) || a.ancestors.includes(b.pid);
  }
}

/**
 * Feeds one event to a sequence: `matches[i]` says whether the event satisfies step i.
 * Returns the partials that completed with this event. Mutates and bounds `partials`.
 */
export function advance(seq: CompiledSequence, partials: Partial[], matches: readonly boolean[], point: SeqPoint, evidence: FindingEvidence, maxPartials: number): SeqStep {
  const completed: Partial[] = [];
  let evicted = 0;
  // Expire partials older than the window.
  for (let i = partials.length - 1; i >= 0; i--) {
    if (point.tsNs - (partials[i] as Partial).first.tsNs > seq.withinNs) partials.splice(i, 1);
  }
  const n = seq.steps.length;
  const next: Partial[] = [];
  for (const p of partials) {
    if (!inScope(seq.scope, p.first, point)) continue;
    const want = seq.ordered ? [p.matched.length] : [...Array(n).keys()].filter((i) => !p.matched.includes(i));
    const hit = want.find((i) => matches[i] === true);
    if (hit === undefined) continue;
    // Keep the original partial too: a later event may complete it in a different way (another child).
    const matched = [...p.matched, hit];
    const q: Partial = { matched, first: p.first, evidence: [...p.evidence, evidence], key: keyOf(p.first.pid, matched) };
    if (q.matched.length === n) completed.push(q); else next.push(q);
  }
  const starts = seq.ordered ? [0] : [...Array(n).keys()];
  const startHit = starts.find((i) => matches[i] === true);
  if (startHit !== undefined && completed.length === 0) next.push({ matched: [startHit], first: point, evidence: [evidence], key: keyOf(point.pid, [startHit]) });
  for (const q of next) {
    // One partial per (steps matched, first pid) is enough: repeated identical progress adds nothing.
    const dup = partials.findIndex((p) => p.key === q.key);
    if (dup >= 0) partials.splice(dup, 1);
    partials.push(q);
  }
  while (partials.length > maxPartials) { partials.shift(); evicted++; }
  return { partials, completed, evicted };
}
