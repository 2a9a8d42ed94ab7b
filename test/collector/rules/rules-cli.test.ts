// `runwarden rules lint|test` through the built CLI: exit codes, positions in errors, findings printed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'cli/runwarden.js');
const fixtures = join(root, 'test/fixtures/events');
const built = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { encoding: 'utf8' });
if (built.status !== 0) throw new Error(`build failed: ${built.stdout}${built.stderr}`);

function rw(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('lint: a good user file over the default pack exits 0', async (t) => {
  const dir = t.testdir({ 'mine.yaml': 'rules:\n  - {id: secret-in-argv, enabled: false}\n  - {id: my-rule, title: t, severity: low, tags: [x], condition: \'ev.kind == "exec" && ev.comm in $shells\', output: o}\n' });
  const r = rw('rules', 'lint', join(dir, 'mine.yaml'));
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^ok: \d+ rules/);
});

t.test('lint: problems name file, line:col and rule, exit 2', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'rules:\n  - id: broken\n    title: t\n    severity: loud\n    condition: "ev.kind == "\n    output: o\n' });
  const r = rw('rules', 'lint', '--no-defaults', join(dir, 'bad.yaml'));
  t.equal(r.code, 2);
  t.match(r.err, /bad\.yaml:4:15: rule broken: severity: must be one of/);
  t.match(r.err, /bad\.yaml:5:16: rule broken: condition: CEL: /);
  t.equal(rw('rules', 'lint', '/nonexistent.yaml').code, 2);
  t.equal(rw('rules', 'lint').code, 2, 'usage');
});

t.test('test: findings printed and exit 1; clean events exit 0', async (t) => {
  const a = rw('rules', 'test', 'default', join(fixtures, 'runner-memory.attack.jsonl'));
  t.equal(a.code, 1, a.err);
  t.match(a.out, /CRITICAL runner-memory-read/);
  t.match(a.out, /#\d+ read \/proc\/50\/maps/);
  const b = rw('rules', 'test', 'default', join(fixtures, 'packaging.benign.jsonl'));
  t.equal(b.code, 0, b.out + b.err);
  t.match(b.out, /0 finding\(s\)/);
  const j = rw('rules', 'test', '--format', 'jsonl', 'default', join(fixtures, 'command-file.attack.jsonl'));
  const lines = j.out.trim().split('\n').map((l) => JSON.parse(l) as { ruleId: string });
  t.same(lines.map((l) => l.ruleId), ['runner-env-injection']);
});

t.test('test: a user file can disable a default rule', async (t) => {
  const dir = t.testdir({ 'off.yaml': 'rules:\n  - {id: runner-env-injection, enabled: false}\n' });
  const r = rw('rules', 'test', join(dir, 'off.yaml'), join(fixtures, 'command-file.attack.jsonl'));
  t.equal(r.code, 0, r.out);
});

t.test('test: bad events file is a usage error', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'e.jsonl'), '{"kind":"bogus"}\n');
  const r = rw('rules', 'test', 'default', join(dir, 'e.jsonl'));
  t.equal(r.code, 2);
  t.match(r.err, /e\.jsonl:1: kind must be one of/);
});
