// The `runwarden` command: parses the first word(s) and hands the rest to the command's module. Thin.
import { RwError } from '../proto/errors.js';
import type { CliIo } from './io.js';
import { processIo } from './io.js';

export interface Command {
  summary: string;
  usage: string;
  load: () => Promise<{ main: (args: string[], io: CliIo) => Promise<number> }>;
}

export const COMMANDS: Record<string, Command> = {
  run: {
    summary: 'run a command under watch with an embedded collector and print a report',
    usage: 'runwarden run [--report FILE] [--db FILE] [--config FILE] [--collector URL --token T] [--fail-on SEVERITY] -- CMD…',
    load: () => import('./commands/run.js'),
  },
  agent: {
    summary: 'the sidecar daemon (or `agent status`)',
    usage: 'runwarden agent [--config FILE] [--socket PATH] [--state-dir D] [--collector URL] [--token T] | runwarden agent status [--socket PATH] [--format json|table]',
    load: () => import('./commands/agent.js'),
  },
  collector: {
    summary: 'the collector daemon: ingest, audit store, detection, alerts, HTTP API',
    usage: 'runwarden collector [--config FILE] [--port N] [--db FILE]',
    load: () => import('./commands/collector.js'),
  },
  job: {
    summary: 'runner hooks: tell the agent a job starts or ends',
    usage: 'runwarden job start|end [--socket PATH] [--exit-code N] [--job-id ID] [--strict]',
    load: () => import('./commands/job.js'),
  },
  audit: {
    summary: 'query, draw and verify the audit trail',
    usage: 'runwarden audit query|tree|verify [--db FILE | --url URL --token T] [--format table|json|jsonl] …',
    load: () => import('./commands/audit.js'),
  },
  findings: {
    summary: 'list findings',
    usage: 'runwarden findings [--db FILE | --url URL --token T] [--job ID] [--severity S] [--since D] [--format F]',
    load: () => import('./commands/findings.js'),
  },
  rules: {
    summary: 'check rule files and run them over recorded events',
    usage: 'runwarden rules lint FILE… | runwarden rules test FILE EVENTS.jsonl',
    load: () => import('./commands/rules.js'),
  },
  baseline: {
    summary: 'show or reset baselines learned from trusted runs',
    usage: 'runwarden baseline show|reset [--db FILE] [--config FILE] [--repo R] [--workflow W] [--job J] [--format table|json]',
    load: () => import('./commands/baseline.js'),
  },
  token: {
    summary: 'make an agent or API token and print the sha256 to put in the collector config',
    usage: 'runwarden token [--agent-id ID]',
    load: () => import('./commands/token.js'),
  },
};

export function helpText(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'runwarden — runtime security for CI/CD build runners',
    '',
    'usage: runwarden <command> [options]',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
    '',
    'exit codes: 0 ok, 1 verify failed / findings where asked, 2 usage or config error, 3 --fail-on met',
    'run `runwarden <command> --help` for its options',
  ].join('\n') + '\n';
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(helpText());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    io.out(`${io.version}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`runwarden: unknown command '${name}'\n${helpText()}`);
    return 2;
  }
  if (rest[0] === '--help' || rest[0] === '-h') {
    io.out(`usage: ${cmd.usage}\n`);
    return 0;
  }
  try {
    const mod = await cmd.load();
    return await mod.main(rest, io);
  } catch (e) {
    if (e instanceof RwError && (e.code === 'CLI_ERR_USAGE' || e.code.startsWith('CONFIG_ERR'))) {
      io.err(`runwarden ${name}: ${e.message}\n`);
      return 2;
    }
    // The rule pack is configuration (rules.paths) too: `run` with a broken one exits 2, as `collector` does.
    if (e instanceof RwError && e.code === 'RULES_ERR_INVALID') {
      io.err(`runwarden ${name}: rules are invalid:\n${e.message}\n`);
      return 2;
    }
    if (e instanceof RwError) {
      io.err(`runwarden ${name}: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Entry point used by the installed shim (cli/runwarden.js). */
export function cliEntry(): void {
  const io = processIo();
  main(process.argv.slice(2), io).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      io.err(`runwarden: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
