// The streaming rule engine: per-job state, rule and sequence evaluation, dedupe per (job, rule, key), findings.
// Pure: no clock (event timestamps only), no I/O; the baseline store is passed in.
import type { Severity } from '../../cli/config.js';

import type { RwEvent } from '../../proto/types.js';
import { kindName } from '../../proto/types.js';
import type { Finding, FindingEvidence } from '../finding.js';
import type { BaselineKey, Baselines } from '../baseline.js';
import { isTrustedRun } from '../baseline.js';
import type { CompiledExpr } from './cel.js';
import type { CompiledRule } from './loader.js';
import type { Counters, JobState, ProcState, StateLimits } from './context.js';
import { DEFAULT_LIMITS, ancestorsOf, applyAfter, applyBefore, boundedSet, buildContext, derive, newJobState, procFor } from './context.js';
import type { Partial as SeqPartial, SeqPoint } from './sequence.js';
import { advance } from './sequence.js';
import { maskSecretLike } from './redact.js';

export interface EngineOptions {
  rules: readonly CompiledRule[];
  trustedCidrs: readonly string[];
  allowList: readonly string[];
  baselines?: Baselines | undefined;
  limits?: { [K in keyof StateLimits]?: StateLimits[K] } | undefined;
  /** Refs whose push runs may teach baselines; default main/master and tags. */
  protectedRefs?: readonly string[] | undefined;
}
type PartialLimits = { [K in keyof StateLimits]?: StateLimits[K] };

export interface EngineStats {
  events: number;
  findings: number;
  suppressedDuplicates: number;
  evalErrors: number;
  lastEvalError: string | undefined;
  jobs: number;
  jobsEvicted: number;
  procsEvicted: number;
  filesEvicted: number;
  dnsEvicted: number;
  dedupeEvicted: number;
  partialsEvicted: number;
  baselinesLearned: number;
}

export interface Engine {
  process(ev: RwEvent, eventId?: number): Finding[];
  endJob(jobId: string): Finding[];
  stats(): EngineStats;
}

const RANK: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
export function severityRank(s: Severity): number { return RANK[s]; }

export function summarizeEvent(ev: RwEvent): string {
  const s = ((): string => {
    switch (ev.kind) {
      case 'exec': return `exec ${(ev.exec.argv ?? [ev.comm ?? '']).join(' ')}${ev.exec.stdin ? ` (stdin: ${ev.exec.stdin})` : ''}`;
      case 'fork': return `fork ${ev.comm ?? ''} → ${ev.fork.childPid ?? 0}`;
      case 'exit': return `exit ${ev.comm ?? ''} code ${ev.exit.code ?? 0}`;
      case 'net': return `connect ${ev.net.dstIp ?? ''}:${ev.net.dstPort ?? 0}${ev.net.domain ? ` (${ev.net.domain})` : ''} by ${ev.comm ?? ''}`;
      case 'dns': return `dns ${ev.dns.name ?? ''} by ${ev.comm ?? ''}`;
      case 'file': return `${(ev.file.op ?? 'write').toLowerCase()} ${ev.file.path ?? ''}${ev.file.newPath ? ` → ${ev.file.newPath}` : ''} [${ev.file.newPathClass || ev.file.pathClass || '?'}] by ${ev.comm ?? ''}`;
      case 'read': return `read ${ev.read.path ?? ''} [${ev.read.pathClass ?? '?'}] by ${ev.comm ?? ''}${ev.read.targetComm ? ` (target ${ev.read.targetComm})` : ''}`;
      case 'access': return `${ev.access.kind ?? 'access'} ${ev.comm ?? ''} → pid ${ev.access.targetPid ?? 0} ${ev.access.targetComm ?? ''}`;
      case 'secret': return `secret ${ev.secret.secretName ?? ''} in ${ev.secret.channel ?? ''} (${ev.secret.encoding ?? 'plain'}) ${ev.secret.location ?? ''}`;
      case 'jobStart': return `job start ${ev.jobStart.repo ?? ''} ${ev.jobStart.workflow ?? ''} (${ev.jobStart.trigger ?? ''})`;
      case 'jobEnd': return `job end exit ${ev.jobEnd.exitCode ?? 0}, ${(ev.jobEnd.survivors ?? []).length} survivor(s)`;
      default: return kindName(ev.kind);
    }
  })();
  const m = maskSecretLike(s);
  return m.length > 240 ? m.slice(0, 237) + '…' : m;
}

/**
 * Evidence for an event; its summary (string building and secret masking) is made only if a finding uses it.
 * Built field by field: an object literal mixing spreads and an accessor was the engine's costliest line.
 */
function evidenceOf(ev: RwEvent, eventId: number | undefined): FindingEvidence {
  let summary: string | undefined;
  const e = {} as FindingEvidence;
  if (eventId !== undefined) e.eventId = eventId;
  e.agentId = ev.agentId;
  e.bootId = ev.bootId;
  e.seq = ev.seq;
  e.kind = kindName(ev.kind);
  if (ev.pid !== undefined) e.pid = ev.pid;
  return Object.defineProperty(e, 'summary', { get: () => (summary ??= summarizeEvent(ev)), enumerable: true, configurable: true });
}

function lookup(ctx: Record<string, unknown>, path: string): unknown {
  let cur: unknown = ctx;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

function item(e: unknown): string {
  if (e === null || typeof e !== 'object') return String(e);
  const o = e as Record<string, unknown>;
  return typeof o.comm === 'string' ? `${o.comm}(${String(o.pid ?? '?')})` : JSON.stringify(o);
}

/** `{ev.comm}` placeholders, filled from the context; lists joined by spaces; bounded. */
export function renderOutput(template: string, ctx: Record<string, unknown>): string {
  const out = template.replace(/\{([A-Za-z_][A-Za-z0-9_.]*)\}/g, (_m, path: string) => {
    const v = lookup(ctx, path);
    if (v === undefined || v === null) return '';
    if (Array.isArray(v)) return v.map(item).join(' ');
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }).replace(/\s+/g, ' ').trim();
  const masked = maskSecretLike(out);
  return masked.length > 400 ? masked.slice(0, 397) + '…' : masked;
}

export function createEngine(opts: EngineOptions): Engine {
  const limits: StateLimits = { ...DEFAULT_LIMITS, ...(opts.limits as PartialLimits | undefined) };
  const policy = { trustedCidrs: opts.trustedCidrs, allowList: opts.allowList };
  const jobs = new Map<string, JobState>();
  const counters: Counters = { procsEvicted: 0, filesEvicted: 0, dnsEvicted: 0, dedupeEvicted: 0, partialsEvicted: 0 };
  const st = { events: 0, findings: 0, suppressedDuplicates: 0, evalErrors: 0, lastEvalError: undefined as string | undefined, jobsEvicted: 0, baselinesLearned: 0 };
  const rules = [...opts.rules];
  // Per event kind, the rules that can match it (sequence rules whose steps may, plain rules whose kinds may), in pack order.
  const byKind = new Map<string, CompiledRule[]>();
  const rulesFor = (kind: string): CompiledRule[] => {
    let list = byKind.get(kind);
    if (!list) {
      list = rules.filter((r) => r.sequence
        ? r.sequence.steps.some((s) => s.events === undefined || s.events.has(kind as RwEvent['kind']))
        : r.events === undefined || r.events.has(kind as RwEvent['kind']));
      byKind.set(kind, list);
    }
    return list;
  };
  let recentJob: JobState | undefined;

  const test = (rule: CompiledRule, expr: CompiledExpr, ctx: Record<string, unknown>): boolean => {
    try {
      return expr(ctx) === true;
    } catch (e) {
      st.evalErrors++;
      st.lastEvalError = `${rule.id}: ${(e as Error).message.split('\n')[0] ?? ''}`;
      return false;
    }
  };

  const jobFor = (id: string, tsNs: number): JobState => {
    // Consecutive events of one job skip the LRU re-insert.
    if (recentJob !== undefined && recentJob.id === id && jobs.get(id) === recentJob) return recentJob;
    let j = jobs.get(id);
    recentJob = undefined;
    if (j) {
      recentJob = j;
      jobs.delete(id);
      jobs.set(id, j);
      return j;
    }
    j = newJobState(id, tsNs);
    jobs.set(id, j);
    recentJob = j;
    while (jobs.size > limits.maxJobs) {
      const oldest = jobs.keys().next();
      if (oldest.done) break;
      jobs.delete(oldest.value);
      st.jobsEvicted++;
    }
    return j;
  };

  const baselineKey = (j: JobState): BaselineKey | undefined =>
    j.meta?.repo ? { repo: j.meta.repo, workflow: j.meta.workflow ?? '', job: j.meta.job ?? '' } : undefined;

  const makeFinding = (rule: CompiledRule, job: JobState, ev: RwEvent, ctx: Record<string, unknown>, evidence: FindingEvidence[]): Finding | undefined => {
    let sev = rule.severity;
    for (const s of rule.severityIf) if (RANK[s.severity] > RANK[sev] && test(rule, s.when, ctx)) sev = s.severity;
    let key = String(ev.pid ?? 0);
    if (rule.key) {
      try { key = String(rule.key(ctx)); } catch (e) { st.evalErrors++; st.lastEvalError = `${rule.id}: key: ${(e as Error).message.split('\n')[0] ?? ''}`; }
    }
    const dk = `${rule.id}\0${key}`;
    const seen = job.dedupe.get(dk);
    if (seen !== undefined && seen >= RANK[sev]) { st.suppressedDuplicates++; return undefined; }
    if (boundedSet(job.dedupe, dk, RANK[sev], limits.maxDedupeKeysPerJob)) counters.dedupeEvicted++;
    job.maxSeverityRank = Math.max(job.maxSeverityRank, RANK[sev]);
    st.findings++;
    return {
      ruleId: rule.id, title: rule.title, severity: sev, tags: [...rule.tags], jobId: job.id, agentId: ev.agentId,
      tsNs: ev.tsNs, explanation: renderOutput(rule.output, ctx), evidence,
    };
  };

  const evaluate = (job: JobState, ev: RwEvent, proc: ProcState, own: FindingEvidence): Finding[] => {
    const x = derive(job, ev, proc, policy);
    const out: Finding[] = [];
    const candidates = rulesFor(ev.kind);
    // The context is the costliest part of an event no rule looks at (most forks and exits): built only for rules.
    const ctx = candidates.length > 0 ? buildContext(job, ev, proc, x) : {};
    let point: SeqPoint | undefined; // one per event, shared by the sequence rules it advances
    for (const rule of candidates) {
      if (rule.sequence) {
        const seq = rule.sequence;
        const matches = seq.steps.map((s) => (s.events === undefined || s.events.has(ev.kind)) && test(rule, s.condition, ctx));
        if (!matches.some(Boolean)) continue;
        if (rule.condition && !test(rule, rule.condition, ctx)) continue;
        let partials = job.partials.get(rule.id) as SeqPartial[] | undefined;
        if (!partials) { partials = []; job.partials.set(rule.id, partials); }
        point ??= { pid: proc.pid, ppid: proc.ppid, ancestors: ancestorsOf(job, proc.pid), tsNs: ev.tsNs };
        const r = advance(seq, partials, matches, point, own, limits.maxPartialsPerRule);
        counters.partialsEvicted += r.evicted;
        for (const done of r.completed) {
          if (rule.exceptions.some((e) => test(rule, e, ctx))) continue;
          const f = makeFinding(rule, job, ev, ctx, done.evidence);
          if (f) out.push(f);
        }
        continue;
      }
      if (rule.events !== undefined && !rule.events.has(ev.kind)) continue;
      if (!rule.condition || !test(rule, rule.condition, ctx)) continue;
      if (rule.exceptions.some((e) => test(rule, e, ctx))) continue;
      const evidence = proc.execEvidence && proc.execEvidence.seq !== ev.seq ? [proc.execEvidence, own] : [own];
      const f = makeFinding(rule, job, ev, ctx, evidence);
      if (f) out.push(f);
    }
    applyAfter(job, ev, x, limits, counters);
    return out;
  };

  const finish = (job: JobState, nowNs: number): void => {
    if (job.ended) return;
    job.ended = true;
    const key = baselineKey(job);
    // A run that raised medium or worse, or failed, teaches nothing: it may be the attack itself.
    if (opts.baselines && key && job.meta && isTrustedRun(job.meta, opts.protectedRefs) && job.maxSeverityRank < RANK.medium && (job.exitCode ?? 0) === 0) {
      opts.baselines.learn(key, { ...job.observed, configHashes: job.meta.configHashes ?? {} }, nowNs);
      st.baselinesLearned++;
    }
  };

  return {
    process(ev, eventId) {
      st.events++;
      const job = jobFor(ev.jobId ?? '', ev.tsNs);
      job.lastNs = ev.tsNs;
      const own = evidenceOf(ev, eventId);
      applyBefore(job, ev, limits, counters, own);
      if (ev.kind === 'jobStart' && opts.baselines) {
        const k = baselineKey(job);
        job.baseline = k ? opts.baselines.view(k) : undefined;
      }
      if (ev.kind === 'jobEnd') job.exitCode = ev.jobEnd.exitCode;
      const proc = procFor(job, ev, limits, counters);
      const found = evaluate(job, ev, proc, own);
      if (ev.kind === 'jobEnd') finish(job, ev.tsNs);
      return found;
    },
    endJob(jobId) {
      const job = jobs.get(jobId);
      if (!job) return [];
      finish(job, job.lastNs);
      jobs.delete(jobId);
      return [];
    },
    stats() {
      return { ...st, ...counters, jobs: jobs.size };
    },
  };
}

export function maxSeverity(findings: readonly Finding[]): Severity | undefined {
  let best: Severity | undefined;
  for (const f of findings) if (best === undefined || RANK[f.severity] > RANK[best]) best = f.severity;
  return best;
}

