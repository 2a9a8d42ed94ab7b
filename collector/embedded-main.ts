// The embedded collector of `runwarden run`, in a process of its own (forked by agent/embedded-collector.ts with
// an IPC channel). The process that watches the job then holds neither SQLite, the hash chain, nor the rules
// worker: its memory and its event loop are the agent's alone, as on a host where agent and collector are apart.
//
// Protocol (JSON over the IPC channel), parent → child: {op:'start', config} first, then {id, op:'ready'|'report'|
// 'close', ...}; child → parent: {type:'listening', url} or {type:'failed', code, message}, then {id, ok, ...} per
// request. The child leaves when the parent goes (the channel closes), after closing the store cleanly.
import type { Config } from '../cli/config.js';
import { createLogger } from '../cli/logger.js';
import { isRwError } from '../proto/errors.js';
import { assembleCollector } from './assemble.js';
import type { AssembledCollector } from './assemble.js';
import { jobSummary } from './job-summary.js';

export interface StartMessage { op: 'start'; config: Config; logFile: string; base: Record<string, unknown> }
export type Request =
  | { id: number; op: 'ready'; deadlineMillis: number }
  | { id: number; op: 'report'; jobId: string; settleMillis: number }
  | { id: number; op: 'close' };

function send(m: unknown): void {
  if (process.connected) process.send?.(m);
}

let collector: AssembledCollector | undefined;
let closing: Promise<void> | undefined;

function shutdown(): Promise<void> {
  closing ??= (async () => {
    try { await collector?.close(); } catch { /* logged by the collector */ }
  })();
  return closing;
}

async function onRequest(r: Request): Promise<void> {
  try {
    if (!collector) throw new Error('collector not started');
    switch (r.op) {
      case 'ready':
        send({ id: r.id, ok: true, ready: await collector.detection.ready(r.deadlineMillis) });
        return;
      case 'report': {
        const settled = await collector.detection.settled(r.settleMillis);
        send({ id: r.id, ok: true, settled, stats: collector.detection.stats(), ...jobSummary(collector.store, r.jobId) });
        return;
      }
      case 'close':
        await shutdown();
        send({ id: r.id, ok: true });
        if (process.connected) process.disconnect();
        return;
      default:
    }
  } catch (err) {
    send({ id: r.id, ok: false, message: (err as Error).message });
  }
}

process.on('message', (m: StartMessage | Request) => {
  if ('op' in m && m.op === 'start') {
    const start = m;
    const logger = createLogger({ level: start.config.log.level, destination: start.logFile, base: { ...start.base, component: 'collector' } });
    assembleCollector({ config: start.config, logger, synchronous: 'NORMAL' }).then((c) => {
      collector = c;
      send({ type: 'listening', url: c.url, port: c.port, pid: process.pid });
    }, (err: unknown) => {
      send({ type: 'failed', code: isRwError(err) ? err.code : 'COLLECTOR_ERR_STORE', message: (err as Error).message });
      process.disconnect?.();
    });
    return;
  }
  void onRequest(m as Request);
});
// The parent is gone (exited, or killed): finish what is committed and leave.
process.on('disconnect', () => { void shutdown(); });
// A signal to the run's whole process group (a terminal's ^C, a runner's SIGTERM) reaches this process too: the
// parent forwards it to the job and then closes this collector, after the job's last events are stored.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

