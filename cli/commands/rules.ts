// `runwarden rules lint FILE…` and `runwarden rules test FILE EVENTS.jsonl`: check rule files, replay recorded events.
import { readFileSync } from 'node:fs';
import { RwError } from '../../proto/errors.js';
import type { RwEvent } from '../../proto/types.js';
import { parseArgs, str } from '../args.js';
import { DEFAULTS, formatProblems, parseConfig, parseConfigText } from '../config.js';
import type { Config } from '../config.js';
import type { CliIo } from '../io.js';
import { createEngine } from '../../collector/rules/engine.js';
import { parseEventsJsonl } from '../../collector/rules/events-jsonl.js';
import { formatProblem, loadRules } from '../../collector/rules/loader.js';
import { defaultPackDir, readRuleFiles } from '../../collector/rules/pack.js';
import type { Finding } from '../../collector/finding.js';

const USAGE = 'runwarden rules lint [--no-defaults] FILE… | runwarden rules test [--no-defaults] [--config FILE] [--format table|json|jsonl] FILE|default EVENTS.jsonl';

function loadConfig(path: string | undefined, io: CliIo): Readonly<Config> {
  if (!path) return DEFAULTS;
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    throw new RwError('CONFIG_ERR_READ', `${path}: ${(e as Error).message}`, { cause: e });
  }
  const raw = parseConfigText(text, path);
  if (!raw.ok) throw new RwError('CONFIG_ERR_INVALID', formatProblems(raw.problems));
  const r = parseConfig(raw.raw, io.env);
  if (!r.ok) throw new RwError('CONFIG_ERR_INVALID', formatProblems(r.problems));
  return r.config;
}

function ruleFiles(files: string[], withDefaults: boolean): ReturnType<typeof readRuleFiles> {
  const user = files.filter((f) => f !== 'default');
  return [...(withDefaults || files.includes('default') ? readRuleFiles([defaultPackDir()]) : []), ...readRuleFiles(user)];
}

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { 'no-defaults': 'bool', config: 'string', format: 'string' });
  const [sub, ...pos] = p.positional;
  const withDefaults = p.flags['no-defaults'] !== true;
  if (sub === 'lint') {
    if (pos.length === 0) throw new RwError('CLI_ERR_USAGE', `rules lint needs at least one FILE\nusage: ${USAGE}`);
    let files;
    try { files = ruleFiles(pos, withDefaults); } catch (e) { io.err(`${(e as Error).message}\n`); return 2; }
    const r = loadRules(files);
    if (!r.ok) {
      io.err(r.problems.map(formatProblem).join('\n') + '\n');
      io.err(`${r.problems.length} problem(s)\n`);
      return 2;
    }
    io.out(`ok: ${r.rules.length} rules (${pos.join(', ')}${withDefaults ? ' over the default pack' : ''})\n`);
    return 0;
  }
  if (sub === 'test') {
    if (pos.length !== 2) throw new RwError('CLI_ERR_USAGE', `rules test needs FILE and EVENTS.jsonl\nusage: ${USAGE}`);
    const format = str(p, 'format') ?? 'table';
    if (!['table', 'json', 'jsonl'].includes(format)) throw new RwError('CLI_ERR_USAGE', `--format must be table, json or jsonl`);
    const config = loadConfig(str(p, 'config'), io);
    let files;
    try { files = ruleFiles([pos[0] as string], withDefaults); } catch (e) { io.err(`${(e as Error).message}\n`); return 2; }
    const r = loadRules(files);
    if (!r.ok) { io.err(r.problems.map(formatProblem).join('\n') + '\n'); return 2; }
    let events: RwEvent[];
    try { events = parseEventsJsonl(readFileSync(pos[1] as string, 'utf8'), pos[1]); } catch (e) {
      if (e instanceof RwError) throw e;
      throw new RwError('CLI_ERR_USAGE', `${pos[1]}: ${(e as Error).message}`, { cause: e });
    }
    const engine = createEngine({ rules: r.rules, trustedCidrs: config.network.trusted, allowList: config.network.allow });
    const findings: Finding[] = [];
    const jobs = new Set<string>();
    for (const [i, ev] of events.entries()) { jobs.add(ev.jobId ?? ''); findings.push(...engine.process(ev, i + 1)); }
    for (const j of jobs) findings.push(...engine.endJob(j));
    const st = engine.stats();
    if (format === 'json') io.out(JSON.stringify({ findings, stats: st }, null, 2) + '\n');
    else if (format === 'jsonl') for (const f of findings) io.out(JSON.stringify(f) + '\n');
    else {
      for (const f of findings) {
        io.out(`${f.severity.toUpperCase().padEnd(8)} ${f.ruleId}  ${f.explanation}\n`);
        for (const e of f.evidence) io.out(`         ${e.eventId !== undefined ? `#${e.eventId} ` : ''}${e.summary}\n`);
      }
      io.out(`${findings.length} finding(s) from ${events.length} event(s), ${r.rules.length} rules\n`);
    }
    if (st.evalErrors > 0) io.err(`warning: ${st.evalErrors} rule evaluation error(s); last: ${st.lastEvalError ?? ''}\n`);
    return findings.length > 0 ? 1 : 0;
  }
  throw new RwError('CLI_ERR_USAGE', `usage: ${USAGE}`);
}
