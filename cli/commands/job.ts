// `runwarden job start|end [--socket PATH] [--exit-code N] [--strict]`: the runner hooks' door to the agent.
// Sends the provider environment; prints the job id. A hook must never break the build: failures warn and
// exit 0 unless --strict.
import { RwError } from '../../proto/errors.js';
import { callJobSocket } from '../../agent/job-socket.js';
import type { Request } from '../../agent/job-socket.js';
import { parseArgs, str } from '../args.js';
import type { CliIo } from '../io.js';
import { loadConfig } from '../config-file.js';

/** GitLab's CI_JOB_STATUS (post_build_script) when no --exit-code is given. */
function exitFromEnv(env: CliIo['env']): number | undefined {
  const s = env.CI_JOB_STATUS;
  return s === 'success' ? 0 : s === 'failed' ? 1 : s === 'canceled' ? 130 : undefined;
}

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { socket: 'string', config: 'string', 'exit-code': 'string', 'job-id': 'string', strict: 'bool' });
  const op = p.positional[0];
  if (op !== 'start' && op !== 'end') throw new RwError('CLI_ERR_USAGE', 'runwarden job start|end [--socket PATH] [--exit-code N] [--strict]');
  const strict = p.flags.strict === true;
  const rawExit = str(p, 'exit-code');
  if (rawExit !== undefined && !/^-?\d+$/.test(rawExit)) throw new RwError('CLI_ERR_USAGE', `--exit-code must be an integer (got ${rawExit})`);
  const hint = io.env.RUNWARDEN_JOB_ROOT_PID && /^\d+$/.test(io.env.RUNWARDEN_JOB_ROOT_PID) ? Number(io.env.RUNWARDEN_JOB_ROOT_PID) : undefined;
  const fail = (msg: string): number => {
    io.err(`runwarden job ${op}: ${strict ? 'error' : 'warning'}: ${msg}${strict ? '' : ' (the job goes on unwatched by the agent)'}\n`);
    return strict ? 1 : 0;
  };
  let socket: string;
  try {
    socket = str(p, 'socket') ?? io.env.RUNWARDEN_SOCKET ?? loadConfig(str(p, 'config'), io, {}).agent.socketPath;
  } catch (e) {
    return fail((e as Error).message);
  }
  let req: Request;
  if (op === 'start') {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(io.env)) if (v !== undefined) env[k] = v;
    req = { op: 'start', env, cwd: io.cwd, ...(hint ? { rootPid: hint } : {}) };
  } else {
    const exitCode = rawExit !== undefined ? Number(rawExit) : exitFromEnv(io.env);
    req = { op: 'end', ...(str(p, 'job-id') ? { jobId: str(p, 'job-id') } : {}), ...(exitCode !== undefined ? { exitCode } : {}), ...(hint ? { rootPid: hint } : {}) };
  }
  try {
    const a = await callJobSocket(socket, req);
    if (!a.ok) return fail(`${a.code}: ${a.message}`);
    if (op === 'start') io.out(`${String(a.jobId)}\n`);
    else {
      io.out(`${String(a.jobId)} survivors=${String(a.survivors)}\n`);
      // Shown in the job log by the hook: on a reused runner these outlive the job (persistence).
      for (const s of (a.processes as { pid: number; comm: string; argv: string[] }[] | undefined) ?? []) {
        const what = `process still running after the job: pid ${s.pid} ${s.comm}${s.argv.length ? ` (${s.argv.join(' ').slice(0, 200)})` : ''}`;
        io.err(io.env.GITHUB_ACTIONS === 'true' ? `::warning title=runwarden::${what}\n` : `runwarden job end: warning: ${what}\n`);
      }
    }
    for (const n of (a.notes as string[] | undefined) ?? []) io.err(`runwarden job ${op}: note: ${n}\n`);
    return 0;
  } catch (e) {
    return fail((e as Error).message);
  }
}
