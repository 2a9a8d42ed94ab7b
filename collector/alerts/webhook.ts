// Generic webhook sink: POSTs the finding as JSON, signed X-Runwarden-Signature: sha256=HMAC-SHA256(secret, body).
import { createHmac } from 'node:crypto';
import type { Finding } from '../finding.js';
import { postJson } from './http-post.js';
import type { AlertSink, SendResult } from './sink.js';
import { alertPayload } from './sink.js';

export function signBody(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

export function createWebhookSink(opts: { url: string; secret?: string | undefined; timeoutMillis?: number; name?: string }): AlertSink {
  return {
    name: opts.name ?? 'webhook',
    send(f: Finding): Promise<SendResult> {
      const body = JSON.stringify(alertPayload(f));
      const headers: Record<string, string> = { 'user-agent': 'runwarden' };
      if (opts.secret) headers['x-runwarden-signature'] = signBody(opts.secret, body);
      return postJson(opts.url, body, headers, { timeoutMillis: opts.timeoutMillis ?? 5000 });
    },
  };
}
