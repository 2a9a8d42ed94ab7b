// File sink: appends each finding as one JSON line.
import { appendFile } from 'node:fs/promises';
import type { Finding } from '../finding.js';
import type { AlertSink, SendResult } from './sink.js';
import { alertPayload } from './sink.js';

export function createFileSink(opts: { path: string; name?: string }): AlertSink {
  return {
    name: opts.name ?? 'file',
    async send(f: Finding): Promise<SendResult> {
      try {
        await appendFile(opts.path, JSON.stringify(alertPayload(f)) + '\n', { mode: 0o600 });
        return { status: 'ok' };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
        return code === 'ENOSPC' || code === 'EAGAIN' ? { status: 'retryable', error: code } : { status: 'failed', error: code };
      }
    },
  };
}
