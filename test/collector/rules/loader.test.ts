// Rule format: validation problems name file, rule id and line:col; lists/macros expand; overrides by id.
import t from 'tap';
import { expandRefs, formatProblem, guardedKinds, loadRules, parseDurationNs } from '../../../collector/rules/loader.js';

const ok = `
lists:
  tools: [curl, wget]
macros:
  is_tool: 'ev.comm in $tools'
rules:
  - id: r1
    title: tool connects
    severity: medium
    tags: [CICD-SEC-4, T1105]
    condition: 'ev.kind == "net" && $is_tool'
    output: '{ev.comm} connected'
`;

t.test('a valid file compiles, with lists and macros expanded and kinds guarded', async (t) => {
  const r = loadRules([{ path: 'a.yaml', text: ok }]);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.rules.length, 1);
  t.equal(r.rules[0]!.conditionSource, 'ev.kind == "net" && (ev.comm in ["curl", "wget"])');
  t.same([...r.rules[0]!.events!], ['net']);
  t.equal(r.rules[0]!.condition!({ ev: { kind: 'net', comm: 'wget' } }), true);
});

const BAD: [string, string, RegExp][] = [
  ['missing severity', 'rules:\n  - id: x\n    title: t\n    condition: "true"\n    output: o\n', /^b\.yaml:2:5: rule x: severity: must be one of/],
  ['CEL syntax error', 'rules:\n  - id: x\n    title: t\n    severity: low\n    condition: "ev.comm =="\n    output: o\n', /^b\.yaml:5:16: rule x: condition: CEL: Unexpected token/],
  ['unknown function', 'rules:\n  - id: x\n    title: t\n    severity: low\n    condition: "nope(ev)"\n    output: o\n', /rule x: condition: CEL: found no matching overload for 'nope/],
  ['unknown macro', 'rules:\n  - id: x\n    title: t\n    severity: low\n    condition: "$missing"\n    output: o\n', /rule x: condition: unknown list or macro '\$missing'/],
  ['unknown key', 'rules:\n  - id: x\n    title: t\n    severity: low\n    condition: "true"\n    output: o\n    colour: red\n', /^b\.yaml:7:5: rule x: unknown key 'colour'/],
  ['bad id', 'rules:\n  - id: "a b"\n    title: t\n', /^b\.yaml:2:5: rule a b: rule needs an id/],
  ['no condition', 'rules:\n  - id: x\n    title: t\n    severity: low\n    output: o\n', /rule x: needs a condition or a sequence/],
  ['YAML error', 'rules:\n  - id: x\n   title: [\n', /^b\.yaml:\d+:\d+: YAML: /],
  ['duplicate id', 'rules:\n  - {id: x, title: t, severity: low, condition: "true", output: o}\n  - {id: x, title: t, severity: low, condition: "true", output: o}\n', /^b\.yaml:3:5: rule x: duplicate rule id/],
  ['self-referencing macro', 'macros:\n  m: "$m"\nrules:\n  - {id: x, title: t, severity: low, condition: "$m", output: o}\n', /macros nest too deep/],
  ['sequence with one step', 'rules:\n  - id: x\n    title: t\n    severity: low\n    output: o\n    sequence: {scope: tree, within: 5s, steps: [{condition: "true"}]}\n', /sequence: needs at least two steps/],
  ['bad duration', 'rules:\n  - id: x\n    title: t\n    severity: low\n    output: o\n    sequence: {within: soon, steps: [{condition: "true"}, {condition: "true"}]}\n', /within must be a duration/],
  ['unknown top-level key', 'rulez: []\n', /^b\.yaml:1:1: unknown top-level key 'rulez'/],
  ['bad events', 'rules:\n  - {id: x, title: t, severity: low, events: [bogus], condition: "true", output: o}\n', /events: must be a list of event kinds/],
];
for (const [name, text, want] of BAD) {
  t.test(`invalid: ${name}`, async (t) => {
    const r = loadRules([{ path: 'b.yaml', text }]);
    t.notOk(r.ok);
    if (r.ok) return;
    t.match(r.problems.map(formatProblem).join('\n'), want);
  });
}

t.test('all problems of all files are reported together', async (t) => {
  const r = loadRules([
    { path: 'one.yaml', text: 'rules:\n  - {id: a, title: t, severity: bad, condition: "true", output: o}\n' },
    { path: 'two.yaml', text: 'rules:\n  - {id: b, title: t, severity: low, condition: "(", output: o}\n' },
  ]);
  t.notOk(r.ok);
  if (!r.ok) t.same(r.problems.map((p) => `${p.file}:${p.ruleId}`), ['one.yaml:a', 'two.yaml:b']);
});

t.test('later files override fields by id, disable, and append exceptions', async (t) => {
  const base = 'rules:\n  - {id: a, title: t, severity: low, condition: "ev.kind == \\"exec\\"", exceptions: ["ev.comm == \\"make\\""], output: o}\n  - {id: b, title: t, severity: low, condition: "true", output: o}\n';
  const user = 'rules:\n  - {id: a, severity: high, append_exceptions: ["ev.comm == \\"cc\\""]}\n  - {id: b, enabled: false}\n  - {id: c, title: mine, severity: info, condition: "true", output: o}\n';
  const r = loadRules([{ path: 'd.yaml', text: base }, { path: 'u.yaml', text: user }]);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.rules.map((x) => `${x.id}:${x.severity}`), ['a:high', 'c:info']);
  t.equal(r.rules[0]!.exceptions.length, 2);
  t.equal(r.rules[0]!.exceptions[1]!({ ev: { comm: 'cc' } }), true);
});

t.test('an override error points at the overriding file', async (t) => {
  const r = loadRules([
    { path: 'd.yaml', text: 'rules:\n  - {id: a, title: t, severity: low, condition: "true", output: o}\n' },
    { path: 'u.yaml', text: 'rules:\n  - id: a\n    condition: "(("\n' },
  ]);
  t.notOk(r.ok);
  if (!r.ok) t.match(formatProblem(r.problems[0]!), /^u\.yaml:3:16: rule a: condition: CEL/);
});

t.test('guardedKinds: a guard among the top-level conjuncts, or one in every top-level disjunct', async (t) => {
  const cases: [string, string[] | undefined][] = [
    ['ev.kind == "net" && x', ['net']],
    ['ev.kind in ["net", "dns"] && x', ['net', 'dns']],
    ['ev.kind == "net" && a || b', undefined],
    ['ev.kind == "net" && (a || b)', ['net']],
    ['(ev.kind == "net" && a) || ev.kind == "dns"', ['net', 'dns']],
    ['ev.kind == "net" && a || ev.kind == "dns" && b', ['net', 'dns']],
    ['ev.kind == "net" && a || ev.kind == "dns" && b || c', undefined],
    ['ev.kind == "nonsense" && a', undefined],
    ['ev.kind == "net" && a.matches("x||y")', ['net']],
    ['ev.kind == "net" && a.matches("x) || (y")', ['net']],
    ['a && ev.kind == "file"', ['file']],
    ['(a) && ((ev.kind == "exec" && b) || (ev.kind == "file" && c))', ['exec', 'file']],
    ['(ev.kind == "net" && b || ev.kind == "dns" && c) && (d || e)', ['net', 'dns']],
    ['ev.kind in ["net", "dns"] && ev.kind == "dns"', ['dns']],
    ['ev.kind == "net" && ev.kind == "dns"', []],
    ['((ev.kind == "net"))', ['net']],
    ['(ev.kind == "net") || (x)', undefined],
    ['!(ev.kind == "net") && a', undefined],
    ['!(ev.kind == "net" && a)', undefined],
    ['ev.kind == "net" && a ? b : c', undefined],
    ['"ev.kind == \\"net\\"" == s', undefined],
    ['a || b', undefined],
  ];
  for (const [src, want] of cases) t.same(guardedKinds(src) ? [...guardedKinds(src)!] : undefined, want, src);
});

t.test('expandRefs and durations', async (t) => {
  const lists = new Map([['l', ['a', 'b"c']]]);
  const macros = new Map([['m', { text: 'x in $l' }]]);
  t.same(expandRefs('$m && y', lists, macros), { ok: true, text: '(x in ["a", "b\\"c"]) && y' });
  t.same(expandRefs('$zz', lists, macros), { ok: false, message: "unknown list or macro '$zz'" });
  t.equal(parseDurationNs('30s'), 30e9);
  t.equal(parseDurationNs('5m'), 300e9);
  t.equal(parseDurationNs('250ms'), 250e6);
  t.equal(parseDurationNs('1d'), undefined);
});
