// `runwarden run [--report FILE] [--db FILE] [--config FILE] [--collector URL] [--token T] [--fail-on SEVERITY] -- CMD…`:
// job context, config hashes and workspace integrity around one wrapped command, then the report.
// Sensors, the embedded collector and the rules plug in through `JobWatch` (deps.createWatch).
import { appendFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { runCommand } from '../../agent/command-runner.js';
import type { OutputStream, OutputTransform } from '../../agent/command-runner.js';
import { hashConfigFiles } from '../../agent/config-hashes.js';
import { jobContextFromEnv } from '../../agent/job-context.js';
import type { JobContext } from '../../agent/job-context.js';
import { buildReport, failOnMet, markdownSummary, parseSeverity, terminalSummary } from '../../agent/report.js';
import type { JobWatch, JobWatchResult } from '../../agent/report.js';
import { diffTracked, snapshotTracked, watchWorkspace } from '../../agent/workspace-integrity.js';
import type { TrackedDiff, WorkspaceWatcher } from '../../agent/workspace-integrity.js';
import { RwError } from '../../proto/errors.js';
import { parseArgs, str } from '../args.js';
import { formatProblems, parseConfig, parseConfigText } from '../config.js';
import type { Config } from '../config.js';
import type { CliIo } from '../io.js';

export interface RunDeps {
  /** Builds the watch for this job (sensors + embedded collector + rules). Default: none attached. */
  createWatch?: (ctx: { job: JobContext; config: Readonly<Config>; dbPath: string; collectorUrl: string | undefined }) => JobWatch;
  /** Live output rewrite (secret redaction), per stream. */
  wrapOutput?: (stream: OutputStream, ctx: { job: JobContext; config: Readonly<Config> }) => OutputTransform;
}

const SPEC = { report: 'string', db: 'string', config: 'string', collector: 'string', token: 'string', 'fail-on': 'string' } as const;
const WATCHER_READY_MAX_MILLIS = 3_000;
const MAX_EVENT_PAYLOAD_BYTES = 32 * 1024 * 1024;

// Interim secret-name discovery (DESIGN.md "Secrets", name patterns only) until the secrets module is wired
// through JobWatch; values are used only to scrub the report's `command`, never stored.
const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_KEY|^AWS_|_KEY$|_PAT$/i;

function secretEnv(env: CliIo['env'], config: Readonly<Config>): Map<string, string> {
  const named = new Set(config.secrets.names);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) {
    if (!v || v.length < 6) continue;
    if (named.has(k) || SECRET_NAME.test(k)) out.set(k, v);
  }
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

function noWatch(): JobWatch {
  return {
    prepare: async () => undefined,
    attach: () => undefined,
    stop: async (): Promise<JobWatchResult> => ({
      findings: [],
      summary: { sensor: 'none', blindSpots: ['no sensor attached: process, network and file activity outside the workspace not observed'] },
    }),
  };
}

function readEventPayload(path: string): unknown {
  const st = statSync(path);
  if (st.size > MAX_EVENT_PAYLOAD_BYTES) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

function loadConfig(path: string | undefined, io: CliIo, flags: Record<string, Record<string, unknown>>): Readonly<Config> | undefined {
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(resolve(io.cwd, path), 'utf8');
    } catch (e) {
      throw new RwError('CONFIG_ERR_READ', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    const t = parseConfigText(text, path);
    if (!t.ok) { io.err(formatProblems(t.problems) + '\n'); return undefined; }
    raw = t.raw;
  }
  const r = parseConfig(raw, io.env, flags);
  if (!r.ok) { io.err(formatProblems(r.problems) + '\n'); return undefined; }
  return r.config;
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
  const config = loadConfig(str(p, 'config'), io, Object.keys(agentFlags).length ? { agent: agentFlags } : {});
  if (!config) return 2;
  const reportPath = str(p, 'report') === undefined ? undefined : resolve(io.cwd, str(p, 'report') as string);
  const dbPath = resolve(io.cwd, str(p, 'db') ?? '.runwarden/audit.db');

  const startedMs = Date.now();
  const job = jobContextFromEnv(io.env, readEventPayload, startedMs * 1e6, { cwd: io.cwd });
  const workspace = job.start.workspace !== undefined && isDir(job.start.workspace) ? job.start.workspace : io.cwd;
  const secrets = secretEnv(io.env, config);
  job.start.secretNames = [...secrets.keys()].sort();
  const [hashes, snapshot] = await Promise.all([hashConfigFiles(workspace), snapshotTracked(workspace)]);
  job.start.configHashes = hashes.hashes;

  let watcher: WorkspaceWatcher | undefined = watchWorkspace(workspace);
  let readyTimer: NodeJS.Timeout | undefined;
  const readyInTime = await Promise.race([
    watcher.ready.then(() => true),
    new Promise<boolean>((r) => { readyTimer = setTimeout(() => r(false), WATCHER_READY_MAX_MILLIS); }),
  ]);
  clearTimeout(readyTimer);
  if (!readyInTime) { await watcher.close(); watcher = undefined; }

  const watch = deps.createWatch?.({ job, config, dbPath, collectorUrl: collectorUrl ?? (config.agent.collectorUrl || undefined) }) ?? noWatch();
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(io.env)) if (v !== undefined) env[k] = v;
  const out = writeStream('stdout');
  const err = writeStream('stderr');
  await watch.prepare();
  const wrap = deps.wrapOutput;
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
