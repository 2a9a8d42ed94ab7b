// Runs a table of scenario variants (attacks and benign look-alikes) two at a time under `runwarden run`,
// then asserts per variant: severity reached (or stayed below medium) and no secret value in the report.
import type { Test } from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNet, runJob, topSeverity, ruleSummary, leakedSecrets, events, cleanup, pool, SEV, type Net, type JobSpec, type RunResult } from './scenario-world.js';

/** THREATS.md class → the `class:` tag its rules carry. */
export const CLASS_TAGS: Record<number, string[]> = {
  1: ['class:runner-memory'], 2: ['class:environment-scraping'], 3: ['class:secret-exposure'], 4: ['class:secret-egress'],
  5: ['class:credential-files'], 6: ['class:suspicious-egress'], 7: ['class:remote-code-execution'], 8: ['class:reverse-shell'],
  9: ['class:miner'], 10: ['class:d-ppe'], 11: ['class:i-ppe'], 12: ['class:command-file-injection'], 13: ['class:persistence'],
  14: ['class:cache-poisoning'], 15: ['class:source-tampering'], 16: ['class:container-escape', 'class:privilege'], 17: ['class:watcher-tampering'],
};

export interface Variant {
  cls: number | 'benign';
  name: string;
  /** Minimum severity an attack must reach; benign variants must stay below medium. */
  min?: 'medium' | 'high' | 'critical';
  spec: (net: Net) => Omit<JobSpec, 'name'>;
  /** Known miss: the test stays, marked todo with the reason (see the report for event evidence). */
  todo?: string;
}

export function runSuite(t: Test, all: Variant[], setup?: (net: Net) => Promise<() => Promise<void>>): void {
  // RWSCEN_ONLY=substring runs only the variants whose name contains it (for a developer chasing one case).
  const only = process.env.RWSCEN_ONLY;
  const variants = only ? all.filter((v) => v.name.includes(only)) : all;
  t.test('scenarios', async (t) => {
    const net = await startNet();
    const teardown = setup ? await setup(net) : undefined;
    t.teardown(async () => { await teardown?.(); await net.close(); });
    // Serial by default: with two runs at once, one run lost most of its events (see the scenario report).
    const results = await pool(variants, Number(process.env.RWSCEN_PARALLEL ?? 1), async (v) => runJob({ name: v.name, ...v.spec(net) }));
    t.teardown(() => { for (const r of results) cleanup(r); });
    variants.forEach((v, i) => {
      const r = results[i] as RunResult;
      const title = `${v.cls === 'benign' ? 'benign' : `class ${v.cls}`}: ${v.name}`;
      const opts = v.todo ? { todo: v.todo } : {};
      t.test(title, opts, async (t) => {
        t.ok(r.report, 'report written');
        const top = topSeverity(r);
        const rules = ruleSummary(r);
        if (v.cls === 'benign') {
          t.equal(r.code, 0, 'the benign job itself succeeded');
          t.ok(top < SEV.medium!, `no finding at or above medium (got: ${rules || 'none'})`);
        } else {
          const need = SEV[v.min ?? 'high']!;
          t.ok(top >= need, `a finding at or above ${v.min ?? 'high'} (got: ${rules || 'none'})`);
          const tags = CLASS_TAGS[v.cls] ?? [];
          const own = (r.report?.findings ?? []).filter((f) => (f as { tags?: string[] }).tags?.some((x) => tags.includes(x)));
          t.ok(own.some((f) => (SEV[f.severity] ?? -1) >= need), `a rule of class ${v.cls} (${tags.join('/')}) fires at or above ${v.min ?? 'high'}`);
        }
        t.same(leakedSecrets(r), [], 'no secret value (plain, base64, hex, URL) in the report');
        if (process.env.RWSCEN_VERBOSE || (v.cls === 'benign' ? top >= SEV.medium! : !classHit(r, v))) {
          t.comment(`${title} exit=${r.code} ${r.ms}ms rules=[${rules}]`);
          if (process.env.RWSCEN_EVENTS) t.comment(events(r).split('\n').filter((l) => !l.includes('"kind":"status"')).map((l) => l.slice(0, 600)).join('\n'));
          t.comment(r.output.split('\n').slice(-12).join('\n'));
          const dir = process.env.RWSCEN_EVIDENCE;
          if (dir) { mkdirSync(dir, { recursive: true }); writeFileSync(join(dir, title.replace(/[^a-z0-9]+/gi, '_') + '.jsonl'), events(r)); }
        }
      });
    });
  });
}

function classHit(r: RunResult, v: Variant): boolean {
  const tags = typeof v.cls === 'number' ? CLASS_TAGS[v.cls] ?? [] : [];
  const need = SEV[v.min ?? 'high'] ?? 3;
  return (r.report?.findings ?? []).some((f) => (f as { tags?: string[] }).tags?.some((x) => tags.includes(x)) && (SEV[f.severity] ?? -1) >= need);
}
