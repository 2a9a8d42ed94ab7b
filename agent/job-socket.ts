// The agent's Unix socket for runner hooks (`runwarden job start|end`, `runwarden agent status`): newline-
// delimited JSON requests, each caller identified by the kernel (peerPid), never by a pid it claims.
import { chmodSync, chownSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { RwError, isRwError } from '../proto/errors.js';
import type { ErrorCode } from '../proto/errors.js';
import { peerPid as kernelPeerPid } from './peer-cred.js';
import { readCmdline, readStat } from './procfs-read.js';

export const JOB_SOCKET_LIMITS = Object.freeze({
  /** One request line (a job's whole environment rides in `start`). */
  maxRequestBytes: 1024 * 1024,
  /** From connect (or the previous answer) to a complete request line. */
  requestTimeoutMillis: 10_000,
  maxConnections: 64,
  maxAncestry: 64,
  /** Client side: connect + answer. */
  clientTimeoutMillis: 10_000,
});

/** One process as the root decision needs it. */
export interface ProcInfo { pid: number; ppid: number; comm: string; argv: readonly string[] }
export type ProcLookup = (pid: number) => ProcInfo | undefined;

export type StartRequest = { op: 'start'; env: Record<string, string>; cwd?: string; rootPid?: number };
export type EndRequest = { op: 'end'; jobId?: string; exitCode?: number; rootPid?: number };
export type Request = StartRequest | EndRequest | { op: 'status' };
export type Failure = { ok: false; code: ErrorCode; message: string };
export type Answer = ({ ok: true } & Record<string, unknown>) | Failure;

/** What the daemon does with a request whose caller and job root are known. */
export interface JobHost {
  start(req: { env: Record<string, string>; cwd: string | undefined; rootPid: number; peerPid: number; notes: string[] }): Promise<{ jobId: string } | Failure>;
  end(jobId: string, exitCode: number, peerPid: number): Promise<{ survivors: number; processes?: { pid: number; comm: string; argv: string[] }[] }>;
  jobs(): readonly { jobId: string; rootPid: number }[];
  status(): Record<string, unknown>;
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh', 'busybox']);
const CLI_NAMES = /(^|\/)(runwarden|runwarden\.js)$/;

function isCli(p: ProcInfo): boolean {
  if (p.comm === 'runwarden' || CLI_NAMES.test(p.argv[0] ?? '')) return true;
  // `node [node options…] …/runwarden.js …`: the bin's shebang passes V8 options before the script.
  const script = p.argv.slice(1).find((a) => !a.startsWith('-'));
  return script !== undefined && CLI_NAMES.test(script);
}

/** `sh /path/hook.sh …`: a shell running a script file (not `-c`, not interactive). */
function isScriptShell(p: ProcInfo): boolean {
  const base = (p.argv[0] ?? p.comm).split('/').pop() ?? '';
  if (!SHELLS.has(base) && !SHELLS.has(p.comm)) return false;
  const args = p.argv.slice(1).filter((a) => a !== '-e' && a !== '-x' && a !== '--noprofile' && a !== '--norc');
  return args.length > 0 && !(args[0] ?? '').startsWith('-');
}

/** The caller and its parents, nearest first, starting with pid itself. */
export function ancestorsOf(pid: number, lookup: ProcLookup, max: number = JOB_SOCKET_LIMITS.maxAncestry): ProcInfo[] {
  const out: ProcInfo[] = [];
  const seen = new Set<number>();
  let cur: number | undefined = pid;
  while (cur !== undefined && cur > 0 && !seen.has(cur) && out.length < max) {
    seen.add(cur);
    const p = lookup(cur);
    if (!p) break;
    out.push(p);
    cur = p.ppid;
  }
  return out;
}

export type RootChoice = { ok: true; rootPid: number; via: 'hint' | 'walk'; notes: string[] } | Failure;

/**
 * Which process is the job root for a `start` from chain[0] (the connected CLI). Pure.
 * A hinted pid (RUNWARDEN_JOB_ROOT_PID, set by the hooks to the hook's parent) counts only when it is a
 * strict ancestor of the caller: a job step must not be able to register someone else's worker. Without
 * a usable hint: skip the runwarden CLI (and wrappers), then one shell running a script file (the hook),
 * and the next process is the root (the runner worker, or the caller's shell when run by hand).
 */
export function chooseJobRoot(chain: readonly ProcInfo[], hint?: number): RootChoice {
  const notes: string[] = [];
  if (chain.length === 0) return { ok: false, code: 'AGENT_ERR_JOB', message: 'the calling process is gone' };
  if (hint !== undefined) {
    const i = chain.findIndex((p) => p.pid === hint);
    if (i >= 1 && hint > 1) return { ok: true, rootPid: hint, via: 'hint', notes };
    notes.push(`RUNWARDEN_JOB_ROOT_PID=${hint} ignored: not an ancestor of the caller (pid ${chain[0]?.pid})`);
  }
  let i = 1;
  while (i < chain.length && isCli(chain[i] as ProcInfo)) i++;
  if (i < chain.length - 1 && isScriptShell(chain[i] as ProcInfo)) {
    notes.push(`skipped hook script ${(chain[i] as ProcInfo).argv.slice(0, 2).join(' ')} (pid ${(chain[i] as ProcInfo).pid})`);
    i++;
  }
  const root = chain[i];
  if (!root || root.pid <= 1) return { ok: false, code: 'AGENT_ERR_JOB', message: 'no job root: the caller has no parent process other than init' };
  return { ok: true, rootPid: root.pid, via: 'walk', notes };
}

/** The running job whose root is the caller or one of its ancestors (nearest wins). Pure. */
export function jobOfCaller(chain: readonly ProcInfo[], jobs: readonly { jobId: string; rootPid: number }[]): string | undefined {
  const byRoot = new Map(jobs.map((j) => [j.rootPid, j.jobId]));
  for (const p of chain) {
    const j = byRoot.get(p.pid);
    if (j !== undefined) return j;
  }
  return undefined;
}

/** Validates one decoded request line. Pure. */
export function parseRequest(line: string): { ok: true; req: Request } | Failure {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { ok: false, code: 'AGENT_ERR_REQUEST', message: 'request is not JSON' };
  }
  const bad = (message: string): Failure => ({ ok: false, code: 'AGENT_ERR_REQUEST', message });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('request must be a JSON object');
  const o = v as Record<string, unknown>;
  const pid = (x: unknown): number | undefined | false =>
    x === undefined || x === null ? undefined : typeof x === 'number' && Number.isSafeInteger(x) && x > 0 ? x : false;
  switch (o.op) {
    case 'status':
      return { ok: true, req: { op: 'status' } };
    case 'start': {
      if (typeof o.env !== 'object' || o.env === null || Array.isArray(o.env)) return bad('start needs env (an object of strings)');
      const env: Record<string, string> = {};
      for (const [k, val] of Object.entries(o.env as Record<string, unknown>)) {
        if (typeof val !== 'string') return bad(`env.${k} must be a string`);
        env[k] = val;
      }
      if (o.cwd !== undefined && typeof o.cwd !== 'string') return bad('cwd must be a string');
      const root = pid(o.rootPid);
      if (root === false) return bad('rootPid must be a positive integer');
      return { ok: true, req: { op: 'start', env, ...(typeof o.cwd === 'string' ? { cwd: o.cwd } : {}), ...(root !== undefined ? { rootPid: root } : {}) } };
    }
    case 'end': {
      if (o.jobId !== undefined && (typeof o.jobId !== 'string' || o.jobId === '')) return bad('jobId must be a non-empty string');
      if (o.exitCode !== undefined && !(typeof o.exitCode === 'number' && Number.isInteger(o.exitCode) && Math.abs(o.exitCode) < 2 ** 31)) return bad('exitCode must be an integer');
      const root = pid(o.rootPid);
      if (root === false) return bad('rootPid must be a positive integer');
      return {
        ok: true,
        req: {
          op: 'end', ...(typeof o.jobId === 'string' ? { jobId: o.jobId } : {}), ...(typeof o.exitCode === 'number' ? { exitCode: o.exitCode } : {}),
          ...(root !== undefined ? { rootPid: root } : {}),
        },
      };
    }
    default:
      return bad(`unknown op ${JSON.stringify(o.op)} (start, end, status)`);
  }
}

/** /proc adapter for ProcLookup. */
export function procLookup(pid: number): ProcInfo | undefined {
  const st = readStat(pid);
  if (!st) return undefined;
  return { pid, ppid: st.ppid, comm: st.comm, argv: readCmdline(pid) ?? [] };
}

function groupId(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try { text = readFileSync('/etc/group', 'utf8'); } catch { /* below */ }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === group && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  throw new RwError('CONFIG_ERR_INVALID', `agent.socketGroup: no such group ${group}`);
}

export interface JobSocketOptions {
  path: string;
  /** Group allowed to connect (name or gid); '' keeps the agent's own group. The socket is 0660. */
  group?: string;
  host: JobHost;
  logger: Logger;
  lookup?: ProcLookup;
  peerPid?: (s: Socket) => Promise<number | undefined>;
  limits?: Partial<Record<keyof typeof JOB_SOCKET_LIMITS, number>>;
}

export interface JobSocket {
  path: string;
  stats(): { connections: number; requests: number; refused: number };
  /** No new connections; requests in progress finish. */
  stopAccepting(): Promise<void>;
  close(): Promise<void>;
}

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

export async function startJobSocket(o: JobSocketOptions): Promise<JobSocket> {
  const lim = { ...JOB_SOCKET_LIMITS, ...o.limits };
  const lookup = o.lookup ?? procLookup;
  const who = o.peerPid ?? kernelPeerPid;
  const log = o.logger.child({ component: 'job-socket' });
  const st = { connections: 0, requests: 0, refused: 0 };
  const sockets = new Set<Socket>();

  mkdirSync(dirname(o.path), { recursive: true, mode: 0o755 });
  if (await probe(o.path)) throw new RwError('AGENT_ERR_JOB', `another agent is already listening on ${o.path}`);
  try { unlinkSync(o.path); } catch { /* no stale socket */ }

  async function handle(req: Request, peer: () => Promise<number | undefined>): Promise<Answer> {
    if (req.op === 'status') return { ok: true, ...o.host.status() };
    const pid = await peer();
    if (pid === undefined) return { ok: false, code: 'AGENT_ERR_JOB', message: 'cannot identify the calling process (sock_diag/ss)' };
    const chain = ancestorsOf(pid, lookup, lim.maxAncestry);
    if (req.op === 'start') {
      const choice = chooseJobRoot(chain, req.rootPid);
      if (!choice.ok) return choice;
      const r = await o.host.start({ env: req.env, cwd: req.cwd, rootPid: choice.rootPid, peerPid: pid, notes: choice.notes });
      if ('ok' in r) return r;
      log.info({ jobId: r.jobId, rootPid: choice.rootPid, via: choice.via, peerPid: pid, notes: choice.notes }, 'job registered');
      return { ok: true, jobId: r.jobId, rootPid: choice.rootPid, ...(choice.notes.length ? { notes: choice.notes } : {}) };
    }
    // end: only a process under the job's root may end it, so one job cannot blind the agent to another.
    const jobs = o.host.jobs();
    const mine = jobOfCaller(chain, jobs);
    let jobId = req.jobId ?? mine;
    if (req.jobId === undefined && req.rootPid !== undefined && chain.some((p, i) => i >= 1 && p.pid === req.rootPid)) {
      jobId = jobs.find((j) => j.rootPid === req.rootPid)?.jobId ?? jobId;
    }
    if (jobId === undefined) return { ok: false, code: 'AGENT_ERR_JOB', message: `no running job has the caller (pid ${pid}) under its root` };
    const job = jobs.find((j) => j.jobId === jobId);
    if (!job) return { ok: false, code: 'AGENT_ERR_JOB', message: `no running job ${jobId}` };
    const rootAlive = lookup(job.rootPid) !== undefined;
    if (!chain.some((p) => p.pid === job.rootPid) && rootAlive) {
      log.warn({ jobId, peerPid: pid, rootPid: job.rootPid }, 'job end refused: caller is not under the job root');
      return { ok: false, code: 'AGENT_ERR_JOB', message: `job ${jobId} is not the caller's (its root pid ${job.rootPid} is not an ancestor of pid ${pid})` };
    }
    const r = await o.host.end(jobId, req.exitCode ?? -1, pid);
    return { ok: true, jobId, survivors: r.survivors, ...(r.processes ? { processes: r.processes } : {}) };
  }

  function serve(sock: Socket): void {
    st.connections++;
    sockets.add(sock);
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    let peerP: Promise<number | undefined> | undefined;
    const peer = (): Promise<number | undefined> => (peerP ??= who(sock));
    const lines: string[] = [];
    const reply = (a: Answer): void => {
      if (!a.ok) { st.refused++; log.warn({ code: a.code, reason: a.message }, 'job socket request refused'); }
      if (!sock.destroyed) sock.write(JSON.stringify(a) + '\n');
    };
    // Resolve the peer at once: the CLI may exit right after reading the answer, and ss needs it alive.
    void peer();
    sock.setTimeout(lim.requestTimeoutMillis, () => {
      reply({ ok: false, code: 'AGENT_ERR_REQUEST', message: `no complete request within ${lim.requestTimeoutMillis} ms` });
      sock.end();
    });
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      while (lines.length) {
        const line = lines.shift() as string;
        st.requests++;
        const parsed = parseRequest(line);
        let answer: Answer;
        if (!parsed.ok) answer = parsed;
        else {
          try {
            answer = await handle(parsed.req, peer);
          } catch (e) {
            log.error({ err: e }, 'job socket request failed');
            answer = { ok: false, code: isRwError(e) ? e.code : 'AGENT_ERR_JOB', message: (e as Error).message };
          }
        }
        reply(answer);
      }
      busy = false;
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) !== -1) {
        const line = buf.subarray(0, nl).toString('utf8').trim();
        buf = buf.subarray(nl + 1);
        if (line) lines.push(line);
      }
      if (buf.length > lim.maxRequestBytes) {
        reply({ ok: false, code: 'AGENT_ERR_REQUEST', message: `request exceeds ${lim.maxRequestBytes} bytes` });
        sock.end();
        sock.pause();
        buf = Buffer.alloc(0);
        return;
      }
      void pump();
    });
    sock.on('error', () => { /* the peer went away; nothing to answer */ });
    sock.on('close', () => sockets.delete(sock));
  }

  const server: Server = createServer(serve);
  server.maxConnections = lim.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.path, () => { server.off('error', reject); resolve(); });
  });
  try {
    chmodSync(o.path, 0o660);
    if (o.group) chownSync(o.path, process.getuid?.() ?? 0, groupId(o.group));
  } catch (e) {
    server.close();
    throw isRwError(e) ? e : new RwError('AGENT_ERR_JOB', `cannot set owner/mode of ${o.path}: ${(e as Error).message}`, { cause: e });
  }
  log.info({ path: o.path, group: o.group || undefined }, 'job socket listening');

  let stopped: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  const stopAccepting = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // server.close waits for open connections; idle ones must not hold shutdown.
      setTimeout(resolve, 2000).unref();
    });
    return stopped;
  };
  return {
    path: o.path,
    stats: () => ({ ...st }),
    stopAccepting,
    close() {
      closed ??= (async () => {
        const s = stopAccepting();
        for (const sock of sockets) sock.destroy();
        await s;
        try { unlinkSync(o.path); } catch { /* already gone */ }
      })();
      return closed;
    },
  };
}

/** Client side: one request, one answer (used by `runwarden job` and `runwarden agent status`). */
export function callJobSocket(path: string, req: Request, timeoutMillis: number = JOB_SOCKET_LIMITS.clientTimeoutMillis): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new RwError('AGENT_ERR_JOB', `no answer from the agent on ${path} within ${timeoutMillis} ms`));
    }, timeoutMillis);
    c.setEncoding('utf8');
    c.once('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      c.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Answer);
      } catch (e) {
        reject(new RwError('AGENT_ERR_JOB', 'the agent answered something that is not JSON', { cause: e }));
      }
    });
    c.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new RwError('AGENT_ERR_JOB', `agent not reachable on ${path}: ${e.code ?? e.message}`, { cause: e }));
    });
    c.once('close', () => {
      clearTimeout(timer);
      reject(new RwError('AGENT_ERR_JOB', `the agent closed the connection on ${path} without answering`));
    });
  });
}
