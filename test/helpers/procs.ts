// Child processes for e2e tests: the built `runwarden collector` and load agents (dist/ must be built).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tokenSha256 } from '../../collector/auth.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}cli/runwarden.js`;
export const LOAD_AGENT = `${ROOT}dist/test/fixtures/load-agent.js`;
export const REPLAY_AGENT = `${ROOT}dist/test/fixtures/replay-agent.js`;
export const E2E_TOKEN = 'e2e-token-abcdefghijklmnop';

export function assertBuilt(): void {
  if (!existsSync(`${ROOT}dist/cli/main.js`) || !existsSync(LOAD_AGENT)) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
  }
}

export function writeCollectorConfig(dir: string, over: Record<string, unknown> = {}): string {
  const file = `${dir}/collector.json`;
  writeFileSync(file, JSON.stringify({
    log: { level: 'info' },
    collector: {
      host: '127.0.0.1', port: 0, db: `${dir}/audit.db`, stateDir: `${dir}/collector-state`,
      tokens: [{ agentId: '*', sha256: tokenSha256(E2E_TOKEN) }], checkpointIntervalMillis: 1000, ...over,
    },
  }));
  return file;
}

export interface Proc { child: ChildProcess; stdout: string[]; stderr: string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

function track(child: ChildProcess): Proc {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const split = (into: string[]) => { let buf = ''; return (d: Buffer) => { buf += d.toString(); const parts = buf.split('\n'); buf = parts.pop() ?? ''; into.push(...parts); }; };
  child.stdout?.on('data', split(stdout));
  child.stderr?.on('data', split(stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, stdout, stderr, exited };
}

export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMillis = 30_000): Promise<T> {
  const until = Date.now() + timeoutMillis;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface CollectorProc extends Proc { port: number; url: string }

export async function startCollectorProc(configFile: string, args: string[] = []): Promise<CollectorProc> {
  const p = track(spawn(process.execPath, [CLI, 'collector', '--config', configFile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const listening = await waitFor('collector to listen', async () => {
    for (const l of p.stderr) {
      if (l.includes('"collector listening"')) return JSON.parse(l) as { port: number; url: string };
    }
    if (p.child.exitCode !== null) throw new Error(`collector exited ${p.child.exitCode}: ${p.stderr.join('\n')}`);
    return undefined;
  });
  return { ...p, port: listening.port, url: listening.url };
}

export function startLoadAgent(url: string, stateDir: string, count: number, extra: string[] = []): Proc {
  return track(spawn(process.execPath, [LOAD_AGENT, '--url', url, '--token', E2E_TOKEN, '--state-dir', stateDir, '--count', String(count), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Replays a JSON-lines events file through a real agent uplink (test/fixtures/replay-agent.ts); throws unless it exits 0. */
export async function replayEvents(url: string, stateDir: string, file: string): Promise<void> {
  const code = await new Promise<number | null>((resolve, reject) => {
    const c = spawn(process.execPath, [REPLAY_AGENT, '--url', url, '--token', E2E_TOKEN, '--state-dir', stateDir, '--events', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    c.on('error', reject);
    c.on('exit', (c2) => resolve(c2));
  });
  if (code !== 0) throw new Error(`replay-agent ${file} exited ${code}`);
}

export function lastJson(lines: string[], event: string): Record<string, unknown> | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i] as string;
    if (l.includes(`"event":"${event}"`)) return JSON.parse(l) as Record<string, unknown>;
  }
  return undefined;
}

export async function metricsText(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  return p.exited;
}
