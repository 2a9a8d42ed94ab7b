// Baselines learned from trusted runs per (repo, workflow, job): egress domains, executables, write roots and
// CI-definition hashes. Pure merge and validation over a small store (collector/baseline-store.ts keeps it in SQLite).

export interface BaselineKey { repo: string; workflow: string; job: string }
export interface BaselineView {
  egress: string[];
  executables: string[];
  writeRoots: string[];
  configHashes: Record<string, string>;
  runs: number;
  updatedNs: number;
}
export interface Observed { egress: Iterable<string>; executables: Iterable<string>; writeRoots: Iterable<string>; configHashes: Record<string, string> }

/** What a store must offer: the JSON text of a BaselineView per key (collector/baseline-store.ts keeps it in SQLite). */
export interface BaselineStore {
  get(key: BaselineKey): string | undefined;
  /** updatedNs is stored beside the body so the store can say when a baseline last changed without parsing it. */
  put(key: BaselineKey, json: string, updatedNs: number): void;
  delete(key: BaselineKey): boolean;
  /** Every stored baseline (of one repository if given), ordered by repo, workflow, job. */
  list(repo?: string): { key: BaselineKey; json: string }[];
}

export interface BaselineLimits { maxEntriesPerList: number }
export const DEFAULT_BASELINE_LIMITS: Readonly<BaselineLimits> = Object.freeze({ maxEntriesPerList: 2048 });

export type BaselineEntry = { key: BaselineKey; view: BaselineView } | { key: BaselineKey; corrupt: string };

export interface Baselines {
  view(key: BaselineKey): BaselineView | undefined;
  /** The merged view; undefined when the store failed and `onStoreError` took the error. */
  learn(key: BaselineKey, observed: Observed, nowNs: number): BaselineView | undefined;
  reset(key: BaselineKey): boolean;
  list(repo?: string): BaselineEntry[];
}

export interface BaselineOptions {
  limits?: BaselineLimits;
  /** A stored body that is not a baseline: it reads as none (and the next trusted run replaces it). */
  onCorrupt?: (key: BaselineKey, reason: string) => void;
  /**
   * Given, a store that throws (busy beyond its timeout, disk full) costs the baseline, not the caller:
   * detection goes on without it. Absent, errors propagate (the CLI reports them).
   */
  onStoreError?: (op: 'view' | 'learn', key: BaselineKey, err: unknown) => void;
}

/** How a baseline is named to people (logs, `runwarden baseline show`). */
export function baselineName(k: BaselineKey): string {
  return `${k.repo}/${k.workflow}/${k.job}`;
}

/** Learning happens only from runs whose inputs the repository owners control. */
export function isTrustedRun(job: { trigger?: string; untrusted?: boolean; fork?: boolean; ref?: string }, protectedRefs: readonly string[] = ['refs/heads/main', 'refs/heads/master']): boolean {
  if (job.untrusted === true || job.fork === true) return false;
  if (!['push', 'schedule', 'workflow_dispatch'].includes(job.trigger ?? '')) return false;
  const ref = job.ref ?? '';
  return protectedRefs.includes(ref) || ref.startsWith('refs/tags/');
}

type Parsed = { ok: true; view: BaselineView } | { ok: false; reason: string };

function parseView(json: string): Parsed {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { ok: false, reason: 'not a JSON object' };
  const v = o as Record<string, unknown>;
  const strs = (name: string): string[] | string => {
    const a = v[name];
    if (a === undefined) return [];
    return Array.isArray(a) && a.every((s) => typeof s === 'string') ? a as string[] : `${name} is not a list of strings`;
  };
  const lists = [strs('egress'), strs('executables'), strs('writeRoots')];
  const bad = lists.find((l): l is string => typeof l === 'string');
  if (bad) return { ok: false, reason: bad };
  const ch = v.configHashes ?? {};
  if (typeof ch !== 'object' || ch === null || Array.isArray(ch) || Object.values(ch).some((h) => typeof h !== 'string')) {
    return { ok: false, reason: 'configHashes is not an object of strings' };
  }
  const [egress, executables, writeRoots] = lists as string[][];
  return {
    ok: true,
    view: {
      egress: egress as string[], executables: executables as string[], writeRoots: writeRoots as string[],
      configHashes: { ...(ch as Record<string, string>) },
      runs: typeof v.runs === 'number' ? v.runs : 0, updatedNs: typeof v.updatedNs === 'number' ? v.updatedNs : 0,
    },
  };
}

function union(a: readonly string[], b: Iterable<string>, max: number): string[] {
  const s = new Set(a);
  for (const x of b) { if (s.size >= max) break; if (x) s.add(x); }
  return [...s].sort();
}

export function createBaselines(store: BaselineStore, o: BaselineOptions = {}): Baselines {
  const limits = o.limits ?? DEFAULT_BASELINE_LIMITS;
  const read = (key: BaselineKey): BaselineView | undefined => {
    const json = store.get(key);
    if (json === undefined) return undefined;
    const p = parseView(json);
    if (p.ok) return p.view;
    o.onCorrupt?.(key, p.reason);
    return undefined;
  };
  const guarded = <T>(op: 'view' | 'learn', key: BaselineKey, f: () => T): T | undefined => {
    if (!o.onStoreError) return f();
    try {
      return f();
    } catch (err) {
      o.onStoreError(op, key, err);
      return undefined;
    }
  };
  return {
    view: (key) => guarded('view', key, () => read(key)),
    learn: (key, observed, nowNs) => guarded('learn', key, () => {
      const prev = read(key);
      const next: BaselineView = {
        egress: union(prev?.egress ?? [], observed.egress, limits.maxEntriesPerList),
        executables: union(prev?.executables ?? [], observed.executables, limits.maxEntriesPerList),
        writeRoots: union(prev?.writeRoots ?? [], observed.writeRoots, limits.maxEntriesPerList),
        // The latest trusted definition is the reference: an edit merged to the default branch is legitimate.
        configHashes: { ...(prev?.configHashes ?? {}), ...observed.configHashes },
        runs: (prev?.runs ?? 0) + 1,
        updatedNs: nowNs,
      };
      store.put(key, JSON.stringify(next), nowNs);
      return next;
    }),
    reset: (key) => store.delete(key),
    list: (repo) => store.list(repo).map(({ key, json }) => {
      const p = parseView(json);
      return p.ok ? { key, view: p.view } : { key, corrupt: p.reason };
    }),
  };
}

const memKey = (k: BaselineKey): string => `${k.repo}\0${k.workflow}\0${k.job}`;

/** In-memory BaselineStore for tests and for rule replays without a database. */
export function createMemoryBaselineStore(): BaselineStore {
  const m = new Map<string, { key: BaselineKey; json: string }>();
  return {
    get: (k) => m.get(memKey(k))?.json,
    put: (k, json) => { m.set(memKey(k), { key: { ...k }, json }); },
    delete: (k) => m.delete(memKey(k)),
    list: (repo) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v).filter((v) => repo === undefined || v.key.repo === repo),
  };
}
