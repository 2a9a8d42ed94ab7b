// The rule format: parses YAML rule files, expands lists/macros, merges overrides by id, validates and compiles.
// Pure: callers pass file names and texts; every problem names file, rule id and line:col.
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node as YamlNode, YAMLMap } from 'yaml';
import { SEVERITIES } from '../../cli/config.js';
import type { Severity } from '../../cli/config.js';
import { EVENT_KINDS } from '../../proto/types.js';
import type { EventKind } from '../../proto/types.js';
import { compileCel } from './cel.js';
import type { CompiledExpr } from './cel.js';

export interface RuleFile { path: string; text: string }
export interface RuleProblem { file: string; ruleId: string | undefined; line: number; col: number; message: string }
export interface Position { file: string; line: number; col: number }

export type SequenceScope = 'process' | 'parent' | 'tree' | 'job';
export interface CompiledStep { name: string; events: ReadonlySet<EventKind> | undefined; condition: CompiledExpr; source: string }
export interface CompiledSequence { scope: SequenceScope; withinNs: number; ordered: boolean; steps: CompiledStep[] }
export interface CompiledRule {
  id: string;
  title: string;
  severity: Severity;
  tags: string[];
  description: string;
  position: Position;
  /** Event kinds the rule can match; undefined = any. Lets the engine skip rules cheaply. */
  events: ReadonlySet<EventKind> | undefined;
  condition: CompiledExpr | undefined;
  conditionSource: string;
  exceptions: CompiledExpr[];
  severityIf: { when: CompiledExpr; severity: Severity }[];
  key: CompiledExpr | undefined;
  output: string;
  sequence: CompiledSequence | undefined;
}
export type LoadResult = { ok: true; rules: CompiledRule[] } | { ok: false; problems: RuleProblem[] };

const RULE_KEYS = new Set(['id', 'title', 'severity', 'tags', 'description', 'events', 'condition', 'exceptions',
  'append_exceptions', 'severity_if', 'key', 'output', 'sequence', 'enabled']);
const TOP_KEYS = new Set(['lists', 'macros', 'rules']);
const SCOPES: readonly SequenceScope[] = ['process', 'parent', 'tree', 'job'];
const ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_MACRO_DEPTH = 16;

interface RawRule {
  fields: Record<string, unknown>;
  /** Where each field was last set, for error positions after an override. */
  at: Record<string, Position>;
  position: Position;
}

/** "30s", "5m", "500ms", "2h" → nanoseconds. */
export function parseDurationNs(v: unknown): number | undefined {
  if (typeof v === 'number' && v >= 0) return v * 1e9;
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)(ms|s|m|h)$/.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 }[m[2] as 'ms'];
}

function posOf(node: YamlNode | null | undefined, lc: LineCounter, file: string): Position {
  const off = node?.range?.[0] ?? 0;
  const p = lc.linePos(off);
  return { file, line: p.line, col: p.col };
}

function pairNode(map: YAMLMap, key: string): YamlNode | undefined {
  for (const p of map.items) {
    if (isScalar(p.key) && p.key.value === key) return (p.value ?? undefined) as YamlNode | undefined;
  }
  return undefined;
}

/**
 * Loads rule files in order: later files append rules, or override fields of an earlier rule with the same id
 * (`enabled: false` disables it; `append_exceptions` adds to its exceptions). Lists and macros are global across files.
 */
export function loadRules(files: readonly RuleFile[]): LoadResult {
  const problems: RuleProblem[] = [];
  const lists = new Map<string, string[]>();
  const macros = new Map<string, { text: string; at: Position }>();
  const rules = new Map<string, RawRule>();

  for (const f of files) {
    const lc = new LineCounter();
    const doc = parseDocument(f.text, { lineCounter: lc, prettyErrors: false });
    if (doc.errors.length) {
      for (const e of doc.errors) {
        const p = lc.linePos(e.pos[0]);
        problems.push({ file: f.path, ruleId: undefined, line: p.line, col: p.col, message: `YAML: ${e.message.split('\n')[0]}` });
      }
      continue;
    }
    const root = doc.contents;
    if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) continue;
    if (!isMap(root)) {
      problems.push({ file: f.path, ruleId: undefined, ...lineCol(posOf(root, lc, f.path)), message: 'a rule file is a mapping with lists, macros and rules' });
      continue;
    }
    for (const p of root.items) {
      const k = isScalar(p.key) ? String(p.key.value) : '?';
      if (!TOP_KEYS.has(k)) problems.push({ file: f.path, ruleId: undefined, ...lineCol(posOf(p.key as YamlNode, lc, f.path)), message: `unknown top-level key '${k}' (expected lists, macros, rules)` });
    }
    const listsNode = pairNode(root, 'lists');
    if (listsNode !== undefined) {
      if (!isMap(listsNode)) problems.push({ file: f.path, ruleId: undefined, ...lineCol(posOf(listsNode, lc, f.path)), message: 'lists must be a mapping of name → list of strings' });
      else {
        for (const p of listsNode.items) {
          const name = isScalar(p.key) ? String(p.key.value) : '';
          const v = (p.value as YamlNode | null)?.toJSON() as unknown;
          const at = posOf(p.key as YamlNode, lc, f.path);
          if (!NAME_RE.test(name)) problems.push({ file: f.path, ruleId: undefined, ...lineCol(at), message: `bad list name '${name}'` });
          else if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' || typeof s === 'number')) problems.push({ file: f.path, ruleId: undefined, ...lineCol(at), message: `list '${name}' must be a list of strings` });
          else lists.set(name, v.map(String));
        }
      }
    }
    const macrosNode = pairNode(root, 'macros');
    if (macrosNode !== undefined) {
      if (!isMap(macrosNode)) problems.push({ file: f.path, ruleId: undefined, ...lineCol(posOf(macrosNode, lc, f.path)), message: 'macros must be a mapping of name → CEL text' });
      else {
        for (const p of macrosNode.items) {
          const name = isScalar(p.key) ? String(p.key.value) : '';
          const v = (p.value as YamlNode | null)?.toJSON() as unknown;
          const at = posOf(p.value as YamlNode, lc, f.path);
          if (!NAME_RE.test(name)) problems.push({ file: f.path, ruleId: undefined, ...lineCol(at), message: `bad macro name '${name}'` });
          else if (typeof v !== 'string') problems.push({ file: f.path, ruleId: undefined, ...lineCol(at), message: `macro '${name}' must be a CEL string` });
          else macros.set(name, { text: v, at });
        }
      }
    }
    const rulesNode = pairNode(root, 'rules');
    if (rulesNode === undefined) continue;
    if (!isSeq(rulesNode)) {
      problems.push({ file: f.path, ruleId: undefined, ...lineCol(posOf(rulesNode, lc, f.path)), message: 'rules must be a list' });
      continue;
    }
    const seenHere = new Set<string>();
    for (const item of rulesNode.items) {
      const at = posOf(item as YamlNode, lc, f.path);
      if (!isMap(item)) { problems.push({ file: f.path, ruleId: undefined, ...lineCol(at), message: 'a rule must be a mapping' }); continue; }
      const fields = item.toJSON() as Record<string, unknown>;
      const id = fields.id;
      if (typeof id !== 'string' || !ID_RE.test(id)) {
        problems.push({ file: f.path, ruleId: typeof id === 'string' ? id : undefined, ...lineCol(at), message: 'rule needs an id of letters, digits, . _ - (≤ 64)' });
        continue;
      }
      if (seenHere.has(id)) { problems.push({ file: f.path, ruleId: id, ...lineCol(at), message: 'duplicate rule id in the same file' }); continue; }
      seenHere.add(id);
      const fieldAt: Record<string, Position> = {};
      for (const p of item.items) {
        const k = isScalar(p.key) ? String(p.key.value) : '?';
        fieldAt[k] = posOf((p.value ?? p.key) as YamlNode, lc, f.path);
        if (!RULE_KEYS.has(k)) problems.push({ file: f.path, ruleId: id, ...lineCol(posOf(p.key as YamlNode, lc, f.path)), message: `unknown key '${k}'` });
      }
      const prev = rules.get(id);
      if (prev) {
        const extra = fields.append_exceptions;
        delete fields.append_exceptions;
        Object.assign(prev.fields, fields);
        Object.assign(prev.at, fieldAt);
        if (extra !== undefined) {
          const base = Array.isArray(prev.fields.exceptions) ? prev.fields.exceptions : [];
          prev.fields.exceptions = Array.isArray(extra) ? [...base, ...extra] : extra;
          prev.at.exceptions = fieldAt.append_exceptions ?? at;
        }
      } else {
        if (fields.append_exceptions !== undefined) {
          fields.exceptions = [...(Array.isArray(fields.exceptions) ? fields.exceptions : []), ...(Array.isArray(fields.append_exceptions) ? fields.append_exceptions : [])];
          delete fields.append_exceptions;
        }
        rules.set(id, { fields, at: fieldAt, position: at });
      }
    }
  }

  const compiled: CompiledRule[] = [];
  for (const [id, raw] of rules) {
    if (raw.fields.enabled === false) continue;
    const r = compileRule(id, raw, lists, macros, problems);
    if (r) compiled.push(r);
  }
  return problems.length ? { ok: false, problems } : { ok: true, rules: compiled };
}

function lineCol(p: Position): { line: number; col: number } {
  return { line: p.line, col: p.col };
}

/** Replaces `$name` by the macro text (parenthesised) or the list as a CEL list literal, recursively. */
export function expandRefs(text: string, lists: ReadonlyMap<string, string[]>, macros: ReadonlyMap<string, { text: string }>, depth = 0): { ok: true; text: string } | { ok: false; message: string } {
  if (depth > MAX_MACRO_DEPTH) return { ok: false, message: 'macros nest too deep (a macro refers to itself?)' };
  let error: string | undefined;
  const out = text.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
    const l = lists.get(name);
    if (l) return `[${l.map((s) => JSON.stringify(s)).join(', ')}]`;
    const m = macros.get(name);
    if (m) {
      const inner = expandRefs(m.text, lists, macros, depth + 1);
      if (!inner.ok) { error ??= inner.message; return ''; }
      return `(${inner.text})`;
    }
    error ??= `unknown list or macro '$${name}'`;
    return '';
  });
  return error ? { ok: false, message: error } : { ok: true, text: out };
}

/**
 * The event kinds a condition can hold for, read from its shape, so the engine can skip the rule for the others:
 * a guard `ev.kind == "k"` / `ev.kind in ["a", "b"]` as one of the top-level conjuncts (`&&`: the intersection of
 * such guards), or a top-level disjunction (`||`) whose every branch is guarded (the union). Parentheses around a
 * whole operand are looked through. Anything else (a ternary, a negation, a guard written otherwise) is not read:
 * undefined, the rule is tried on every kind. A rule skipped for a kind would have been false (or an error, which
 * counts as false) there: `&&` is false when one side is, `||` when every side is.
 */
export function guardedKinds(expanded: string): Set<EventKind> | undefined {
  return kindsOf(expanded, 0);
}

const GUARD_ONE = /^ev\.kind\s*==\s*["']([A-Za-z]+)["']$/;
const GUARD_MANY = /^ev\.kind\s+in\s+\[([^\]]*)\]$/;
/** Nesting looked through at most (a macro expands into parentheses of its own). */
const MAX_GUARD_DEPTH = 16;

function kindsOf(src: string, depth: number): Set<EventKind> | undefined {
  if (depth > MAX_GUARD_DEPTH) return undefined;
  const e = unwrap(src.trim());
  // `a ? b : c` binds looser than `||` and `&&`: its operands are not conjuncts of the whole.
  if (splitTop(e, '?').length > 1) return undefined;
  const ors = splitTop(e, '||');
  if (ors.length > 1) {
    const all = new Set<EventKind>();
    for (const branch of ors) {
      const k = kindsOf(branch, depth + 1);
      if (!k) return undefined;
      for (const kind of k) all.add(kind);
    }
    return all;
  }
  const ands = splitTop(e, '&&');
  if (ands.length > 1) {
    let only: Set<EventKind> | undefined;
    for (const c of ands) {
      const k = kindsOf(c, depth + 1);
      if (k) only = only ? new Set([...only].filter((kind) => k.has(kind))) : k;
    }
    return only;
  }
  const one = GUARD_ONE.exec(e);
  if (one) return toKinds([one[1] as string]);
  const many = GUARD_MANY.exec(e);
  if (many) return toKinds((many[1] as string).split(',').map((s) => s.trim().replace(/^["']|["']$/g, '')));
  return undefined;
}

/** Walks `s` outside string literals, calling `at(i, depth)` for each character; stops when it returns true. */
function scan(s: string, at: (i: number, depth: number) => boolean): void {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    if (at(i, depth)) return;
  }
}

/** The operands of `op` at depth 0 (one element: no such operator there). */
function splitTop(s: string, op: '||' | '&&' | '?'): string[] {
  const parts: string[] = [];
  let from = 0;
  scan(s, (i, depth) => {
    if (depth === 0 && s.startsWith(op, i)) {
      parts.push(s.slice(from, i));
      from = i + op.length;
    }
    return false;
  });
  parts.push(s.slice(from));
  return parts;
}

/** `(x)` → x when the first parenthesis closes at the end; otherwise s. */
function unwrap(s: string): string {
  let e = s;
  while (e.startsWith('(') && e.endsWith(')')) {
    let closesAt = -1;
    scan(e, (i, depth) => {
      if (depth === 0 && e[i] === ')') { closesAt = i; return true; }
      return false;
    });
    if (closesAt !== e.length - 1) break;
    e = e.slice(1, -1).trim();
  }
  return e;
}

function toKinds(names: string[]): Set<EventKind> | undefined {
  return names.every((n) => (EVENT_KINDS as readonly string[]).includes(n)) ? new Set(names as EventKind[]) : undefined;
}

function compileRule(id: string, raw: RawRule, lists: ReadonlyMap<string, string[]>, macros: ReadonlyMap<string, { text: string }>, problems: RuleProblem[]): CompiledRule | undefined {
  const f = raw.fields;
  const before = problems.length;
  const fail = (field: string, message: string): void => {
    const at = raw.at[field] ?? raw.position;
    problems.push({ file: at.file, ruleId: id, line: at.line, col: at.col, message: field === '' ? message : `${field}: ${message}` });
  };
  const cel = (field: string, src: unknown): { fn: CompiledExpr; text: string } | undefined => {
    if (typeof src !== 'string' || src.trim() === '') { fail(field, 'must be a non-empty CEL string'); return undefined; }
    const ex = expandRefs(src, lists, macros);
    if (!ex.ok) { fail(field, ex.message); return undefined; }
    const c = compileCel(ex.text);
    if (!c.ok) { fail(field, `CEL: ${c.message}${c.offset !== undefined ? ` (offset ${c.offset} of the expanded text)` : ''}`); return undefined; }
    return { fn: c.evaluate, text: ex.text };
  };
  if (typeof f.title !== 'string' || f.title === '') fail('title', 'required string');
  if (!SEVERITIES.includes(f.severity as Severity)) fail('severity', `must be one of ${SEVERITIES.join(', ')}`);
  const tags = f.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) fail('tags', 'must be a list of strings');
  if (f.description !== undefined && typeof f.description !== 'string') fail('description', 'must be a string');
  if (typeof f.output !== 'string' || f.output === '') fail('output', 'required template string');
  if (f.enabled !== undefined && typeof f.enabled !== 'boolean') fail('enabled', 'must be true or false');
  let events: Set<EventKind> | undefined;
  if (f.events !== undefined) {
    events = Array.isArray(f.events) ? toKinds(f.events.map(String)) : undefined;
    if (!events) fail('events', `must be a list of event kinds (${EVENT_KINDS.join(', ')})`);
  }
  let condition: { fn: CompiledExpr; text: string } | undefined;
  if (f.condition !== undefined) condition = cel('condition', f.condition);
  let sequence: CompiledSequence | undefined;
  if (f.sequence !== undefined) sequence = compileSequence(f.sequence, cel, fail);
  if (f.condition === undefined && f.sequence === undefined) fail('', 'needs a condition or a sequence');
  const exceptions: CompiledExpr[] = [];
  if (f.exceptions !== undefined) {
    if (!Array.isArray(f.exceptions)) fail('exceptions', 'must be a list of CEL conditions');
    else for (const [i, e] of f.exceptions.entries()) { const c = cel(`exceptions`, e); if (c) exceptions.push(c.fn); else if (typeof e !== 'string') fail('exceptions', `item ${i} is not a string`); }
  }
  const severityIf: CompiledRule['severityIf'] = [];
  if (f.severity_if !== undefined) {
    if (!Array.isArray(f.severity_if)) fail('severity_if', 'must be a list of {when, severity}');
    else for (const s of f.severity_if as unknown[]) {
      const o = s as Record<string, unknown>;
      if (typeof o !== 'object' || o === null || !SEVERITIES.includes(o.severity as Severity)) { fail('severity_if', 'each item needs when (CEL) and severity'); continue; }
      const c = cel('severity_if', o.when);
      if (c) severityIf.push({ when: c.fn, severity: o.severity as Severity });
    }
  }
  const key = f.key !== undefined ? cel('key', f.key) : undefined;
  if (problems.length > before) return undefined;
  return {
    id,
    title: f.title as string,
    severity: f.severity as Severity,
    tags: tags as string[],
    description: (f.description as string | undefined) ?? '',
    position: raw.position,
    events: events ?? (condition ? guardedKinds(condition.text) : undefined),
    condition: condition?.fn,
    conditionSource: condition?.text ?? '',
    exceptions,
    severityIf,
    key: key?.fn,
    output: f.output as string,
    sequence,
  };
}

function compileSequence(
  v: unknown,
  cel: (field: string, src: unknown) => { fn: CompiledExpr; text: string } | undefined,
  fail: (field: string, message: string) => void,
): CompiledSequence | undefined {
  const o = v as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || Array.isArray(o)) { fail('sequence', 'must be a mapping {scope, within, steps}'); return undefined; }
  const unknown = Object.keys(o).filter((k) => !['scope', 'within', 'ordered', 'steps'].includes(k));
  if (unknown.length) fail('sequence', `unknown key(s) ${unknown.join(', ')}`);
  const scope = (o.scope ?? 'tree') as SequenceScope;
  if (!SCOPES.includes(scope)) fail('sequence', `scope must be one of ${SCOPES.join(', ')}`);
  const withinNs = parseDurationNs(o.within ?? '60s');
  if (withinNs === undefined) fail('sequence', 'within must be a duration like 30s, 5m');
  const ordered = o.ordered ?? true;
  if (typeof ordered !== 'boolean') fail('sequence', 'ordered must be true or false');
  if (!Array.isArray(o.steps) || o.steps.length < 2) { fail('sequence', 'needs at least two steps'); return undefined; }
  if (ordered === false && o.steps.length !== 2) fail('sequence', 'an unordered sequence has exactly two steps');
  const steps: CompiledStep[] = [];
  for (const [i, s] of (o.steps as unknown[]).entries()) {
    const so = s as Record<string, unknown>;
    if (typeof so !== 'object' || so === null) { fail('sequence', `step ${i} must be a mapping {name, condition}`); continue; }
    const c = cel('sequence', so.condition);
    if (!c) continue;
    let events: Set<EventKind> | undefined;
    if (so.events !== undefined) {
      events = Array.isArray(so.events) ? toKinds(so.events.map(String)) : undefined;
      if (!events) fail('sequence', `step ${i}: events must be a list of event kinds`);
    }
    steps.push({ name: typeof so.name === 'string' ? so.name : `step${i}`, events: events ?? guardedKinds(c.text), condition: c.fn, source: c.text });
  }
  if (withinNs === undefined || steps.length !== (o.steps as unknown[]).length) return undefined;
  return { scope, withinNs, ordered: ordered !== false, steps };
}

export function formatProblem(p: RuleProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.ruleId ? `rule ${p.ruleId}: ` : ''}${p.message}`;
}
