// Picks and builds the sensor backend for this host (eBPF when root + bpftrace + BTF, else ptrace through
// strace, else procfs polling, said loudly), with the process table and attribution that follow its events.
import { readStat } from './procfs-read.js';
import { createAttribution } from './attribution.js';
import type { Attribution } from './core.js';
import { createProcTable } from './proc-table.js';
import { createSensor, decideSensor, probeHost } from './sensors/probe.js';
import type { Sensor } from './sensors/types.js';
import type { SensorRequest } from './job-watch.js';

export async function chooseSensor(req: SensorRequest & { homes?: string[]; workspace?: string }): Promise<{ sensor: Sensor; attribution: Attribution }> {
  const table = createProcTable();
  const attr = createAttribution(table, { readPpid: (pid) => readStat(pid)?.ppid });
  const attribution: Attribution = {
    registerJob: (j, r) => attr.registerJob(j, r),
    unregisterJob: (j) => attr.unregisterJob(j),
    observe: (ev) => { table.apply(ev); attr.observe(ev); },
    jobOf: (pid) => attr.jobOf(pid),
    ancestry: (pid, max) => attr.ancestry(pid, max),
    domainFor: (pid, ip) => attr.domainFor(pid, ip),
    members: (j) => attr.members(j),
  };
  const choice = decideSensor(probeHost(), req.backend);
  req.logger.info({ sensor: choice.kind, reason: choice.reason }, 'sensor chosen');
  if (choice.kind === 'procfs') req.logger.error({ reason: choice.reason }, 'DEGRADED: procfs polling misses short-lived processes, connections and file writes');
  const sensor = createSensor(choice, {
    ebpf: {
      sensitivePaths: req.sensitivePrefixes,
      kernelProgram: req.kernelProgram ?? 'auto',
      ignorePids: req.ignorePids,
      pathContext: { ...(req.homes ? { homes: req.homes } : {}), ...(req.workspace ? { workspace: req.workspace } : {}) },
      onDiagnostic: (line) => req.logger.warn({ line }, 'bpftrace'),
      // The agent, and after a restart also the jobs' live processes (their tree is already in the kernel's map
      // of the bpftrace that died, not in the new one's).
      ...(req.descendantsOnly ? { trackPids: () => [process.pid, ...attr.jobs().flatMap((j) => [j.rootPid, ...attr.members(j.jobId)])] } : {}),
    },
  });
  return { sensor, attribution };
}
