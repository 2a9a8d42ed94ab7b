// The JSON shape of a stored event and finding for people and scripts (CLI output, HTTP API). Pure.
import { kindName } from '../proto/types.js';
import type { StoredEvent, StoredFinding } from './store-types.js';

export interface EventView {
  id: number;
  seq: number;
  ts: string;            // ISO 8601, millisecond precision; tsNs keeps the exact value
  tsNs: number;
  kind: string;          // snake case, as in --kind and the DB
  agentId: string;
  bootId: string;
  host?: string;
  jobId?: string;
  pid?: number;
  ppid?: number;
  uid?: number;
  comm?: string;
  exe?: string;
  secretNames?: string[];
  argv?: string[];
  cwd?: string;
  dst?: string;
  port?: number;
  domain?: string;
  name?: string;
  answers?: string[];
  path?: string;
  op?: string;
  targetPid?: number;
  secretName?: string;
  channel?: string;
  body: Record<string, unknown>;
}

export interface FindingView {
  id: number;
  ts: string;
  tsNs: number;
  ruleId: string;
  severity: string;
  title: string;
  tags: string[];
  jobId: string;
  agentId: string;
  explanation: string;
  evidence: StoredFinding['evidence'];
}

export function isoFromNs(tsNs: number): string {
  const d = new Date(Math.floor(tsNs / 1e6));
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

const put = <K extends keyof EventView>(v: EventView, k: K, x: EventView[K] | undefined): void => {
  if (x !== undefined && x !== null && x !== '') v[k] = x;
};

export function eventView(s: StoredEvent): EventView {
  const e = s.event;
  const body = ((e as unknown as Record<string, unknown>)[e.kind] ?? {}) as Record<string, unknown>;
  const v = { id: s.id, seq: e.seq, ts: isoFromNs(e.tsNs), tsNs: e.tsNs, kind: kindName(e.kind), agentId: e.agentId, bootId: e.bootId } as EventView;
  put(v, 'host', e.host);
  put(v, 'jobId', e.jobId);
  put(v, 'pid', e.pid);
  put(v, 'ppid', e.ppid);
  put(v, 'uid', e.uid);
  put(v, 'comm', e.comm);
  put(v, 'exe', e.exe);
  put(v, 'secretNames', e.secretNames);
  switch (e.kind) {
    case 'exec': put(v, 'argv', e.exec.argv); put(v, 'cwd', e.exec.cwd); break;
    case 'net': put(v, 'dst', e.net.dstIp); put(v, 'port', e.net.dstPort); put(v, 'domain', e.net.domain); break;
    case 'dns': put(v, 'name', e.dns.name); put(v, 'answers', e.dns.answers); break;
    case 'file': put(v, 'path', e.file.path); put(v, 'op', e.file.op); break;
    case 'read': put(v, 'path', e.read.path); put(v, 'targetPid', e.read.targetPid); break;
    case 'access': put(v, 'op', e.access.kind); put(v, 'targetPid', e.access.targetPid); break;
    case 'secret': put(v, 'secretName', e.secret.secretName); put(v, 'channel', e.secret.channel); break;
    default: break;
  }
  v.body = body; // last, so the flat fields lead in JSON output
  return v;
}

/** One line a human reads in the table's detail column. */
export function eventDetail(v: EventView): string {
  switch (v.kind) {
    case 'exec': return (v.argv ?? []).join(' ');
    case 'net': return `${v.dst ?? '?'}:${v.port ?? '?'}${v.domain ? ` (${v.domain})` : ''}`;
    case 'dns': return `${v.name ?? '?'}${v.answers ? ` → ${v.answers.join(', ')}` : ''}`;
    case 'file': return `${v.op ?? ''} ${v.path ?? ''}`.trim();
    case 'read': return v.path ?? '';
    case 'access': return `${v.op ?? ''} pid ${v.targetPid ?? '?'}`;
    case 'secret': return `${v.secretName ?? '?'} via ${v.channel ?? '?'}`;
    default: return JSON.stringify(v.body);
  }
}

export function findingView(f: StoredFinding): FindingView {
  return {
    id: f.id, ts: isoFromNs(f.tsNs), tsNs: f.tsNs, ruleId: f.ruleId, severity: f.severity, title: f.title, tags: f.tags,
    jobId: f.jobId, agentId: f.agentId, explanation: f.explanation, evidence: f.evidence,
  };
}
