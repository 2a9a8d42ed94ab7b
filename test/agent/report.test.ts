// agent/report.ts: building the report, --fail-on, terminal and Markdown summaries (table-driven), schema validity.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { buildReport, failOnMet, markdownSummary, mdCode, mdEscape, parseSeverity, terminalSummary } from '../../agent/report.js';
import type { ReportFinding } from '../../agent/report.js';

const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../agent/report.schema.json', import.meta.url)), 'utf8')) as object;
const validate = new Ajv({ strict: true, allErrors: true }).compile(schema);
const f = (severity: ReportFinding['severity'], ruleId = `r-${severity}`): ReportFinding => ({ ruleId, severity, title: `t ${severity} | pipe`, tags: ['CICD-SEC-4'], evidence: [] });

void t.test('failOnMet', async (t) => {
  const table: Array<[ReportFinding[], string | undefined, boolean]> = [
    [[], 'info', false],
    [[f('info')], undefined, false],
    [[f('info')], 'info', true],
    [[f('medium')], 'high', false],
    [[f('medium'), f('high')], 'high', true],
    [[f('critical')], 'high', true],
    [[f('high')], 'critical', false],
  ];
  for (const [fs, on, want] of table) t.equal(failOnMet(fs, on === undefined ? undefined : parseSeverity(on)), want, `${fs.map((x) => x.severity)} vs ${on}`);
  t.equal(parseSeverity('HIGH'), 'high');
  t.equal(parseSeverity('severe'), undefined);
});

const base = {
  jobId: 'gh:acme_widget:1:1:build',
  start: { provider: 'github', trigger: 'pull_request_target', untrusted: true, fork: true, trustReason: 'pull_request_target runs with the base repository\'s secrets on outside input', repo: 'acme/widget' },
  command: ['bash', 'ci.sh'], startedMs: 1_700_000_000_000, endedMs: 1_700_000_002_500, exitCode: 0,
  base: { processes: 1, filesWritten: 2, secrets: ['NPM_TOKEN'], sensor: 'none' },
};

void t.test('buildReport merges the watch result, sorts findings by severity, validates', async (t) => {
  const table = [
    { name: 'no watch data', watch: { findings: [], summary: {} }, want: { sensor: 'none', processes: 1, secrets: ['NPM_TOKEN'] }, order: [] as string[] },
    {
      name: 'sensor data wins where larger',
      watch: { findings: [f('low'), f('critical'), f('high')], summary: { sensor: 'ebpf', processes: 12, secrets: ['AWS_SECRET_ACCESS_KEY'], egress: [{ dst: '127.7.7.7:443', domain: 'webhook.site', count: 1 }], drops: 3 } },
      want: { sensor: 'ebpf', processes: 12, secrets: ['AWS_SECRET_ACCESS_KEY', 'NPM_TOKEN'], drops: 3 },
      order: ['critical', 'high', 'low'],
    },
  ];
  for (const c of table) {
    const r = buildReport({ ...base, watch: c.watch });
    t.ok(validate(r), `${c.name}: ${JSON.stringify(validate.errors)}`);
    t.match(r.summary, c.want, c.name);
    t.same(r.findings.map((x) => x.severity), c.order, c.name);
    t.equal(r.job.durationMs, 2500);
    t.equal(r.job.startedAt, '2023-11-14T22:13:20.000Z');
  }
  const bad = buildReport({ ...base, watch: { findings: [{ ...f('high'), severity: 'severe' as 'high' }], summary: {} } });
  t.notOk(validate(bad), 'schema rejects an unknown severity');
});

void t.test('terminal summary', async (t) => {
  const none = terminalSummary(buildReport({ ...base, watch: { findings: [], summary: {} } }), '/tmp/r.json');
  t.match(none, /^runwarden: job gh:acme_widget:1:1:build \(github pull_request_target, untrusted\) exit 0 in 2\.5s\n/);
  t.match(none, /findings: none\n/);
  t.match(none, /report: \/tmp\/r\.json\n$/);
  t.match(none, /secrets in env: NPM_TOKEN/);
  const some = terminalSummary(buildReport({ ...base, exitCode: 143, signal: 'SIGTERM', watch: { findings: [f('high'), f('high', 'r2'), f('medium')], summary: {} } }));
  t.match(some, /exit 143 \(SIGTERM\)/);
  t.match(some, /findings: 3 \(2 high, 1 medium\)/);
  t.match(some, /\n {4}HIGH {5}r-high {2}t high \| pipe\n/);
});

void t.test('markdown summary', async (t) => {
  const md = markdownSummary(buildReport({ ...base, watch: { findings: [f('critical', 'proc|mem')], summary: { egress: [{ dst: '1.2.3.4:443', count: 1 }] } } }));
  t.match(md, /^### 🚨 Runwarden: 1 finding\(s\) \(1 critical\)\n/);
  t.match(md, /\| critical \| `proc\\\|mem` \| t critical \\\| pipe \| CICD-SEC-4 \|/);
  t.match(md, /\*\*untrusted\*\*/);
  t.match(md, /- egress: `1\.2\.3\.4:443`/);
  t.match(markdownSummary(buildReport({ ...base, watch: { findings: [], summary: {} } })), /^### ✅ Runwarden: no findings/);
  t.match(markdownSummary(buildReport({ ...base, watch: { findings: [f('low')], summary: {} } })), /^### ⚠️/);
});

void t.test('markdown escaping', async (t) => {
  const table: Array<[string, string, string]> = [
    ['a|b', 'a\\|b', '`a\\|b`'],
    ['<img src=x>', '\\<img src=x\\>', '`<img src=x>`'],
    ['x`y', 'x\\`y', "`x'y`"],
    ['line\nbreak', 'line break', '`line break`'],
  ];
  for (const [i, esc, code] of table) {
    t.equal(mdEscape(i), esc, i);
    t.equal(mdCode(i), code, i);
  }
});
