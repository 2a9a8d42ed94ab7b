// Log sink: each finding as one structured pino line (the process's injected logger decides where it goes).
import type { Logger } from 'pino';
import type { Finding } from '../finding.js';
import type { AlertSink, SendResult } from './sink.js';

export function createLogSink(logger: Logger, name = 'stdout'): AlertSink {
  return {
    name,
    send(f: Finding): Promise<SendResult> {
      logger.warn({ finding: { ruleId: f.ruleId, severity: f.severity, title: f.title, jobId: f.jobId, agentId: f.agentId, tags: f.tags, explanation: f.explanation, evidence: f.evidence } }, 'finding');
      return Promise.resolve({ status: 'ok' });
    },
  };
}
