// Shared setup for ingest tests: a config for a loopback collector with one known token, a pino sink.
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from 'pino';
import { parseConfig } from '../../cli/config.js';
import type { Config } from '../../cli/config.js';
import { tokenSha256 } from '../../collector/auth.js';

export const TOKEN = 'test-token-0123456789';
export const AGENT_TOKEN = 'agent-a-token-0123456789';

export function collectorConfig(dir: string, over: Record<string, unknown> = {}): Readonly<Config> {
  const r = parseConfig({
    collector: {
      host: '127.0.0.1', port: 0, db: `${dir}/audit.db`, stateDir: dir,
      tokens: [{ agentId: '*', sha256: tokenSha256(TOKEN) }, { agentId: 'agent-a', sha256: tokenSha256(AGENT_TOKEN) }],
      ...over,
    },
  }, {});
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

export interface LogSink { logger: Logger; lines: Record<string, unknown>[] }

export function logSink(): LogSink {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug', base: null }, stream), lines };
}
