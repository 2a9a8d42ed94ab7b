// The one adapter over @marcbachmann/cel-js: compiles rule conditions once, with Runwarden's helper functions.
import { Environment } from '@marcbachmann/cel-js';
import { domainMatches, entropy, ipInCidrs, isIpLiteral } from './netmatch.js';

export type CompiledExpr = (ctx: Readonly<Record<string, unknown>>) => unknown;
export type CompileResult =
  | { ok: true; evaluate: CompiledExpr }
  | { ok: false; message: string; offset: number | undefined };

/** CEL's basename(): also the `$argv0` fact derived once per event (rules/context.ts). */
export function basename(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i === -1 ? p : p.slice(i + 1);
}
function dirname(p: string): string {
  const i = p.replace(/\/+$/, '').lastIndexOf('/');
  return i <= 0 ? (i === 0 ? '/' : '.') : p.slice(0, i);
}

/** Glob over path text: `*` stays inside one segment, `**` crosses segments. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') { re += '.*'; i++; } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
const globCache = new Map<string, RegExp>();
function globMatch(s: string, glob: string): boolean {
  let re = globCache.get(glob);
  if (!re) {
    re = globToRegExp(glob);
    if (globCache.size < 4096) globCache.set(glob, re);
  }
  return re.test(s);
}

const toList = (l: unknown): string[] => (Array.isArray(l) ? l.filter((x): x is string => typeof x === 'string') : []);

function makeEnv(): Environment {
  return new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
    .registerFunction('basename(string): string', basename)
    .registerFunction('dirname(string): string', dirname)
    .registerFunction('glob(string, string): bool', globMatch)
    .registerFunction('globAny(string, list): bool', (s: string, l: unknown) => toList(l).some((g) => globMatch(s, g)))
    .registerFunction('inCidrs(string, list): bool', (ip: string, l: unknown) => ipInCidrs(ip, toList(l)))
    .registerFunction('domainIn(string, list): bool', (d: string, l: unknown) => domainMatches(d, toList(l)))
    .registerFunction('isIp(string): bool', isIpLiteral)
    .registerFunction('entropy(string): double', entropy)
    .registerFunction('containsAny(string, list): bool', (s: string, l: unknown) => toList(l).some((x) => s.includes(x)))
    .registerFunction('anyContains(list, string): bool', (l: unknown, x: string) => toList(l).some((s) => s.includes(x)));
}

let shared: Environment | undefined;

/** Parses and type-checks `source`; unknown functions and syntax errors are reported with an offset into it. */
export function compileCel(source: string): CompileResult {
  shared ??= makeEnv();
  try {
    const parsed = shared.parse(source);
    const checked = parsed.check() as { valid: boolean; error?: Error & { node?: { pos?: number } } };
    if (!checked.valid) {
      return { ok: false, message: firstLine(checked.error?.message ?? 'type error'), offset: checked.error?.node?.pos };
    }
    optimize((parsed as unknown as { ast?: unknown }).ast);
    return { ok: true, evaluate: (ctx) => parsed(ctx as Record<string, unknown>) };
  } catch (e) {
    const err = e as Error & { pos?: number; node?: { pos?: number } };
    return { ok: false, message: firstLine(err.message), offset: err.pos ?? err.node?.pos };
  }
}

/*
 * Constant folding the library leaves undone, applied to the checked AST of the pinned cel-js version (8.x):
 * it re-evaluates every element of a list literal and compiles `matches` patterns on each call, which made
 * list membership and regexes most of the per-event cost of the default pack (issue 2). Each rewrite keeps the
 * library's own evaluation as the fallback for any operand that is not a plain string, so results are unchanged;
 * a node of an unexpected shape is left alone. test/collector/cel.test.ts compares every default rule with and
 * without these rewrites.
 */
interface Node {
  op: string;
  args: unknown;
  meta?: { evaluate?: Evaluate };
  evaluate: Evaluate;
}
type Evaluate = (ev: { run(n: Node, ctx: unknown): unknown }, ast: Node, ctx: unknown) => unknown;

const isNode = (n: unknown): n is Node => typeof n === 'object' && n !== null && typeof (n as Node).op === 'string' && typeof (n as Node).evaluate === 'function';

function constStrings(n: Node): string[] | undefined {
  if (n.op !== 'list' || !Array.isArray(n.args) || n.args.length === 0) return undefined;
  const out: string[] = [];
  for (const a of n.args as unknown[]) {
    if (!isNode(a) || a.op !== 'value' || typeof a.args !== 'string') return undefined;
    out.push(a.args);
  }
  return out;
}

let optimizing = true;
/** Tests turn the rewrites off to compare results; nothing else should. */
export function setCelOptimizations(on: boolean): void { optimizing = on; }

function optimize(root: unknown): void {
  if (!optimizing || !isNode(root)) return;
  const seen = new Set<Node>();
  const walk = (n: Node): void => {
    if (seen.has(n)) return;
    seen.add(n);
    const original = n.meta?.evaluate;
    if (n.op === 'in' && Array.isArray(n.args) && n.args.length === 2 && isNode(n.args[0]) && isNode(n.args[1]) && original) {
      const list = constStrings(n.args[1]);
      if (list) {
        const left = n.args[0];
        const set = new Set(list);
        n.evaluate = (ev, ast, ctx) => {
          const v = ev.run(left, ctx);
          return typeof v === 'string' ? set.has(v) : original(ev, ast, ctx);
        };
      }
    } else if (n.op === 'list' && original) {
      const list = constStrings(n);
      if (list) {
        const frozen = Object.freeze(list);
        n.evaluate = () => frozen;
      }
    } else if (n.op === 'rcall' && Array.isArray(n.args) && n.args[0] === 'matches' && isNode(n.args[1]) && Array.isArray(n.args[2]) && original) {
      const pat = n.args[2][0] as unknown;
      if (n.args[2].length === 1 && isNode(pat) && pat.op === 'value' && typeof pat.args === 'string') {
        let re: RegExp | undefined;
        try { re = new RegExp(pat.args); } catch { re = undefined; } // invalid: the library raises its own error
        const receiver = n.args[1];
        const compiled = re;
        if (compiled) {
          n.evaluate = (ev, ast, ctx) => {
            const s = ev.run(receiver, ctx);
            return typeof s === 'string' ? compiled.test(s) : original(ev, ast, ctx);
          };
        }
      }
    }
    const kids: unknown[] = Array.isArray(n.args) ? n.args.flat(2) : [n.args];
    if (n.args && typeof n.args === 'object' && !Array.isArray(n.args) && !isNode(n.args)) kids.push(...Object.values(n.args as Record<string, unknown>));
    for (const k of kids) if (isNode(k)) walk(k);
    const alt = (n.meta as { alternate?: unknown } | undefined)?.alternate;
    if (isNode(alt)) walk(alt);
  };
  walk(root);
}

function firstLine(m: string): string {
  return m.split('\n')[0] ?? m;
}
