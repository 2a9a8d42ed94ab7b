// `runwarden run [--report FILE] [--db FILE] [--config FILE] [--collector URL] [--token T] [--fail-on SEVERITY] -- CMD…`:
// job context, config hashes and workspace integrity around one wrapped command, then the report.
// Sensors, the embedded collector and the rules plug in through `JobWatch` (deps.createWatch).
import { appendFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { runCommand } from '../../agent/command-runner.js';
import type { OutputStream, OutputTransform } from '../../agent/command-runner.js';
import { hashConfigFiles } from '../../agent/config-hashes.js';
import { jobContextFromEnv } from '../../agent/job-context.js';
import type { JobContext } from '../../agent/job-context.js';
import { buildReport, failOnMet, markdownSummary, parseSeverity, terminalSummary } from '../../agent/report.js';
import type { JobWatch } from '../../agent/report.js';
import { diffTracked, snapshotTracked, watchWorkspace } from '../../agent/workspace-integrity.js';
import { jobPathsFromEnv } from '../../agent/job-paths.js';
import type { JobPaths } from '../../agent/job-paths.js';
import { createRunWatch } from '../../agent/job-watch.js';
import { chooseSensor } from '../../agent/sensor-choice.js';
import { discoverSecrets } from '../../agent/secrets/discover.js';
import { createRedactor } from '../../agent/secrets/redact.js';
import { createLogger } from '../logger.js';
import type { TrackedDiff, WorkspaceWatcher } from '../../agent/workspace-integrity.js';
import { RwError } from '../../proto/errors.js';
import { parseArgs, str } from '../args.js';
import type { Config } from '../config.js';
import type { CliIo } from '../io.js';
import { loadConfig } from '../config-file.js';

export interface RunDeps {
  /** Builds the watch for this job (sensors + embedded collector + rules). Default: none attached. */
  createWatch?: (ctx: { job: JobContext; config: Readonly<Config>; dbPath: string; collectorUrl: string | undefined }) => JobWatch;
  /** Live output rewrite (secret redaction), per stream. */
  wrapOutput?: (stream: OutputStream, ctx: { job: JobContext; config: Readonly<Config> }) => OutputTransform;
}

const SPEC = { report: 'string', db: 'string', config: 'string', collector: 'string', token: 'string', 'fail-on': 'string' } as const;
const WATCHER_READY_MAX_MILLIS = 3_000;
const MAX_EVENT_PAYLOAD_BYTES = 32 * 1024 * 1024;

function secretEnv(env: CliIo['env'], config: Readonly<Config>): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of discoverSecrets(env, { names: config.secrets.names, patterns: config.secrets.patterns })) out.set(d.name, d.value);
  return out;
}

function scrub(argv: readonly string[], secrets: Map<string, string>): string[] {
  const pairs = [...secrets].sort((a, b) => b[1].length - a[1].length);
  return argv.map((a) => {
    let s = a;
    for (const [name, value] of pairs) if (s.includes(value)) s = s.split(value).join(`[redacted:${name}]`);
    return s;
  });
}


/** Live redaction of the wrapped command's output: secret values and their encodings become `***`. */
function redactingTransform(secrets: Map<string, string>): OutputTransform {
  if (secrets.size === 0) return { push: (c) => c, end: () => Buffer.alloc(0) };
  const r = createRedactor([...secrets].map(([name, value]) => ({ name, value })));
  return { push: (c) => r.push(c), end: () => r.end() };
}

/** Sensors + embedded collector + rules, logging to a file beside the audit DB. */
function defaultWatch(ctx: { job: JobContext; config: Readonly<Config>; dbPath: string; collectorUrl: string | undefined }, io: CliIo, paths: JobPaths, beforeJobStart: () => Promise<void>): JobWatch {
  mkdirSync(dirname(ctx.dbPath), { recursive: true, mode: 0o700 });
  const logger = createLogger({ level: ctx.config.log.level, destination: join(dirname(ctx.dbPath), 'runwarden.log'), base: { jobId: ctx.job.jobId } });
  return createRunWatch({
    config: ctx.config, logger, jobId: ctx.job.jobId, start: ctx.job.start, env: io.env, paths, dbPath: ctx.dbPath,
    collectorUrl: ctx.collectorUrl, token: ctx.config.agent.token || undefined, beforeJobStart,
    createSensor: (req) => chooseSensor({ ...req, ...(paths.home ? { homes: [paths.home] } : {}), ...(paths.workspace ? { workspace: paths.workspace } : {}) }),
  });
}

function readEventPayload(path: string): unknown {
  const st = statSync(path);
  if (st.size > MAX_EVENT_PAYLOAD_BYTES) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}


function writeStream(stream: OutputStream) {
  // The job's bytes go out unchanged (colours, partial UTF-8); stdout/stderr writes are synchronous
  // for files, pipes and ttys on Linux, which is the backpressure.
  const s = stream === 'stdout' ? process.stdout : process.stderr;
  return (chunk: Buffer): void => { s.write(chunk); };
}

export async function main(args: string[], io: CliIo, deps: RunDeps = {}): Promise<number> {
  const p = parseArgs(args, SPEC);
  if (p.positional.length) throw new RwError('CLI_ERR_USAGE', `unexpected argument '${p.positional[0]}' (put the command after --)`);
  if (p.rest.length === 0) throw new RwError('CLI_ERR_USAGE', 'no command given: runwarden run [options] -- CMD…');
  const failOnRaw = str(p, 'fail-on');
  const failOn = failOnRaw === undefined ? undefined : parseSeverity(failOnRaw);
  if (failOnRaw !== undefined && failOn === undefined) throw new RwError('CLI_ERR_USAGE', `--fail-on must be one of info, low, medium, high, critical (got ${failOnRaw})`);
  const agentFlags: Record<string, unknown> = {};
  const collectorUrl = str(p, 'collector');
  if (collectorUrl !== undefined) agentFlags.collectorUrl = collectorUrl;
  if (str(p, 'token') !== undefined) agentFlags.token = str(p, 'token');
  // Until the command runs (command-runner forwards signals from then on), a signal is remembered, not fatal:
  // dying here would leave the sensor (bpftrace, strace) running without its reader.
  let interrupted: NodeJS.Signals | undefined;
  const early = (sig: NodeJS.Signals): void => { interrupted ??= sig; };
  for (const sig of EARLY_SIGNALS) process.on(sig, early);
  const dropEarly = (): void => { for (const sig of EARLY_SIGNALS) process.off(sig, early); };
  try {
    return await runWatched(p, io, deps, failOn, collectorUrl, agentFlags, () => interrupted, dropEarly);
  } finally {
    dropEarly();
  }
}

const EARLY_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const SIGNAL_NUMBER: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

async function runWatched(
  p: ReturnType<typeof parseArgs>, io: CliIo, deps: RunDeps, failOn: ReturnType<typeof parseSeverity>, collectorUrl: string | undefined,
  agentFlags: Record<string, unknown>, interrupted: () => NodeJS.Signals | undefined, dropEarly: () => void,
): Promise<number> {
  const config = loadConfig(str(p, 'config'), io, Object.keys(agentFlags).length ? { agent: agentFlags } : {});
  const reportPath = str(p, 'report') === undefined ? undefined : resolve(io.cwd, str(p, 'report') as string);
  const dbPath = resolve(io.cwd, str(p, 'db') ?? '.runwarden/audit.db');

  const startedMs = Date.now();
  const job = jobContextFromEnv(io.env, readEventPayload, startedMs * 1e6, { cwd: io.cwd });
  const workspace = job.start.workspace !== undefined && isDir(job.start.workspace) ? job.start.workspace : io.cwd;
  const secrets = secretEnv(io.env, config);
  job.start.secretNames = [...secrets.keys()].sort();
  // The tracked files and CI configs are hashed while the collector and the sensor come up; the job starts (its
  // JobStart carries the hashes, its paths the tracked set) and the command runs only once they are done.
  const hashing = Promise.all([hashConfigFiles(workspace), snapshotTracked(workspace)]);
  hashing.catch(() => undefined); // awaited below
  let snapshot: Awaited<ReturnType<typeof snapshotTracked>>;
  const paths = jobPathsFromEnv(io.env, workspace);
  let hashed: Promise<void> | undefined;
  const beforeJobStart = (): Promise<void> => (hashed ??= hashing.then(([hashes, snap]) => {
    job.start.configHashes = hashes.hashes;
    snapshot = snap;
    if (snap) paths.tracked = new Set(snap.files.keys());
  }));

  const watchCtx = { job, config, dbPath, collectorUrl: collectorUrl ?? (config.agent.collectorUrl || undefined) };
  const watch = deps.createWatch ? deps.createWatch(watchCtx) : defaultWatch(watchCtx, io, paths, beforeJobStart);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(io.env)) if (v !== undefined) env[k] = v;
  const out = writeStream('stdout');
  const err = writeStream('stderr');
  await watch.prepare();
  await beforeJobStart();
  // The chokidar log of changed paths is for sensors blind to file writes: with the eBPF sensor it would only
  // lstat every new file of the job a second time (the tracked-file hashes before/after stay either way).
  let watcher: WorkspaceWatcher | undefined;
  if (!(watch.seesFileWrites?.() ?? false)) {
    watcher = watchWorkspace(workspace);
    let readyTimer: NodeJS.Timeout | undefined;
    const readyInTime = await Promise.race([
      watcher.ready.then(() => true),
      new Promise<boolean>((r) => { readyTimer = setTimeout(() => r(false), WATCHER_READY_MAX_MILLIS); }),
    ]);
    clearTimeout(readyTimer);
    if (!readyInTime) { await watcher.close(); watcher = undefined; }
  }
  const sig = interrupted();
  if (sig) {
    await watch.stop({ exitCode: 128 + (SIGNAL_NUMBER[sig] ?? 0) });
    await watcher?.close();
    io.err(`runwarden: ${sig} before the command started; it was not run\n`);
    return 128 + (SIGNAL_NUMBER[sig] ?? 0);
  }
  dropEarly(); // the command runner forwards signals to the command from here on
  const wrap = deps.wrapOutput ?? ((): OutputTransform => redactingTransform(secrets));
  const running = runCommand({
    argv: watch.wrapArgv?.(p.rest) ?? p.rest,
    cwd: io.cwd,
    env,
    usePty: io.stdoutIsTTY,
    onOutput: (chunk, stream) => (stream === 'stdout' ? out(chunk) : err(chunk)),
    // The watch sees raw bytes (secret scanning); the terminal sees them after the redaction transform.
    wrapOutput: (s: OutputStream): OutputTransform => {
      const inner = wrap?.(s, { job, config });
      return {
        push: (c) => { watch.onOutput?.(c, s); return inner ? inner.push(c) : c; },
        end: () => (inner ? inner.end() : Buffer.alloc(0)),
      };
    },
  });
  job.start.rootPid = running.pid;
  watch.attach(running.pid);
  const exit = await running.done;
  const endedMs = Date.now();
  const result = await watch.stop({ exitCode: exit.exitCode });

  let diff: TrackedDiff | undefined;
  if (snapshot) diff = await diffTracked(snapshot);
  const written = new Set<string>();
  if (watcher) {
    for (const c of watcher.changes()) if (c.event === 'add' || c.event === 'change') written.add(c.path);
    await watcher.close();
  }
  for (const c of diff?.changed ?? []) written.add(c);

  const report = buildReport({
    jobId: job.jobId,
    start: job.start,
    command: scrub(p.rest, secrets),
    startedMs,
    endedMs,
    exitCode: exit.exitCode,
    signal: exit.signal,
    watch: result,
    base: {
      processes: 1,
      filesWritten: written.size,
      secrets: job.start.secretNames,
      sensor: 'none',
      ...(diff ? { workspace: diff } : {}),
    },
  });
  if (reportPath) {
    mkdirSync(dirname(reportPath), { recursive: true });
    writeFileSync(reportPath, JSON.stringify(report, null, 2) + '\n');
  }
  io.err(terminalSummary(report, reportPath));
  const stepSummary = io.env.GITHUB_STEP_SUMMARY;
  if (stepSummary) {
    try { appendFileSync(stepSummary, markdownSummary(report)); } catch (e) {
      io.err(`runwarden: cannot append to GITHUB_STEP_SUMMARY: ${(e as Error).message}\n`);
    }
  }
  return failOnMet(report.findings, failOn) ? 3 : exit.exitCode;
}
