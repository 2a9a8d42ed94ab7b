// Table-driven tests of agent/job-context.ts with real-shaped provider env and GitHub event payloads.
import t from 'tap';
import { jobContextFromEnv, normalizeRepoUrl } from '../../agent/job-context.js';
import type { JobStart } from '../../proto/types.js';

const repo = { full_name: 'acme/widget', default_branch: 'main', fork: false };
const prPayload = (headFull: string | null, fork: boolean, number = 42) => ({
  action: 'opened', number, repository: repo, sender: { login: 'mallory' },
  pull_request: {
    number, head: { ref: 'patch-1', sha: 'a'.repeat(40), repo: headFull === null ? null : { full_name: headFull, fork } },
    base: { ref: 'main', repo },
  },
});
const ghEnv = (event: string, ref: string, extra: Record<string, string> = {}) => ({
  GITHUB_ACTIONS: 'true', CI: 'true', GITHUB_REPOSITORY: 'acme/widget', GITHUB_EVENT_NAME: event,
  GITHUB_EVENT_PATH: '/tmp/event.json', GITHUB_REF: ref, GITHUB_RUN_ID: '9001', GITHUB_RUN_ATTEMPT: '1',
  GITHUB_JOB: 'build', GITHUB_WORKFLOW: 'CI', GITHUB_ACTOR: 'dev', GITHUB_WORKSPACE: '/home/runner/work/widget/widget',
  ...extra,
});

interface Case { name: string; env: Record<string, string>; payload?: unknown; want: Partial<JobStart>; jobId?: string | RegExp }

const cases: Case[] = [
  {
    name: 'github push to main',
    env: ghEnv('push', 'refs/heads/main', { GITHUB_REF_PROTECTED: 'true' }),
    payload: { ref: 'refs/heads/main', repository: repo, pusher: { name: 'dev' } },
    want: { provider: 'github', trigger: 'push', untrusted: false, fork: false, repo: 'acme/widget', workflow: 'CI', job: 'build', runId: '9001', ref: 'refs/heads/main', actor: 'dev', workspace: '/home/runner/work/widget/widget', refProtected: true, prNumber: undefined, headRepo: undefined },
    jobId: 'gh:acme_widget:9001:1:build',
  },
  {
    name: 'github schedule',
    env: ghEnv('schedule', 'refs/heads/main'), payload: { schedule: '0 0 * * *', repository: repo },
    want: { trigger: 'schedule', untrusted: false, fork: false },
  },
  {
    name: 'github pull_request from the same repo',
    env: ghEnv('pull_request', 'refs/pull/42/merge', { GITHUB_HEAD_REF: 'patch-1', GITHUB_BASE_REF: 'main' }),
    payload: prPayload('acme/widget', false),
    want: { trigger: 'pull_request', untrusted: false, fork: false, prNumber: 42, headRepo: 'acme/widget', baseRef: 'main' },
  },
  {
    name: 'github pull_request from a fork (fork flag)',
    env: ghEnv('pull_request', 'refs/pull/42/merge', { GITHUB_ACTOR: 'mallory', GITHUB_BASE_REF: 'main' }),
    payload: prPayload('mallory/widget', true),
    want: { untrusted: true, fork: true, prNumber: 42, headRepo: 'mallory/widget', actor: 'mallory', baseRef: 'main' },
  },
  {
    name: 'github pull_request from another repo without the fork flag',
    env: ghEnv('pull_request', 'refs/pull/7/merge'), payload: prPayload('Mallory/Widget-2', false, 7),
    want: { untrusted: true, fork: true, prNumber: 7 },
  },
  {
    name: 'github pull_request whose head repo was deleted',
    env: ghEnv('pull_request', 'refs/pull/9/merge'), payload: prPayload(null, false, 9),
    want: { untrusted: true, fork: true, prNumber: 9 },
  },
  {
    name: 'github pull_request_target from the same repo is still untrusted',
    env: ghEnv('pull_request_target', 'refs/heads/main', { GITHUB_BASE_REF: 'main' }), payload: prPayload('acme/widget', false),
    want: { trigger: 'pull_request_target', untrusted: true, fork: false, prNumber: 42 },
  },
  {
    name: 'github pull_request_target from a fork',
    env: ghEnv('pull_request_target', 'refs/heads/main'), payload: prPayload('mallory/widget', true),
    want: { untrusted: true, fork: true, headRepo: 'mallory/widget' },
  },
  {
    name: 'github issue_comment on a PR',
    env: ghEnv('issue_comment', 'refs/heads/main', { GITHUB_ACTOR: 'rando' }),
    payload: { action: 'created', issue: { number: 12, pull_request: { url: 'https://api.github.com/repos/acme/widget/pulls/12' } }, comment: { body: '/deploy' }, repository: repo, sender: { login: 'rando' } },
    want: { trigger: 'issue_comment', untrusted: true, prNumber: 12, actor: 'rando' },
  },
  {
    name: 'github workflow_run from a fork PR',
    env: ghEnv('workflow_run', 'refs/heads/main'),
    payload: { action: 'completed', repository: repo, workflow_run: { event: 'pull_request', head_branch: 'patch-1', head_repository: { full_name: 'mallory/widget' }, pull_requests: [] } },
    want: { trigger: 'workflow_run', untrusted: true, fork: true, headRepo: 'mallory/widget' },
  },
  {
    name: 'github unknown trigger fails closed',
    env: ghEnv('some_new_event', 'refs/heads/main'), payload: {},
    want: { trigger: 'some_new_event', untrusted: true },
  },
  {
    name: 'github payload unreadable: PR number from the ref, not a fork by default',
    env: ghEnv('pull_request', 'refs/pull/5/merge'), payload: new Error('ENOENT'),
    want: { untrusted: false, prNumber: 5 },
  },
  {
    name: 'gitlab push to protected branch',
    env: { GITLAB_CI: 'true', CI_PIPELINE_SOURCE: 'push', CI_PROJECT_ID: '11', CI_PROJECT_PATH: 'acme/widget', CI_PIPELINE_ID: '500', CI_JOB_ID: '7001', CI_JOB_NAME: 'build', CI_COMMIT_BRANCH: 'main', CI_COMMIT_REF_NAME: 'main', CI_COMMIT_REF_PROTECTED: 'true', GITLAB_USER_LOGIN: 'dev', CI_PROJECT_DIR: '/builds/acme/widget' },
    want: { provider: 'gitlab', trigger: 'push', untrusted: false, fork: false, ref: 'refs/heads/main', refProtected: true, runId: '500', workspace: '/builds/acme/widget', actor: 'dev' },
    jobId: 'gl:acme_widget:7001',
  },
  {
    name: 'gitlab merge request from a fork',
    env: { GITLAB_CI: 'true', CI_PIPELINE_SOURCE: 'merge_request_event', CI_PROJECT_ID: '11', CI_MERGE_REQUEST_PROJECT_ID: '11', CI_MERGE_REQUEST_SOURCE_PROJECT_ID: '99', CI_MERGE_REQUEST_SOURCE_PROJECT_PATH: 'mallory/widget', CI_MERGE_REQUEST_IID: '3', CI_MERGE_REQUEST_TARGET_BRANCH_NAME: 'main', CI_PROJECT_PATH: 'acme/widget', CI_COMMIT_REF_NAME: 'patch-1' },
    want: { untrusted: true, fork: true, prNumber: 3, headRepo: 'mallory/widget', baseRef: 'main' },
  },
  {
    name: 'gitlab merge request from the same project',
    env: { GITLAB_CI: 'true', CI_PIPELINE_SOURCE: 'merge_request_event', CI_PROJECT_ID: '11', CI_MERGE_REQUEST_PROJECT_ID: '11', CI_MERGE_REQUEST_SOURCE_PROJECT_ID: '11', CI_MERGE_REQUEST_IID: '4' },
    want: { untrusted: false, fork: false, prNumber: 4 },
  },
  {
    name: 'gitlab unknown pipeline source fails closed',
    env: { GITLAB_CI: 'true', CI_PIPELINE_SOURCE: 'mystery', CI_PROJECT_ID: '11' },
    want: { untrusted: true },
  },
  {
    name: 'buildkite branch build',
    env: { BUILDKITE: 'true', BUILDKITE_BUILD_ID: 'u-1', BUILDKITE_JOB_ID: 'j-1', BUILDKITE_BUILD_NUMBER: '88', BUILDKITE_PIPELINE_SLUG: 'widget', BUILDKITE_ORGANIZATION_SLUG: 'acme', BUILDKITE_REPO: 'git@github.com:acme/widget.git', BUILDKITE_BRANCH: 'main', BUILDKITE_PULL_REQUEST: 'false', BUILDKITE_SOURCE: 'webhook', BUILDKITE_BUILD_CHECKOUT_PATH: '/var/lib/buildkite/builds/widget' },
    want: { provider: 'buildkite', untrusted: false, fork: false, repo: 'github.com/acme/widget', workflow: 'acme/widget', runId: '88', ref: 'refs/heads/main', trigger: 'webhook', workspace: '/var/lib/buildkite/builds/widget' },
    jobId: 'bk:j-1',
  },
  {
    name: 'buildkite PR from the same repo spelled differently',
    env: { BUILDKITE: 'true', BUILDKITE_BUILD_ID: 'u-2', BUILDKITE_REPO: 'git@github.com:acme/widget.git', BUILDKITE_PULL_REQUEST: '15', BUILDKITE_PULL_REQUEST_REPO: 'https://github.com/acme/widget.git', BUILDKITE_PULL_REQUEST_BASE_BRANCH: 'main' },
    want: { untrusted: false, fork: false, prNumber: 15, trigger: 'pull_request', baseRef: 'main' },
  },
  {
    name: 'buildkite PR from a fork',
    env: { BUILDKITE: 'true', BUILDKITE_BUILD_ID: 'u-3', BUILDKITE_REPO: 'git@github.com:acme/widget.git', BUILDKITE_PULL_REQUEST: '16', BUILDKITE_PULL_REQUEST_REPO: 'git://github.com/mallory/widget.git' },
    want: { untrusted: true, fork: true, prNumber: 16, headRepo: 'github.com/mallory/widget' },
  },
  {
    name: 'jenkins branch build',
    env: { JENKINS_URL: 'https://ci.example/', JOB_NAME: 'widget/main', BUILD_NUMBER: '31', BUILD_TAG: 'jenkins-widget-main-31', BRANCH_NAME: 'main', GIT_URL: 'https://github.com/acme/widget.git', WORKSPACE: '/var/jenkins/ws/widget' },
    want: { provider: 'jenkins', untrusted: false, fork: false, trigger: 'push', ref: 'refs/heads/main', repo: 'github.com/acme/widget', workspace: '/var/jenkins/ws/widget' },
    jobId: 'jk:jenkins-widget-main-31',
  },
  {
    name: 'jenkins PR from a fork',
    env: { JENKINS_URL: 'https://ci.example/', JOB_NAME: 'widget/PR-8', BUILD_NUMBER: '2', CHANGE_ID: '8', CHANGE_FORK: 'mallory', CHANGE_TARGET: 'main', CHANGE_AUTHOR: 'mallory' },
    want: { trigger: 'pull_request', untrusted: true, fork: true, prNumber: 8, headRepo: 'mallory', baseRef: 'main', actor: 'mallory' },
  },
  {
    name: 'jenkins PR from origin',
    env: { JENKINS_URL: 'https://ci.example/', CHANGE_ID: '9', CHANGE_TARGET: 'main' },
    want: { trigger: 'pull_request', untrusted: false, fork: false, prNumber: 9 },
  },
  {
    name: 'generic',
    env: { USER: 'alice', PATH: '/usr/bin' },
    want: { provider: 'generic', trigger: 'manual', untrusted: false, fork: false, actor: 'alice', workspace: '/src/app', rootPid: 4242 },
    jobId: 'local:1700000000000000000:4242',
  },
];

for (const c of cases) {
  void t.test(c.name, async (t) => {
    const reads: string[] = [];
    const ctx = jobContextFromEnv(c.env, (p) => {
      reads.push(p);
      if (c.payload instanceof Error) throw c.payload;
      return c.payload;
    }, 1_700_000_000_000_000_000, { cwd: '/src/app', rootPid: 4242 });
    for (const [k, v] of Object.entries(c.want)) t.same(ctx.start[k as keyof JobStart], v, k);
    t.type(ctx.start.trustReason, 'string');
    t.ok((ctx.start.trustReason ?? '').length > 10, 'reason says why');
    if (c.jobId instanceof RegExp) t.match(ctx.jobId, c.jobId);
    else if (c.jobId !== undefined) t.equal(ctx.jobId, c.jobId);
    if (c.env.GITHUB_EVENT_PATH) t.same(reads, [c.env.GITHUB_EVENT_PATH], 'payload read once');
    else t.same(reads, []);
    for (const v of Object.values(ctx.start)) t.not(v, '', 'no empty strings');
  });
}

void t.test('normalizeRepoUrl', async (t) => {
  const table: Array<[string, string]> = [
    ['git@github.com:acme/widget.git', 'github.com/acme/widget'],
    ['https://github.com/Acme/Widget.git', 'github.com/acme/widget'],
    ['ssh://git@github.com:22/acme/widget', 'github.com/acme/widget'],
    ['https://user@gitlab.example/acme/widget/', 'gitlab.example/acme/widget'],
  ];
  for (const [i, o] of table) t.equal(normalizeRepoUrl(i), o, i);
});
