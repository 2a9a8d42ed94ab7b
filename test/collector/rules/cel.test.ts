// CEL adapter: helper functions and compile errors with offsets.
import t from 'tap';
import { compileCel, globToRegExp, setCelOptimizations } from '../../../collector/rules/cel.js';

const cases: [string, Record<string, unknown>, unknown][] = [
  ['basename("/a/b/c.sh")', {}, 'c.sh'],
  ['dirname("/a/b/c.sh")', {}, '/a/b'],
  ['glob("/etc/cron.d/x", "/etc/cron*/**")', {}, true],
  ['glob("/etc/crontab", "/etc/cron*")', {}, true],
  ['glob("/etc/a/b", "/etc/*")', {}, false],
  ['globAny("/home/u/.ssh/authorized_keys2", ["**/.ssh/authorized_keys*"])', {}, true],
  ['inCidrs("10.1.2.3", ["10.0.0.0/8"])', {}, true],
  ['inCidrs("11.1.2.3", ["10.0.0.0/8"])', {}, false],
  ['inCidrs("::1", ["::1/128"])', {}, true],
  ['domainIn("a.webhook.site", ["webhook.site"])', {}, true],
  ['domainIn("notwebhook.site", ["webhook.site"])', {}, false],
  ['isIp("1.2.3.4") && !isIp("example.com")', {}, true],
  ['entropy("aaaa") == 0.0', {}, true],
  ['containsAny("curl x | sh", ["| sh", "|sh"])', {}, true],
  ['anyContains(["a", "xyz"], "y")', {}, true],
  ['ev.pid == 5 && ev.comm.startsWith("py")', { ev: { pid: 5, comm: 'python3' } }, true],
];
for (const [src, ctx, want] of cases) {
  t.test(src, async (t) => {
    const c = compileCel(src);
    t.ok(c.ok);
    if (c.ok) t.same(c.evaluate(ctx), want);
  });
}

t.test('errors carry a message and an offset', async (t) => {
  const c = compileCel('ev.a && (');
  t.notOk(c.ok);
  if (!c.ok) { t.match(c.message, /Unexpected token/); t.equal(c.offset, 9); }
  const u = compileCel('frob(1)');
  t.notOk(u.ok);
});

t.test('glob translation', async (t) => {
  t.ok(globToRegExp('a/*.c').test('a/x.c'));
  t.notOk(globToRegExp('a/*.c').test('a/b/x.c'));
  t.ok(globToRegExp('a/**').test('a/b/x.c'));
  t.ok(globToRegExp('f?.txt').test('f1.txt'));
  t.notOk(globToRegExp('a+b').test('aab'));
});

// The AST rewrites (constant string lists as sets, precompiled `matches` patterns) must not change any result.
const rewritten: [string, Record<string, unknown>][] = [
  ['x in ["a", "b", "c"]', { x: 'b' }],
  ['x in ["a", "b", "c"]', { x: 'z' }],
  ['x in ["a", "b"]', { x: null }],
  ['x in ["a", "b"]', { x: 3 }],
  ['x in ["a", "b"]', { x: ['a'] }],
  ['l.exists(a, a in ["-e", "--exec"])', { l: ['nc', '-e', '/bin/sh'] }],
  ['l.exists(a, a in ["-e", "--exec"])', { l: ['nc', '-l'] }],
  ['["a", "b"] == ["a", "b"]', {}],
  ['size(["a", "b"] + ["c"])', {}],
  ['s.matches("(-t|--target)[ =]?1( |$)")', { s: 'nsenter -t 1 -m' }],
  ['s.matches("(-t|--target)[ =]?1( |$)")', { s: 'nsenter -t 12' }],
  ['s.lowerAscii().matches("stratum[0-9]?\\\\+(tcp|ssl)://")', { s: 'X STRATUM+TCP://pool' }],
  ['s.matches("a+")', { s: 7 }],
  ['s.matches("(")', { s: 'x' }],
  ['m.k in ["a"]', { m: {} }],
];
t.test('rewritten expressions evaluate as the library does', async (t) => {
  const evalWith = (on: boolean, src: string, ctx: Record<string, unknown>): unknown => {
    setCelOptimizations(on);
    try {
      const c = compileCel(src);
      if (!c.ok) return `compile error: ${c.message}`;
      try { return c.evaluate(ctx); } catch (e) { return `error: ${(e as Error).message.split('\n')[0] ?? ''}`; }
    } finally {
      setCelOptimizations(true);
    }
  };
  for (const [src, ctx] of rewritten) t.same(evalWith(true, src, ctx), evalWith(false, src, ctx), `${src} with ${JSON.stringify(ctx)}`);
  t.equal(evalWith(true, 'x in ["a", "b"]', { x: 'a' }), true, 'the comparison is not vacuous');
});
