// The collector's read-only HTTP API: GET /api/events and /api/findings with bearer tokens checked against sha256
// hashes. Also the query-string form of the filters, which the CLI's --url mode sends.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { SEVERITIES } from '../cli/config.js';
import type { Severity } from '../cli/config.js';
import { RwError, isRwError } from '../proto/errors.js';
import { kindFromName, kindName } from '../proto/types.js';
import type { EventKind } from '../proto/types.js';
import { eventView, findingView } from './event-view.js';
import type { EventFilter, FindingFilter, Store } from './store-types.js';

export const API_LIMITS = Object.freeze({ defaultLimit: 1000, maxLimit: 10_000, maxUrlBytes: 8192 });

const bad = (msg: string): RwError => new RwError('CLI_ERR_USAGE', msg);

function intParam(p: URLSearchParams, name: string, min: number): number | undefined {
  const v = p.get(name);
  if (v === null) return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw bad(`${name} must be an integer ≥ ${min}, got ${v}`);
  return Number(v);
}

/** since/until: integer nanoseconds since the epoch, or an ISO 8601 time. */
function timeParam(p: URLSearchParams, name: string): number | undefined {
  const v = p.get(name);
  if (v === null) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw bad(`${name} must be nanoseconds or an ISO time, got ${v}`);
  return ms * 1e6;
}

export function parseKinds(list: readonly string[]): EventKind[] {
  const out: EventKind[] = [];
  for (const name of list.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)) {
    const k = kindFromName(name);
    if (!k) throw bad(`unknown kind ${name}`);
    out.push(k);
  }
  return out;
}

export function eventFilterFromParams(p: URLSearchParams): EventFilter {
  const f: EventFilter = { limit: Math.min(intParam(p, 'limit', 1) ?? API_LIMITS.defaultLimit, API_LIMITS.maxLimit) };
  const job = p.get('job');
  if (job !== null) f.jobId = job;
  const agent = p.get('agent');
  if (agent !== null) f.agentId = agent;
  if (p.getAll('kind').length > 0) f.kinds = parseKinds(p.getAll('kind'));
  const pid = intParam(p, 'pid', 0);
  if (pid !== undefined) f.pid = pid;
  const since = timeParam(p, 'since');
  if (since !== undefined) f.sinceNs = since;
  const until = timeParam(p, 'until');
  if (until !== undefined) f.untilNs = until;
  const after = intParam(p, 'after', 0);
  if (after !== undefined) f.afterId = after;
  return f;
}

export function eventFilterToParams(f: EventFilter): URLSearchParams {
  const p = new URLSearchParams();
  if (f.jobId !== undefined) p.set('job', f.jobId);
  if (f.agentId !== undefined) p.set('agent', f.agentId);
  if (f.kinds && f.kinds.length > 0) p.set('kind', f.kinds.map(kindName).join(','));
  if (f.pid !== undefined) p.set('pid', String(f.pid));
  if (f.sinceNs !== undefined) p.set('since', BigInt(Math.round(f.sinceNs)).toString());
  if (f.untilNs !== undefined) p.set('until', BigInt(Math.round(f.untilNs)).toString());
  if (f.afterId !== undefined) p.set('after', String(f.afterId));
  if (f.limit !== undefined) p.set('limit', String(f.limit));
  return p;
}

export function findingFilterFromParams(p: URLSearchParams): FindingFilter {
  const f: FindingFilter = { limit: Math.min(intParam(p, 'limit', 1) ?? API_LIMITS.defaultLimit, API_LIMITS.maxLimit) };
  const job = p.get('job');
  if (job !== null) f.jobId = job;
  const sev = p.get('severity');
  if (sev !== null) {
    if (!SEVERITIES.includes(sev as Severity)) throw bad(`severity must be one of ${SEVERITIES.join(', ')}, got ${sev}`);
    f.minSeverity = sev;
  }
  const since = timeParam(p, 'since');
  if (since !== undefined) f.sinceNs = since;
  return f;
}

export function findingFilterToParams(f: FindingFilter): URLSearchParams {
  const p = new URLSearchParams();
  if (f.jobId !== undefined) p.set('job', f.jobId);
  if (f.minSeverity !== undefined) p.set('severity', f.minSeverity);
  if (f.sinceNs !== undefined) p.set('since', BigInt(Math.round(f.sinceNs)).toString());
  if (f.limit !== undefined) p.set('limit', String(f.limit));
  return p;
}

function tokenMatches(header: string | undefined, hashes: readonly Buffer[]): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  if (!m) return false;
  const got = createHash('sha256').update(m[1] as string).digest();
  let ok = false;
  // Compare against every hash, not stopping at the first match, so timing does not tell which one matched.
  for (const h of hashes) if (timingSafeEqual(got, h)) ok = true;
  return ok;
}

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

export interface ApiOptions { store: Store; apiTokenSha256: readonly string[]; logger?: Logger }

/** Returns a request handler; it answers and returns true for paths under /api/, and returns false otherwise. */
export function createApiHandler(opts: ApiOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const hashes = opts.apiTokenSha256.map((h) => {
    if (!/^[0-9a-f]{64}$/i.test(h)) throw new RwError('CONFIG_ERR_INVALID', 'api token hashes must be 64 hex characters (sha256)');
    return Buffer.from(h, 'hex');
  });
  const log = opts.logger;
  return (req, res) => {
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl.length > API_LIMITS.maxUrlBytes ? '/api/too-long' : rawUrl, 'http://api.invalid');
    if (url.pathname !== '/api' && !url.pathname.startsWith('/api/')) return false;
    if (rawUrl.length > API_LIMITS.maxUrlBytes) { send(res, 414, { error: 'request URL too long' }); return true; }
    if (!tokenMatches(req.headers.authorization, hashes)) {
      log?.warn({ path: url.pathname, remote: req.socket.remoteAddress }, 'api request with missing or wrong token');
      send(res, 401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') { send(res, 405, { error: 'read-only API: GET only' }, { allow: 'GET, HEAD' }); return true; }
    try {
      switch (url.pathname) {
        case '/api/events': {
          const events = opts.store.queryEvents(eventFilterFromParams(url.searchParams)).map(eventView);
          send(res, 200, { events });
          return true;
        }
        case '/api/findings': {
          const findings = opts.store.queryFindings(findingFilterFromParams(url.searchParams)).map(findingView);
          send(res, 200, { findings });
          return true;
        }
        default:
          send(res, 404, { error: `no such endpoint ${url.pathname}` });
          return true;
      }
    } catch (e) {
      if (isRwError(e, 'CLI_ERR_USAGE')) { send(res, 400, { error: e.message }); return true; }
      log?.error({ err: e, path: url.pathname }, 'api query failed');
      send(res, 500, { error: 'query failed' });
      return true;
    }
  };
}
