// Picks and builds the sensor backend for this host (eBPF when root + bpftrace + BTF; the order and the
// reasons are reported), together with the process table and the attribution that follow its events.
import { readStat } from './procfs-read.js';
import { createAttribution } from './attribution.js';
import type { Attribution } from './core.js';
import { createProcTable } from './proc-table.js';
import { createEbpfSensor, ebpfAvailable } from './sensors/ebpf.js';
import type { Sensor } from './sensors/types.js';
import type { SensorRequest } from './job-watch.js';
import { RwError } from '../proto/errors.js';

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
  const wanted = req.backend;
  const ebpf = ebpfAvailable();
  if (wanted === 'ebpf' || (wanted === 'auto' && ebpf.ok)) {
    if (!ebpf.ok) throw new RwError('AGENT_ERR_SENSOR', `eBPF sensor requested but unavailable: ${ebpf.reason}`);
    const sensor = createEbpfSensor({
      sensitivePaths: req.sensitivePrefixes,
      ignorePids: req.ignorePids,
      pathContext: { ...(req.homes ? { homes: req.homes } : {}), ...(req.workspace ? { workspace: req.workspace } : {}) },
      onDiagnostic: (line) => req.logger.warn({ line }, 'bpftrace'),
    });
    return { sensor, attribution };
  }
  throw new RwError('AGENT_ERR_SENSOR', `no sensor backend available (${wanted}): ${ebpf.ok ? 'not built yet' : ebpf.reason}`);
}
