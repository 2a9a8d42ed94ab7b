// Chooses the sensor backend: eBPF when root with BTF and a kernel program (the libbpf sensor or bpftrace), else
// ptrace when strace exists, else procfs.
// decideSensor is pure; probeHost gathers the facts; createSensor builds the chosen one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createEbpfSensor } from './ebpf.js';
import type { EbpfSensorOptions } from './ebpf.js';
import { libbpfSensorPath } from './kernel-program.js';
import { createProcfsSensor } from './procfs.js';
import { createPtraceSensor } from './ptrace.js';
import type { PtraceSensorOptions } from './ptrace.js';
import type { Sensor } from './types.js';

export type SensorKind = 'ebpf' | 'ptrace' | 'procfs';
export interface HostFacts { root: boolean; bpftrace: boolean; btf: boolean; strace: boolean; /** the libbpf sensor is built */ libbpf?: boolean }
export type SensorChoice = { kind: SensorKind; reason: string };

export function decideSensor(facts: HostFacts, forced: 'auto' | SensorKind = 'auto'): SensorChoice {
  const ebpfMissing = [!facts.root && 'not root', !facts.bpftrace && !facts.libbpf && 'no bpftrace or libbpf sensor', !facts.btf && 'no BTF'].filter(Boolean).join(', ');
  if (forced !== 'auto') return { kind: forced, reason: `forced by config (agent.sensor=${forced})` };
  if (!ebpfMissing && facts.libbpf) return { kind: 'ebpf', reason: `root, BTF and the libbpf sensor present${facts.bpftrace ? ' (bpftrace as fallback)' : ''}` };
  if (!ebpfMissing) return { kind: 'ebpf', reason: 'root, bpftrace and BTF present' };
  if (facts.strace) return { kind: 'ptrace', reason: `eBPF unavailable (${ebpfMissing}); strace present` };
  return { kind: 'procfs', reason: `eBPF unavailable (${ebpfMissing}) and no strace: DEGRADED procfs polling` };
}

function runs(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

export function probeHost(paths: { bpftrace?: string; strace?: string } = {}): HostFacts {
  return {
    root: process.getuid?.() === 0,
    bpftrace: runs(paths.bpftrace ?? 'bpftrace'),
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    strace: runs(paths.strace ?? 'strace'),
    libbpf: libbpfSensorPath() !== undefined,
  };
}

export function createSensor(choice: SensorChoice, opts: { ebpf?: Partial<EbpfSensorOptions>; ptrace?: Partial<PtraceSensorOptions> } = {}): Sensor {
  switch (choice.kind) {
    case 'ebpf': return createEbpfSensor(opts.ebpf);
    case 'ptrace': return createPtraceSensor(opts.ptrace);
    case 'procfs': return createProcfsSensor();
  }
}
