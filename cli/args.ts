// Command-line flag parsing shared by the subcommands: `--name value`, `--name=value`, booleans, `--` stops.
import { RwError } from '../proto/errors.js';

export interface FlagSpec { [name: string]: 'string' | 'bool' | 'list' }
export interface Parsed { flags: Record<string, string | boolean | string[]>; positional: string[]; rest: string[] }

export function parseArgs(args: readonly string[], spec: FlagSpec): Parsed {
  const flags: Parsed['flags'] = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') return { flags, positional, rest: args.slice(i + 1) };
    if (!a.startsWith('--')) { positional.push(a); continue; }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new RwError('CLI_ERR_USAGE', `unknown option --${name}`);
    if (kind === 'bool') { flags[name] = true; continue; }
    const value = eq === -1 ? args[++i] : a.slice(eq + 1);
    if (value === undefined) throw new RwError('CLI_ERR_USAGE', `option --${name} needs a value`);
    if (kind === 'list') flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
    else flags[name] = value;
  }
  return { flags, positional, rest: [] };
}

export function str(p: Parsed, name: string): string | undefined {
  const v = p.flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** "15m", "2h", "30s", "7d" → milliseconds; an ISO time → epoch ms. */
export function parseTimeArg(v: string, nowMs: number): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(v);
  if (m) {
    const mult = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms'];
    return nowMs - Number(m[1]) * mult;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new RwError('CLI_ERR_USAGE', `not a duration or time: ${v}`);
  return t;
}
