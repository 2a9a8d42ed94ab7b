// CEL adapter: helper functions and compile errors with offsets.
import t from 'tap';
import { compileCel, globToRegExp } from '../../../collector/rules/cel.js';

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
