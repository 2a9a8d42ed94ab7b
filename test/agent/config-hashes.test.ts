// agent/config-hashes.ts against real workspaces in t.testdir().
import t from 'tap';
import { createHash } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { hashConfigFiles, packageScriptsDigest } from '../../agent/config-hashes.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

void t.test('hashes CI definitions and build entry points, nothing else', async (t) => {
  const pkg = JSON.stringify({ name: 'x', version: '1.0.0', scripts: { b: '2', a: '1' } });
  const dir = t.testdir({
    '.github': { workflows: { 'ci.yml': 'on: push\n', 'release.yaml': 'on: release\n' } },
    '.gitlab-ci.yml': 'build: {}\n', Jenkinsfile: 'pipeline {}\n', '.buildkite': { 'pipeline.yml': 'steps: []\n' },
    'azure-pipelines.yml': 'x', Makefile: 'all:\n', 'package.json': pkg, 'setup.py': 's', 'pyproject.toml': 'p',
    'build.gradle.kts': 'g', 'pom.xml': '<p/>', scripts: { 'build.sh': 'echo\n' }, 'README.md': 'not hashed', src: { 'a.c': 'int x;' },
  });
  symlinkSync('/etc/hostname', join(dir, 'scripts', 'link.sh'));
  const r = await hashConfigFiles(dir);
  t.same(Object.keys(r.hashes).sort(), [
    '.buildkite/pipeline.yml', '.github/workflows/ci.yml', '.github/workflows/release.yaml', '.gitlab-ci.yml', 'Jenkinsfile', 'Makefile',
    'azure-pipelines.yml', 'build.gradle.kts', 'package.json', 'package.json#scripts', 'pom.xml', 'pyproject.toml', 'scripts/build.sh',
    'scripts/link.sh', 'setup.py',
  ]);
  t.equal(r.hashes['.github/workflows/ci.yml'], sha('on: push\n'));
  t.equal(r.hashes['scripts/link.sh'], sha('symlink:/etc/hostname'), 'symlink not followed');
  t.equal(r.hashes['package.json#scripts'], packageScriptsDigest(JSON.stringify({ scripts: { a: '1', b: '2' }, version: '9' })), 'scripts digest ignores key order and other fields');
  t.same(r.skipped, []);
});

void t.test('limits: file count and size', async (t) => {
  const dir = t.testdir({ scripts: { 'a.sh': 'a', 'b.sh': 'b', 'c.sh': 'c'.repeat(100) }, Makefile: 'm' });
  const r = await hashConfigFiles(dir, { maxFiles: 2, maxFileBytes: 50, maxDirEntries: 10 });
  t.same(Object.keys(r.hashes).sort(), ['Makefile', 'scripts/a.sh']);
  t.same(r.skipped.sort(), ['scripts/b.sh', 'scripts/c.sh']);
  t.same((await hashConfigFiles(join(dir, 'missing'))).hashes, {});
  t.equal(packageScriptsDigest('{not json'), undefined);
});
