// agent.kernelProgram: the config key (and its env override) picks the eBPF sensor's kernel program for
// `runwarden run`, the choice is in the AgentStatus stored for the job, a bad value is a config error (exit 2),
// and a libbpf sensor that is asked for but not built is a clear sensor error, not a silent switch.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createEbpfSensor } from '../../../agent/sensors/ebpf.js';
import { libbpfSensorPath } from '../../../agent/sensors/kernel-program.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'cli/runwarden.js');
const root = process.getuid?.() === 0;

function run(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => resolve({ code, err }));
  });
}

/** The capabilities of the AgentStatus events stored in an audit DB. */
function statusCapabilities(db: string): string[][] {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare("SELECT body FROM events WHERE kind = 'status'").all() as { body: string }[])
      .map((r) => (JSON.parse(r.body) as { capabilities?: string[] }).capabilities ?? []);
  } finally {
    d.close();
  }
}

t.test('a value the key does not take: exit 2, the key and the values named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rw-kp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await run(['run', '--', 'true'], { RUNWARDEN_AGENT_KERNEL_PROGRAM: 'ebpf-please' }, dir);
  t.equal(r.code, 2);
  t.match(r.err, /RUNWARDEN_AGENT_KERNEL_PROGRAM: must be one of auto, libbpf, bpftrace \(got "ebpf-please"\)/);
  writeFileSync(join(dir, 'rw.yaml'), 'agent:\n  kernelProgram: kprobes\n');
  const f = await run(['run', '--config', join(dir, 'rw.yaml'), '--', 'true'], {}, dir);
  t.equal(f.code, 2);
  t.match(f.err, /agent\.kernelProgram: must be one of auto, libbpf, bpftrace \(got "kprobes"\)/);
});

t.test('libbpf asked for, not built: the sensor says so and does not fall back', async (t) => {
  const s = createEbpfSensor({ kernelProgram: 'libbpf', sensorPath: '' });
  await t.rejects(s.start(), /agent\.kernelProgram is libbpf but the libbpf sensor is not built/);
  t.equal(s.status().running, false);
});

for (const program of ['bpftrace', 'libbpf'] as const) {
  t.test(`runwarden run with agent.kernelProgram=${program}: that program traces the job`, { skip: !root ? 'needs root' : program === 'libbpf' && !libbpfSensorPath() ? 'libbpf sensor not built' : false }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rw-kp-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'audit.db');
    // The env override, with the config file saying the other: env wins over file.
    const other = program === 'bpftrace' ? 'libbpf' : 'bpftrace';
    const cfg = join(dir, 'rw.yaml');
    writeFileSync(cfg, `agent:\n  sensor: ebpf\n  kernelProgram: ${other}\n`);
    const r = await run(['run', '--config', cfg, '--db', db, '--', 'sh', '-c', 'true'], { RUNWARDEN_AGENT_KERNEL_PROGRAM: program }, dir);
    t.equal(r.code, 0, r.err.slice(-2000));
    const caps = statusCapabilities(db);
    t.ok(caps.length > 0, 'an AgentStatus is stored for the job');
    t.ok(caps.every((c) => c.includes(`kernel-program-${program}`)), `every status names kernel-program-${program}: ${JSON.stringify(caps)}`);
    t.ok(caps.every((c) => !c.includes(`kernel-program-${other}`)), 'never the one the file asked for');
  });
}
