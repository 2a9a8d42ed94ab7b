// Names the class of a path (proc-mem, credential-file, ci-config, workspace, …) for reads and writes. Pure.

export interface PathContext {
  /** Home directories of the host (absolute, no trailing slash). */
  homes?: readonly string[];
  /** The job's workspace, when known. */
  workspace?: string;
  /** Runner installation directories (hold .credentials, .runner). */
  runnerDirs?: readonly string[];
}

/** Credential files, relative to a home directory; a trailing '_' or '/' marks a prefix. */
export const HOME_CREDENTIALS: readonly { rel: string; cls: string }[] = Object.freeze([
  { rel: '.aws/credentials', cls: 'credential-file' },
  { rel: '.aws/config', cls: 'credential-file' },
  { rel: '.npmrc', cls: 'credential-file' },
  { rel: '.pypirc', cls: 'credential-file' },
  { rel: '.netrc', cls: 'credential-file' },
  { rel: '.git-credentials', cls: 'credential-file' },
  { rel: '.docker/config.json', cls: 'credential-file' },
  { rel: '.kube/config', cls: 'credential-file' },
  { rel: '.config/gh/hosts.yml', cls: 'credential-file' },
  { rel: '.config/gcloud/', cls: 'credential-file' },
  { rel: '.ssh/id_', cls: 'ssh-key' },
]);
export const RUNNER_SECRET_FILES: readonly string[] = Object.freeze(['.credentials', '.credentials_rsaparams', '.runner']);

/** /proc/<pid>/<what> files whose read by another process is an attack on that process. */
const PROC_CLASSES: Readonly<Record<string, string>> = Object.freeze({ mem: 'proc-mem', maps: 'proc-maps', environ: 'proc-environ' });

export interface ProcPath { pid: number; file: string; cls: string | undefined }

/** Splits /proc/<pid>/<file> (also /proc/<pid>/task/<tid>/<file>); undefined for anything else. */
export function parseProcPath(path: string): ProcPath | undefined {
  const m = /^\/proc\/(\d+)\/(?:task\/\d+\/)?([^/]+)$/.exec(path);
  if (!m) return undefined;
  const file = m[2]!;
  return { pid: Number(m[1]), file, cls: PROC_CLASSES[file] };
}

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

function matchRel(rest: string, rel: string): boolean {
  return rel.endsWith('_') || rel.endsWith('/') ? rest.startsWith(rel) : rest === rel;
}

/** Class of a sensitive path, or undefined when the path is not sensitive. */
export function sensitiveClass(path: string, ctx: PathContext = {}): string | undefined {
  const proc = parseProcPath(path);
  if (proc) return proc.cls;
  for (const home of ctx.homes ?? []) {
    if (!under(path, home)) continue;
    const rest = path.slice(home.length + 1);
    for (const c of HOME_CREDENTIALS) if (matchRel(rest, c.rel)) return c.cls;
  }
  // Relative opens (cwd unknown to the kernel filter) match on the relative form.
  if (!path.startsWith('/')) {
    const rest = path.replace(/^\.\//, '');
    for (const c of HOME_CREDENTIALS) if (matchRel(rest, c.rel)) return c.cls;
    if (RUNNER_SECRET_FILES.includes(rest)) return 'runner-secret';
  }
  for (const dir of ctx.runnerDirs ?? []) {
    for (const f of RUNNER_SECRET_FILES) if (path === `${dir}/${f}`) return 'runner-secret';
  }
  return undefined;
}

/** Kernel-filter prefixes for the sensitive-read probe: absolute per home and runner dir, plus relative forms. */
export function sensitivePrefixes(ctx: PathContext, extra: readonly string[] = []): string[] {
  const out = new Set<string>();
  for (const home of ctx.homes ?? []) for (const c of HOME_CREDENTIALS) out.add(`${home}/${c.rel}`);
  for (const dir of ctx.runnerDirs ?? []) for (const f of RUNNER_SECRET_FILES) out.add(`${dir}/${f}`);
  for (const c of HOME_CREDENTIALS) if (c.rel.includes('/')) out.add(c.rel);
  for (const p of extra) out.add(p);
  return [...out];
}

const CI_CONFIG = [/(^|\/)\.github\/workflows\/[^/]+\.ya?ml$/, /(^|\/)\.github\/actions\//, /(^|\/)\.gitlab-ci\.yml$/,
  /(^|\/)Jenkinsfile$/, /(^|\/)\.buildkite\//, /(^|\/)\.circleci\/config\.yml$/, /(^|\/)azure-pipelines\.yml$/];
const HOME_RC = /^(\.bashrc|\.bash_profile|\.profile|\.zshrc|\.gitconfig|\.npmrc|\.pypirc|\.netrc|\.ssh\/authorized_keys|\.ssh\/config|\.config\/pip\/pip\.conf)$/;

/** Class of a written path: ci-config, runner-env-file, workspace, tmp, tool-cache, home-rc, system, other. */
export function writeClass(path: string, ctx: PathContext = {}): string {
  if (CI_CONFIG.some((r) => r.test(path))) return 'ci-config';
  // GitHub runner per-step command files ($GITHUB_ENV, $GITHUB_PATH, $GITHUB_OUTPUT …) live in _runner_file_commands.
  if (/\/_runner_file_commands\/|\/_temp\/_runner_file_commands\//.test(path)) return 'runner-env-file';
  for (const dir of ctx.runnerDirs ?? []) {
    for (const f of RUNNER_SECRET_FILES) if (path === `${dir}/${f}`) return 'runner-secret';
  }
  if (ctx.workspace && under(path, ctx.workspace)) return 'workspace';
  for (const home of ctx.homes ?? []) {
    if (!under(path, home)) continue;
    const rest = path.slice(home.length + 1);
    if (HOME_RC.test(rest)) return 'home-rc';
    if (/^(\.cache|\.npm|\.cargo|\.rustup|\.m2|\.gradle|go\/pkg)\//.test(rest)) return 'tool-cache';
  }
  if (/^\/(tmp|var\/tmp|dev\/shm)\//.test(path)) return 'tmp';
  if (/^\/opt\/hostedtoolcache\//.test(path)) return 'tool-cache';
  if (/^\/(etc|usr|bin|sbin|lib|lib64|boot)\//.test(path)) return 'system';
  return 'other';
}
