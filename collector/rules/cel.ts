// The one adapter over @marcbachmann/cel-js: compiles rule conditions once, with Runwarden's helper functions.
import { Environment } from '@marcbachmann/cel-js';
import { domainMatches, entropy, ipInCidrs, isIpLiteral } from './netmatch.js';

export type CompiledExpr = (ctx: Readonly<Record<string, unknown>>) => unknown;
export type CompileResult =
  | { ok: true; evaluate: CompiledExpr }
  | { ok: false; message: string; offset: number | undefined };

function basename(p: string): string {
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
    return { ok: true, evaluate: (ctx) => parsed(ctx as Record<string, unknown>) };
  } catch (e) {
    const err = e as Error & { pos?: number; node?: { pos?: number } };
    return { ok: false, message: firstLine(err.message), offset: err.pos ?? err.node?.pos };
  }
}

function firstLine(m: string): string {
  return m.split('\n')[0] ?? m;
}
