// agent/command-runner.ts with real processes, real pipes and real ptys: exit statuses, the transform hook,
// backpressure, and no leaked fds or children after a job.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { runCommand } from '../../agent/command-runner.js';
import type { OutputStream, OutputTransform } from '../../agent/command-runner.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' };
const fds = (): number => readdirSync('/proc/self/fd').length;
function children(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

async function run(argv: string[], usePty: boolean, extra: { wrapOutput?: (s: OutputStream) => OutputTransform; slowSink?: boolean } = {}) {
  const got: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const r = runCommand({
    argv, cwd: process.cwd(), env, usePty, cols: 90, rows: 20, forwardSignals: false,
    onOutput: (c, s) => {
      got[s].push(c);
      return extra.slowSink ? new Promise((res) => setImmediate(res)) : undefined;
    },
    ...(extra.wrapOutput ? { wrapOutput: extra.wrapOutput } : {}),
  });
  const exit = await r.done;
  return { exit, pid: r.pid, stdout: Buffer.concat(got.stdout).toString(), stderr: Buffer.concat(got.stderr).toString() };
}

for (const usePty of [false, true]) {
  const mode = usePty ? 'pty' : 'pipes';
  void t.test(`${mode}: exit codes and signals`, async (t) => {
    const table: Array<[string[], number, string | undefined]> = [
      [['true'], 0, undefined],
      [['sh', '-c', 'exit 7'], 7, undefined],
      [['sh', '-c', 'kill -TERM $$'], 143, 'SIGTERM'],
      [['sh', '-c', 'kill -KILL $$'], 137, 'SIGKILL'],
    ];
    for (const [argv, code, sig] of table) {
      const r = await run(argv, usePty);
      t.equal(r.exit.exitCode, code, argv.join(' '));
      t.equal(r.exit.signal, sig, argv.join(' '));
    }
  });

  void t.test(`${mode}: kill() reaches the child`, async (t) => {
    const r = runCommand({ argv: ['sleep', '30'], cwd: '/', env, usePty, forwardSignals: false, onOutput: () => undefined });
    setTimeout(() => r.kill('SIGINT'), 100);
    t.same(await r.done, { exitCode: 130, signal: 'SIGINT' });
  });

  void t.test(`${mode}: the transform sees every byte in order and its held-back tail is flushed`, async (t) => {
    // Holds back the tail of each chunk, as a redactor would for a secret split across chunks.
    // Keeps len('SECRET')-1 bytes back, so a split secret is whole when replaced.
    const wrap = (): OutputTransform => {
      let held = Buffer.alloc(0);
      return {
        push: (c) => {
          const all = Buffer.from(Buffer.concat([held, c]).toString().replace(/SECRET/g, '******'));
          held = all.subarray(Math.max(0, all.length - 5));
          return all.subarray(0, all.length - held.length);
        },
        end: () => held,
      };
    };
    const r = await run(['sh', '-c', 'printf SEC; sleep 0.05; printf RET; sleep 0.05; printf " done"'], usePty, { wrapOutput: wrap });
    t.equal(r.stdout, '****** done');
  });

  void t.test(`${mode}: no leaked fds or children after jobs`, async (t) => {
    await run(['true'], usePty); // warm-up: lazily opened fds (libuv signal pipe, pty helper) are not leaks
    const before = fds();
    for (let i = 0; i < 5; i++) await run(['sh', '-c', 'echo x; echo y >&2'], usePty);
    await new Promise((r) => setTimeout(r, 300));
    t.equal(fds(), before, 'fd count back where it was');
    t.same(children(), [], 'no child processes left');
  });
}

void t.test('pipes: stdout and stderr stay apart; a slow sink gets everything (backpressure)', async (t) => {
  const r = await run(['sh', '-c', 'echo out; echo err >&2; head -c 3000000 /dev/zero | tr "\\0" a'], false, { slowSink: true });
  t.equal(r.stderr, 'err\n');
  t.equal(r.stdout.length, 4 + 3_000_000);
});

void t.test('pipes: a background descendant holding the pipe does not hang the job', async (t) => {
  const t0 = Date.now();
  const r = runCommand({ argv: ['sh', '-c', 'sleep 5 & echo started'], cwd: '/', env, usePty: false, forwardSignals: false, drainGraceMillis: 200, onOutput: () => undefined });
  const exit = await r.done;
  t.equal(exit.exitCode, 0);
  t.ok(Date.now() - t0 < 2000, `returned in ${Date.now() - t0} ms`);
});

void t.test('pty: size from the options, colours and CRLF as a terminal makes them', async (t) => {
  const r = await run(['sh', '-c', 'stty size; printf "\\033[1;32mok\\033[0m\\n"'], true);
  t.match(r.stdout, /^20 90\r\n/);
  t.ok(r.stdout.includes('\x1b[1;32mok\x1b[0m\r\n'));
});

void t.test('a missing command: 127 and a message', async (t) => {
  const r = await run(['/nonexistent/cmd'], false);
  t.equal(r.exit.exitCode, 127);
  t.match(r.stderr, /cannot run \/nonexistent\/cmd/);
  t.throws(() => runCommand({ argv: [], cwd: '/', env, usePty: false, onOutput: () => undefined }), { code: 'CLI_ERR_USAGE' });
});

void t.test('signal forwarding: handlers installed while running, removed after', async (t) => {
  const before = process.listenerCount('SIGTERM');
  const r = runCommand({ argv: ['sleep', '30'], cwd: '/', env, usePty: false, onOutput: () => undefined });
  t.equal(process.listenerCount('SIGTERM'), before + 1);
  setTimeout(() => process.kill(process.pid, 'SIGTERM'), 100);
  t.same(await r.done, { exitCode: 143, signal: 'SIGTERM' });
  t.equal(process.listenerCount('SIGTERM'), before);
});
