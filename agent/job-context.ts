// Job identity and trust from a CI provider's environment (GitHub, GitLab, Buildkite, Jenkins, generic). Pure.
//
// Trust decision (DESIGN.md "Jobs and attribution", THREATS.md class 11):
// - untrusted when the code or the event text is controlled by someone without write access to the
//   repository: a pull/merge request whose head is a fork (or a deleted head repo), and triggers that run
//   with the base repo's secrets on behalf of outside input whatever the head is: pull_request_target,
//   workflow_run, issue_comment, issues, discussion*, pull_request_review* from forks. Unknown triggers
//   are untrusted too: failing closed only raises severities, failing open hides a pwn request.
// - a same-repository pull request is NOT flagged untrusted: its author has push rights and could push
//   the same code to a branch (a trusted `push`) anyway; flagging it would make every ordinary PR job
//   "untrusted" and drown the signal that matters (outside code holding secrets). It is still not a
//   trusted *baseline* run: baselines learn from push/schedule/dispatch only (trigger is kept for that).
// - push, schedule, workflow_dispatch, merge_group, release, … on the repository itself = trusted.
import type { JobStart } from '../proto/types.js';

export type Env = Readonly<Record<string, string | undefined>>;
export type ReadEventPayload = (path: string) => unknown;

export interface JobContext {
  jobId: string;
  start: JobStart;
}

export interface JobContextOptions {
  cwd?: string;
  rootPid?: number;
}

const GITHUB_TRUSTED = new Set([
  'push', 'schedule', 'workflow_dispatch', 'merge_group', 'release', 'repository_dispatch', 'deployment',
  'deployment_status', 'create', 'delete', 'registry_package', 'page_build', 'workflow_call',
]);
// Triggers that run the base repository's workflow with its secrets on input an outsider controls.
const GITHUB_ALWAYS_UNTRUSTED = new Set([
  'pull_request_target', 'workflow_run', 'issue_comment', 'issues', 'discussion', 'discussion_comment',
  'pull_request_comment',
]);
const GITHUB_PR_LIKE = new Set(['pull_request', 'pull_request_review', 'pull_request_review_comment']);

const GITLAB_TRUSTED = new Set(['push', 'schedule', 'web', 'api', 'trigger', 'pipeline', 'parent_pipeline', 'chat', 'webide', 'ondemand_dast_scan', 'security_orchestration_policy']);

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function at(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const k of path) cur = obj(cur)?.[k];
  return cur;
}
function s(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function posInt(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n > 0 && n <= 0xffffffff ? n : undefined;
}
function truthy(v: string | undefined): boolean {
  return v === 'true' || v === '1';
}
/** Lower-cased `host/owner/name` of a git remote URL (https, ssh, scp-like), so two spellings compare equal. */
export function normalizeRepoUrl(url: string): string {
  let u = url.trim().toLowerCase().replace(/\.git$/, '').replace(/\/+$/, '');
  u = u.replace(/^[a-z+]+:\/\//, '').replace(/^[^@/]+@/, '');
  return u.replace(/^([^/:]+):(?!\d+\/)/, '$1/').replace(/:\d+\//, '/');
}
function clean(start: JobStart): JobStart {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(start)) if (v !== undefined && v !== '') out[k] = v;
  return out as JobStart;
}
function idPart(v: string | number | undefined): string {
  return String(v ?? '-').replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
}

function github(env: Env, read: ReadEventPayload): JobStart {
  const trigger = env.GITHUB_EVENT_NAME ?? 'unknown';
  const repo = env.GITHUB_REPOSITORY;
  let payload: unknown;
  if (env.GITHUB_EVENT_PATH) {
    try { payload = read(env.GITHUB_EVENT_PATH); } catch { payload = undefined; }
  }
  const pr = obj(at(payload, 'pull_request'));
  const baseRepo = s(at(pr, 'base', 'repo', 'full_name')) ?? s(at(payload, 'repository', 'full_name')) ?? repo;
  let headRepo: string | undefined;
  let fork = false;
  let prNumber: number | undefined;
  let headMissing = false;
  if (pr) {
    prNumber = posInt(pr.number) ?? posInt(at(payload, 'number'));
    const head = obj(at(pr, 'head', 'repo'));
    headRepo = s(head?.full_name);
    headMissing = head === undefined;
    fork = head?.fork === true || headMissing || (headRepo !== undefined && baseRepo !== undefined && headRepo.toLowerCase() !== baseRepo.toLowerCase());
  } else if (trigger === 'workflow_run') {
    const wr = obj(at(payload, 'workflow_run'));
    headRepo = s(at(wr, 'head_repository', 'full_name'));
    const prs = at(wr, 'pull_requests');
    prNumber = Array.isArray(prs) ? posInt(at(prs[0], 'number')) : undefined;
    fork = headRepo !== undefined && baseRepo !== undefined && headRepo.toLowerCase() !== baseRepo.toLowerCase();
  } else if (trigger === 'issue_comment') {
    if (at(payload, 'issue', 'pull_request') !== undefined) prNumber = posInt(at(payload, 'issue', 'number'));
  }
  prNumber ??= posInt(/^refs\/pull\/(\d+)\//.exec(env.GITHUB_REF ?? '')?.[1]);
  let untrusted: boolean;
  let reason: string;
  if (GITHUB_ALWAYS_UNTRUSTED.has(trigger)) {
    untrusted = true;
    reason = `${trigger} runs with the base repository's secrets on outside input`;
  } else if (GITHUB_PR_LIKE.has(trigger)) {
    untrusted = fork;
    reason = fork
      ? (headMissing && pr ? `${trigger} whose head repository is gone (treated as a fork)` : `${trigger} from fork ${headRepo ?? '?'}`)
      : `${trigger} from the same repository (author has push rights)`;
  } else if (GITHUB_TRUSTED.has(trigger)) {
    untrusted = false;
    reason = `${trigger} on the repository itself`;
  } else {
    untrusted = true;
    reason = `unknown trigger ${trigger} (fail closed)`;
  }
  const actor = env.GITHUB_TRIGGERING_ACTOR ?? env.GITHUB_ACTOR ?? s(at(payload, 'sender', 'login'));
  return clean({
    provider: 'github', repo, workflow: env.GITHUB_WORKFLOW, job: env.GITHUB_JOB, runId: env.GITHUB_RUN_ID,
    ref: env.GITHUB_REF, trigger, untrusted, fork, actor, workspace: env.GITHUB_WORKSPACE,
    headRepo, baseRef: env.GITHUB_BASE_REF || s(at(pr, 'base', 'ref')),
    prNumber, trustReason: reason, refProtected: truthy(env.GITHUB_REF_PROTECTED) || undefined,
  });
}

function gitlab(env: Env): JobStart {
  const source = env.CI_PIPELINE_SOURCE ?? 'unknown';
  const project = env.CI_PROJECT_ID;
  let fork = false;
  let headRepo: string | undefined;
  let prNumber: number | undefined;
  let baseRef: string | undefined;
  let untrusted: boolean;
  let reason: string;
  if (source === 'merge_request_event') {
    const src = env.CI_MERGE_REQUEST_SOURCE_PROJECT_ID;
    const target = env.CI_MERGE_REQUEST_PROJECT_ID ?? project;
    headRepo = env.CI_MERGE_REQUEST_SOURCE_PROJECT_PATH;
    fork = src === undefined || target === undefined || src !== target;
    prNumber = posInt(env.CI_MERGE_REQUEST_IID);
    baseRef = env.CI_MERGE_REQUEST_TARGET_BRANCH_NAME;
    untrusted = fork;
    reason = fork ? `merge request from fork ${headRepo ?? src ?? '?'}` : 'merge request from the same project (author has push rights)';
  } else if (source === 'external_pull_request_event') {
    headRepo = env.CI_EXTERNAL_PULL_REQUEST_SOURCE_REPOSITORY;
    const target = env.CI_EXTERNAL_PULL_REQUEST_TARGET_REPOSITORY;
    fork = headRepo === undefined || target === undefined || headRepo !== target;
    prNumber = posInt(env.CI_EXTERNAL_PULL_REQUEST_IID);
    baseRef = env.CI_EXTERNAL_PULL_REQUEST_TARGET_BRANCH_NAME;
    untrusted = fork;
    reason = fork ? `external pull request from fork ${headRepo ?? '?'}` : 'external pull request from the same repository';
  } else if (GITLAB_TRUSTED.has(source)) {
    untrusted = false;
    reason = `${source} pipeline on the project itself`;
  } else {
    untrusted = true;
    reason = `unknown pipeline source ${source} (fail closed)`;
  }
  const ref = env.CI_COMMIT_TAG ? `refs/tags/${env.CI_COMMIT_TAG}` : env.CI_COMMIT_BRANCH ? `refs/heads/${env.CI_COMMIT_BRANCH}` : env.CI_COMMIT_REF_NAME;
  return clean({
    provider: 'gitlab', repo: env.CI_PROJECT_PATH, workflow: env.CI_PIPELINE_NAME ?? env.CI_CONFIG_PATH, job: env.CI_JOB_NAME,
    runId: env.CI_PIPELINE_ID, ref, trigger: source, untrusted, fork, actor: env.GITLAB_USER_LOGIN,
    workspace: env.CI_PROJECT_DIR, headRepo, baseRef, prNumber, trustReason: reason,
    refProtected: truthy(env.CI_COMMIT_REF_PROTECTED) || undefined,
  });
}

function buildkite(env: Env): JobStart {
  const prRaw = env.BUILDKITE_PULL_REQUEST;
  const prNumber = prRaw && prRaw !== 'false' ? posInt(prRaw) : undefined;
  const repoUrl = env.BUILDKITE_REPO;
  let fork = false;
  let untrusted = false;
  let reason: string;
  const headRepo = prNumber !== undefined ? env.BUILDKITE_PULL_REQUEST_REPO : undefined;
  if (prNumber !== undefined) {
    fork = !headRepo || !repoUrl || normalizeRepoUrl(headRepo) !== normalizeRepoUrl(repoUrl);
    untrusted = fork;
    reason = fork ? `pull request from fork ${headRepo ?? '?'}` : 'pull request from the same repository (author has push rights)';
  } else {
    reason = `${env.BUILDKITE_SOURCE ?? 'build'} of a branch of the pipeline's repository`;
  }
  const ref = env.BUILDKITE_TAG ? `refs/tags/${env.BUILDKITE_TAG}` : env.BUILDKITE_BRANCH ? `refs/heads/${env.BUILDKITE_BRANCH}` : undefined;
  const org = env.BUILDKITE_ORGANIZATION_SLUG;
  const pipeline = env.BUILDKITE_PIPELINE_SLUG;
  return clean({
    provider: 'buildkite', repo: repoUrl ? normalizeRepoUrl(repoUrl) : undefined,
    workflow: org && pipeline ? `${org}/${pipeline}` : pipeline, job: env.BUILDKITE_LABEL ?? env.BUILDKITE_STEP_KEY,
    runId: env.BUILDKITE_BUILD_NUMBER ?? env.BUILDKITE_BUILD_ID, ref,
    trigger: prNumber !== undefined ? 'pull_request' : (env.BUILDKITE_SOURCE ?? 'push'),
    untrusted, fork, actor: env.BUILDKITE_BUILD_CREATOR_EMAIL ?? env.BUILDKITE_BUILD_CREATOR ?? env.BUILDKITE_BUILD_AUTHOR,
    workspace: env.BUILDKITE_BUILD_CHECKOUT_PATH, headRepo: headRepo ? normalizeRepoUrl(headRepo) : undefined,
    baseRef: prNumber !== undefined ? env.BUILDKITE_PULL_REQUEST_BASE_BRANCH : undefined, prNumber, trustReason: reason,
  });
}

function jenkins(env: Env): JobStart {
  const prNumber = posInt(env.CHANGE_ID);
  // CHANGE_FORK is set (to the fork's owner or owner/name) only for pull requests from forks.
  const fork = prNumber !== undefined && Boolean(env.CHANGE_FORK);
  const trigger = prNumber !== undefined ? 'pull_request' : env.TAG_NAME ? 'tag' : 'push';
  const reason = prNumber === undefined
    ? 'branch build of the job\'s repository'
    : fork ? `pull request from fork ${env.CHANGE_FORK}` : 'pull request from the same repository (author has push rights)';
  const ref = env.TAG_NAME ? `refs/tags/${env.TAG_NAME}` : prNumber !== undefined ? `refs/pull/${prNumber}/head` : env.BRANCH_NAME ? `refs/heads/${env.BRANCH_NAME}` : env.GIT_BRANCH;
  return clean({
    provider: 'jenkins', repo: env.GIT_URL ? normalizeRepoUrl(env.GIT_URL) : undefined, workflow: env.JOB_NAME,
    job: env.STAGE_NAME ?? env.JOB_BASE_NAME, runId: env.BUILD_NUMBER ?? env.BUILD_ID, ref, trigger, untrusted: fork, fork,
    actor: env.CHANGE_AUTHOR ?? env.BUILD_USER_ID, workspace: env.WORKSPACE, headRepo: fork ? env.CHANGE_FORK : undefined,
    baseRef: env.CHANGE_TARGET, prNumber, trustReason: reason,
  });
}

function generic(env: Env): JobStart {
  return clean({
    provider: 'generic', trigger: 'manual', untrusted: false, fork: false, actor: env.USER ?? env.LOGNAME,
    trustReason: 'no CI provider detected: a command run by the local user',
  });
}

export function detectProvider(env: Env): 'github' | 'gitlab' | 'buildkite' | 'jenkins' | 'generic' {
  if (env.GITHUB_ACTIONS === 'true') return 'github';
  if (env.GITLAB_CI === 'true' || (env.CI_PIPELINE_SOURCE !== undefined && env.CI_PROJECT_ID !== undefined)) return 'gitlab';
  if (env.BUILDKITE === 'true' || env.BUILDKITE_BUILD_ID !== undefined) return 'buildkite';
  if (env.JENKINS_URL !== undefined || env.JENKINS_HOME !== undefined) return 'jenkins';
  return 'generic';
}

/**
 * The JobStart body and a job id for the job described by `env`. `readEventPayload` reads and parses
 * GITHUB_EVENT_PATH (undefined or a throw when it cannot); `nowNs` names generic jobs.
 */
export function jobContextFromEnv(env: Env, readEventPayload: ReadEventPayload, nowNs: number, opts: JobContextOptions = {}): JobContext {
  const provider = detectProvider(env);
  const start = provider === 'github' ? github(env, readEventPayload)
    : provider === 'gitlab' ? gitlab(env)
    : provider === 'buildkite' ? buildkite(env)
    : provider === 'jenkins' ? jenkins(env)
    : generic(env);
  if (start.workspace === undefined && opts.cwd !== undefined) start.workspace = opts.cwd;
  if (opts.rootPid !== undefined) start.rootPid = opts.rootPid;
  let jobId: string;
  switch (provider) {
    case 'github':
      jobId = ['gh', start.repo, start.runId, env.GITHUB_RUN_ATTEMPT ?? '1', start.job].map(idPart).join(':');
      break;
    case 'gitlab':
      jobId = ['gl', start.repo, env.CI_JOB_ID ?? start.runId].map(idPart).join(':');
      break;
    case 'buildkite':
      jobId = ['bk', env.BUILDKITE_JOB_ID ?? start.runId].map(idPart).join(':');
      break;
    case 'jenkins':
      jobId = ['jk', env.BUILD_TAG ?? `${start.workflow ?? ''}-${start.runId ?? ''}`].map(idPart).join(':');
      break;
    default:
      jobId = `local:${Math.floor(nowNs)}${opts.rootPid !== undefined ? `:${opts.rootPid}` : ''}`;
  }
  return { jobId, start };
}
