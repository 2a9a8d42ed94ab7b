// The default rule pack against hand-written event fixtures: every class has an attack that must be found at
// its severity and a benign look-alike that must stay below medium.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Severity } from '../../../cli/config.js';
import type { Finding } from '../../../collector/finding.js';
import { createEngine, severityRank } from '../../../collector/rules/engine.js';
import { parseEventsJsonl } from '../../../collector/rules/events-jsonl.js';
import { loadRulePack } from '../../../collector/rules/pack.js';
import { setCelOptimizations } from '../../../collector/rules/cel.js';
import type { CompiledRule } from '../../../collector/rules/loader.js';

const dir = fileURLToPath(new URL('../../fixtures/events/', import.meta.url));
const TRUSTED = ['127.0.0.1/32', '::1/128'];
const ALLOW = ['registry.npmjs.org', 'github.com', 'api.github.com', 'objects.githubusercontent.com', 'pypi.org', 'files.pythonhosted.org'];

const loaded = loadRulePack([]);
if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
const rules: CompiledRule[] = loaded.rules;

function run(file: string, pack: CompiledRule[] = rules): { findings: Finding[]; evalErrors: number; lastEvalError: string | undefined } {
  const engine = createEngine({ rules: pack, trustedCidrs: TRUSTED, allowList: ALLOW });
  const findings: Finding[] = [];
  for (const ev of parseEventsJsonl(readFileSync(dir + file, 'utf8'), file)) findings.push(...engine.process(ev));
  findings.push(...engine.endJob('j1'));
  const s = engine.stats();
  return { findings, evalErrors: s.evalErrors, lastEvalError: s.lastEvalError };
}

// class → attack fixture → rules that must fire with at least that severity.
const ATTACKS: [string, string, [string, Severity][]][] = [
  ['1 runner memory', 'runner-memory.attack', [['runner-memory-read', 'critical'], ['download-piped-to-interpreter', 'high']]],
  ['2 environment scraping', 'environ-scrape.attack', [['proc-environ-read', 'high']]],
  ['3 secret exposure', 'secret-exposure.attack', [['secret-in-log', 'medium'], ['secret-in-artifact', 'medium']]],
  ['4 secret-bearing egress', 'secret-egress.attack', [['secret-bearing-egress', 'high'], ['egress-collection-service', 'high']]],
  ['5 credential files', 'credential-files.attack', [['credential-file-read-by-generic-tool', 'high']]],
  ['6 suspicious egress', 'suspicious-egress.attack', [['egress-raw-ip-no-dns', 'high'], ['dns-tunnelling', 'high'], ['cloud-metadata-untrusted', 'high']]],
  ['7 RCE: curl | sh', 'rce-curl-pipe-sh.attack', [['download-piped-to-interpreter', 'high']]],
  ['7 RCE: inline fetch + eval (python, node, perl, ruby)', 'rce-inline-fetch-exec.attack', [['inline-program-fetch-exec', 'high'], ['download-piped-to-interpreter', 'high']]],
  ['7 RCE: dropped binary', 'rce-dropped-binary.attack', [['exec-job-dropped-file', 'high'], ['miner-argv', 'high'], ['egress-mining-pool', 'high']]],
  ['8 reverse shell', 'reverse-shell.attack', [['shell-on-socket', 'high'], ['connect-then-shell', 'high']]],
  ['8 reverse shell (pty.spawn)', 'reverse-shell-pty.attack', [['connect-then-child-shell-on-pty', 'high']]],
  ['9 miner (renamed)', 'miner.attack', [['miner-argv', 'high']]],
  ['10 D-PPE', 'd-ppe.attack', [['ci-definition-written', 'critical'], ['git-push-from-job', 'high']]],
  ['11 I-PPE', 'i-ppe.attack', [['pwn-request-reaches-secrets', 'critical'], ['secret-bearing-egress', 'critical']]],
  ['12 command files', 'command-file.attack', [['runner-env-injection', 'critical']]],
  ['13 persistence', 'persistence.attack', [['job-survivors', 'medium'], ['persistence-file-write', 'high']]],
  ['14 cache poisoning', 'cache-poisoning.attack', [['tool-cache-write', 'high']]],
  ['14 cache poisoning (shared npm cache, fork)', 'cache-poisoning-shared.attack', [['tool-cache-write', 'critical']]],
  ['15 source tampering', 'source-tampering.attack', [['tracked-source-modified', 'critical']]],
  ['15 source tampering (relative paths, no tracked class)', 'source-rewrite.attack', [['source-rewritten-in-place', 'critical']]],
  ['16 container escape', 'container-escape.attack', [['docker-privileged-run', 'critical'], ['host-namespace-or-kernel', 'critical'], ['privilege-escalation-untrusted', 'high'], ['docker-socket-untrusted', 'high']]],
  ['17 watcher tampering', 'watcher-tampering.attack', [['watcher-tamper-exec', 'critical'], ['watcher-tamper-file', 'critical']]],
  ['17 watcher tampering (signals)', 'watcher-killed.attack', [['watcher-killed', 'critical']]],
];

for (const [cls, file, want] of ATTACKS) {
  t.test(`class ${cls}: ${file} is detected`, async (t) => {
    const r = run(`${file}.jsonl`);
    t.equal(r.evalErrors, 0, `no rule evaluation errors (${r.lastEvalError ?? ''})`);
    for (const [ruleId, min] of want) {
      const f = r.findings.filter((x) => x.ruleId === ruleId).sort((a, b) => severityRank(b.severity) - severityRank(a.severity))[0];
      t.ok(f, `${ruleId} fires`);
      if (f) {
        t.ok(severityRank(f.severity) >= severityRank(min), `${ruleId} is ${f.severity}, at least ${min}`);
        t.ok(f.evidence.length >= 1 && f.evidence.every((e) => e.summary.length > 0), 'carries evidence');
        t.ok(f.explanation.length > 0 && f.tags.some((x) => x.startsWith('CICD-SEC-')) && f.tags.some((x) => /^T\d{4}/.test(x)), 'explains and is tagged');
      }
    }
  });
}

t.test('class 7: the inline fetch + eval rule fires once per language (python, node, perl, ruby)', async (t) => {
  const r = run('rce-inline-fetch-exec.attack.jsonl');
  const pids = r.findings.filter((f) => f.ruleId === 'inline-program-fetch-exec').map((f) => f.explanation.replace(/^.*\(pid (\d+),.*$/s, '$1')).sort();
  t.same(pids, ['1001', '1002', '1003', '1004']);
});

t.test('class 17: a signal to the watcher is watcher tampering, not process memory access', async (t) => {
  const r = run('watcher-killed.attack.jsonl');
  t.same([...new Set(r.findings.map((f) => f.ruleId))], ['watcher-killed']);
});

const BENIGN = readdirSync(dir).filter((f) => f.endsWith('.benign.jsonl')).sort();
t.test('every attack fixture has a benign look-alike', async (t) => {
  const stems = new Set(BENIGN.map((f) => f.split('.')[0]!.replace(/-.*$/, '')));
  for (const [, file] of ATTACKS) t.ok(stems.has(file.split('.')[0]!.replace(/-.*$/, '')), `${file} has a .benign fixture`);
});
for (const file of BENIGN) {
  t.test(`benign look-alike ${file} stays below medium`, async (t) => {
    const r = run(file);
    t.equal(r.evalErrors, 0, `no rule evaluation errors (${r.lastEvalError ?? ''})`);
    const loud = r.findings.filter((f) => severityRank(f.severity) >= severityRank('medium'));
    t.same(loud.map((f) => `${f.ruleId}: ${f.explanation}`), []);
  });
}

t.test('every THREATS.md class has at least one rule', async (t) => {
  const classes = ['runner-memory', 'environment-scraping', 'secret-exposure', 'secret-egress', 'credential-files', 'suspicious-egress',
    'remote-code-execution', 'reverse-shell', 'miner', 'd-ppe', 'i-ppe', 'command-file-injection', 'persistence', 'cache-poisoning',
    'source-tampering', 'container-escape', 'watcher-tampering'];
  for (const c of classes) t.ok(rules.some((r) => r.tags.includes(`class:${c}`)), c);
  t.equal(classes.length, 17);
});

t.test('the CEL rewrites change no finding on any fixture', async (t) => {
  setCelOptimizations(false);
  const plain = loadRulePack([]);
  setCelOptimizations(true);
  if (!plain.ok) throw new Error(JSON.stringify(plain.problems));
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  let total = 0;
  for (const f of files) {
    const fast = run(f);
    const slow = run(f, plain.rules);
    total += fast.findings.length;
    t.same(fast.findings.map((x) => [x.ruleId, x.severity, x.explanation]), slow.findings.map((x) => [x.ruleId, x.severity, x.explanation]), f);
    t.equal(fast.evalErrors, slow.evalErrors, `${f}: same evaluation errors`);
  }
  t.ok(total > 20, `the fixtures raise findings to compare (${total})`);
});

t.test('skipping a rule for the kinds its condition rules out changes no finding on any fixture', async (t) => {
  // The default pack gives no `events:` of its own: every kind set is read from a condition (loader guardedKinds).
  const inferred = rules.filter((r) => r.events !== undefined || r.sequence?.steps.some((s) => s.events !== undefined));
  t.ok(inferred.length > 40, `most rules are skipped for some kinds (${inferred.length})`);
  const everyKind = rules.map((r) => ({
    ...r, events: undefined,
    sequence: r.sequence ? { ...r.sequence, steps: r.sequence.steps.map((s) => ({ ...s, events: undefined })) } : undefined,
  }));
  let total = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.jsonl'))) {
    const skipped = run(f);
    const tried = run(f, everyKind);
    total += skipped.findings.length;
    t.same(skipped.findings.map((x) => [x.ruleId, x.severity, x.explanation]), tried.findings.map((x) => [x.ruleId, x.severity, x.explanation]), f);
  }
  t.ok(total > 20, `the fixtures raise findings to compare (${total})`);
});
