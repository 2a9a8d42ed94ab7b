// Slack-compatible incoming-webhook sink: {text, blocks} with the finding's severity, title, job and evidence.
import type { Finding } from '../finding.js';
import { postJson } from './http-post.js';
import type { AlertSink, SendResult } from './sink.js';

const ICON: Record<string, string> = { critical: ':rotating_light:', high: ':red_circle:', medium: ':large_orange_circle:', low: ':large_yellow_circle:', info: ':information_source:' };

/** Slack mrkdwn treats &, <, > specially. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackMessage(f: Finding): { text: string; blocks: unknown[] } {
  const text = `${f.severity.toUpperCase()} ${f.title} (job ${f.jobId})`;
  const evidence = f.evidence.slice(0, 5).map((e) => `• \`${esc(e.summary).slice(0, 200)}\``).join('\n');
  return {
    text,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `${f.severity.toUpperCase()}: ${f.title}`.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: `${ICON[f.severity] ?? ''} ${esc(f.explanation)}` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `rule \`${f.ruleId}\` · job \`${esc(f.jobId)}\` · agent \`${esc(f.agentId)}\` · ${esc(f.tags.join(' '))}` }] },
      ...(evidence ? [{ type: 'section', text: { type: 'mrkdwn', text: evidence } }] : []),
    ],
  };
}

export function createSlackSink(opts: { url: string; timeoutMillis?: number; name?: string }): AlertSink {
  return {
    name: opts.name ?? 'slack',
    send(f: Finding): Promise<SendResult> {
      return postJson(opts.url, JSON.stringify(slackMessage(f)), {}, { timeoutMillis: opts.timeoutMillis ?? 5000 });
    },
  };
}
