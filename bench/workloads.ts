// The three build-like workloads of issue 3's overhead targets, shared by bench/overhead.ts (the `runwarden run`
// pipeline, cold per job) and bench/overhead-host.ts (the `runwarden agent` daemon, warm across jobs).
//
// Nothing is deleted on the bench's file system while it runs: on ext4 without a journal (this VM's /) inode
// allocation skips every inode freed in the last 60 s, 360 s while its inode table block is dirty (fs/ext4/ialloc.c
// recently_deleted(), checked only without a journal), so an untar after `rm -rf` of the previous 20 000 files took
// 9–22 s of system time instead of 0.7 s, varying with the gap since the rm. The tarball is written from memory
// and each untar goes to a fresh directory; all is removed at the end.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Workload { name: string; target: number; prep?: () => void; script: () => string }

export interface Workloads {
  /** Where the workloads run (a fresh directory under the base directory). */
  root: string;
  /** File system type of `root` (stat -f). */
  fsType: string;
  workloads: Workload[];
  /** The job's environment: it carries a secret, so held-secret discovery and scanning do real work. */
  jobEnv: Record<string, string>;
  remove(): void;
}

export const BENCH_SECRET = 'rwbench-' + 'k3Q9xV7pL2mZ8nB4tR6wY1cF5hJ0dS';

function sh(script: string, cwd: string): void {
  const r = spawnSync('/bin/sh', ['-c', script], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`workload failed: ${script.slice(0, 80)}: ${r.stderr.toString().slice(0, 400)}`);
}

// Streamed to the file entry by entry: a 20 MB buffer would stay in the bench's RSS, which bench/overhead measures.
function writeUstar(path: string, entries: Iterable<{ name: string; body?: Buffer; dir?: boolean }>): void {
  const fd = openSync(path, 'w');
  const octal = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  for (const e of entries) {
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    const body = e.body ?? Buffer.alloc(0);
    h.write(octal(e.dir ? 0o755 : 0o644, 8), 100); h.write(octal(0, 8), 108); h.write(octal(0, 8), 116);
    h.write(octal(body.length, 12), 124); h.write(octal(Math.floor(Date.now() / 1000), 12), 136);
    h.write(e.dir ? '5' : '0', 156); h.write('ustar\0', 257); h.write('00', 263);
    h.fill(' ', 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    writeSync(fd, Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]));
  }
  writeSync(fd, Buffer.alloc(1024));
  closeSync(fd);
}

function* tarEntries(): Generator<{ name: string; body?: Buffer; dir?: boolean }> {
  for (let d = 0; d < 20; d++) {
    yield { name: `./d${d}/`, dir: true };
    for (let i = 0; i < 1000; i++) yield { name: `./d${d}/f${i}.txt`, body: Buffer.from(`file ${d}/${i}\n`) };
  }
}

/** Writes the C sources and the tarball under a fresh directory in `baseDir`; `only` picks workloads by letter. */
export function prepareWorkloads(baseDir: string, only?: string): Workloads {
  const root = mkdtempSync(join(baseDir, 'rw-bench-'));
  const fsType = spawnSync('stat', ['-f', '-c', '%T', root], { encoding: 'utf8' }).stdout.trim();
  // (b) ~200 C files and a Makefile
  const src = join(root, 'csrc');
  mkdirSync(src);
  for (let i = 0; i < 200; i++) writeFileSync(join(src, `f${i}.c`), `int f${i}(int x) { int s = 0; for (int i = 0; i < x; i++) s += i * ${i}; return s; }\n`);
  writeFileSync(join(src, 'Makefile'), 'SRCS := $(wildcard *.c)\nOBJS := $(SRCS:.c=.o)\nall: $(OBJS)\n%.o: %.c\n\tcc -O1 -c $< -o $@\nclean:\n\trm -f *.o\n');
  // (c) a tarball of 20 000 small files, written from memory (creating and deleting the files first would slow
  // the untars that follow; see the header).
  const wantTar = !only || only.includes('c');
  if (wantTar) writeUstar(join(root, 'files.tar'), tarEntries());
  let untars = 0;
  const all: Workload[] = [
    { name: '(a) 5000 short execs', target: 1.30, script: () => 'i=0; while [ $i -lt 5000 ]; do /bin/true; i=$((i+1)); done' },
    { name: '(b) make -j2, 200 C files', target: 1.05, prep: () => sh('make -s clean', src), script: () => `make -s -j2 -C ${src}` },
    { name: '(c) untar 20000 small files', target: 1.10, prep: () => mkdirSync(join(root, `out${++untars}`)), script: () => `tar -xf ${join(root, 'files.tar')} -C ${join(root, `out${untars}`)}` },
  ];
  const jobEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C', API_TOKEN: BENCH_SECRET, CI: 'true',
  };
  // Every timed run starts with no dirty pages: an untar leaves ~100 MB for writeback, which otherwise runs during
  // whatever is timed next. Without it the second of two back-to-back untars took 20–40 % longer on this VM's ext4,
  // and the bench's pairing order (an off run right after a job, two jobs in a row) turned that into ratios of
  // 0.8 to 3.0 in one run. Both arms call prep() just before they are timed.
  const settled = all.map((w) => ({ ...w, prep: () => { w.prep?.(); spawnSync('sync'); } }));
  return {
    root, fsType, jobEnv,
    workloads: settled.filter((w) => !only || only.includes(w.name[1] as string)),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] as number; };

/** VmRSS of a process in KiB; 0 once it is gone. */
export function rssKiB(pid: number): number {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { return 0; }
}

/** The fields of a /proc stat file after `(comm)`, and comm; undefined once the process or thread is gone. */
function statOf(path: string): { comm: string; f: string[] } | undefined {
  try {
    const st = readFileSync(path, 'utf8');
    return { comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), f: st.slice(st.lastIndexOf(')') + 2).split(' ') };
  } catch { return undefined; }
}

/** CPU seconds (user + system, all threads) a process has used so far; 0 once it is gone. */
export function procCpu(pid: number): number {
  const s = statOf(`/proc/${pid}/stat`);
  return s ? (Number(s.f[11]) + Number(s.f[12])) / 100 : 0;
}

/** CPU seconds (user, system) so far per thread name of a process: `main`, V8's workers (`node`), libuv's pool. */
export function threadCpu(pid: number): Map<string, { user: number; sys: number }> {
  const out = new Map<string, { user: number; sys: number }>();
  let tids: string[] = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tids) {
    const s = statOf(`/proc/${pid}/task/${t}/stat`);
    if (!s) continue;
    const name = t === String(pid) ? 'main' : s.comm;
    const sum = out.get(name) ?? { user: 0, sys: 0 };
    sum.user += Number(s.f[11]) / 100;
    sum.sys += Number(s.f[12]) / 100;
    out.set(name, sum);
  }
  return out;
}

/** CPU seconds of this process's reaped children so far (cutime + cstime of /proc/self/stat). */
export function reapedChildrenCpu(): number {
  const st = readFileSync('/proc/self/stat', 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

/** The shim every deployment starts (systemd units, the Docker image, `npm i -g`): its shebang carries the V8 options. */
export const CLI_SHIM = fileURLToPath(new URL('../../cli/runwarden.js', import.meta.url)); // this file runs from dist/bench

/** The node options of the shim's `#!/usr/bin/env -S node …` line: the benches start the daemons as deployed. */
export function deployedNodeFlags(): string[] {
  const first = readFileSync(CLI_SHIM, 'utf8').split('\n', 1)[0] ?? '';
  const words = first.replace(/^#!/, '').trim().split(/\s+/);
  const at = words.indexOf('node');
  return at < 0 ? [] : words.slice(at + 1);
}

/**
 * Runs this bench again under the shim's node options when it was started without them (a bench whose own process
 * is the measured agent, like `runwarden run`). Returns true in the parent, which should then leave.
 */
export function reexecWithDeployedFlags(): boolean {
  const want = deployedNodeFlags();
  if (process.env.RW_BENCH_NO_REEXEC || want.every((f) => process.execArgv.includes(f))) return false;
  const r = spawnSync(process.execPath, [...process.execArgv, ...want, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, RW_BENCH_NO_REEXEC: '1' } });
  process.exitCode = r.status ?? 1;
  return true;
}
