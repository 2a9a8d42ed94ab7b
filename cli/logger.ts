// Builds the one pino logger of a process, with redaction of token-like fields. Logs go to stderr or a file.
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', 'secret', '*.secret', 'value', '*.value',
];

export function createLogger(opts: { level: string; destination?: string | number; base?: Record<string, unknown> }): Logger {
  return pino(
    { level: opts.level, base: opts.base ?? null, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: opts.destination ?? 2, sync: true }),
  );
}
