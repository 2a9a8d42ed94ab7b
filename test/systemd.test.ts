// systemd units verify with systemd-analyze; install.sh and hook scripts parse; hooks call `runwarden job`
// with the job root and never fail the job.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const UNITS = ['runwarden-agent.service', 'runwarden-collector.service'];

void t.test('units pass systemd-analyze verify', async (t) => {
  const which = spawnSync('sh', ['-c', 'command -v systemd-analyze']);
  if (which.status !== 0) { t.fail('systemd-analyze not installed (apt-get install systemd)'); return; }
  // verify insists that ExecStart exists: point it at this checkout's shim instead of /usr/local/bin.
  const dir = t.testdir();
  for (const u of UNITS) {
    writeFileSync(join(dir, u), readFileSync(join(ROOT, 'systemd', u), 'utf8').replaceAll('/usr/local/bin/runwarden', join(ROOT, 'cli/runwarden.js')));
  }
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...UNITS.map((u) => join(dir, u))], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr.trim(), '', 'no warnings');
  // A broken directive must make verify fail: the check can fail.
  writeFileSync(join(dir, 'broken.service'), '[Service]\nExecStart=relative/path\nProtectSystem=sometimes\n');
  t.not(spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, 'broken.service')]).status, 0);
});

void t.test('hardening present', async (t) => {
  const agent = readFileSync(join(ROOT, 'systemd/runwarden-agent.service'), 'utf8');
  const coll = readFileSync(join(ROOT, 'systemd/runwarden-collector.service'), 'utf8');
  for (const d of ['ProtectSystem=strict', 'NoNewPrivileges=yes', 'Restart=on-failure', 'StateDirectory=runwarden/agent', 'RuntimeDirectory=runwarden', 'ProtectHome=read-only']) t.match(agent, d);
  t.match(agent, /^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_SYS_RESOURCE CAP_NET_RAW$/m);
  for (const d of ['ProtectSystem=strict', 'ProtectHome=yes', 'NoNewPrivileges=yes', 'User=runwarden', 'StateDirectory=runwarden/collector']) t.match(coll, d);
  t.match(coll, /^CapabilityBoundingSet=$/m);
  // Stop timeout above the agent's flush deadline (config default 5 s).
  const { DEFAULTS } = await import('../cli/config.js');
  const stop = Number(/^TimeoutStopSec=(\d+)s$/m.exec(agent)?.[1]);
  t.ok(stop * 1000 > DEFAULTS.agent.flushDeadlineMillis + 5000, `TimeoutStopSec ${stop}s`);
});

void t.test('shell scripts parse', async (t) => {
  const scripts = [join(ROOT, 'systemd/install.sh'), ...readdirSync(join(ROOT, 'agent/hooks')).map((f) => join(ROOT, 'agent/hooks', f))];
  for (const s of scripts) t.equal(spawnSync('sh', ['-n', s]).status, 0, s);
  const bad = spawnSync('sh', [join(ROOT, 'systemd/install.sh'), 'bogus'], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /usage/);
});

void t.test('hooks call runwarden job start|end with the job root and never fail the job', async (t) => {
  const dir = t.testdir();
  const fake = join(dir, 'runwarden');
  const log = join(dir, 'calls.log');
  writeFileSync(fake, `#!/bin/sh\necho "$* root=$RUNWARDEN_JOB_ROOT_PID repo=$GITHUB_REPOSITORY$CI_PROJECT_PATH" >> "${log}"\nexit "\${FAKE_EXIT:-0}"\n`, { mode: 0o755 });
  const table: Array<[string, string, Record<string, string>]> = [
    ['github-job-started.sh', 'job start', { GITHUB_REPOSITORY: 'acme/widget' }],
    ['github-job-completed.sh', 'job end', { GITHUB_REPOSITORY: 'acme/widget' }],
    ['gitlab-pre-build.sh', 'job start', { CI_PROJECT_PATH: 'acme/widget' }],
    ['gitlab-post-build.sh', 'job end', { CI_PROJECT_PATH: 'acme/widget' }],
  ];
  for (const [hook, words, env] of table) {
    for (const fakeExit of ['0', '1']) {
      writeFileSync(log, '');
      // Run the hook from a known parent shell so $PPID (the job root) can be checked.
      const out = execFileSync('sh', ['-c', `"${join(ROOT, 'agent/hooks', hook)}"; echo "rc=$? parent=$$"`], {
        env: { PATH: process.env.PATH ?? '', RUNWARDEN_BIN: fake, FAKE_EXIT: fakeExit, RUNWARDEN_SOCKET: '/run/x.sock', ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
      });
      const parent = /parent=(\d+)/.exec(out)?.[1];
      t.match(out, /rc=0/, `${hook} exit 0 when runwarden exits ${fakeExit}`);
      t.equal(readFileSync(log, 'utf8'), `${words} --socket /run/x.sock root=${parent} repo=acme/widget\n`, hook);
      if (fakeExit === '1' && hook.startsWith('github')) t.match(out, /::warning title=runwarden::/);
    }
  }
});
