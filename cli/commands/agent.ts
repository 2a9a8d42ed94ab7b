// `runwarden agent [--config FILE] [--socket PATH] [--state-dir D] [--collector URL] [--token T]`: the host
// daemon until SIGTERM/SIGINT; `runwarden agent status [--socket PATH] [--format json|table]`.
import { resolve } from 'node:path';
import { callJobSocket } from '../../agent/job-socket.js';
import type { SensorStatus } from '../../agent/sensors/types.js';
import { RwError } from '../../proto/errors.js';
import { parseArgs, str } from '../args.js';
import type { CliIo } from '../io.js';
import { loadConfig } from '../config-file.js';
import { createLogger } from '../logger.js';


function fmtNs(ns: number): string {
  return new Date(Math.floor(ns / 1e6)).toISOString();
}

function table(s: Record<string, unknown>): string {
  const sensor = (s.sensor ?? {}) as {
    sensor?: string; running?: boolean; capabilities?: string[]; blindSpots?: string[]; drops?: number; message?: string;
    lag?: SensorStatus['lag'];
  };
  const lag = sensor.lag;
  const up = (s.uplink ?? {}) as { connected?: boolean; pending?: number; acked?: number; dropped?: number; spoolBytes?: number };
  const jobs = (s.jobs ?? []) as { jobId: string; rootPid: number; provider?: string; repo?: string; startedNs: number }[];
  const lines = [
    `agent      ${String(s.agentId)} (pid ${String(s.pid)}, version ${String(s.version)})`,
    `socket     ${String(s.socket)}`,
    `sensor     ${sensor.sensor ?? '?'} ${sensor.running ? 'running' : 'NOT RUNNING'}${sensor.message ? ` (${sensor.message})` : ''}`,
    `  capabilities  ${(sensor.capabilities ?? []).join(', ') || '-'}`,
    `  blind spots   ${(sensor.blindSpots ?? []).join('; ') || '-'}`,
    `  drops         ${sensor.drops ?? 0}`,
    ...(lag ? [`  behind        ${lag.kernelProgramBacklogBytes} B held by the kernel program (peak ${lag.kernelProgramBacklogPeakBytes} B, ${lag.kernelProgramWaits} waits with it full), ${lag.queuedEvents} events queued in the agent`] : []),
    `collector  ${String(s.collectorUrl)} ${up.connected ? 'connected' : 'NOT CONNECTED'}, pending ${up.pending ?? 0}, acked ${up.acked ?? 0}, dropped ${up.dropped ?? 0}, spool ${up.spoolBytes ?? 0} B`,
    `jobs       ${jobs.length}`,
    ...jobs.map((j) => `  ${j.jobId}  root ${j.rootPid}  ${j.provider ?? ''}${j.repo ? ' ' + j.repo : ''}  since ${fmtNs(j.startedNs)}`),
  ];
  return lines.join('\n') + '\n';
}

async function status(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { socket: 'string', config: 'string', format: 'string' });
  const format = str(p, 'format') ?? (io.stdoutIsTTY ? 'table' : 'json');
  if (format !== 'json' && format !== 'table') throw new RwError('CLI_ERR_USAGE', `--format must be json or table (got ${format})`);
  const config = loadConfig(str(p, 'config'), io, {});
  const socket = str(p, 'socket') ?? io.env.RUNWARDEN_SOCKET ?? config.agent.socketPath;
  let answer;
  try {
    answer = await callJobSocket(socket, { op: 'status' });
  } catch (e) {
    io.err(`runwarden agent status: the agent is not running (${(e as Error).message})\n`);
    return 1;
  }
  if (!answer.ok) {
    io.err(`runwarden agent status: ${answer.code}: ${answer.message}\n`);
    return 1;
  }
  const body: Record<string, unknown> = { ...answer };
  delete body.ok;
  io.out(format === 'json' ? JSON.stringify(body, null, 2) + '\n' : table(body));
  return 0;
}

export async function main(args: string[], io: CliIo): Promise<number> {
  if (args[0] === 'status') return status(args.slice(1), io);
  const p = parseArgs(args, { config: 'string', socket: 'string', 'state-dir': 'string', collector: 'string', token: 'string' });
  if (p.positional.length) throw new RwError('CLI_ERR_USAGE', `unexpected argument '${p.positional[0]}' (runwarden agent [options] | runwarden agent status)`);
  const flags: Record<string, unknown> = {};
  if (str(p, 'socket') !== undefined) flags.socketPath = resolve(io.cwd, str(p, 'socket') as string);
  if (str(p, 'state-dir') !== undefined) flags.stateDir = resolve(io.cwd, str(p, 'state-dir') as string);
  if (str(p, 'collector') !== undefined) flags.collectorUrl = str(p, 'collector');
  if (str(p, 'token') !== undefined) flags.token = str(p, 'token');
  const config = loadConfig(str(p, 'config'), io, Object.keys(flags).length ? { agent: flags } : {});
  const logger = createLogger({ level: config.log.level });
  // Loaded here, not at the top: `runwarden job` imports this module and must start fast in a hook.
  const { startAgent } = await import('../../agent/daemon.js');
  const agent = await startAgent({ config, logger });
  io.err(`runwarden agent: listening on ${agent.socketPath}, sensor ${agent.status().sensor.sensor}\n`);
  await new Promise<void>((done) => {
    const stop = (sig: NodeJS.Signals): void => {
      logger.info({ signal: sig }, 'stopping');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      agent.close().then(done, (e: unknown) => { logger.error({ err: e }, 'shutdown failed'); done(); });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}
