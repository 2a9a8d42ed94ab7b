// Watches one wrapped job for `runwarden run`: sensors attached before the command starts, the agent
// core, an uplink to a collector (embedded, on loopback, unless --collector is given), and at the end the
// findings and the summary for the report.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../cli/config.js';
import type { JobStart } from '../proto/types.js';
import { createAgentCore } from './core.js';
import { startEmbeddedCollector } from './embedded-collector.js';
import type { EmbeddedCollector } from './embedded-collector.js';
import type { AgentCore, Attribution } from './core.js';
import { loadIdentity } from './identity.js';
import type { JobPaths } from './job-paths.js';
import { netPolicy } from './netmatch.js';
import type { JobWatch, JobWatchResult, ReportFinding } from './report.js';
import { loadOrCreateInstallKey } from './secrets/install-key.js';
import type { Sensor, SensorStatus } from './sensors/types.js';
import { createUplink } from './uplink.js';
import type { Uplink } from './uplink.js';

export interface SensorRequest {
  backend: Config['agent']['sensor'];
  /** The eBPF sensor's kernel program (agent.kernelProgram); auto when absent. */
  kernelProgram?: Config['agent']['kernelProgram'];
  sensitivePrefixes: string[];
  logger: Logger;
  /** Never report these pids (the agent itself and its collector). */
  ignorePids: number[];
  /** Only the agent's descendants matter (`run`: the job is its child); a sensor may filter the rest early. */
  descendantsOnly?: boolean;
}

export interface RunWatchOptions {
  config: Readonly<Config>;
  logger: Logger;
  jobId: string;
  start: JobStart;
  env: Readonly<Record<string, string | undefined>>;
  paths: JobPaths;
  dbPath: string;
  collectorUrl?: string | undefined;
  token?: string | undefined;
  createSensor: (req: SensorRequest) => Promise<{ sensor: Sensor; attribution: Attribution }>;
  nowNs?: () => number;
  /**
   * Awaited in prepare() just before the job starts (its JobStart event, its paths): what the caller computes while
   * the collector and the sensor come up (run: the hashes of the workspace's tracked files and CI configs).
   */
  beforeJobStart?: () => Promise<void>;
}

export const RUN_WATCH_LIMITS = Object.freeze({
  flushDeadlineMillis: 15_000,
  /** How long the command's start may wait for the detection worker to have its rules loaded. */
  detectionReadyMaxMillis: 10_000,
  /** After the command exits, how long the sensor may take to deliver what the kernel already saw. */
  drainMillis: 300,
  /**
   * Oldest event's wait before a partial batch goes out. The uplink default (200 ms) is most of the detection
   * latency of a quiet job (bench/detect.ts); under load batches fill to their size limit well before this.
   */
  uplinkBatchAgeMillis: 20,
  /**
   * After the command exits, wait for the sensor to deliver the root process's exit (everything the kernel
   * saw before it is then read): a sensor that is seconds behind must not be closed on its backlog, which
   * would be lost without a trace. Bounded: stop waiting once the sensor goes quiet or after the maximum.
   */
  catchUpQuietMillis: 500,
  catchUpMaxMillis: 30_000,
});

/** Attribution when no sensor runs: nothing belongs to the job but what the core is told directly. */
function nullAttribution(): Attribution {
  return {
    registerJob: () => undefined, unregisterJob: () => undefined, observe: () => undefined, jobOf: () => undefined,
    ancestry: () => [], domainFor: () => undefined, members: () => [],
  };
}

function resolvers(): Set<string> {
  try {
    return new Set(readFileSync('/etc/resolv.conf', 'utf8').split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x));
  } catch {
    return new Set();
  }
}

export function createRunWatch(o: RunWatchOptions): JobWatch {
  const nowNs = o.nowNs ?? ((): number => Date.now() * 1e6);
  const log = o.logger.child({ jobId: o.jobId });
  const stateDir = dirname(o.dbPath);
  let collector: EmbeddedCollector | undefined;
  let uplink: Uplink | undefined;
  let sensor: Sensor | undefined;
  let core: AgentCore | undefined;
  let status: SensorStatus | undefined;
  let rootPid = 0;
  let rootExitSeen = false;
  let lastSensorEventAt = 0;

  async function prepare(): Promise<void> {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const identity = loadIdentity(stateDir);
    let url = o.collectorUrl;
    let token = o.token ?? o.config.agent.token;
    // The embedded collector starts (its own node, the store, the rules) while the sensor attaches: one after the
    // other they were most of the run's start-up.
    let starting: Promise<EmbeddedCollector> | undefined;
    let collectorPid: number | undefined;
    if (!url) {
      // Embedded collector: loopback only, a token made for this run alone.
      token = randomBytes(24).toString('base64url');
      const sha256 = createHash('sha256').update(token).digest('hex');
      const cfg = {
        ...o.config,
        collector: {
          ...o.config.collector, host: '127.0.0.1', port: 0, db: o.dbPath, stateDir: join(stateDir, 'collector'),
          tokens: [{ agentId: identity.agentId, sha256 }], tlsCert: '', tlsKey: '',
        },
      } as Config;
      // In a process of its own: SQLite, the chain and the rules worker are not in the process that reads the
      // sensor (its memory and event loop stay the agent's, as with a remote collector).
      starting = startEmbeddedCollector({
        config: cfg, logFile: join(stateDir, 'runwarden.log'), base: { jobId: o.jobId }, logger: o.logger, onSpawn: (pid) => { collectorPid = pid; },
      });
      starting.catch(() => undefined); // awaited below; a failure is prepare's error
    }
    // A sensor that cannot start must not fail the build: the job still runs, the secret scanning of its
    // output still works, and the report says loudly what was not seen.
    let made: { sensor: Sensor; attribution: Attribution } | undefined;
    let sensorError: string | undefined;
    let installKey: Awaited<ReturnType<typeof loadOrCreateInstallKey>>;
    try {
      installKey = await loadOrCreateInstallKey(stateDir);
      try {
        made = await o.createSensor({
          backend: o.config.agent.sensor,
          kernelProgram: o.config.agent.kernelProgram,
          sensitivePrefixes: o.config.agent.sensitivePaths.slice(),
          logger: o.logger.child({ component: 'sensor' }),
          ignorePids: collectorPid !== undefined ? [process.pid, collectorPid] : [process.pid],
          descendantsOnly: true,
        });
        await made.sensor.start();
      } catch (err) {
        sensorError = (err as Error).message;
        log.error({ err }, 'sensor failed to start; the job runs unwatched by the kernel sensors');
        await made?.sensor.close().catch(() => undefined);
        made = undefined;
      }
      sensor = made?.sensor;
    } finally {
      if (starting) collector = await starting;
    }
    url ??= collector?.url ?? '';
    uplink = createUplink({
      url, token, spoolDir: join(stateDir, 'spool'), agentId: identity.agentId, bootId: identity.bootId,
      host: hostname(), logger: o.logger, version: '0.1.0', limits: { batchMaxAgeMillis: RUN_WATCH_LIMITS.uplinkBatchAgeMillis },
    });
    uplink.start();
    const up = uplink;
    core = createAgentCore({
      host: hostname(), policy: netPolicy(o.config.network.trusted, o.config.network.allow), resolvers: resolvers(),
      attribution: made?.attribution ?? nullAttribution(), enqueue: (d) => { up.enqueue(d); }, installKey,
      secretsConfig: { names: o.config.secrets.names, patterns: o.config.secrets.patterns }, logger: log, nowNs, hostEvents: false,
    });
    const c = core;
    if (sensor) {
      sensor.onEvent((ev) => {
        lastSensorEventAt = Date.now();
        if (ev.kind === 'exit' && rootPid !== 0 && ev.pid === rootPid) rootExitSeen = true;
        c.onSensorEvent(ev);
      });
      sensor.onLoss((count, reason) => {
        up.enqueue({ kind: 'dropped', dropped: { count, reason }, tsNs: nowNs(), host: hostname(), jobId: o.jobId, pid: 0 });
      });
      status = sensor.status();
    } else {
      status = {
        sensor: 'procfs', running: false, capabilities: [], drops: 0, message: sensorError ?? 'no sensor',
        blindSpots: [`NO KERNEL SENSOR: ${sensorError ?? 'unavailable'}; processes, connections, file writes and reads are not observed`],
      };
    }
    up.enqueue({
      kind: 'status', tsNs: nowNs(), host: hostname(), jobId: o.jobId, pid: process.pid,
      status: { sensor: sensor ? status.sensor : 'none', capabilities: status.capabilities, blindSpots: status.blindSpots, drops: status.drops, version: '0.1.0', ...(status.message ? { message: status.message } : {}) },
    });
    if (o.beforeJobStart) await o.beforeJobStart();
    core.startJob(o.jobId, o.start, 0, o.env, o.paths);
    // The rules compile in the detection worker while the sensor attaches; the job starts once both are done.
    if (collector && !(await collector.ready(RUN_WATCH_LIMITS.detectionReadyMaxMillis))) {
      log.warn('detection was not ready when the command started; its first findings may come late');
    }
  }

  return {
    async prepare() {
      try {
        await prepare();
      } catch (err) {
        // Leave nothing running behind a failed start, or the process would never exit.
        await sensor?.close().catch(() => undefined);
        await uplink?.close().catch(() => undefined);
        await collector?.close().catch(() => undefined);
        throw err;
      }
    },

    seesFileWrites() {
      return sensor !== undefined && (status?.running ?? false) && (status?.capabilities.includes('file-write') ?? false);
    },

    wrapArgv(argv) {
      return sensor?.wrap ? sensor.wrap([...argv]) : [...argv];
    },

    attach(pid) {
      rootPid = pid;
      core?.setRoot(o.jobId, pid);
    },

    onOutput(chunk, stream) {
      core?.onOutput(o.jobId, chunk, stream);
    },

    async stop({ exitCode }): Promise<JobWatchResult> {
      if (sensor && rootPid !== 0) {
        const t0 = Date.now();
        while (!rootExitSeen && Date.now() - t0 < RUN_WATCH_LIMITS.catchUpMaxMillis
          && Date.now() - Math.max(lastSensorEventAt, t0) < RUN_WATCH_LIMITS.catchUpQuietMillis) {
          await new Promise((r) => setTimeout(r, 10));
        }
        const waited = Date.now() - t0;
        if (!rootExitSeen) log.warn({ waitedMillis: waited }, 'the sensor did not report the command\'s exit; events it had not read yet may be missing');
        else if (waited > 1_000) log.info({ waitedMillis: waited }, 'waited for the sensor to catch up with the job');
      }
      // Write-opens counted in the kernel arrive with the next printed window: wait for it (≤ 1 s) so they
      // reach the job before it ends, instead of arriving after it and being dropped as host events.
      if (sensor?.sync) await sensor.sync();
      // The sensor stops while the last events drain: its kernel program prints what it still counts and detaches
      // (~1 s here: the kernel unregisters its tracepoints one at a time), and every event it had is delivered
      // before the job ends, so the job holds them (after the end they were host events, which run drops).
      // Survivors are read from /proc and the job's process list, which do not need the sensor running.
      await Promise.all([sensor?.close(), new Promise((r) => setTimeout(r, RUN_WATCH_LIMITS.drainMillis))]);
      status = sensor?.status() ?? status;
      await core?.endJob(o.jobId, exitCode);
      const flushed = (await uplink?.flush(RUN_WATCH_LIMITS.flushDeadlineMillis)) ?? false;
      if (!flushed) log.warn({ pending: uplink?.stats().pending }, 'not every event reached the collector before the deadline; they stay spooled');
      await uplink?.close();
      let findings: ReportFinding[] = [];
      let summary: JobWatchResult['summary'] = {
        sensor: sensor ? (status?.sensor ?? 'none') : 'none', blindSpots: status?.blindSpots ?? [], drops: status?.drops ?? 0,
      };
      if (collector) {
        try {
          const r = await collector.report(o.jobId, RUN_WATCH_LIMITS.flushDeadlineMillis);
          if (!r.settled) log.warn(r.stats, 'the rules had not evaluated every event before the deadline; the report may miss findings');
          findings = r.findings;
          summary = { ...summary, ...r.summary, drops: (summary.drops ?? 0) + r.summary.drops };
        } catch (err) {
          log.error({ err }, 'the embedded collector could not report; the events stay in the spool and the audit DB');
          summary.blindSpots = [...(summary.blindSpots ?? []), `embedded collector failed: ${(err as Error).message}`];
        }
        await collector.close();
      } else {
        summary.blindSpots = [...(summary.blindSpots ?? []), 'remote collector: findings are in the collector, not in this report'];
      }
      return { findings, summary };
    },
  };
}
