// `runwarden collector`: load and check the config, run the collector daemon until SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { formatProblems, parseConfig, parseConfigText } from '../config.js';
import type { ConfigProblem } from '../config.js';
import { parseArgs, str } from '../args.js';
import type { CliIo } from '../io.js';
import { createLogger } from '../logger.js';
import { isRwError } from '../../proto/errors.js';
import { assembleCollector } from '../../collector/assemble.js';

const FLAGS = { config: 'string', port: 'string', host: 'string', db: 'string', 'state-dir': 'string' } as const;

function configProblem(io: CliIo, problems: ConfigProblem[]): number {
  io.err(formatProblems(problems) + '\n');
  return 2;
}

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, FLAGS);
  const file = str(p, 'config');
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return configProblem(io, [{ key: '--config', value: file, message: `cannot read: ${(e as Error).message}` }]);
    }
    const parsed = parseConfigText(text, file);
    if (!parsed.ok) return configProblem(io, parsed.problems);
    raw = parsed.raw;
  }
  const flags: Record<string, unknown> = {};
  const port = str(p, 'port');
  if (port !== undefined) flags.port = /^\d+$/.test(port) ? Number(port) : port;
  if (str(p, 'host') !== undefined) flags.host = str(p, 'host');
  if (str(p, 'db') !== undefined) flags.db = str(p, 'db');
  if (str(p, 'state-dir') !== undefined) flags.stateDir = str(p, 'state-dir');
  const cfg = parseConfig(raw, io.env, { collector: flags });
  if (!cfg.ok) return configProblem(io, cfg.problems);
  const config = cfg.config;

  const logger = createLogger({ level: config.log.level, base: { component: 'collector' } });
  // SIGTERM/SIGINT are taken from here on: the collector listens before its detection worker has loaded the rules,
  // and a signal in between (a service manager's stop, a ^C) stops it cleanly once it is up, not half-started.
  let onSignal!: (signal: NodeJS.Signals) => void;
  const signalled = new Promise<NodeJS.Signals>((resolve) => { onSignal = resolve; });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const release = (): void => { process.off('SIGTERM', onSignal); process.off('SIGINT', onSignal); };
  let collector;
  try {
    collector = await assembleCollector({ config, logger, version: io.version });
  } catch (e) {
    release();
    if (isRwError(e, 'RULES_ERR_INVALID')) {
      io.err(`runwarden collector: rules are invalid:\n${e.message}\n`);
      return 2;
    }
    if (isRwError(e, 'COLLECTOR_ERR_TLS')) {
      const d = e.details as { key?: string; value?: unknown } | undefined;
      return configProblem(io, [{ key: d?.key ?? 'collector.tlsCert', value: d?.value, message: e.message }]);
    }
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'EADDRINUSE' || errno === 'EACCES' || errno === 'EADDRNOTAVAIL' || errno === 'ENOTFOUND') {
      return configProblem(io, [{ key: 'collector.host/port', value: `${config.collector.host}:${config.collector.port}`, message: `cannot listen: ${errno}` }]);
    }
    throw e;
  }
  const signal = await signalled;
  logger.info({ signal }, 'shutting down');
  release();
  await collector.close().catch((e: unknown) => { logger.error({ err: e }, 'shutdown failed'); });
  return 0;
}
