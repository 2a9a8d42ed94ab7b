// Test helpers for alert sinks: a real node:http receiver on 127.0.0.1 and a finding factory.
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Finding } from '../../../collector/finding.js';

export interface Received { headers: IncomingHttpHeaders; body: string }

export async function receiver(status: () => number = () => 200, port = 0): Promise<{ url: string; port: number; got: Received[]; close: () => Promise<void>; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.statusCode = status();
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const p = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${p}/hook`, port: p, got, server,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export function finding(over: Partial<Finding> = {}): Finding {
  return {
    ruleId: 'runner-memory-read', title: 'Memory of another process read through procfs', severity: 'critical',
    tags: ['CICD-SEC-6', 'T1003.007'], jobId: 'job-1', agentId: 'agent-1', tsNs: 1,
    explanation: 'python3 (pid 7) read /proc/50/mem of Runner.Worker',
    evidence: [{ agentId: 'agent-1', bootId: 'b', seq: 3, kind: 'read', pid: 7, summary: 'read /proc/50/mem [proc-mem] by python3' }],
    ...over,
  };
}
