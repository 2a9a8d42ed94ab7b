// `runwarden baseline show|reset`: baselines learned from trusted runs. Until the SQLite store carries them, they
// live in a JSON file (--file, default <collector.stateDir>/baselines.json) through the BaselineStore interface.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RwError } from '../../proto/errors.js';
import { parseArgs, str } from '../args.js';
import { DEFAULTS } from '../config.js';
import type { CliIo } from '../io.js';
import type { BaselineStore } from '../../collector/baseline.js';
import { createBaselines } from '../../collector/baseline.js';

const USAGE = 'runwarden baseline show|reset [--file PATH] [--repo R] [--workflow W] [--job J] [--format table|json]';

/** A BaselineStore over one JSON file, rewritten atomically (write temp, rename) on every change. */
export function createJsonFileBaselineStore(path: string): BaselineStore {
  let data: Record<string, string> = {};
  if (existsSync(path)) {
    try { data = JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>; } catch (e) {
      throw new RwError('CONFIG_ERR_READ', `${path}: not a baseline file: ${(e as Error).message}`, { cause: e });
    }
  }
  const save = (): void => {
    writeFileSync(path + '.tmp', JSON.stringify(data, null, 1), { mode: 0o600 });
    renameSync(path + '.tmp', path);
  };
  return {
    get: (k) => data[k],
    put: (k, v) => { data[k] = v; save(); },
    delete: (k) => { if (!(k in data)) return false; delete data[k]; save(); return true; },
    keys: (prefix) => Object.keys(data).filter((k) => k.startsWith(prefix)).sort(),
  };
}

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { file: 'string', repo: 'string', workflow: 'string', job: 'string', format: 'string', db: 'string' });
  const [sub] = p.positional;
  const file = str(p, 'file') ?? join(DEFAULTS.collector.stateDir, 'baselines.json');
  const b = createBaselines(createJsonFileBaselineStore(file));
  const repo = str(p, 'repo');
  if (sub === 'show') {
    const all = b.list().filter((x) => !repo || x.key.startsWith(repo + '/'));
    if (str(p, 'format') === 'json') { io.out(JSON.stringify(all, null, 2) + '\n'); return 0; }
    if (all.length === 0) { io.out('no baselines learned yet\n'); return 0; }
    for (const { key, view } of all) {
      io.out(`${key}  (${view.runs} trusted run(s))\n`);
      io.out(`  egress: ${view.egress.join(', ') || '-'}\n  executables: ${view.executables.length}\n  write roots: ${view.writeRoots.join(', ') || '-'}\n  CI definitions: ${Object.keys(view.configHashes).join(', ') || '-'}\n`);
    }
    return 0;
  }
  if (sub === 'reset') {
    if (!repo) throw new RwError('CLI_ERR_USAGE', `baseline reset needs --repo (and --workflow, --job)\nusage: ${USAGE}`);
    const ok = b.reset({ repo, workflow: str(p, 'workflow') ?? '', job: str(p, 'job') ?? '' });
    io.out(ok ? 'baseline removed\n' : 'no such baseline\n');
    return ok ? 0 : 1;
  }
  throw new RwError('CLI_ERR_USAGE', `usage: ${USAGE}`);
}
