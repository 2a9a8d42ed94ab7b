// Reads rule files from disk: the default pack shipped next to this module, then the config's rules.paths.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RwError } from '../../proto/errors.js';
import type { LoadResult, RuleFile } from './loader.js';
import { formatProblem, loadRules } from './loader.js';

/** The default pack's directory, from the sources or from dist/ (the YAML is not compiled, it stays in the tree). */
export function defaultPackDir(): string {
  const url = import.meta.url.includes('/dist/') ? new URL('../../../collector/rules/default/', import.meta.url) : new URL('./default/', import.meta.url);
  return fileURLToPath(url);
}

/** A file, or every *.yaml / *.yml in a directory (sorted, so overrides apply in a stable order). */
export function readRuleFiles(paths: readonly string[]): RuleFile[] {
  const out: RuleFile[] = [];
  for (const p of paths) {
    let isDir = false;
    try { isDir = statSync(p).isDirectory(); } catch (e) {
      throw new RwError('RULES_ERR_INVALID', `${p}: cannot read rule file: ${(e as Error).message}`, { cause: e });
    }
    const files = isDir ? readdirSync(p).filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(p, n)) : [p];
    for (const f of files) {
      try { out.push({ path: f, text: readFileSync(f, 'utf8') }); } catch (e) {
        throw new RwError('RULES_ERR_INVALID', `${f}: cannot read rule file: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  return out;
}

export function loadRulePack(userPaths: readonly string[], opts: { withDefaults?: boolean } = {}): LoadResult {
  const files = [...(opts.withDefaults === false ? [] : readRuleFiles([defaultPackDir()])), ...readRuleFiles(userPaths)];
  return loadRules(files);
}

/** Loads or throws RULES_ERR_INVALID listing every problem (for daemons that must fail fast at start). */
export function loadRulePackOrThrow(userPaths: readonly string[]): Extract<LoadResult, { ok: true }>['rules'] {
  const r = loadRulePack(userPaths);
  if (!r.ok) throw new RwError('RULES_ERR_INVALID', r.problems.map(formatProblem).join('\n'), { details: { problems: r.problems.length } });
  return r.rules;
}
