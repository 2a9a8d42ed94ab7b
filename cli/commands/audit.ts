// `runwarden audit query|verify`: reads the audit store (a DB file, or a collector's HTTP API) and checks its chain.
import { buildJobTree, renderTree } from '../../collector/job-tree.js';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RwError } from '../../proto/errors.js';
import { PUBLIC_KEY_FILE } from '../../collector/checkpoint.js';
import { eventDetail, eventView } from '../../collector/event-view.js';
import type { EventView } from '../../collector/event-view.js';
import { eventFilterToParams, parseKinds } from '../../collector/http-api.js';
import { openStoreReadOnly } from '../../collector/store.js';
import type { EventFilter } from '../../collector/store-types.js';
import { verifyStore } from '../../collector/verify.js';
import { parseArgs, parseTimeArg, str } from '../args.js';
import type { Parsed } from '../args.js';
import type { CliIo } from '../io.js';
import { formatObject, formatRecords, parseFormat } from '../output.js';
import type { Column } from '../output.js';

export const DEFAULT_DB = '.runwarden/audit.db';
export const QUERY_LIMITS = Object.freeze({ defaultLimit: 1000, maxLimit: 100_000, httpTimeoutMillis: 30_000 });

export type Source = { type: 'db'; path: string } | { type: 'url'; url: string; token: string };

/** --db FILE or --url URL (+ --token T or RUNWARDEN_API_TOKEN); neither means ./.runwarden/audit.db. */
export function resolveSource(p: Parsed, io: CliIo): Source {
  const db = str(p, 'db');
  const url = str(p, 'url');
  if (db !== undefined && url !== undefined) throw new RwError('CLI_ERR_USAGE', 'give --db or --url, not both');
  if (url !== undefined) {
    if (!/^https?:\/\//.test(url)) throw new RwError('CLI_ERR_USAGE', `--url must be http(s)://…, got ${url}`);
    const token = str(p, 'token') ?? io.env.RUNWARDEN_API_TOKEN;
    if (!token) throw new RwError('CLI_ERR_USAGE', '--url needs --token T (or RUNWARDEN_API_TOKEN)');
    return { type: 'url', url: url.replace(/\/+$/, ''), token };
  }
  if (str(p, 'token') !== undefined) throw new RwError('CLI_ERR_USAGE', '--token is only for --url');
  return { type: 'db', path: existingDb(io, db) };
}

function existingDb(io: CliIo, db: string | undefined): string {
  const path = resolve(io.cwd, db ?? DEFAULT_DB);
  if (!existsSync(path)) throw new RwError('CLI_ERR_USAGE', `no audit database at ${path}${db === undefined ? ' (give --db FILE or --url URL)' : ''}`);
  return path;
}

export function parseLimit(p: Parsed): number {
  const v = str(p, 'limit');
  if (v === undefined) return QUERY_LIMITS.defaultLimit;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > QUERY_LIMITS.maxLimit) {
    throw new RwError('CLI_ERR_USAGE', `--limit must be an integer from 1 to ${QUERY_LIMITS.maxLimit}, got ${v}`);
  }
  return Number(v);
}

export function parseTimeNs(p: Parsed, name: string, nowMs: number): number | undefined {
  const v = str(p, name);
  return v === undefined ? undefined : parseTimeArg(v, nowMs) * 1e6;
}

/** GET a collector API path; HTTP failures become typed errors the dispatcher maps to exit codes. */
export async function fetchApi(src: Extract<Source, { type: 'url' }>, path: string, params: URLSearchParams): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${src.url}${path}?${params.toString()}`, {
      headers: { authorization: `Bearer ${src.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(QUERY_LIMITS.httpTimeoutMillis),
    });
  } catch (e) {
    throw new RwError('AGENT_ERR_UPLINK', `cannot reach ${src.url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const text = await res.text();
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = { error: text.slice(0, 200) }; }
  const msg = (body as { error?: string }).error ?? `HTTP ${res.status}`;
  if (res.status === 401) throw new RwError('COLLECTOR_ERR_AUTH', `collector refused the API token: ${msg}`);
  if (res.status === 400) throw new RwError('CLI_ERR_USAGE', `collector rejected the query: ${msg}`);
  if (!res.ok) throw new RwError('COLLECTOR_ERR_STORE', `collector answered ${res.status}: ${msg}`);
  return body;
}

const EVENT_COLUMNS: readonly Column<EventView>[] = [
  { header: 'ID', get: (v) => v.id },
  { header: 'TIME', get: (v) => v.ts },
  { header: 'KIND', get: (v) => v.kind },
  { header: 'JOB', get: (v) => v.jobId, maxWidth: 24 },
  { header: 'PID', get: (v) => v.pid },
  { header: 'PPID', get: (v) => v.ppid },
  { header: 'COMM', get: (v) => v.comm, maxWidth: 16 },
  { header: 'DETAIL', get: eventDetail, maxWidth: 100 },
];

const QUERY_FLAGS = { db: 'string', url: 'string', token: 'string', job: 'string', kind: 'list', pid: 'string', agent: 'string', since: 'string', until: 'string', limit: 'string', format: 'string' } as const;

async function query(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, QUERY_FLAGS);
  if (p.positional.length > 0) throw new RwError('CLI_ERR_USAGE', `unexpected argument ${p.positional[0]}`);
  const format = parseFormat(str(p, 'format'));
  const src = resolveSource(p, io);
  const now = Date.now();
  const filter: EventFilter = { limit: parseLimit(p) };
  const job = str(p, 'job');
  if (job !== undefined) filter.jobId = job;
  const agent = str(p, 'agent');
  if (agent !== undefined) filter.agentId = agent;
  const kinds = p.flags.kind as string[] | undefined;
  if (kinds) filter.kinds = parseKinds(kinds);
  const pid = str(p, 'pid');
  if (pid !== undefined) {
    if (!/^\d+$/.test(pid)) throw new RwError('CLI_ERR_USAGE', `--pid must be a process id, got ${pid}`);
    filter.pid = Number(pid);
  }
  const since = parseTimeNs(p, 'since', now);
  if (since !== undefined) filter.sinceNs = since;
  const until = parseTimeNs(p, 'until', now);
  if (until !== undefined) filter.untilNs = until;

  let views: EventView[];
  if (src.type === 'url') {
    views = ((await fetchApi(src, '/api/events', eventFilterToParams(filter))) as { events?: EventView[] }).events ?? [];
  } else {
    const store = openStoreReadOnly(src.path);
    try { views = store.queryEvents(filter).map(eventView); } finally { store.close(); }
  }
  io.out(formatRecords(views, format, EVENT_COLUMNS));
  return 0;
}

/** `audit tree JOB [--db F] [--format table|json]`: the job's process tree with what each process did. */
async function tree(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { db: 'string', format: 'string' });
  const [jobId, extra] = p.positional;
  if (jobId === undefined || extra !== undefined) throw new RwError('CLI_ERR_USAGE', 'usage: runwarden audit tree JOB_ID [--db FILE] [--format table|json]');
  const format = parseFormat(str(p, 'format'));
  const store = openStoreReadOnly(existingDb(io, str(p, 'db')));
  try {
    const events = store.queryEvents({ jobId, limit: QUERY_LIMITS.maxLimit });
    if (events.length === 0) throw new RwError('CLI_ERR_USAGE', `no events for job ${jobId}`);
    const start = events.find((e) => e.event.kind === 'jobStart');
    const rootPid = start?.event.kind === 'jobStart' ? start.event.jobStart.rootPid : undefined;
    const roots = buildJobTree(events, store.queryFindings({ jobId }), rootPid);
    io.out(format === 'table' ? renderTree(roots) : JSON.stringify(roots, null, format === 'json' ? 2 : undefined) + '\n');
  } finally {
    store.close();
  }
  return 0;
}

async function verify(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { db: 'string', 'public-key': 'string', format: 'string' });
  if (p.positional.length > 0) throw new RwError('CLI_ERR_USAGE', `unexpected argument ${p.positional[0]}`);
  const format = parseFormat(str(p, 'format'));
  const db = existingDb(io, str(p, 'db'));
  let key = str(p, 'public-key');
  // The collector keeps its key pair next to the DB by default; an auditor should pass a copy kept elsewhere.
  if (key === undefined && existsSync(join(dirname(db), PUBLIC_KEY_FILE))) key = join(dirname(db), PUBLIC_KEY_FILE);
  const r = verifyStore(db, key === undefined ? {} : { publicKeyPath: resolve(io.cwd, key) });
  if (r.ok) {
    const keyNote = r.keyPinned ? `against ${key}` : 'against the key stored in the database (pass --public-key to pin it)';
    const unsealed = r.unsealed.events + r.unsealed.findings;
    const text = `audit trail intact: ${r.rows.events} events, ${r.rows.findings} findings, ${r.checkpoints} checkpoints; signatures checked ${keyNote}`
      + (unsealed > 0 ? `; ${r.unsealed.events} events and ${r.unsealed.findings} findings after the last checkpoint are not yet signed` : '');
    io.out(formatObject(r, format, text));
    return 0;
  }
  io.out(formatObject(r, format, `audit trail BROKEN: table ${r.table}, row ${r.rowId}: ${r.reason}`));
  return 1;
}

export async function main(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'query': return query(rest, io);
    case 'verify': return verify(rest, io);
    case 'tree': return tree(rest, io);
    default: throw new RwError('CLI_ERR_USAGE', `audit needs a subcommand: query, tree or verify${sub === undefined ? '' : `, got ${sub}`}`);
  }
}
