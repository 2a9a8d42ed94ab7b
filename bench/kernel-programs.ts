// Benchmark: the eBPF sensor's two kernel programs (the libbpf sensor, bpftrace) on the same `make -j2` of 200 C
// files, one after the other in one run: in-kernel time per program from bpf_stats (kernel.bpf_stats_enabled=1,
// `bpftool prog show -j`: run_time_ns / run_cnt), the kernel program's user CPU and RSS, and the make's wall time.
// Run as root after `npm run build`: node dist/bench/kernel-programs.js [rounds]. Counts are host-wide (the probes
// see every process), so per-run times are the comparable figures.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEbpfSensor } from '../agent/sensors/ebpf.js';
import type { KernelProgramKind } from '../agent/sensors/kernel-program.js';

const rounds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 1);
const root = mkdtempSync(join(tmpdir(), 'rw-kprog-'));
const src = join(root, 'csrc');
mkdirSync(src);
for (let i = 0; i < 200; i++) writeFileSync(join(src, `f${i}.c`), `int f${i}(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * ${i}; return s; }\n`);
writeFileSync(join(src, 'Makefile'), 'SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nall: $(OBJS)\n%.o: %.c\n\tcc -O1 -c $< -o $@\nclean:\n\trm -f *.o\n');

interface Prog { id: number; name: string; run_cnt?: number; run_time_ns?: number }
const progs = (): Map<number, Prog> => new Map((JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as Prog[]).map((p) => [p.id, p]));

/** The kernel program child of this process: pid, CPU seconds, RSS KiB. */
function child(): { pid: number; cpu: number; rssKiB: number } | undefined {
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) !== process.pid || !/\((bpftrace|runwarden-senso)\)/.test(st)) continue;
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      return { pid: Number(p), cpu: (Number(f[11]) + Number(f[12])) / 100, rssKiB: rss };
    } catch { /* gone */ }
  }
  return undefined;
}

function make(): Promise<number> {
  spawnSync('make', ['-s', 'clean', '-C', src], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn('make', ['-s', '-j2', '-C', src], { stdio: 'ignore' });
    p.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`make exited ${code}`))));
  });
}

interface Result { ms: number; cpu: number; rssKiB: number; kernelNs: number; events: number; perProg: Map<string, { cnt: number; ns: number }> }
async function measure(kind: KernelProgramKind): Promise<Result> {
  const before = progs();
  const s = createEbpfSensor({ kernelProgram: kind });
  let events = 0;
  s.onEvent(() => { events++; });
  await s.start();
  if (!s.status().capabilities.includes(`kernel-program-${kind}`)) throw new Error(`${kind} did not start: ${s.status().blindSpots[0]}`);
  const mine = [...progs().keys()].filter((id) => !before.has(id));
  const a = progs();
  const c0 = child();
  let rss = 0;
  const sampler = setInterval(() => { rss = Math.max(rss, child()?.rssKiB ?? 0); }, 250);
  const ms = await make();
  await s.sync?.();
  clearInterval(sampler);
  const c1 = child();
  const b = progs();
  await s.close();
  const perProg = new Map<string, { cnt: number; ns: number }>();
  let kernelNs = 0;
  for (const id of mine) {
    const p0 = a.get(id);
    const p1 = b.get(id);
    if (!p0 || !p1) continue;
    const cnt = (p1.run_cnt ?? 0) - (p0.run_cnt ?? 0);
    const ns = (p1.run_time_ns ?? 0) - (p0.run_time_ns ?? 0);
    kernelNs += ns;
    // bpftrace names a probe's program after the tracepoint (several per tracepoint): summed per name.
    const e = perProg.get(p1.name) ?? { cnt: 0, ns: 0 };
    e.cnt = Math.max(e.cnt, cnt);
    e.ns += ns;
    perProg.set(p1.name, e);
  }
  return { ms, cpu: (c1?.cpu ?? 0) - (c0?.cpu ?? 0), rssKiB: Math.max(rss, c1?.rssKiB ?? 0), kernelNs, events, perProg };
}

execFileSync('sysctl', ['-q', 'kernel.bpf_stats_enabled=1']);
try {
  const off: number[] = [];
  const res: Record<KernelProgramKind, Result[]> = { libbpf: [], bpftrace: [] };
  for (let r = 0; r < rounds; r++) {
    off.push(await make());
    for (const kind of (r % 2 ? ['bpftrace', 'libbpf'] : ['libbpf', 'bpftrace']) as KernelProgramKind[]) res[kind].push(await measure(kind));
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log(`Kernel programs of the eBPF sensor on make -j2 of 200 C files, ${rounds} round(s), median (load ${loadavg()[0]!.toFixed(2)} at the end)`);
  console.log(`make without a sensor: ${median(off).toFixed(0)} ms`);
  for (const kind of ['libbpf', 'bpftrace'] as const) {
    const rs = res[kind];
    const last = rs[rs.length - 1]!;
    console.log(`\n${kind}: make ${median(rs.map((x) => x.ms)).toFixed(0)} ms (${(median(rs.map((x) => x.ms)) / median(off)).toFixed(3)}), in-kernel ${(median(rs.map((x) => x.kernelNs)) / 1e6).toFixed(1)} ms, `
      + `user CPU ${median(rs.map((x) => x.cpu)).toFixed(2)} s, RSS ${(Math.max(...rs.map((x) => x.rssKiB)) / 1024).toFixed(1)} MiB, ${last.events} events`);
    for (const [name, p] of [...last.perProg].sort((x, y) => y[1].ns - x[1].ns)) {
      if (p.cnt) console.log(`  ${name.padEnd(22)} ${String(p.cnt).padStart(7)} runs  ${(p.ns / p.cnt / 1000).toFixed(2).padStart(6)} µs per run (all programs of the name)`);
    }
  }
} finally {
  execFileSync('sysctl', ['-q', 'kernel.bpf_stats_enabled=0']);
  rmSync(root, { recursive: true, force: true });
}
