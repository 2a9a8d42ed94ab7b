// Parses and validates the configuration (YAML or JSON text + env), once; the result is frozen.
// Pure: the caller reads the file and passes the environment. Precedence: flag > env > file > default.
import { parse as parseYaml } from 'yaml';

export interface TokenEntry { agentId: string; sha256: string }
export interface AlertSinkConfig {
  type: 'stdout' | 'webhook' | 'slack' | 'file';
  url?: string;
  path?: string;
  secret?: string;
  minSeverity: Severity;
  maxPerMinute: number;
}
export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];

export interface Config {
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent' };
  network: { trusted: string[]; allow: string[] };
  secrets: { names: string[]; patterns: string[] };
  rules: { paths: string[] };
  agent: {
    id: string;                 // empty: generated once and kept in stateDir
    stateDir: string;
    socketPath: string;
    socketGroup: string;        // group allowed to use the job socket (name or gid); '' = the agent's
    sensor: 'auto' | 'ebpf' | 'ptrace' | 'procfs';
    kernelProgram: 'auto' | 'libbpf' | 'bpftrace'; // the eBPF sensor's kernel program; auto: libbpf when built, else bpftrace
    collectorUrl: string;
    token: string;
    tlsCa: string;
    sensitivePaths: string[];
    spoolMaxBytes: number;
    batchMaxEvents: number;
    batchMaxAgeMillis: number;
    heartbeatIntervalMillis: number;
    flushDeadlineMillis: number;
    reconnectMinMillis: number;
    reconnectMaxMillis: number;
  };
  collector: {
    host: string;
    port: number;
    db: string;
    stateDir: string;
    tlsCert: string;
    tlsKey: string;
    tlsCa: string;
    requireClientCert: boolean;
    tokens: TokenEntry[];       // sha256 hex of each agent token, never the token
    apiTokens: string[];        // sha256 hex of read-API tokens
    maxFrameBytes: number;
    maxBatchEvents: number;
    checkpointIntervalMillis: number;
    pingIntervalMillis: number;
    alerts: AlertSinkConfig[];
  };
}

export const DEFAULTS: Config = Object.freeze({
  log: { level: 'info' },
  network: { trusted: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '127.0.0.0/8', '::1/128', 'fc00::/7'], allow: [] },
  secrets: { names: [], patterns: [] },
  rules: { paths: [] },
  agent: {
    id: '',
    stateDir: '/var/lib/runwarden/agent',
    socketPath: '/run/runwarden/agent.sock',
    socketGroup: '',
    sensor: 'auto',
    kernelProgram: 'auto',
    collectorUrl: '',
    token: '',
    tlsCa: '',
    sensitivePaths: [],
    spoolMaxBytes: 256 * 1024 * 1024,
    batchMaxEvents: 512,
    batchMaxAgeMillis: 200,
    heartbeatIntervalMillis: 10_000,
    flushDeadlineMillis: 5_000,
    reconnectMinMillis: 100,
    reconnectMaxMillis: 10_000,
  },
  collector: {
    host: '127.0.0.1',
    port: 7443,
    db: '/var/lib/runwarden/collector/audit.db',
    stateDir: '/var/lib/runwarden/collector',
    tlsCert: '',
    tlsKey: '',
    tlsCa: '',
    requireClientCert: false,
    tokens: [],
    apiTokens: [],
    maxFrameBytes: 4 * 1024 * 1024,
    maxBatchEvents: 4096,
    checkpointIntervalMillis: 60_000,
    pingIntervalMillis: 15_000,
    alerts: [],
  },
}) as Config;

export interface ConfigProblem { key: string; value: unknown; message: string }
export type ConfigResult = { ok: true; config: Readonly<Config> } | { ok: false; problems: ConfigProblem[] };

type Kind = 'string' | 'number' | 'port' | 'bool' | 'strings' | 'enum' | 'cidrs' | 'tokens' | 'alerts';
interface Spec { kind: Kind; values?: readonly string[] }

const SPEC: Record<string, Record<string, Spec>> = {
  log: { level: { kind: 'enum', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] } },
  network: { trusted: { kind: 'cidrs' }, allow: { kind: 'strings' } },
  secrets: { names: { kind: 'strings' }, patterns: { kind: 'strings' } },
  rules: { paths: { kind: 'strings' } },
  agent: {
    id: { kind: 'string' }, stateDir: { kind: 'string' }, socketPath: { kind: 'string' }, socketGroup: { kind: 'string' },
    sensor: { kind: 'enum', values: ['auto', 'ebpf', 'ptrace', 'procfs'] },
    kernelProgram: { kind: 'enum', values: ['auto', 'libbpf', 'bpftrace'] },
    collectorUrl: { kind: 'string' }, token: { kind: 'string' }, tlsCa: { kind: 'string' },
    sensitivePaths: { kind: 'strings' }, spoolMaxBytes: { kind: 'number' }, batchMaxEvents: { kind: 'number' },
    batchMaxAgeMillis: { kind: 'number' }, heartbeatIntervalMillis: { kind: 'number' },
    flushDeadlineMillis: { kind: 'number' }, reconnectMinMillis: { kind: 'number' }, reconnectMaxMillis: { kind: 'number' },
  },
  collector: {
    host: { kind: 'string' }, port: { kind: 'port' }, db: { kind: 'string' }, stateDir: { kind: 'string' },
    tlsCert: { kind: 'string' }, tlsKey: { kind: 'string' }, tlsCa: { kind: 'string' },
    requireClientCert: { kind: 'bool' }, tokens: { kind: 'tokens' }, apiTokens: { kind: 'strings' },
    maxFrameBytes: { kind: 'number' }, maxBatchEvents: { kind: 'number' },
    checkpointIntervalMillis: { kind: 'number' }, pingIntervalMillis: { kind: 'number' }, alerts: { kind: 'alerts' },
  },
};

/** Environment overrides: RUNWARDEN_<SECTION>_<KEY> in upper snake case, e.g. RUNWARDEN_COLLECTOR_PORT. */
export function envName(section: string, key: string): string {
  return `RUNWARDEN_${section.toUpperCase()}_${key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()}`;
}

export function parseConfigText(text: string, file: string): { ok: true; raw: unknown } | { ok: false; problems: ConfigProblem[] } {
  try {
    return { ok: true, raw: text.trim() === '' ? {} : parseYaml(text) };
  } catch (e) {
    return { ok: false, problems: [{ key: file, value: undefined, message: `not valid YAML/JSON: ${(e as Error).message}` }] };
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

function cidrOk(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const bits = Number(m[2]);
  const ip = m[1] ?? '';
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) return bits <= 32 && ip.split('.').every((o) => Number(o) <= 255);
  return ip.includes(':') && bits <= 128;
}

function coerceEnv(spec: Spec, v: string): unknown {
  switch (spec.kind) {
    case 'number': case 'port': return /^\d+$/.test(v) ? Number(v) : v;
    case 'bool': return v === 'true' ? true : v === 'false' ? false : v;
    case 'strings': case 'cidrs': return v === '' ? [] : v.split(',').map((s) => s.trim());
    default: return v;
  }
}

function check(spec: Spec, key: string, v: unknown, problems: ConfigProblem[]): unknown {
  const bad = (message: string): undefined => { problems.push({ key, value: v, message }); return undefined; };
  switch (spec.kind) {
    case 'string': return typeof v === 'string' ? v : bad('must be a string');
    case 'bool': return typeof v === 'boolean' ? v : bad('must be true or false');
    case 'number': return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad('must be a non-negative number');
    case 'port': return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535 ? v : bad('must be a port number 0-65535');
    case 'enum': return typeof v === 'string' && spec.values?.includes(v) ? v : bad(`must be one of ${spec.values?.join(', ')}`);
    case 'strings': return Array.isArray(v) && v.every((s) => typeof s === 'string') ? [...v] : bad('must be a list of strings');
    case 'cidrs': {
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return bad('must be a list of CIDRs');
      const wrong = v.filter((s) => !cidrOk(s));
      return wrong.length ? bad(`not a CIDR: ${wrong.join(', ')}`) : [...v];
    }
    case 'tokens': {
      if (!Array.isArray(v)) return bad('must be a list of {agentId, sha256}');
      const out: TokenEntry[] = [];
      for (const t of v) {
        const o = t as Record<string, unknown>;
        if (typeof o !== 'object' || o === null || typeof o.agentId !== 'string' || typeof o.sha256 !== 'string' || !HEX64.test(o.sha256)) {
          return bad('each token needs agentId (string; "*" for any) and sha256 (64 hex chars)');
        }
        out.push({ agentId: o.agentId, sha256: o.sha256 });
      }
      return out;
    }
    case 'alerts': {
      if (!Array.isArray(v)) return bad('must be a list of sinks');
      const out: AlertSinkConfig[] = [];
      for (const [i, s] of v.entries()) {
        const o = s as Record<string, unknown>;
        const k = `${key}[${i}]`;
        const types = ['stdout', 'webhook', 'slack', 'file'];
        if (typeof o !== 'object' || o === null || !types.includes(String(o.type))) {
          problems.push({ key: `${k}.type`, value: o?.type, message: `must be one of ${types.join(', ')}` });
          continue;
        }
        const unknown = Object.keys(o).filter((x) => !['type', 'url', 'path', 'secret', 'minSeverity', 'maxPerMinute'].includes(x));
        for (const u of unknown) problems.push({ key: `${k}.${u}`, value: o[u], message: 'unknown key' });
        if ((o.type === 'webhook' || o.type === 'slack') && (typeof o.url !== 'string' || !/^https?:\/\//.test(o.url))) {
          problems.push({ key: `${k}.url`, value: o.url, message: 'must be an http(s) URL' });
        }
        if (o.type === 'file' && typeof o.path !== 'string') problems.push({ key: `${k}.path`, value: o.path, message: 'must be a file path' });
        const sev = o.minSeverity ?? 'medium';
        if (!SEVERITIES.includes(sev as Severity)) problems.push({ key: `${k}.minSeverity`, value: sev, message: `must be one of ${SEVERITIES.join(', ')}` });
        out.push({
          type: o.type as AlertSinkConfig['type'], minSeverity: sev as Severity,
          maxPerMinute: typeof o.maxPerMinute === 'number' ? o.maxPerMinute : 60,
          ...(typeof o.url === 'string' ? { url: o.url } : {}),
          ...(typeof o.path === 'string' ? { path: o.path } : {}),
          ...(typeof o.secret === 'string' ? { secret: o.secret } : {}),
        });
      }
      return out;
    }
  }
}

/**
 * Merge defaults, file contents and environment overrides (then `flags`, already in file shape),
 * validating everything and reporting every problem at once.
 */
export function parseConfig(raw: unknown, env: Readonly<Record<string, string | undefined>>, flags: Record<string, Record<string, unknown>> = {}): ConfigResult {
  const problems: ConfigProblem[] = [];
  const out = structuredClone(DEFAULTS) as unknown as Record<string, Record<string, unknown>>;
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    return { ok: false, problems: [{ key: '(root)', value: raw, message: 'configuration must be a mapping' }] };
  }
  const file = (raw ?? {}) as Record<string, unknown>;
  for (const [section, body] of Object.entries(file)) {
    const spec = SPEC[section];
    if (!spec) { problems.push({ key: section, value: body, message: 'unknown key' }); continue; }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      problems.push({ key: section, value: body, message: 'must be a mapping' });
      continue;
    }
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      const s = spec[key];
      if (!s) { problems.push({ key: `${section}.${key}`, value, message: 'unknown key' }); continue; }
      const v = check(s, `${section}.${key}`, value, problems);
      if (v !== undefined) (out[section] as Record<string, unknown>)[key] = v;
    }
  }
  for (const [section, spec] of Object.entries(SPEC)) {
    for (const [key, s] of Object.entries(spec)) {
      const name = envName(section, key);
      const ev = env[name];
      if (ev === undefined || s.kind === 'tokens' || s.kind === 'alerts') continue;
      const v = check(s, name, coerceEnv(s, ev), problems);
      if (v !== undefined) (out[section] as Record<string, unknown>)[key] = v;
    }
  }
  for (const [section, body] of Object.entries(flags)) {
    for (const [key, value] of Object.entries(body)) {
      const s = SPEC[section]?.[key];
      if (!s) { problems.push({ key: `--${section}.${key}`, value, message: 'unknown key' }); continue; }
      const v = check(s, `${section}.${key}`, value, problems);
      if (v !== undefined) (out[section] as Record<string, unknown>)[key] = v;
    }
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, config: deepFreeze(out as unknown as Config) };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `config: ${p.key}: ${p.message} (got ${JSON.stringify(p.value)})`).join('\n');
}
