// Runs the built `runwarden run` on a job with secrets in its env, and reads what the job left in the audit DB.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openStoreReadOnly } from '../../collector/store.js';
import type { SecretExposure } from '../../proto/types.js';
import { CLI } from './procs.js';

export interface JobRun { code: number | null; stdout: Buffer; stderr: string; db: string; report: string; log: string }

export function baseEnv(): Record<string, string> {
  const e: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'LANG']) if (process.env[k]) e[k] = process.env[k] as string;
  return e;
}

/** `runwarden run --db DIR/state/audit.db --report DIR/report.json [extra] -- argv`, on pipes. */
export function runJob(dir: string, argv: string[], env: Record<string, string>, extra: string[] = []): Promise<JobRun> {
  const db = join(dir, 'state', 'audit.db');
  const report = join(dir, 'report.json');
  mkdirSync(dir, { recursive: true });
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'run', '--db', db, '--report', report, ...extra, '--', ...argv], {
      cwd: dir, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    c.stdout.on('data', (b: Buffer) => out.push(b));
    c.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err, db, report, log: join(dir, 'state', 'runwarden.log') }));
  });
}

/** Every SecretExposure stored in the DB. */
export function exposuresIn(db: string): SecretExposure[] {
  const store = openStoreReadOnly(db);
  try {
    return store.queryEvents({ kinds: ['secret'] }).flatMap(({ event: e }) => (e.kind === 'secret' ? [e.secret] : []));
  } finally {
    store.close();
  }
}
