// The kernel half of the eBPF sensor: the libbpf sensor built into dist/sensor (agent/sensors/bpf/build.sh) when
// it is there, else bpftrace with the rendered script. Finds the binary and says how to spawn either; both print
// the lines bpftrace-decode.ts reads.
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loaderArgs } from './libbpf-args.js';
import type { LoaderLimits } from './libbpf-args.js';
import { SCRIPT_ENV } from './bpftrace-script.js';
import type { ScriptOptions } from './bpftrace-script.js';

export type KernelProgramKind = 'libbpf' | 'bpftrace';

export interface KernelProgramSpawn {
  command: string;
  args: string[];
  env: Record<string, string>;
}

// dist/agent/sensors/kernel-program.js → dist/sensor; agent/sensors/kernel-program.ts (tests) → dist/sensor.
const CANDIDATES = ['../../sensor/runwarden-sensor', '../../dist/sensor/runwarden-sensor'];

/** The built libbpf sensor, if this checkout or install has one. */
export function libbpfSensorPath(): string | undefined {
  for (const rel of CANDIDATES) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    try { accessSync(p, constants.X_OK); return p; } catch { /* not built */ }
  }
  return undefined;
}

export function libbpfSpawn(binary: string, o: ScriptOptions, limits: Partial<LoaderLimits> = {}): KernelProgramSpawn {
  return { command: binary, args: loaderArgs(o, limits), env: {} };
}

export function bpftraceSpawn(bpftracePath: string, scriptPath: string): KernelProgramSpawn {
  return { command: bpftracePath, args: ['-f', 'json', scriptPath], env: { ...SCRIPT_ENV } };
}

/** Status line naming the program that runs (reports list blind spots, `agent status` also capabilities). */
export function programLine(kind: KernelProgramKind, detail: string): string {
  return kind === 'libbpf'
    ? `kernel program: libbpf sensor (${detail})`
    : `kernel program: bpftrace (${detail}): ~120 MiB more memory and more CPU per event than the libbpf sensor`;
}
