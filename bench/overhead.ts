// Benchmark: wall time of build-like workloads with the eBPF sensor off vs on (paired, same run), and sensor RSS.
// Run as root after a build: node dist/bench/overhead.js [rounds]. Sensor start-up is outside the timed part.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEbpfSensor } from '../agent/sensors/ebpf.js';
import { createProcTable } from '../agent/proc-table.js';
import { createAttribution } from '../agent/attribution.js';

const rounds = Number(process.argv[2] ?? 3);
const root = mkdtempSync(join(tmpdir(), 'rw-bench-'));

function sh(script: string, cwd = root): void {
  const r = spawnSync('/bin/sh', ['-c', script], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`workload failed: ${script.slice(0, 80)}: ${r.stderr.toString().slice(0, 400)}`);
}

// (b) ~200 C files and a Makefile
const src = join(root, 'csrc');
mkdirSync(src);
for (let i = 0; i < 200; i++) writeFileSync(join(src, `f${i}.c`), `int f${i}(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * ${i}; return s; }\n`);
writeFileSync(join(src, 'Makefile'), 'SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nall: $(OBJS)\n%.o: %.c\n\tcc -O1 -c $< -o $@\nclean:\n\trm -f *.o\n');
// (c) a tarball of 20 000 small files
const tsrc = join(root, 'tsrc');
for (let d = 0; d < 20; d++) {
  mkdirSync(join(tsrc, `d${d}`), { recursive: true });
  for (let i = 0; i < 1000; i++) writeFileSync(join(tsrc, `d${d}`, `f${i}.txt`), `file ${d}/${i}\n`);
}
sh(`tar -cf ${join(root, 'files.tar')} -C ${tsrc} .`);
rmSync(tsrc, { recursive: true });

const workloads: { name: string; target: number; prep?: () => void; script: string }[] = [
  { name: '(a) 5000 short execs', target: 1.30, script: 'i=0; while [ $i -lt 5000 ]; do /bin/true; i=$((i+1)); done' },
  { name: '(b) make -j2, 200 C files', target: 1.05, prep: () => sh('make -s clean', src), script: `make -s -j2 -C ${src}` },
  { name: '(c) untar 20000 small files', target: 1.10, prep: () => sh('rm -rf out && mkdir out'), script: `tar -xf ${join(root, 'files.tar')} -C ${join(root, 'out')}` },
];

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const results = new Map<string, { off: number[]; on: number[]; ratios: number[] }>();
let maxRss = 0;
let events = 0;
let losses = 0;
let sampleRss = false;
/** Runs the workload in a child while the event loop stays free (the sensor reads bpftrace concurrently). */
function timed(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn('/bin/sh', ['-c', script], { cwd: root, stdio: 'ignore' });
    const sampler = setInterval(() => { if (sampleRss) maxRss = Math.max(maxRss, bpftraceRssKiB() + Math.round(process.memoryUsage().rss / 1024)); }, 250);
    p.on('close', (code) => {
      clearInterval(sampler);
      if (code === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e6); else reject(new Error(`workload exited ${code}: ${script}`));
    });
  });
}

function bpftraceRssKiB(): number {
  let total = 0;
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid || !st.includes('(bpftrace)')) continue;
      total += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return total;
}



for (let round = 0; round < rounds; round++) {
  for (const w of workloads) {
    w.prep?.();
    const off = await timed(w.script);
    w.prep?.();
    const sensor = createEbpfSensor();
    const table = createProcTable();
    const attribution = createAttribution(table);
    sensor.onEvent((ev) => { events++; table.apply(ev); attribution.observe(ev); attribution.enrich(ev); });
    sensor.onLoss((n) => { losses += n; });
    await sensor.start();
    sampleRss = true;
    const on = await timed(w.script);
    sampleRss = false;
    await sensor.close();
    const r = results.get(w.name) ?? { off: [], on: [], ratios: [] };
    r.off.push(off); r.on.push(on); r.ratios.push(on / off);
    results.set(w.name, r);
    process.stderr.write(`round ${round + 1} ${w.name}: off ${off.toFixed(0)} ms, on ${on.toFixed(0)} ms, ratio ${(on / off).toFixed(3)}\n`);
  }
}

console.log(`eBPF sensor overhead, ${rounds} paired rounds, median ratio on/off (node ${process.version})`);
for (const w of workloads) {
  const r = results.get(w.name)!;
  const m = median(r.ratios);
  console.log(`${w.name.padEnd(32)} off ${median(r.off).toFixed(0).padStart(6)} ms  on ${median(r.on).toFixed(0).padStart(6)} ms  ratio ${m.toFixed(3)}  target <= ${w.target.toFixed(2)} ${m <= w.target ? 'OK' : 'MISSED'}`);
}
console.log(`sensor RSS (bpftrace + node), max: ${(maxRss / 1024).toFixed(1)} MiB  target <= 150 MiB ${maxRss / 1024 <= 150 ? 'OK' : 'MISSED'}`);
console.log(`events delivered: ${events}, losses reported: ${losses}`);
rmSync(root, { recursive: true, force: true });
