// Reads the --config file (YAML or JSON) and merges env and flags: the one way every command loads config.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RwError } from '../proto/errors.js';
import { formatProblems, parseConfig, parseConfigText } from './config.js';
import type { Config } from './config.js';
import type { CliIo } from './io.js';

/** File + env + flags, or a thrown CONFIG_ERR_* listing every problem (exit 2). */
export function loadConfig(path: string | undefined, io: CliIo, flags: Record<string, Record<string, unknown>>): Readonly<Config> {
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(io.cwd, path), 'utf8');
    } catch (e) {
      throw new RwError('CONFIG_ERR_READ', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    const t = parseConfigText(text, path);
    if (!t.ok) throw new RwError('CONFIG_ERR_INVALID', '\n' + formatProblems(t.problems));
    raw = t.raw;
  }
  const r = parseConfig(raw, io.env, flags);
  if (!r.ok) throw new RwError('CONFIG_ERR_INVALID', '\n' + formatProblems(r.problems));
  return r.config;
}
