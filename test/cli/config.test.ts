// cli/config.ts: defaults, precedence, and every problem reported at once with key and value.
import t from 'tap';
import { DEFAULTS, envName, formatProblems, parseConfig, parseConfigText } from '../../cli/config.js';

t.test('defaults are returned frozen', async (t) => {
  const r = parseConfig(undefined, {});
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.config, DEFAULTS);
  t.ok(Object.isFrozen(r.config.network.trusted));
});

t.test('precedence flag > env > file > default', async (t) => {
  const r = parseConfig({ collector: { port: 9000 } }, { RUNWARDEN_COLLECTOR_PORT: '9001' }, { collector: { port: 9002 } });
  t.ok(r.ok && r.config.collector.port === 9002);
  const r2 = parseConfig({ collector: { port: 9000 } }, { RUNWARDEN_COLLECTOR_PORT: '9001' });
  t.ok(r2.ok && r2.config.collector.port === 9001);
  const r3 = parseConfig({ collector: { port: 9000 } }, {});
  t.ok(r3.ok && r3.config.collector.port === 9000);
});

t.test('env names', async (t) => {
  t.equal(envName('agent', 'spoolMaxBytes'), 'RUNWARDEN_AGENT_SPOOL_MAX_BYTES');
  const r = parseConfig({}, { RUNWARDEN_NETWORK_ALLOW: 'github.com, registry.npmjs.org' });
  t.ok(r.ok && r.config.network.allow.length === 2);
});

const bad: [string, unknown, Record<string, string>, string[]][] = [
  ['unknown section', { colector: {} }, {}, ['colector']],
  ['unknown key', { collector: { prot: 1 } }, {}, ['collector.prot']],
  ['bad port', { collector: { port: 70000 } }, {}, ['collector.port']],
  ['port as string', { collector: { port: 'eighty' } }, {}, ['collector.port']],
  ['bad cidr', { network: { trusted: ['10.0.0.0/33', 'nope'] } }, {}, ['network.trusted']],
  ['bad env', {}, { RUNWARDEN_COLLECTOR_PORT: 'x' }, ['RUNWARDEN_COLLECTOR_PORT']],
  ['bad enum', { agent: { sensor: 'kprobe' } }, {}, ['agent.sensor']],
  ['bad token', { collector: { tokens: [{ agentId: 'a', sha256: 'abc' }] } }, {}, ['collector.tokens']],
  ['bad sink', { collector: { alerts: [{ type: 'webhook', url: 'ftp://x', color: 1 }] } }, {}, ['collector.alerts[0].color', 'collector.alerts[0].url']],
  ['several at once', { collector: { port: -1 }, log: { level: 'loud' } }, {}, ['collector.port', 'log.level']],
  ['root not a mapping', [1, 2], {}, ['(root)']],
];
for (const [name, raw, env, keys] of bad) {
  t.test(name, async (t) => {
    const r = parseConfig(raw, env);
    t.notOk(r.ok);
    if (r.ok) return;
    t.same(r.problems.map((p) => p.key).sort(), [...keys].sort());
    const text = formatProblems(r.problems);
    for (const k of keys) t.match(text, k);
  });
}

t.test('YAML and JSON text', async (t) => {
  const y = parseConfigText('network:\n  allow: [github.com]\n', 'c.yaml');
  t.ok(y.ok);
  const j = parseConfigText('{"network": {"allow": ["github.com"]}}', 'c.json');
  t.ok(j.ok);
  const b = parseConfigText('network: [unclosed', 'c.yaml');
  t.notOk(b.ok);
  if (!b.ok) t.equal(b.problems[0]?.key, 'c.yaml');
});
