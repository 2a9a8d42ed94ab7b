// Chooses the sensor backend: eBPF when root with BTF and a kernel program (the libbpf sensor or bpftrace), else
// ptrace when strace exists, else procfs.
// decideSensor is pure; probeHost gathers the facts; createSensor builds the chosen one.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

/** An executable file named `cmd` (a path, or a name looked up in PATH), without running it. */
export function onPath(cmd: string): boolean {
  const dirs = cmd.includes('/') ? [''] : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean);
  for (const d of dirs) {
    const p = d ? join(d, cmd) : cmd;
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return true;
    } catch { /* not here */ }
  }
  return false;
}

/**
 * The facts decideSensor needs. Where root, BTF and the built libbpf sensor settle it for eBPF, bpftrace and strace
 * are only looked up in PATH: running `bpftrace --version` (it loads LLVM) and `strace --version` cost every
 * `runwarden run` 130-180 ms of start-up for a fallback note. Otherwise they are run, as the choice depends on them.
 */
export function probeHost(paths: { bpftrace?: string; strace?: string } = {}): HostFacts {
  const root = process.getuid?.() === 0;
  const btf = existsSync('/sys/kernel/btf/vmlinux');
  const libbpf = libbpfSensorPath() !== undefined;
  const check = root && btf && libbpf ? onPath : runs;
  return { root, bpftrace: check(paths.bpftrace ?? 'bpftrace'), btf, strace: check(paths.strace ?? 'strace'), libbpf };
}

export function createSensor(choice: SensorChoice, opts: { ebpf?: Partial<EbpfSensorOptions>; ptrace?: Partial<PtraceSensorOptions> } = {}): Sensor {
  switch (choice.kind) {
    case 'ebpf': return createEbpfSensor(opts.ebpf);
    case 'ptrace': return createPtraceSensor(opts.ptrace);
    case 'procfs': return createProcfsSensor();
  }
}
