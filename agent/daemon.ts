// The host agent (`runwarden agent`): one host-wide sensor, the agent core, an uplink to the collector,
// and the job socket the runner hooks register jobs on; many jobs at once, each by its root process.
import { readFileSync, statSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../cli/config.js';
import { RwError } from '../proto/errors.js';
import type { AgentStatus } from '../proto/types.js';
import { createAttribution } from './attribution.js';
import { hashConfigFiles } from './config-hashes.js';
import { createAgentCore } from './core.js';
import type { AgentCore, Attribution } from './core.js';
import { loadIdentity } from './identity.js';
import { jobContextFromEnv } from './job-context.js';
import { jobPathsFromEnv } from './job-paths.js';
import { ancestorsOf, procLookup, startJobSocket } from './job-socket.js';
import type { Failure, JobHost, JobSocket } from './job-socket.js';
import type { SensorRequest } from './job-watch.js';
import { netPolicy } from './netmatch.js';
import { createProcTable } from './proc-table.js';
import { readStat } from './procfs-read.js';
import { loadOrCreateInstallKey } from './secrets/install-key.js';
import { chooseSensor } from './sensor-choice.js';
import type { Sensor, SensorStatus } from './sensors/types.js';
import { createUplink } from './uplink.js';
import type { Uplink, UplinkStats } from './uplink.js';

export const AGENT_VERSION = '0.1.0';
/** sockaddr_un.sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export const AGENT_LIMITS = Object.freeze({
  maxJobs: 256,
  /** After `job end` arrives, how long the sensor may take to deliver what the kernel already saw. */
  drainMillis: 300,
  /** How often sensor status changes and vanished job roots are looked for. */
  pollMillis: 2_000,
  configHashMillis: 2_000,
  maxEventPayloadBytes: 32 * 1024 * 1024,
});

export interface AgentOptions {
  config: Readonly<Config>;
  logger: Logger;
  /** Default: chooseSensor (eBPF when available). */
  createSensor?: (req: SensorRequest) => Promise<{ sensor: Sensor; attribution: Attribution }>;
  nowNs?: () => number;
}

export interface JobSummary { jobId: string; rootPid: number; provider?: string | undefined; repo?: string | undefined; startedNs: number }

export interface AgentStatusView {
  agentId: string;
  bootId: string;
  version: string;
  pid: number;
  socket: string;
  sensor: SensorStatus | { sensor: 'none'; capabilities: string[]; blindSpots: string[]; drops: number; running: false; message: string };
  uplink: UplinkStats;
  collectorUrl: string;
  jobs: JobSummary[];
}

export interface Agent {
  socketPath: string;
  status(): AgentStatusView;
  close(): Promise<void>;
}

interface Running { jobId: string; rootPid: number; rootStart: number; startedNs: number; provider?: string | undefined; repo?: string | undefined; ending?: Promise<EndResult> }

/** Survivors as the jobEnd event carries them (argv already scrubbed of the job's secrets). */
export interface EndResult { survivors: number; processes: { pid: number; comm: string; argv: string[] }[] }

function resolvers(): Set<string> {
  try {
    return new Set(readFileSync('/etc/resolv.conf', 'utf8').split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((x): x is string => !!x));
  } catch {
    return new Set();
  }
}

/** Uid owning pid (real uid), from /proc/<pid>/status. */
function uidOf(pid: number): number | undefined {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}


/** Fails fast on configuration the host agent cannot run with (exit 2 in the CLI). */
export function checkAgentConfig(config: Readonly<Config>): void {
  const a = config.agent;
  const problems: string[] = [];
  if (!a.collectorUrl) problems.push('agent.collectorUrl is required (or --collector URL)');
  else if (!/^wss?:\/\//.test(a.collectorUrl)) problems.push(`agent.collectorUrl must be a ws:// or wss:// URL (got ${JSON.stringify(a.collectorUrl)})`);
  if (!a.token) problems.push('agent.token is required (or --token T, or RUNWARDEN_AGENT_TOKEN)');
  if (!a.socketPath.startsWith('/')) problems.push('agent.socketPath must be an absolute path');
  else if (Buffer.byteLength(a.socketPath) > MAX_SOCKET_PATH_BYTES) problems.push(`agent.socketPath is longer than ${MAX_SOCKET_PATH_BYTES} bytes (the kernel's sun_path limit)`);
  if (!a.stateDir) problems.push('agent.stateDir must not be empty');
  if (a.sensor === 'ptrace') problems.push('agent.sensor: ptrace follows one wrapped command (runwarden run); the host agent needs ebpf or auto');
  if (problems.length) throw new RwError('CONFIG_ERR_INVALID', problems.join('; '));
}

/** Attribution with no sensor feeding it: jobs still start and end, membership by /proc parents only. */
function bareAttribution(): Attribution {
  const table = createProcTable();
  const attr = createAttribution(table, { readPpid: (pid) => readStat(pid)?.ppid });
  return {
    registerJob: (j, r) => attr.registerJob(j, r), unregisterJob: (j) => attr.unregisterJob(j),
    observe: (ev) => { table.apply(ev); attr.observe(ev); }, jobOf: (p) => attr.jobOf(p),
    ancestry: (p, m) => attr.ancestry(p, m), domainFor: (p, ip) => attr.domainFor(p, ip), members: (j) => attr.members(j),
  };
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const config = o.config;
  checkAgentConfig(config);
  const a = config.agent;
  const nowNs = o.nowNs ?? ((): number => Date.now() * 1e6);
  const host = hostname();
  mkdirSync(a.stateDir, { recursive: true, mode: 0o700 });
  const identity = loadIdentity(a.stateDir, a.id);
  const log = o.logger.child({ agentId: identity.agentId });
  const installKey = await loadOrCreateInstallKey(a.stateDir);

  const uplink: Uplink = createUplink({
    url: a.collectorUrl, token: a.token, spoolDir: join(a.stateDir, 'spool'), agentId: identity.agentId, bootId: identity.bootId,
    host, logger: o.logger, version: AGENT_VERSION, ...(a.tlsCa ? { tlsCa: a.tlsCa } : {}),
    limits: {
      spoolMaxBytes: a.spoolMaxBytes, batchMaxEvents: a.batchMaxEvents, batchMaxAgeMillis: a.batchMaxAgeMillis,
      heartbeatIntervalMillis: a.heartbeatIntervalMillis, reconnectMinMillis: a.reconnectMinMillis, reconnectMaxMillis: a.reconnectMaxMillis,
    },
  });
  // The collector may be away: the uplink spools and reconnects; nothing here waits for it.
  uplink.start();

  // Sensor: an explicit backend that cannot run is fatal; `auto` degrades to no sensor, loudly.
  const createSensor = o.createSensor ?? chooseSensor;
  let sensor: Sensor | undefined;
  let attribution: Attribution;
  let degraded = '';
  try {
    const made = await createSensor({ backend: a.sensor, kernelProgram: a.kernelProgram, sensitivePrefixes: [...a.sensitivePaths], logger: log.child({ component: 'sensor' }), ignorePids: [process.pid] });
    sensor = made.sensor;
    attribution = made.attribution;
  } catch (e) {
    if (a.sensor !== 'auto') { await uplink.close(); throw e; }
    degraded = `no sensor: ${(e as Error).message}`;
    attribution = bareAttribution();
  }

  // The job root and the hook that is ending the job are alive by design: not survivors.
  const notSurvivors = new Map<string, Set<number>>();
  const endBodies = new Map<string, EndResult['processes']>();
  const attr = attribution;
  const coreAttribution: Attribution = { ...attr, members: (j) => attr.members(j).filter((p) => !notSurvivors.get(j)?.has(p)) };
  const core: AgentCore = createAgentCore({
    host, policy: netPolicy(config.network.trusted, config.network.allow), resolvers: resolvers(), attribution: coreAttribution,
    enqueue: (d) => {
      if (d.kind === 'jobEnd' && d.jobId) endBodies.set(d.jobId, (d.jobEnd.survivors ?? []).map((x) => ({ pid: x.pid ?? 0, comm: x.comm ?? '', argv: x.argv ?? [] })));
      uplink.enqueue(d);
    }, installKey,
    secretsConfig: { names: config.secrets.names, patterns: config.secrets.patterns }, logger: log, nowNs, hostEvents: true,
  });

  if (sensor) {
    const s = sensor;
    s.onEvent((ev) => core.onSensorEvent(ev));
    s.onLoss((count, reason) => {
      uplink.enqueue({ kind: 'dropped', dropped: { count, reason }, tsNs: nowNs(), host, pid: 0 });
    });
    try {
      await s.start();
    } catch (e) {
      await s.close().catch(() => undefined);
      if (a.sensor !== 'auto') { await uplink.close(); throw e; }
      degraded = `no sensor: ${(e as Error).message}`;
      sensor = undefined;
    }
  }
  if (degraded) log.error({ reason: degraded }, 'DEGRADED: the agent runs without a kernel sensor; jobs are registered but process, file and network activity is NOT observed');

  const jobs = new Map<string, Running>();
  const sensorStatus = (): AgentStatusView['sensor'] => sensor?.status()
    ?? { sensor: 'none', capabilities: [], blindSpots: ['processes', 'network', 'files'], drops: 0, running: false, message: degraded || 'sensor stopped' };

  function statusEvent(): void {
    const s = sensorStatus();
    const body: AgentStatus = { sensor: s.sensor, capabilities: s.capabilities, blindSpots: s.blindSpots, drops: s.drops, version: AGENT_VERSION };
    const msg = s.message ?? (s.running ? undefined : 'sensor not running');
    if (msg) body.message = msg;
    uplink.enqueue({ kind: 'status', status: body, tsNs: nowNs(), host, pid: process.pid });
  }
  const statusKey = (): string => {
    const s = sensorStatus();
    return JSON.stringify([s.sensor, s.running, s.capabilities, s.blindSpots, s.message ?? '']);
  };
  statusEvent();
  let lastStatus = statusKey();

  function readEventPayload(peerUid: number | undefined) {
    // The caller names the file; the agent (root) reads it only if the caller's user owns it.
    return (path: string): unknown => {
      const st = statSync(path);
      if (peerUid === undefined || (st.uid !== peerUid && peerUid !== 0)) return undefined;
      if (st.size > AGENT_LIMITS.maxEventPayloadBytes) return undefined;
      return JSON.parse(readFileSync(path, 'utf8')) as unknown;
    };
  }

  async function endJob(jobId: string, exitCode: number, why: string, callerPid?: number): Promise<EndResult> {
    const job = jobs.get(jobId);
    if (!job) return { survivors: 0, processes: [] };
    job.ending ??= (async () => {
      const expected = new Set<number>([job.rootPid]);
      if (callerPid !== undefined) for (const p of ancestorsOf(callerPid, procLookup)) expected.add(p.pid);
      notSurvivors.set(jobId, expected);
      await new Promise((r) => setTimeout(r, AGENT_LIMITS.drainMillis));
      // Write-opens counted in the kernel are printed once per window: wait for the next one (bounded), or the
      // job's last writes would arrive after it ended.
      if (sensor?.sync) await sensor.sync();
      const r = await core.endJob(jobId, exitCode).finally(() => notSurvivors.delete(jobId));
      jobs.delete(jobId);
      const processes = endBodies.get(jobId) ?? [];
      endBodies.delete(jobId);
      log.info({ jobId, exitCode, survivors: r.survivors, why }, 'job end');
      return { survivors: r.survivors, processes };
    })();
    return job.ending;
  }

  const jobHost: JobHost = {
    async start({ env, cwd, rootPid, peerPid, notes }) {
      const rootStart = readStat(rootPid)?.startTicks ?? 0;
      const ctx = jobContextFromEnv(env, readEventPayload(uidOf(peerPid)), nowNs(), { ...(cwd ? { cwd } : {}), rootPid });
      for (const j of jobs.values()) {
        if (j.rootPid !== rootPid) continue;
        if (j.rootStart === rootStart && j.jobId === ctx.jobId) return { jobId: j.jobId };
        // The same worker registers again (or its pid was reused): the earlier job is over.
        await endJob(j.jobId, -1, 'superseded by a new job on the same root');
      }
      if (jobs.has(ctx.jobId)) {
        return { ok: false, code: 'AGENT_ERR_JOB', message: `job ${ctx.jobId} is already running under root pid ${jobs.get(ctx.jobId)?.rootPid}` } satisfies Failure;
      }
      if (jobs.size >= AGENT_LIMITS.maxJobs) return { ok: false, code: 'AGENT_ERR_JOB', message: `too many running jobs (${AGENT_LIMITS.maxJobs})` } satisfies Failure;
      if (ctx.start.provider === 'generic') {
        log.warn({ jobId: ctx.jobId, rootPid, peerPid, notes }, 'job started outside any CI runner (no provider environment): root is the caller\'s parent');
      }
      const workspace = ctx.start.workspace;
      if (workspace) {
        let timer: NodeJS.Timeout | undefined;
        const hashes = await Promise.race([
          hashConfigFiles(workspace).then((h) => h.hashes).catch(() => undefined),
          new Promise<undefined>((r) => { timer = setTimeout(() => r(undefined), AGENT_LIMITS.configHashMillis); }),
        ]);
        clearTimeout(timer);
        if (hashes) ctx.start.configHashes = hashes;
      }
      // Registered before answering: the hook returns only once the worker's next children are attributed.
      core.startJob(ctx.jobId, ctx.start, rootPid, env, jobPathsFromEnv(env, workspace));
      jobs.set(ctx.jobId, { jobId: ctx.jobId, rootPid, rootStart, startedNs: nowNs(), provider: ctx.start.provider, repo: ctx.start.repo });
      return { jobId: ctx.jobId };
    },
    end: (jobId, exitCode, peerPid) => endJob(jobId, exitCode, 'job end request', peerPid),
    jobs: () => [...jobs.values()].filter((j) => !j.ending).map((j) => ({ jobId: j.jobId, rootPid: j.rootPid })),
    status: () => ({ ...statusView() }),
  };

  let socket: JobSocket;
  try {
    socket = await startJobSocket({ path: a.socketPath, group: a.socketGroup, host: jobHost, logger: log });
  } catch (e) {
    await sensor?.close();
    await uplink.close();
    throw e;
  }

  function statusView(): AgentStatusView {
    return {
      agentId: identity.agentId, bootId: identity.bootId, version: AGENT_VERSION, pid: process.pid, socket: a.socketPath,
      sensor: sensorStatus(), uplink: uplink.stats(), collectorUrl: a.collectorUrl,
      jobs: [...jobs.values()].map((j) => ({ jobId: j.jobId, rootPid: j.rootPid, provider: j.provider, repo: j.repo, startedNs: j.startedNs })),
    };
  }

  // Status changes go out as events; jobs whose root vanished without a `job end` are ended (survivors).
  const poll = setInterval(() => {
    core.flushIdle(); // plain-file aggregates of a host (or job) that went quiet
    const k = statusKey();
    if (k !== lastStatus) {
      lastStatus = k;
      log.warn({ sensor: sensorStatus() }, 'sensor status changed');
      statusEvent();
    }
    for (const j of jobs.values()) {
      if (j.ending) continue;
      const st = readStat(j.rootPid);
      if (!st || st.startTicks !== j.rootStart || st.state === 'Z') void endJob(j.jobId, -1, 'job root exited without job end');
    }
  }, AGENT_LIMITS.pollMillis);
  poll.unref();

  log.info({ socket: a.socketPath, collector: a.collectorUrl, sensor: sensorStatus().sensor, degraded: degraded || undefined }, 'agent started');

  let closing: Promise<void> | undefined;
  return {
    socketPath: a.socketPath,
    status: statusView,
    close() {
      closing ??= (async () => {
        clearInterval(poll);
        if (jobs.size) log.warn({ jobs: [...jobs.keys()] }, 'agent stopping with jobs still running: their job end will not be reported');
        await sensor?.close();
        core.flushIdle(true); // what the last events left in an aggregate goes out with them
        await socket.stopAccepting();
        const flushed = await uplink.flush(a.flushDeadlineMillis);
        if (!flushed) log.warn({ pending: uplink.stats().pending }, 'not every event reached the collector before the deadline; they stay spooled for the next start');
        await uplink.close();
        await socket.close();
        log.info('agent stopped');
      })();
      return closing;
    },
  };
}
