// Benign look-alikes from THREATS.md "must stay quiet": each runs real tools under `runwarden run` and must
// produce no finding at or above medium (and no secret value in the report).
import t from 'tap';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { runSuite, type Variant } from '../helpers/scenario-suite.js';
import { url, ZONE, ROOT, sha, type Net } from '../helpers/scenario-world.js';

const ESLINT = join(ROOT, 'node_modules/.bin/eslint');
let gitPort = 0;

/** A one-package npm registry on registry.npmjs.org's sink, and a git daemon standing for github.com. */
async function setup(net: Net): Promise<() => Promise<void>> {
  const dir = mkdtempSync('/tmp/rwscen-benign-');
  mkdirSync(join(dir, 'package'));
  writeFileSync(join(dir, 'package/package.json'), JSON.stringify({ name: 'leftpad-mini', version: '1.0.0', main: 'index.js' }));
  writeFileSync(join(dir, 'package/index.js'), 'module.exports = (s, n) => String(s).padStart(n);\n');
  execFileSync('tar', ['-czf', join(dir, 'p.tgz'), '-C', dir, 'package']);
  const tgz = readFileSync(join(dir, 'p.tgz'));
  const tarball = url(net, 'registry.npmjs.org', '/leftpad-mini/-/leftpad-mini-1.0.0.tgz');
  net.payloads.set('/leftpad-mini/-/leftpad-mini-1.0.0.tgz', tgz);
  net.payloads.set('/leftpad-mini', Buffer.from(JSON.stringify({
    name: 'leftpad-mini', 'dist-tags': { latest: '1.0.0' },
    versions: { '1.0.0': { name: 'leftpad-mini', version: '1.0.0', main: 'index.js',
      dist: { tarball, shasum: sha(tgz, 'sha1', 'hex'), integrity: 'sha512-' + sha(tgz, 'sha512', 'base64') } } },
  })));
  execFileSync('git', ['init', '-q', '--bare', join(dir, 'widget.git')]);
  const probe = createServer();
  gitPort = await new Promise<number>((res) => probe.listen(0, ZONE['github.com'], () => res((probe.address() as { port: number }).port)));
  await new Promise((res) => probe.close(res));
  const gitd: ChildProcess = spawn('git', ['daemon', '--reuseaddr', `--base-path=${dir}`, '--export-all', '--enable=receive-pack',
    `--listen=${ZONE['github.com']}`, `--port=${gitPort}`, dir], { stdio: 'ignore' });
  await new Promise((res) => setTimeout(res, 500));
  return async () => { gitd.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); };
}

const variants: Variant[] = [
  { cls: 'benign', name: 'a real build: compile + tests + npm install from a local registry', spec: (net) => ({ trigger: 'push', script: `
set -e
make -s && make -s test
npm install --no-audit --no-fund --registry ${url(net, 'registry.npmjs.org', '/')} leftpad-mini >/dev/null
node -e 'console.log(require("leftpad-mini")("ok", 5))'` }) },
  { cls: 'benign', name: 'one-liners: node http get from the local registry, python json.load (no eval)', spec: (net) => ({ trigger: 'pull_request', script: `
set -e
node -e 'require("http").get(process.argv[1], (r) => { let b = ""; r.on("data", (d) => b += d); r.on("end", () => console.log(JSON.parse(b)["dist-tags"].latest)); })' ${url(net, 'registry.npmjs.org', '/leftpad-mini')}
python3 -c 'import json; print(json.load(open("package.json"))["name"])'` , wsFiles: { 'package.json': '{"name": "widget", "version": "1.4.2"}\n' } }) },
  { cls: 'benign', name: 'release job on main: git fetch + push a tag to the allowed forge', spec: () => ({ trigger: 'push', ref: 'refs/heads/main', script: `
set -e
git remote add forge git://github.com:${gitPort}/widget.git
git push -q forge HEAD:refs/heads/main
git fetch -q forge main
git -c user.email=bot@example.invalid -c user.name=bot tag -a v1.4.2 -m v1.4.2
git push -q forge v1.4.2` }) },
  { cls: 'benign', name: 'eslint --fix rewrites a tracked file', spec: () => ({ trigger: 'pull_request',
    wsFiles: { 'web/app.js': 'const a = 1\nconsole.log(a)\n' },
    extraEnv: { ESLINT },
    script: `"$ESLINT" --no-config-lookup --rule 'semi: [2, "always"]' --fix web/app.js; cat web/app.js` }) },
  { cls: 'benign', name: 'tar -P cache restore outside the workspace', spec: () => ({ trigger: 'push',
    prepare: 'mkdir -p home/.cache/ccache/a && echo cached > home/.cache/ccache/a/obj && tar -P -czf cache.tgz "$PWD/home/.cache/ccache" && rm -rf home/.cache/ccache',
    script: `tar -P -xzf "$SCEN_DIR/cache.tgz" && cat "$HOME/.cache/ccache/a/obj"` }) },
  { cls: 'benign', name: 'ps / top / pgrep diagnostics', spec: () => ({ trigger: 'pull_request', script: `
ps -eo pid,ppid,comm | head -3
top -b -n 1 | head -5
pgrep -l -f Runner.Worker || true
pgrep -c bash` }) },
  { cls: 'benign', name: 'gdb on the job’s own child', spec: () => ({ trigger: 'push', script: `
sleep 20 & c=$!
timeout 20 gdb -q -nx -batch -p $c -ex 'info inferiors' >/dev/null 2>&1 || true
kill $c; wait $c 2>/dev/null || true; echo debugged` }) },
  { cls: 'benign', name: 'python http.server on loopback with a test client', spec: () => ({ trigger: 'pull_request', script: `
python3 - <<'PY'
import http.server, threading, urllib.request, os
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
body = urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/Makefile").read()
srv.shutdown()
print("2 passed" if b"widget" in body else "failed")
PY` }) },
  { cls: 'benign', name: 'nohup service killed before the job ends', spec: () => ({ trigger: 'push', script: `
nohup node -e 'require("http").createServer((q, s) => s.end("ok")).listen(0, "127.0.0.1")' > "$SCEN_DIR/svc.log" 2>&1 &
pid=$!
sleep 1
kill $pid; wait $pid 2>/dev/null || true
echo stopped` }) },
  { cls: 'benign', name: 'base64 -d of a secret into the file its tool reads', spec: (net) => ({ trigger: 'push',
    // the runner hands the job an npmrc as a base64 secret (here a file made before the job, unwatched)
    prepare: 'printf "//registry.npmjs.org/:_authToken=%s\\n" "$NPM_TOKEN" | base64 -w0 > npmrc.b64',
    script: `
set -e
base64 -d "$SCEN_DIR/npmrc.b64" > "$SCEN_DIR/npmrc"
npm --userconfig "$SCEN_DIR/npmrc" --registry ${url(net, 'registry.npmjs.org', '/')} view leftpad-mini version` }) },
  { cls: 'benign', name: 'declared Slack webhook (network.allow)', spec: (net) => ({ trigger: 'push', allow: ['hooks.slack.com'], script: `
curl -s -m 3 -X POST -H 'Content-type: application/json' -d '{"text":"release 1.4.2 published"}' ${url(net, 'hooks.slack.com', '/services/T000/B000/abc')} >/dev/null` }) },
];

runSuite(t, variants, setup);
