// POSTs a JSON body with node:http(s) and maps the outcome to a SendResult (2xx ok, 429/5xx/network retryable).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SendResult } from './sink.js';

export interface PostOptions { timeoutMillis: number; maxResponseBytes?: number }

export function postJson(url: string, body: string, headers: Record<string, string>, opts: PostOptions): Promise<SendResult> {
  return new Promise((resolve) => {
    let u: URL;
    try { u = new URL(url); } catch { resolve({ status: 'failed', error: 'invalid URL' }); return; }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
      timeout: opts.timeoutMillis,
    }, (res) => {
      let seen = 0;
      res.on('data', (c: Buffer) => { seen += c.length; if (seen > (opts.maxResponseBytes ?? 65536)) res.destroy(); });
      res.on('error', () => undefined);
      res.on('close', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) { resolve({ status: 'ok' }); return; }
        if (code === 429 || code >= 500 || code === 408) {
          const ra = Number(res.headers['retry-after']);
          resolve({ status: 'retryable', error: `HTTP ${code}`, ...(Number.isFinite(ra) && ra > 0 ? { retryInMillis: ra * 1000 } : {}) });
          return;
        }
        resolve({ status: 'failed', error: `HTTP ${code}` });
      });
      res.resume();
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    // The URL may embed a token (Slack): report the error code only, never the URL.
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 'retryable', error: e.code ?? e.message }));
    req.end(body);
  });
}
