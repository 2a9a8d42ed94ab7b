// agent/path-class.ts: sensitive-read classes, write classes and the kernel prefix list, table-driven.
import t from 'tap';
import { parseProcPath, sensitiveClass, sensitivePrefixes, writeClass } from '../../agent/path-class.js';

const ctx = { homes: ['/root', '/home/runner'], workspace: '/home/runner/work/repo/repo', runnerDirs: ['/home/runner/actions-runner'] };

t.test('sensitiveClass', async (t) => {
  const table: [string, string | undefined][] = [
    ['/proc/123/mem', 'proc-mem'], ['/proc/123/maps', 'proc-maps'], ['/proc/123/environ', 'proc-environ'],
    ['/proc/123/task/124/environ', 'proc-environ'], ['/proc/123/stat', undefined], ['/proc/self/environ', undefined],
    ['/root/.aws/credentials', 'credential-file'], ['/home/runner/.npmrc', 'credential-file'], ['/home/runner/.ssh/id_rsa', 'ssh-key'],
    ['/home/runner/.ssh/known_hosts', undefined], ['/home/runner/.kube/config', 'credential-file'], ['/home/other/.npmrc', undefined],
    ['.aws/credentials', 'credential-file'], ['./.git-credentials', 'credential-file'], ['/home/runner/actions-runner/.credentials', 'runner-secret'],
    ['.credentials', 'runner-secret'], ['/etc/passwd', undefined],
  ];
  for (const [p, want] of table) t.equal(sensitiveClass(p, ctx), want, p);
});

t.test('writeClass', async (t) => {
  const table: [string, string][] = [
    ['/home/runner/work/repo/repo/.github/workflows/ci.yml', 'ci-config'], ['/x/.gitlab-ci.yml', 'ci-config'],
    ['/home/runner/work/_temp/_runner_file_commands/set_env_1', 'runner-env-file'],
    ['/home/runner/work/repo/repo/src/a.c', 'workspace'], ['/home/runner/.bashrc', 'home-rc'], ['/root/.cache/pip/x', 'tool-cache'],
    ['/tmp/x', 'tmp'], ['/dev/shm/y', 'tmp'], ['/etc/ld.so.preload', 'system'], ['/srv/data', 'other'],
    ['/home/runner/actions-runner/.runner', 'runner-secret'],
  ];
  for (const [p, want] of table) t.equal(writeClass(p, ctx), want, p);
});

t.test('parseProcPath', async (t) => {
  t.same(parseProcPath('/proc/42/mem'), { pid: 42, file: 'mem', cls: 'proc-mem' });
  t.same(parseProcPath('/proc/42/status'), { pid: 42, file: 'status', cls: undefined });
  t.equal(parseProcPath('/proc/sys/kernel/x'), undefined);
});

t.test('sensitivePrefixes: per home, per runner dir, relative forms, extras, no duplicates', async (t) => {
  const p = sensitivePrefixes(ctx, ['/etc/shadow', '/root/.npmrc']);
  t.ok(p.includes('/root/.aws/credentials'));
  t.ok(p.includes('/home/runner/.ssh/id_'));
  t.ok(p.includes('/home/runner/actions-runner/.credentials'));
  t.ok(p.includes('.aws/credentials'));
  t.ok(p.includes('/etc/shadow'));
  t.equal(p.length, new Set(p).size);
});
