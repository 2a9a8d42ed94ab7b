// Issue 5 (b): a job prints, writes (dist/ and /tmp) and posts its secrets; no raw value and no base64 of
// one reaches the SQLite files, the report, the pino log, the spool, or the websocket traffic to the collector.
import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, createServer as createTcpServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStoreReadOnly } from '../../collector/store.js';
import { base64Middle } from '../../agent/secrets/encodings.js';
import { assertBuilt, E2E_TOKEN, startCollectorProc, stop, writeCollectorConfig } from '../helpers/procs.js';
import { exposuresIn, runJob } from '../helpers/secret-jobs.js';

assertBuilt();

const SECRETS: Record<string, string> = {
  GITHUB_TOKEN: 'ghp_R7bXk2LqP9vTz4MwN8sYc3HdJ6fUa1Ge5Qio',
  NPM_TOKEN: 'npm_T4kLm9QzX2vB7nR8cW3yH6pJ1sD5fG0aZqEu',
  AWS_ACCESS_KEY_ID: 'AKIAQ7RZ4MXK2PLN5VWT',
  AWS_SECRET_ACCESS_KEY: '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',
};

/** The byte strings that must not appear: each raw value and its base64 (all 3 alignments, std and url). */
function needles(): { what: string; bytes: Buffer }[] {
  const out: { what: string; bytes: Buffer }[] = [];
  for (const [name, v] of Object.entries(SECRETS)) {
    out.push({ what: `${name} raw`, bytes: Buffer.from(v) });
    for (const a of [0, 1, 2] as const) {
      out.push({ what: `${name} base64@${a}`, bytes: Buffer.from(base64Middle(Buffer.from(v), a)) });
      out.push({ what: `${name} base64url@${a}`, bytes: Buffer.from(base64Middle(Buffer.from(v), a, true)) });
    }
  }
  return out;
}

function leaksIn(label: string, data: Buffer): string[] {
  return needles().filter((n) => data.includes(n.bytes)).map((n) => `${n.what} in ${label}`);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
}

/** Client→server websocket payloads, unmasked (the agent masks every frame, so raw bytes would hide a leak). */
function unmaskClientFrames(stream: Buffer): Buffer {
  const headEnd = stream.indexOf('\r\n\r\n');
  if (headEnd < 0) return Buffer.alloc(0);
  const out: Buffer[] = [];
  let i = headEnd + 4;
  while (i + 2 <= stream.length) {
    const b1 = stream[i + 1] as number;
    let len = b1 & 0x7f;
    let p = i + 2;
    if (len === 126) { len = stream.readUInt16BE(p); p += 2; } else if (len === 127) { len = Number(stream.readBigUInt64BE(p)); p += 8; }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? stream.subarray(p, p + 4) : undefined;
    if (masked) p += 4;
    if (p + len > stream.length) break;
    const payload = Buffer.from(stream.subarray(p, p + len));
    if (key) for (let k = 0; k < payload.length; k++) payload[k] = (payload[k] as number) ^ (key[k & 3] as number);
    out.push(payload);
    i = p + len;
  }
  return Buffer.concat(out);
}

interface Capture { server: Server; port: number; up: Buffer[]; down: Buffer[] }

function recordingProxy(targetPort: number): Promise<Capture> {
  const cap: Omit<Capture, 'port'> & { port: number } = { server: undefined as unknown as Server, port: 0, up: [], down: [] };
  const sockets: Socket[] = [];
  cap.server = createTcpServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.push(client, upstream);
    client.on('data', (b: Buffer) => { cap.up.push(b); upstream.write(b); });
    upstream.on('data', (b: Buffer) => { cap.down.push(b); client.write(b); });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  cap.server.on('close', () => { for (const s of sockets) s.destroy(); });
  return new Promise((r) => cap.server.listen(0, '127.0.0.1', () => { cap.port = (cap.server.address() as AddressInfo).port; r(cap); }));
}

/** The job: prints, encodes, writes into dist/ and /tmp (contents and a file name), posts with curl and node. */
function jobScript(tmp: string): string {
  return [
    'echo "gh=$GITHUB_TOKEN"',
    'printf %s "$NPM_TOKEN" | base64 -w0; echo',
    'mkdir -p dist && printf "//registry.npmjs.org/:_authToken=%s\\n" "$NPM_TOKEN" > dist/.npmrc',
    `printf "[default]\\naws_access_key_id=%s\\naws_secret_access_key=%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > ${tmp}/credentials`,
    `echo x > "${tmp}/cache-$AWS_ACCESS_KEY_ID"`,
    'curl -s -o /dev/null -X POST -H "Authorization: Bearer $GITHUB_TOKEN" --data "aws=$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$SINK_PORT/c?npm=$NPM_TOKEN"',
    `${process.execPath} -e 'fetch("http://127.0.0.1:"+process.env.SINK_PORT+"/n",{method:"POST",body:JSON.stringify(process.env)}).then(r=>r.text())'`,
  ].join('; ');
}

async function sink(): Promise<{ port: number; bodies: string[]; close: () => Promise<void> }> {
  const bodies: string[] = [];
  const s = createServer((req, res) => {
    let b = req.url ?? '';
    req.on('data', (d: Buffer) => { b += d.toString(); });
    req.on('end', () => { bodies.push(b); res.end('ok'); });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as AddressInfo).port, bodies, close: () => new Promise((r) => { s.closeAllConnections(); s.close(() => r()); }) };
}

void t.test('standalone collector behind a recording proxy: nothing leaks anywhere', async (t) => {
  const dir = t.testdir();
  const tmp = mkdtempSync(join(tmpdir(), 'rw-leak-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const http = await sink();
  t.teardown(http.close);
  const col = await startCollectorProc(writeCollectorConfig(dir));
  t.teardown(() => stop(col));
  const cap = await recordingProxy(col.port);
  t.teardown(() => new Promise<void>((r) => cap.server.close(() => r())));

  const run = await runJob(join(dir, 'job'), ['sh', '-c', jobScript(tmp)], { ...SECRETS, SINK_PORT: String(http.port) },
    ['--collector', `ws://127.0.0.1:${cap.port}`, '--token', E2E_TOKEN]);
  t.equal(run.code, 0, 'job exit 0');
  // The job really did expose every secret: the sink got them, the files hold them.
  const received = http.bodies.join('\n');
  for (const [name, v] of Object.entries(SECRETS)) t.ok(received.includes(v), `${name} reached the HTTP sink`);
  t.ok(readFileSync(join(dir, 'job/dist/.npmrc'), 'utf8').includes(SECRETS.NPM_TOKEN as string), 'dist/.npmrc holds the npm token');

  const collectorDb = join(dir, 'audit.db');
  const leaks: string[] = [];
  const scanFiles = (when: string): void => {
    for (const f of [collectorDb, `${collectorDb}-wal`, `${collectorDb}-shm`]) {
      if (existsSync(f)) leaks.push(...leaksIn(`${when} ${f}`, readFileSync(f)));
    }
  };
  scanFiles('live');
  const up = unmaskClientFrames(Buffer.concat(cap.up));
  const down = Buffer.concat(cap.down);
  t.ok(up.includes(Buffer.from('GITHUB_TOKEN')), 'the unmasked capture is readable (secret names appear)');
  leaks.push(...leaksIn('agent→collector frames', up), ...leaksIn('agent→collector raw', Buffer.concat(cap.up)), ...leaksIn('collector→agent', down));
  leaks.push(...leaksIn('run stdout', run.stdout), ...leaksIn('run stderr', Buffer.from(run.stderr)));
  t.ok(existsSync(run.report) && existsSync(run.log), 'report and pino log written');
  for (const f of [run.report, ...filesUnder(join(dir, 'job/state'))]) leaks.push(...leaksIn(f, readFileSync(f)));
  await stop(col);
  scanFiles('after stop');
  leaks.push(...leaksIn('collector log', Buffer.from(col.stderr.join('\n') + col.stdout.join('\n'))));

  const ex = exposuresIn(collectorDb);
  t.ok(ex.some((e) => e.secretName === 'GITHUB_TOKEN' && e.channel === 'LOG'), 'the printed token was found');
  // The scrubbed fields did reach the store (so "nothing found" is not "nothing sent").
  const store = openStoreReadOnly(collectorDb);
  const evs = store.queryEvents({ kinds: ['exec', 'file'] }).map((s) => s.event);
  store.close();
  const curl = evs.find((e) => e.kind === 'exec' && e.comm === 'curl');
  t.ok(curl?.kind === 'exec' && curl.exec.argv?.some((a) => a.includes('Bearer ***')), 'curl argv stored, value scrubbed');
  t.ok(evs.some((e) => e.kind === 'file' && /cache-\*\*\*$/.test(e.file.path ?? '')), 'file path stored, value scrubbed');
  t.same(leaks, [], 'no secret value or base64 of one anywhere');
});

void t.test('embedded collector: nothing leaks into the DB, WAL, report or log', async (t) => {
  const dir = t.testdir();
  const tmp = mkdtempSync(join(tmpdir(), 'rw-leak-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const http = await sink();
  t.teardown(http.close);
  const run = await runJob(dir, ['sh', '-c', jobScript(tmp)], { ...SECRETS, SINK_PORT: String(http.port) });
  t.equal(run.code, 0, 'job exit 0');
  t.ok(http.bodies.join('\n').includes(SECRETS.AWS_SECRET_ACCESS_KEY as string), 'the job posted its secrets');
  const leaks: string[] = [];
  for (const f of [run.report, ...filesUnder(join(dir, 'state'))]) leaks.push(...leaksIn(f, readFileSync(f)));
  leaks.push(...leaksIn('run stdout', run.stdout), ...leaksIn('run stderr', Buffer.from(run.stderr)));
  t.ok(existsSync(run.db), 'audit DB written');
  t.ok(exposuresIn(run.db).length > 0, 'exposures recorded');
  t.same(leaks, [], 'no secret value or base64 of one anywhere');
});
