// Classifies a path by what it is to a job (workspace source, CI definition, runner command file, tool
// cache, shell rc, credential file, …): the vocabulary the rules match on. Pure.
import { posix } from 'node:path';

export interface JobPaths {
  workspace?: string;
  home?: string;
  runnerTemp?: string;
  toolCache?: string;
  envFile?: string;        // $GITHUB_ENV
  pathFile?: string;       // $GITHUB_PATH
  outputFiles?: string[];  // $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY, $GITHUB_STATE
  runnerRoot?: string;     // the runner's install dir (has _work/_actions, .credentials, .runner)
  tracked?: ReadonlySet<string>; // workspace-relative paths tracked by git
}

export type PathClass =
  | 'ci-config' | 'workspace-tracked' | 'workspace' | 'runner-env-file' | 'runner-path-file' | 'runner-output-file'
  | 'tool-cache' | 'shared-cache' | 'runner-actions' | 'runner-secret' | 'home-rc' | 'ssh-authorized-keys' | 'credential-file' | 'ssh-key'
  | 'cron' | 'systemd-unit' | 'ld-preload' | 'sudoers' | 'resolver-config' | 'agent-config'
  | 'proc-mem' | 'proc-maps' | 'proc-environ' | 'tmp' | 'home' | 'system' | 'other';

const CI_CONFIG = [/^\.github\/workflows\/[^/]+$/, /^\.github\/actions\//, /^\.gitlab-ci\.yml$/, /^\.gitlab\/ci\//, /^Jenkinsfile$/, /^\.buildkite\//, /^azure-pipelines\.ya?ml$/, /^\.circleci\//, /^bitbucket-pipelines\.yml$/];
const HOME_RC = ['.bashrc', '.bash_profile', '.bash_login', '.profile', '.zshrc', '.zprofile', '.zshenv', '.bash_logout', '.config/fish/config.fish'];
const CREDENTIALS = ['.aws/credentials', '.aws/config', '.npmrc', '.pypirc', '.docker/config.json', '.git-credentials', '.kube/config', '.netrc', '.config/gh/hosts.yml', '.config/gcloud/credentials.db', '.config/gcloud/application_default_credentials.json', '.azure/accessTokens.json', '.gem/credentials', '.m2/settings.xml', '.gradle/gradle.properties', '.cargo/credentials', '.cargo/credentials.toml', '.terraform.d/credentials.tfrc.json'];

// Package-manager and compiler caches under a home directory: later jobs on the same runner (same user) take
// what is there without re-fetching, so a write from an untrusted job is cache poisoning.
const SHARED_CACHES = [
  '.npm/_cacache', '.npm/_npx', '.cache/yarn', '.yarn/berry/cache', '.cache/pnpm', '.local/share/pnpm/store', '.cache/pip',
  '.cache/pypoetry', '.cache/uv', '.m2/repository', '.gradle/caches', '.gradle/wrapper/dists', '.cargo/registry', '.cargo/git',
  'go/pkg/mod', '.cache/go-build', '.nuget/packages', '.gem', '.bundle/cache', '.cache/composer', '.composer/cache',
  '.cache/ccache', '.ccache', '.cache/sccache', '.cache/bazel', '.ivy2/cache', '.sbt/boot', '.cache/coursier', '.deno',
  '.cache/ms-playwright', '.cache/Cypress', '.cache/puppeteer', '.cache/node-gyp', '.cache/electron',
];
// System-wide cache locations (root runners, GOMODCACHE/GOPATH defaults in images).
const SYSTEM_CACHES = [/^\/root\/(\.npm\/_cacache|\.cache\/(pip|yarn|go-build)|\.m2\/repository|\.gradle\/caches|\.cargo\/registry|go\/pkg\/mod)\//,
  /^\/(usr\/local\/share\/\.cache|go\/pkg\/mod|usr\/local\/cargo\/registry|usr\/local\/share\/pnpm\/store)\//];

function sharedCacheRel(h: string): boolean {
  return SHARED_CACHES.some((c) => h === c || h.startsWith(c + '/'));
}

/** The path relative to dir ('' for dir itself), undefined when it is not under it. No string is built to ask. */
function under(path: string, dir: string | undefined): string | undefined {
  if (!dir) return undefined;
  if (dir.endsWith('/')) return path.startsWith(dir) ? path.slice(dir.length) : undefined;
  if (!path.startsWith(dir)) return undefined;
  if (path.length === dir.length) return '';
  return path.charCodeAt(dir.length) === 47 ? path.slice(dir.length + 1) : undefined;
}

// What posix.normalize would change: an empty, "." or ".." segment, or a trailing slash (most paths have none).
const NOT_NORMAL = /\/\/|\/\.\.?(\/|$)|^\.\.?(\/|$)|.\/$/;

export function classifyPath(rawPath: string, jp: JobPaths): PathClass {
  const path = rawPath !== '' && !NOT_NORMAL.test(rawPath) ? rawPath : posix.normalize(rawPath);
  const proc = path.startsWith('/proc/') ? /^\/proc\/(\d+|self|thread-self)\/(?:task\/\d+\/)?(mem|maps|environ|smaps)$/.exec(path) : null;
  if (proc) return proc[2] === 'mem' ? 'proc-mem' : proc[2] === 'environ' ? 'proc-environ' : 'proc-maps';
  if (path === jp.envFile) return 'runner-env-file';
  if (path === jp.pathFile) return 'runner-path-file';
  if (jp.outputFiles?.includes(path)) return 'runner-output-file';
  // Home files that hold credentials or run at login win over the workspace (a HOME inside the workspace
  // is unusual but happens, and `.npmrc` there is still the user's credential file).
  const h = under(path, jp.home);
  if (h !== undefined) {
    if (HOME_RC.includes(h)) return 'home-rc';
    if (h === '.ssh/authorized_keys' || h === '.ssh/authorized_keys2') return 'ssh-authorized-keys';
    if (/^\.ssh\/id_[^/]+$/.test(h) && !h.endsWith('.pub')) return 'ssh-key';
    if (CREDENTIALS.includes(h)) return 'credential-file';
    if (/^\.config\/systemd\/user\//.test(h)) return 'systemd-unit';
  }
  // Caches kept in the workspace (actions/cache restores, npm --cache .npm) belong to this job's checkout.
  if (h !== undefined && sharedCacheRel(h) && under(path, jp.workspace) === undefined) return 'shared-cache';
  const ws = under(path, jp.workspace);
  if (ws !== undefined) {
    if (CI_CONFIG.some((r) => r.test(ws))) return 'ci-config';
    if (jp.tracked?.has(ws)) return 'workspace-tracked';
    return 'workspace';
  }
  if (under(path, jp.toolCache) !== undefined) return 'tool-cache';
  const rr = under(path, jp.runnerRoot);
  if (rr !== undefined) {
    if (/^_work\/_actions\//.test(rr) || /^_work\/_tool\//.test(rr)) return rr.startsWith('_work/_tool/') ? 'tool-cache' : 'runner-actions';
    if (/^\.(credentials|credentials_rsaparams|runner)$/.test(rr)) return 'runner-secret';
  }
  if (h !== undefined) return 'home';
  if (SYSTEM_CACHES.some((r) => r.test(path))) return 'shared-cache';
  if (path === '/etc/ld.so.preload') return 'ld-preload';
  if (path === '/etc/sudoers' || path.startsWith('/etc/sudoers.d/')) return 'sudoers';
  if (path === '/etc/resolv.conf' || path === '/etc/hosts' || path === '/etc/nsswitch.conf') return 'resolver-config';
  if (/^\/(etc|var\/spool)\/cron/.test(path) || path === '/etc/crontab' || path.startsWith('/var/spool/cron/')) return 'cron';
  if (/^\/(etc|lib|usr\/lib)\/systemd\/(system|user)\//.test(path)) return 'systemd-unit';
  if (path.startsWith('/etc/runwarden/') || path.startsWith('/var/lib/runwarden/')) return 'agent-config';
  if (/^\/root\/\.ssh\/authorized_keys2?$/.test(path)) return 'ssh-authorized-keys';
  if (/^\/(root|home\/[^/]+)\/\.(bashrc|profile|bash_profile|zshrc)$/.test(path)) return 'home-rc';
  if (path.startsWith('/tmp/') || path.startsWith('/var/tmp/') || path.startsWith('/dev/shm/') || under(path, jp.runnerTemp) !== undefined) return 'tmp';
  if (/^\/(etc|usr|bin|sbin|lib|lib64|boot|opt)\//.test(path)) return 'system';
  return 'other';
}

/** Path prefixes whose READS are sensitive for this job (rendered into the in-kernel filter). */
export function sensitiveReadPrefixes(jp: JobPaths): string[] {
  const out: string[] = [];
  if (jp.home) {
    const h = jp.home.endsWith('/') ? jp.home : jp.home + '/';
    for (const c of CREDENTIALS) out.push(h + c);
    out.push(h + '.ssh/id_');
  }
  if (jp.runnerRoot) {
    const r = jp.runnerRoot.endsWith('/') ? jp.runnerRoot : jp.runnerRoot + '/';
    out.push(r + '.credentials', r + '.runner');
  }
  return out;
}

/** A job's paths from its provider environment (GitHub Actions names; the rest stay unset). */
export function jobPathsFromEnv(env: Readonly<Record<string, string | undefined>>, workspace?: string, tracked?: ReadonlySet<string>): JobPaths {
  const files = [env.GITHUB_OUTPUT, env.GITHUB_STEP_SUMMARY, env.GITHUB_STATE].filter((x): x is string => !!x);
  return {
    ...(workspace ? { workspace } : {}),
    ...(env.HOME ? { home: env.HOME } : {}),
    ...(env.RUNNER_TEMP ? { runnerTemp: env.RUNNER_TEMP } : {}),
    ...(env.RUNNER_TOOL_CACHE ? { toolCache: env.RUNNER_TOOL_CACHE } : {}),
    ...(env.GITHUB_ENV ? { envFile: env.GITHUB_ENV } : {}),
    ...(env.GITHUB_PATH ? { pathFile: env.GITHUB_PATH } : {}),
    outputFiles: files,
    ...(tracked ? { tracked } : {}),
    ...(runnerRootOf(env, workspace) ? { runnerRoot: runnerRootOf(env, workspace) } : {}),
  };
}

/** The runner's install dir: GitHub's workspaces live in `<root>/_work/<repo>/<repo>`. */
function runnerRootOf(env: Readonly<Record<string, string | undefined>>, workspace: string | undefined): string | undefined {
  for (const p of [env.RUNNER_WORKSPACE, env.GITHUB_WORKSPACE, workspace]) {
    const i = p ? p.indexOf('/_work/') : -1;
    if (p && i > 0) return p.slice(0, i);
  }
  return undefined;
}
