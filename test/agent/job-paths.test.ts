// agent/job-paths.ts: the path vocabulary rules rely on.
import t from 'tap';
import { classifyPath, jobPathsFromEnv, sensitiveReadPrefixes } from '../../agent/job-paths.js';
import type { JobPaths } from '../../agent/job-paths.js';

const jp: JobPaths = {
  workspace: '/w/ws', home: '/w/home', runnerTemp: '/w/rt', toolCache: '/w/tools', envFile: '/w/rt/fc/set_env',
  pathFile: '/w/rt/fc/add_path', outputFiles: ['/w/rt/fc/step_summary'], runnerRoot: '/opt/runner',
  tracked: new Set(['src/util.c', 'Makefile', '.github/workflows/ci.yml']),
};
const cases: [string, string][] = [
  ['/w/ws/.github/workflows/ci.yml', 'ci-config'],
  ['/w/ws/.github/workflows/new.yml', 'ci-config'],
  ['/w/ws/src/util.c', 'workspace-tracked'],
  ['/w/ws/src/../src/util.c', 'workspace-tracked'],
  ['/w/ws/build/util.o', 'workspace'],
  ['/w/rt/fc/set_env', 'runner-env-file'],
  ['/w/rt/fc/add_path', 'runner-path-file'],
  ['/w/rt/fc/step_summary', 'runner-output-file'],
  ['/w/tools/Python/3.12.1/x64/lib/site.py', 'tool-cache'],
  ['/opt/runner/_work/_actions/actions/checkout/v4/dist/index.js', 'runner-actions'],
  ['/opt/runner/.credentials', 'runner-secret'],
  ['/w/home/.bashrc', 'home-rc'],
  ['/w/home/.ssh/authorized_keys', 'ssh-authorized-keys'],
  ['/w/home/.ssh/id_ed25519', 'ssh-key'],
  ['/w/home/.ssh/id_ed25519.pub', 'home'],
  ['/w/home/.aws/credentials', 'credential-file'],
  ['/w/home/.npmrc', 'credential-file'],
  ['/proc/123/mem', 'proc-mem'],
  ['/proc/123/environ', 'proc-environ'],
  ['/proc/self/maps', 'proc-maps'],
  ['/etc/ld.so.preload', 'ld-preload'],
  ['/etc/sudoers.d/ci', 'sudoers'],
  ['/etc/cron.d/x', 'cron'],
  ['/etc/systemd/system/x.service', 'systemd-unit'],
  ['/etc/resolv.conf', 'resolver-config'],
  ['/tmp/xmrig', 'tmp'],
  ['/w/rt/x', 'tmp'],
  ['/usr/local/bin/x', 'system'],
  ['/srv/data', 'other'],
  ['/w/home/.npm/_cacache/content-v2/sha512/ab/cd/ef', 'shared-cache'],
  ['/w/home/.npm/_logs/2024-debug.log', 'home'],
  ['/w/home/.cache/pip/http/a/b', 'shared-cache'],
  ['/w/home/.cache/yarn/v6/npm-x/index.js', 'shared-cache'],
  ['/w/home/.yarn/berry/cache/x.zip', 'shared-cache'],
  ['/w/home/.m2/repository/org/x/1.0/x.jar', 'shared-cache'],
  ['/w/home/.m2/settings.xml', 'credential-file'],
  ['/w/home/.gradle/caches/modules-2/x', 'shared-cache'],
  ['/w/home/.cargo/registry/src/x/lib.rs', 'shared-cache'],
  ['/w/home/.cargo/credentials.toml', 'credential-file'],
  ['/w/home/go/pkg/mod/github.com/x/y@v1/a.go', 'shared-cache'],
  ['/w/home/.cache/go-build/ab/cd-d', 'shared-cache'],
  ['/w/home/.cache/pipx-not-a-cache', 'home'],
  ['/w/home/.cache/.updater/upd', 'home'],
  ['/root/.cache/pip/wheels/x.whl', 'shared-cache'],
  ['/go/pkg/mod/cache/download/x', 'shared-cache'],
];
for (const [p, want] of cases) t.test(p, async (t) => { t.equal(classifyPath(p, jp), want); });

t.test('a cache kept inside the workspace is the workspace, not a shared cache', async (t) => {
  const inWs: JobPaths = { workspace: '/w/ws', home: '/w/ws/.home' };
  t.equal(classifyPath('/w/ws/.home/.npm/_cacache/index-v5/x', inWs), 'workspace');
});

t.test('sensitive read prefixes cover the credential files', async (t) => {
  const pre = sensitiveReadPrefixes(jp);
  for (const f of ['/w/home/.aws/credentials', '/w/home/.npmrc', '/w/home/.git-credentials', '/w/home/.ssh/id_rsa', '/opt/runner/.credentials']) {
    t.ok(pre.some((p) => f.startsWith(p)), f);
  }
});

t.test('paths from a GitHub runner environment', async (t) => {
  const p = jobPathsFromEnv({ GITHUB_WORKSPACE: '/opt/runner/_work/widget/widget', HOME: '/home/runner', GITHUB_ENV: '/opt/runner/_work/_temp/_runner_file_commands/set_env_1' }, '/opt/runner/_work/widget/widget');
  t.equal(p.runnerRoot, '/opt/runner');
  t.equal(classifyPath('/opt/runner/_work/_actions/actions/checkout/v4/dist/index.js', p), 'runner-actions');
  t.equal(classifyPath('/opt/runner/_work/_tool/node/20/x64/bin/node', p), 'tool-cache');
  t.equal(classifyPath('/opt/runner/_work/_temp/_runner_file_commands/set_env_1', p), 'runner-env-file');
  t.equal(jobPathsFromEnv({}, '/tmp/ws').runnerRoot, undefined);
});

t.test('a path is classified as its normal form: dot segments, doubled and trailing slashes; a directory prefix only at a slash', async (t) => {
  const p: JobPaths = { workspace: '/w/ws', home: '/home/u/' };
  const cases: [string, string][] = [
    ['/w/ws/./.github/workflows/ci.yml', 'ci-config'], ['/w/ws//.github/workflows/ci.yml', 'ci-config'],
    ['/w/ws/x/../.github/workflows/ci.yml', 'ci-config'], ['/w/ws/.github/workflows/ci.yml', 'ci-config'],
    ['/w/ws/out/', 'workspace'], ['/w/ws/.', 'workspace'], ['/w/ws', 'workspace'], ['/w/wsx/file', 'other'],
    ['/w/ws/../../etc/sudoers', 'sudoers'], ['/proc/self/../1/environ', 'proc-environ'], ['/home/u/.npmrc', 'credential-file'],
    ['/home/u/x', 'home'], ['/home/ux/.npmrc', 'other'], ['/w/ws/..hidden', 'workspace'], ['/w/ws/a.', 'workspace'],
  ];
  for (const [path, cls] of cases) t.equal(classifyPath(path, p), cls, path);
});
