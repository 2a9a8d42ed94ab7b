// Acceptance over real processes: protocol faults against `runwarden collector` are closed with their
// code and counted in /metrics while a load agent on the same collector is unaffected; bad config → exit 2.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import WebSocket from 'ws';
import { sampleValue } from '../../collector/metrics.js';
import { encodeBatchFrameRaw, encodeEvent, encodeFrame } from '../../proto/codec.js';
import { assertBuilt, CLI, E2E_TOKEN, metricsText, startCollectorProc, startLoadAgent, stop, writeCollectorConfig } from '../helpers/procs.js';

assertBuilt();

type Outcome = { closed: number } | { status: number };

function attempt(url: string, token: string | undefined, payload: Uint8Array | undefined): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    ws.on('unexpected-response', (_q, res) => { resolve({ status: res.statusCode ?? 0 }); ws.terminate(); });
    ws.on('error', () => { /* the close or the response says what happened */ });
    ws.on('open', () => {
      ws.send(encodeFrame({ type: 'hello', hello: { agentId: 'prober', bootId: 'b' } }));
      ws.once('message', () => { if (payload) ws.send(payload); });
    });
    ws.on('close', (code) => resolve({ closed: code }));
  });
}

t.test('faulty streams are closed and counted; a good agent is unaffected', async (t) => {
  const dir = t.testdir();
  const col = await startCollectorProc(writeCollectorConfig(dir, { maxFrameBytes: 262144 }));
  t.teardown(() => stop(col, 'SIGKILL'));
  const good = startLoadAgent(col.url, `${dir}/good`, 30_000);
  const ev = encodeEvent({ agentId: 'prober', bootId: 'b', seq: 1, tsNs: 1, kind: 'fork', fork: { childPid: 2 } });
  const whole = encodeBatchFrameRaw(1, [ev]);
  const cases: Array<[string, string | undefined, Uint8Array | undefined, Outcome, string]> = [
    ['garbage frame', E2E_TOKEN, Buffer.from([0x1f, 0x00]), { closed: 1002 }, 'garbage'],
    ['truncated frame', E2E_TOKEN, whole.subarray(0, whole.length - 2), { closed: 1002 }, 'truncated'],
    ['frame over maxPayload', E2E_TOKEN, Buffer.alloc(262145, 7), { closed: 1009 }, 'too-large'],
    ['wrong token', 'not-the-token', undefined, { status: 401 }, 'auth'],
    ['no token', undefined, undefined, { status: 401 }, 'auth'],
  ];
  for (const [name, token, payload, want, reason] of cases) {
    const before = sampleValue(await metricsText(col.port), 'runwarden_rejected_frames_total', `{reason="${reason}"}`) ?? -1;
    t.same(await attempt(col.url, token, payload), want, name);
    t.equal(sampleValue(await metricsText(col.port), 'runwarden_rejected_frames_total', `{reason="${reason}"}`), before + 1, `${name}: counted as ${reason}`);
  }
  const logged = col.stderr.filter((l) => /"reason":"(garbage|truncated|too-large|auth)"/.test(l));
  t.equal(logged.length, 5, 'each fault logged once with its reason');
  t.equal((await good.exited).code, 0, 'the good agent flushed everything');
  t.equal(sampleValue(await metricsText(col.port), 'runwarden_events_ingested_total'), 30_000);
});

t.test('invalid config exits 2 naming the key and the value', async (t) => {
  const dir = t.testdir();
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'collector', ...args], { encoding: 'utf8', timeout: 30_000 });
  writeFileSync(`${dir}/unknown.yaml`, 'collector:\n  prot: 7443\n');
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown key', ['--config', `${dir}/unknown.yaml`], /collector\.prot: unknown key \(got 7443\)/],
    ['bad port', ['--port', '70000', '--db', `${dir}/a.db`, '--state-dir', dir], /collector\.port: must be a port number 0-65535 \(got 70000\)/],
    ['unreadable TLS cert', ['--config', writeCollectorConfig(dir, { tlsCert: `${dir}/nope.pem`, tlsKey: `${dir}/nope.key` })], /collector\.tlsCert: .*nope\.pem/],
    ['unreadable config file', ['--config', `${dir}/missing.yaml`], /--config: cannot read.*missing\.yaml/],
  ];
  for (const [name, args, want] of cases) {
    const r = run(args);
    t.equal(r.status, 2, `${name}: exit 2`);
    t.match(r.stderr, want, `${name}: names key and value`);
  }
});

t.test('a broken rule pack: collector and run exit 2 naming file, rule and position, and run does not start the command', async (t) => {
  // The pack is compiled once, in the detection worker; a collector (daemon or run's embedded one) must still refuse
  // to start on a pack that does not load.
  const dir = t.testdir();
  writeFileSync(`${dir}/bad.yaml`, 'rules:\n  - id: broken-one\n    title: t\n    severity: high\n    tags: [class:test]\n    condition: ev.kind == "exec" &&\n    output: x\n');
  const cfg = writeCollectorConfig(dir);
  const withRules = `${dir}/with-rules.json`;
  writeFileSync(withRules, JSON.stringify({ ...JSON.parse(readFileSync(cfg, 'utf8')) as object, rules: { paths: [`${dir}/bad.yaml`] } }));
  const where = /bad\.yaml:6:\d+: rule broken-one: condition: CEL/;
  const col = spawnSync(process.execPath, [CLI, 'collector', '--config', withRules], { encoding: 'utf8', timeout: 60_000 });
  t.equal(col.status, 2, 'collector: exit 2');
  t.match(col.stderr, /rules are invalid/);
  t.match(col.stderr, where, 'collector: file, line, rule');
  const marker = `${dir}/ran`;
  const run = spawnSync(process.execPath, [CLI, 'run', '--config', withRules, '--db', `${dir}/run.db`, '--', 'touch', marker], { encoding: 'utf8', timeout: 60_000, cwd: dir });
  t.equal(run.status, 2, 'run: exit 2');
  t.match(run.stderr, where, 'run: file, line, rule');
  t.notOk(existsSync(marker), 'run: the command did not run');
});
