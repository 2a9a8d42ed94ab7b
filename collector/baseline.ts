// Baselines learned from trusted runs per (repo, workflow, job): egress domains, executables, write roots and
// CI-definition hashes. Pure merge logic over a tiny key/value store (the SQLite store implements BaselineStore).

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

/** What the store must offer: get/put JSON text by key. */
export interface BaselineStore {
  get(key: string): string | undefined;
  put(key: string, json: string): void;
  delete(key: string): boolean;
  keys(prefix: string): string[];
}

export interface BaselineLimits { maxEntriesPerList: number }
export const DEFAULT_BASELINE_LIMITS: Readonly<BaselineLimits> = Object.freeze({ maxEntriesPerList: 2048 });

export interface Baselines {
  view(key: BaselineKey): BaselineView | undefined;
  learn(key: BaselineKey, observed: Observed, nowNs: number): BaselineView;
  reset(key: BaselineKey): boolean;
  list(): { key: string; view: BaselineView }[];
}

export function baselineKeyString(k: BaselineKey): string {
  return `baseline\0${k.repo}\0${k.workflow}\0${k.job}`;
}

/** Learning happens only from runs whose inputs the repository owners control. */
export function isTrustedRun(job: { trigger?: string; untrusted?: boolean; fork?: boolean; ref?: string }, protectedRefs: readonly string[] = ['refs/heads/main', 'refs/heads/master']): boolean {
  if (job.untrusted === true || job.fork === true) return false;
  if (!['push', 'schedule', 'workflow_dispatch'].includes(job.trigger ?? '')) return false;
  const ref = job.ref ?? '';
  return protectedRefs.includes(ref) || ref.startsWith('refs/tags/');
}

function parseView(json: string | undefined): BaselineView | undefined {
  if (json === undefined) return undefined;
  try {
    const o = JSON.parse(json) as Partial<BaselineView>;
    const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
    return {
      egress: strs(o.egress), executables: strs(o.executables), writeRoots: strs(o.writeRoots),
      configHashes: typeof o.configHashes === 'object' && o.configHashes !== null ? { ...o.configHashes } : {},
      runs: typeof o.runs === 'number' ? o.runs : 0, updatedNs: typeof o.updatedNs === 'number' ? o.updatedNs : 0,
    };
  } catch {
    return undefined;
  }
}

function union(a: readonly string[], b: Iterable<string>, max: number): string[] {
  const s = new Set(a);
  for (const x of b) { if (s.size >= max) break; if (x) s.add(x); }
  return [...s].sort();
}

export function createBaselines(store: BaselineStore, limits: BaselineLimits = DEFAULT_BASELINE_LIMITS): Baselines {
  return {
    view: (key) => parseView(store.get(baselineKeyString(key))),
    learn(key, observed, nowNs) {
      const prev = parseView(store.get(baselineKeyString(key)));
      const next: BaselineView = {
        egress: union(prev?.egress ?? [], observed.egress, limits.maxEntriesPerList),
        executables: union(prev?.executables ?? [], observed.executables, limits.maxEntriesPerList),
        writeRoots: union(prev?.writeRoots ?? [], observed.writeRoots, limits.maxEntriesPerList),
        // The latest trusted definition is the reference: an edit merged to the default branch is legitimate.
        configHashes: { ...(prev?.configHashes ?? {}), ...observed.configHashes },
        runs: (prev?.runs ?? 0) + 1,
        updatedNs: nowNs,
      };
      store.put(baselineKeyString(key), JSON.stringify(next));
      return next;
    },
    reset: (key) => store.delete(baselineKeyString(key)),
    list: () => store.keys('baseline\0').flatMap((k) => {
      const v = parseView(store.get(k));
      return v ? [{ key: k.split('\0').slice(1).join('/'), view: v }] : [];
    }),
  };
}

/** In-memory BaselineStore for tests and for `runwarden run` without a database. */
export function createMemoryBaselineStore(): BaselineStore {
  const m = new Map<string, string>();
  return {
    get: (k) => m.get(k),
    put: (k, v) => { m.set(k, v); },
    delete: (k) => m.delete(k),
    keys: (prefix) => [...m.keys()].filter((k) => k.startsWith(prefix)).sort(),
  };
}
