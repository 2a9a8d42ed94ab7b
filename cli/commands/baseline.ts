// `runwarden baseline show|reset`: the baselines the collector learned from trusted runs, in the audit DB.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RwError } from '../../proto/errors.js';
import { parseArgs, str } from '../args.js';
import type { Parsed } from '../args.js';
import { loadConfig } from '../config-file.js';
import type { CliIo } from '../io.js';
import { baselineName, createBaselines } from '../../collector/baseline.js';
import type { BaselineKey, BaselineView } from '../../collector/baseline.js';
import { openBaselineStore } from '../../collector/baseline-store.js';

const USAGE = 'runwarden baseline show|reset [--db FILE] [--config FILE] [--repo R] [--workflow W] [--job J] [--format table|json]';

/** --db FILE, else the configured collector.db (--config FILE, RUNWARDEN_COLLECTOR_DB); it must exist. */
function dbPath(p: Parsed, io: CliIo): string {
  const db = str(p, 'db');
  const path = resolve(io.cwd, db ?? loadConfig(str(p, 'config'), io, {}).collector.db);
  if (!existsSync(path)) throw new RwError('CLI_ERR_USAGE', `no audit database at ${path}${db === undefined ? ' (give --db FILE)' : ''}`);
  return path;
}

function resetHint(k: BaselineKey): string {
  const q = (s: string): string => (/^[\w./@:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return `runwarden baseline reset --repo ${q(k.repo)} --workflow ${q(k.workflow)} --job ${q(k.job)}`;
}

function show(p: Parsed, io: CliIo, path: string): number {
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new RwError('CLI_ERR_USAGE', `--format must be table or json, got ${format}`);
  const workflow = str(p, 'workflow');
  const job = str(p, 'job');
  const store = openBaselineStore(path, { readonly: true });
  let entries;
  try { entries = createBaselines(store).list(str(p, 'repo')); } finally { store.close(); }
  const good: { key: string; repo: string; workflow: string; job: string; view: BaselineView }[] = [];
  for (const e of entries) {
    if ((workflow !== undefined && e.key.workflow !== workflow) || (job !== undefined && e.key.job !== job)) continue;
    if ('corrupt' in e) {
      // A bad row is named, not fatal: the others still show, and detection ignores it until replaced.
      io.err(`runwarden baseline: ${baselineName(e.key)} is corrupt (${e.corrupt}); \`${resetHint(e.key)}\` removes it\n`);
      continue;
    }
    good.push({ key: baselineName(e.key), ...e.key, view: e.view });
  }
  if (format === 'json') { io.out(JSON.stringify(good, null, 2) + '\n'); return 0; }
  if (good.length === 0) { io.out('no baselines learned yet\n'); return 0; }
  for (const { key, view } of good) {
    const updated = view.updatedNs > 0 ? new Date(Math.floor(view.updatedNs / 1e6)).toISOString() : '-';
    io.out(`${key}  (${view.runs} trusted run(s), updated ${updated})\n`);
    io.out(`  egress: ${view.egress.join(', ') || '-'}\n  executables: ${view.executables.length}\n  write roots: ${view.writeRoots.join(', ') || '-'}\n  CI definitions: ${Object.keys(view.configHashes).join(', ') || '-'}\n`);
  }
  return 0;
}

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { db: 'string', config: 'string', repo: 'string', workflow: 'string', job: 'string', format: 'string' });
  const [sub, ...extra] = p.positional;
  if (extra.length > 0) throw new RwError('CLI_ERR_USAGE', `unexpected argument ${extra[0]}\nusage: ${USAGE}`);
  if (sub === 'show') return show(p, io, dbPath(p, io));
  if (sub === 'reset') {
    const repo = str(p, 'repo');
    if (!repo) throw new RwError('CLI_ERR_USAGE', `baseline reset needs --repo (and --workflow, --job)\nusage: ${USAGE}`);
    if (str(p, 'format') !== undefined) throw new RwError('CLI_ERR_USAGE', '--format is only for baseline show');
    const key = { repo, workflow: str(p, 'workflow') ?? '', job: str(p, 'job') ?? '' };
    const store = openBaselineStore(dbPath(p, io));
    let ok: boolean;
    try { ok = createBaselines(store).reset(key); } finally { store.close(); }
    io.out(ok ? `baseline ${baselineName(key)} removed\n` : `no baseline ${baselineName(key)}\n`);
    return ok ? 0 : 1;
  }
  throw new RwError('CLI_ERR_USAGE', `usage: ${USAGE}`);
}
