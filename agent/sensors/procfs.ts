// The procfs sensor, last resort: polls /proc for processes that appeared or vanished. Exec and exit only, and
// only for processes that live across a poll: short-lived ones are missed entirely.
import { readdirSync, readlinkSync } from 'node:fs';
import { readProcEntry } from './proc-reader.js';
import type { Sensor, SensorEvent, SensorStatus } from './types.js';

export interface ProcfsSensorOptions { intervalMillis: number; procRoot: string; maxProcesses: number }
export const PROCFS_DEFAULTS: Readonly<ProcfsSensorOptions> = Object.freeze({ intervalMillis: 100, procRoot: '/proc', maxProcesses: 65_536 });

export const PROCFS_BLIND_SPOTS: readonly string[] = Object.freeze([
  'DEGRADED: processes living shorter than the poll interval are never seen (most of a build)',
  'no network, DNS, file, sensitive-read or process-access events at all',
  'exit codes are unknown; exec events are late by up to one poll interval and an exec in place is missed',
]);

export function createProcfsSensor(partial: Partial<ProcfsSensorOptions> = {}): Sensor {
  const o: ProcfsSensorOptions = { ...PROCFS_DEFAULTS, ...partial };
  const eventCbs: ((ev: SensorEvent) => void)[] = [];
  const lossCbs: ((count: number, reason: string) => void)[] = [];
  // pid → exe link at the last poll; a changed link is an exec in place (or one after a fork we caught early).
  let known = new Map<number, string | undefined>();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let drops = 0;
  let closed: Promise<void> | undefined;

  const list = (): number[] => readdirSync(o.procRoot).filter((n) => /^\d+$/.test(n)).map(Number);
  const exeOf = (pid: number): string | undefined => { try { return readlinkSync(`${o.procRoot}/${pid}/exe`); } catch { return undefined; } };
  const emit = (ev: SensorEvent) => { for (const cb of eventCbs) cb(ev); };

  function poll(): void {
    const now = Date.now() * 1e6;
    const seen = new Map<number, string | undefined>();
    for (const pid of list()) {
      const exe = exeOf(pid);
      seen.set(pid, exe);
      if (known.has(pid) && known.get(pid) === exe) continue;
      if (seen.size > o.maxProcesses) { drops++; continue; }
      const e = readProcEntry(pid, o.procRoot);
      // Mid-exec or a kernel thread: no exe/argv yet; forget it so the next poll looks again.
      if (!e || e.exe === undefined || !e.argv?.length) { seen.set(pid, undefined); continue; }
      const ev: Extract<SensorEvent, { kind: 'exec' }> = { kind: 'exec', tsNs: now, pid, exec: { argv: e.argv ?? [] } };
      if (e.ppid !== undefined) ev.ppid = e.ppid;
      if (e.uid !== undefined) ev.uid = e.uid;
      if (e.comm !== undefined) ev.comm = e.comm;
      if (e.exe !== undefined) ev.exe = e.exe;
      if (e.cwd !== undefined) ev.exec.cwd = e.cwd;
      if (e.cgroup !== undefined) ev.exec.cgroup = e.cgroup;
      emit(ev);
    }
    for (const pid of known.keys()) if (!seen.has(pid)) emit({ kind: 'exit', tsNs: now, pid, exit: {} });
    known = seen;
  }

  return {
    async start() {
      // Processes alive before start are the baseline, not new execs.
      known = new Map(list().map((pid) => [pid, exeOf(pid)]));
      running = true;
      timer = setInterval(poll, o.intervalMillis);
      timer.unref();
    },
    onEvent(cb) { eventCbs.push(cb); },
    onLoss(cb) { lossCbs.push(cb); },
    status(): SensorStatus {
      return { sensor: 'procfs', capabilities: ['exec-polled', 'exit-polled'], blindSpots: [...PROCFS_BLIND_SPOTS], drops, running,
        message: 'DEGRADED: procfs polling only; short-lived processes and all network/file activity are invisible' };
    },
    close() {
      closed ??= (async () => {
        if (timer) clearInterval(timer);
        if (running) poll();
        running = false;
        void lossCbs;
      })();
      return closed;
    },
  };
}
