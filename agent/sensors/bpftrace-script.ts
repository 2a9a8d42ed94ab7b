// Renders the bpftrace program of the eBPF sensor from options. Pure: no I/O, the caller writes and runs it.
//
// Record format (one printf per line, tab-separated, tag first; parsed by bpftrace-decode.ts):
//   E ts pid ppid uid comm argvLen filename        exec (sched_process_exec)
//   e ts pid ppid uid comm argvLen argvChunk(%r)   exec whose filename is argv[0] (most): the first chunk inline
//   A pid offset argvChunk(%r)                     argv bytes, NUL-separated, in chunks of argvChunkBytes (after
//                                                  an e record from the second chunk on)
//   F ts pid uid comm childPid                     fork of a process (not a thread)
//   X ts pid uid comm exitCode                     exit of a thread-group leader (wait status encoding)
//   C ts tid pid uid comm family port addr         connect (family 2/10: ip text, 1: unix path)
//   R tid ret                                      result of that connect (sys_exit_connect)
//   Q ts pid skb dir saddr sport daddr dport       UDP/53 packet header (IPv4, u32 addresses as read)
//   q skb payload(%r)                              its DNS payload
//   W ts pid uid comm op flags mode dfd path       write-open (o), creat (c), truncate (t): first per (pid, path), within the budget
//   N ts pid uid comm tid oldPath / n tid newPath  rename, in two records (BPF stack is 512 bytes)
//   U ts pid uid comm path                         unlink (printed at sys_exit, only when it succeeded)
//   M ts pid uid comm mode path                    chmod adding an execute bit
//   S ts pid uid comm path                         open of a sensitive path (kernel prefix filter)
//   k tid name / K ts pid uid comm tid dfd complete name
//                                                  open of a credential file name relative to a directory fd: its
//                                                  directory's names leaf first (k), then the open (K)
//   P ts pid uid comm request target               ptrace attach/seize
//   V ts pid uid comm r|w target                   process_vm_readv/writev
//   D ts pid uid comm name                         memfd_create
//   G ts pid uid comm call id                      set*id to 0 by a non-root caller
//   B ts pid uid comm cmd                          bpf(BPF_PROG_LOAD)
//   T ts pid uid comm sig targetPid targetComm     a stopping signal generated for a protected pid or a runwarden*/bpftrace task
//   H start | H flush                              BEGIN ran (probes attached) | a window's counts were printed
//   Y childPid                                     with trackPids: a forked child the tracked-pid map could not hold
// plus the maps @wc0/@wc1 (write-opens beyond the budget per "pid,dfd,path") and @wn0/@wn1 (their total per
// pid), one generation printed every writeFlushMillis and both at END.

export interface ScriptOptions {
  /** Bytes of argv per printed chunk; bpftrace 0.17 caps strings and buffers at 200 bytes. */
  argvChunkBytes: number;
  /** Chunks per exec, so argv is read up to argvChunkBytes × argvChunks bytes. */
  argvChunks: number;
  /** Path prefixes whose opens are reported as sensitive reads (in-kernel strncmp, ≤ 190 bytes each). */
  sensitivePrefixes: string[];
  /** Report opens under /proc/<pid>/ other than self (user space keeps mem, maps, environ). */
  procReads: boolean;
  /** Pids whose file activity is ignored (the agent itself). */
  excludePids: number[];
  /**
   * How often counted write-opens are printed and the per-window budgets reset, ms. The count maps hold
   * BPFTRACE_MAP_KEYS_MAX paths per window: at 250 ms an untar of 20 000 files in 0.7 s fits (at 1 s, 7 000 of
   * them were lost as map-full drops), and a job's end waits at most one window for its counts.
   */
  writeFlushMillis: number;
  /** Write-opens per pid and window printed one by one before the rest is counted in the kernel. */
  writeBudget: number;
  /** DNS server port watched on the packet path. */
  dnsPort: number;
  /** File names whose open relative to a directory fd (tar -C, find, rsync) is resolved in the kernel and reported. */
  dirfdSensitiveNames: string[];
  /** Pids whose stopping signals are reported (the agent, the collector); excludePids are protected too. */
  protectedPids: number[];
  /** Target comm prefixes whose stopping signals are reported (user space keeps bpftrace only when it is ours). */
  protectedComms: string[];
  /**
   * Report only these processes and their descendants (empty: the whole host). `runwarden run` passes its own pid:
   * the job is its child, and the host's processes then cost a map lookup per probe instead of a printed record
   * each, parsed and dropped in user space. Descendants are added at fork, so membership is fixed at fork as in
   * agent/attribution.ts; DNS packets stay host-wide (answers carry another pid).
   */
  trackPids: number[];
}

export const SCRIPT_DEFAULTS: Readonly<ScriptOptions> = Object.freeze({
  argvChunkBytes: 192,
  argvChunks: 4,
  sensitivePrefixes: [],
  procReads: true,
  excludePids: [],
  writeFlushMillis: 250,
  writeBudget: 64,
  dnsPort: 53,
  dirfdSensitiveNames: ['credentials', 'config.json', 'config', 'id_rsa', 'id_ed25519', 'id_ecdsa', 'id_dsa', '.npmrc', '.pypirc',
    '.netrc', '.git-credentials', '.pgpass', 'hosts.yml', 'credentials.toml', 'credentials.db', 'application_default_credentials.json',
    'accessTokens.json', '.credentials', '.runner'],
  protectedPids: [],
  protectedComms: ['runwarden', 'bpftrace'],
  trackPids: [],
});

/** Tracked roots rendered into BEGIN at most (a restart passes the job's live processes). */
export const MAX_TRACK_PIDS = 4_096;

/** The BPFTRACE_* environment the script needs. */
export const SCRIPT_ENV: Readonly<Record<string, string>> = Object.freeze({
  BPFTRACE_STRLEN: '200',
  BPFTRACE_MAP_KEYS_MAX: '16384',
  BPFTRACE_PERF_RB_PAGES: '1024',
});

// Flags that make an open a write-open: O_WRONLY|O_RDWR|O_CREAT|O_TRUNC (asm-generic/fcntl.h).
const WRITE_FLAGS = 0x1 | 0x2 | 0x40 | 0x200;
const PF_KTHREAD = 0x00200000;
const CLONE_THREAD = 0x00010000;
const MAX_PREFIX_BYTES = 190;
/** SCRIPT_ENV's BPFTRACE_STRLEN: the longest string a probe reads. */
const STRLEN = 200;

/** Escapes a string for a bpftrace string literal; refuses what it cannot carry. */
export function bpfStringLiteral(s: string): string {
  if (Buffer.byteLength(s) > MAX_PREFIX_BYTES) throw new RangeError(`prefix longer than ${MAX_PREFIX_BYTES} bytes: ${s.slice(0, 40)}…`);
  if (/[\0-\x1f\x7f]/.test(s)) throw new RangeError('prefix contains a control character');
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/**
 * bpftrace 0.17 refuses string literals over 63 bytes whatever BPFTRACE_STRLEN says ("String is too long
 * (over 64 bytes)"), so a long prefix is cut to its first 63 bytes in the kernel filter; user space then
 * checks the whole prefix (see kernelPrefix and the decoder's sensitivePrefixes).
 */
export const MAX_LITERAL_BYTES = 63;

export function kernelPrefix(p: string): string {
  const b = Buffer.from(p);
  if (b.length <= MAX_LITERAL_BYTES) return p;
  let cut = b.subarray(0, MAX_LITERAL_BYTES).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1); // do not split a multi-byte character
  return cut;
}

function prefixTest(varName: string, prefixes: readonly string[]): string {
  const cut = [...new Set(prefixes.map(kernelPrefix))];
  return cut.map((p) => `strncmp(${varName}, ${bpfStringLiteral(p)}, ${Buffer.byteLength(p)}) == 0`).join(' || ');
}

/**
 * A cheap first test in front of the per-prefix strncmp chain: the first two bytes of the user string (one 2-byte
 * read instead of one 200-byte str() per prefix, ~3 µs per openat here) must be those of some prefix. A failed read
 * leaves 0 and falls through to the full test (bpf_probe_read_user zeroes on error), as does a prefix shorter than
 * two bytes. Bytes are compared as the little-endian u16 the read gives.
 */
export function headTest(varName: string, prefixes: readonly string[]): string | undefined {
  const heads = new Set<string>();
  for (const p of prefixes) {
    const b = Buffer.from(p);
    if (b.length === 0) return undefined;
    heads.add(b.length === 1 ? `(${varName} & 0xff) == ${b[0]}` : `${varName} == ${b[0]! | (b[1]! << 8)}`);
  }
  return [`${varName} == 0`, ...heads].join(' || ');
}

function pidFilter(pids: readonly number[]): string {
  return pids.filter((p) => Number.isInteger(p) && p > 0).map((p) => ` && pid != ${p}`).join('');
}

const HEAD = 'printf("%s\\t%lu\\t%d\\t%d\\t%s';

/** The numeric options' ranges, the same for either kernel program (libbpf-args.ts checks them too). */
export function checkScriptOptions(o: ScriptOptions): void {
  if (!Number.isInteger(o.argvChunkBytes) || o.argvChunkBytes < 16 || o.argvChunkBytes > 192) throw new RangeError('argvChunkBytes must be 16..192');
  if (!Number.isInteger(o.argvChunks) || o.argvChunks < 1 || o.argvChunks > 16) throw new RangeError('argvChunks must be 1..16');
  if (!Number.isInteger(o.writeFlushMillis) || o.writeFlushMillis < 100) throw new RangeError('writeFlushMillis must be an integer ≥ 100');
  if (!Number.isInteger(o.writeBudget) || o.writeBudget < 0 || o.writeBudget > 1_000_000) throw new RangeError('writeBudget must be 0..1000000');
  if (!Number.isInteger(o.dnsPort) || o.dnsPort < 1 || o.dnsPort > 65535) throw new RangeError('dnsPort must be a port');
}

/** Renders the whole program. Throws RangeError on options it cannot express. */
export function renderScript(partial: Partial<ScriptOptions> = {}): string {
  const o: ScriptOptions = { ...SCRIPT_DEFAULTS, ...partial };
  checkScriptOptions(o);
  const roots = [...new Set(o.trackPids.filter((p) => Number.isInteger(p) && p > 0))];
  if (roots.length > MAX_TRACK_PIDS) throw new RangeError(`trackPids holds at most ${MAX_TRACK_PIDS} pids`);
  // `trk` alone guards probes with no other filter, ` && …` joins one.
  const tracked = roots.length > 0;
  const trk = tracked ? ' && @tr[pid]' : '';
  const only = tracked ? ' /@tr[pid]/' : '';
  const excl = pidFilter(o.excludePids) + trk;
  const chunk = o.argvChunkBytes;
  const dnsBe = ((o.dnsPort & 0xff) << 8) | (o.dnsPort >> 8); // port as read from the header (network order)
  // str() is re-read per comparison on purpose: a string variable plus literals overflows the 512-byte stack;
  // the pointer is taken once, since LLVM's re-derived ctx pointers are refused by the verifier.
  const fname = 'str($f)';
  const sens: string[] = [];
  const sensHeads: string[] = [];
  if (o.procReads) {
    sensHeads.push('/proc/');
    sens.push(`(strncmp(${fname}, "/proc/", 6) == 0 && strncmp(${fname}, "/proc/self", 10) != 0 && strncmp(${fname}, "/proc/thread-self", 17) != 0)`);
  }
  if (o.sensitivePrefixes.length) {
    sens.push(prefixTest(fname, o.sensitivePrefixes));
    sensHeads.push(...o.sensitivePrefixes.map(kernelPrefix));
  }
  const sensHead = headTest('$h', sensHeads);
  const hdr = (tag: string, more: string, args: string) =>
    `${HEAD.replace('%s', tag)}${more}\\n", nsecs, pid, uid, comm${args});`;

  const parts: string[] = [];
  parts.push(`// generated by runwarden agent/sensors/bpftrace-script.ts
BEGIN {${roots.map((p) => ` @tr[${p}] = 1;`).join('')} printf("H\\tstart\\n"); }

tracepoint:syscalls:sys_enter_clone${only} { @cf[tid] = args->clone_flags; }
tracepoint:syscalls:sys_enter_clone3${only} { @cf[tid] = *uptr((uint64 *)args->uargs); }
tracepoint:syscalls:sys_exit_clone, tracepoint:syscalls:sys_exit_clone3 { delete(@cf[tid]); }
tracepoint:sched:sched_process_fork /(curtask->flags & ${PF_KTHREAD}) == 0${trk}/ {
  if ((@cf[tid] & ${CLONE_THREAD}) == 0) {${tracked ? `
    // A child the map cannot hold would vanish from view: say so (Y), user space counts it as a loss.
    @tr[args->child_pid] = 1;
    if (@tr[args->child_pid] == 0) { printf("Y\\t%d\\n", args->child_pid); }
   ` : ''} ${hdr('F', '\\t%d', ', args->child_pid')} }
}
// Most execs name the file as argv[0] (a shell running /bin/true, gcc running cc1): then one record (e) carries
// the first argv chunk and the file name is argv[0]; else E names the file and A records carry all of argv. One
// record fewer per exec: each costs a perf event, a wakeup of bpftrace and a line. Three probes, since two
// 200-byte strings and a printed buffer do not fit one 512-byte BPF stack; @xe passes the comparison on.
tracepoint:sched:sched_process_exec${only} {
  $mm = curtask->mm;
  @xe[tid] = ($mm->arg_end > $mm->arg_start && strncmp(str(args->filename), str(uptr($mm->arg_start)), ${STRLEN}) == 0) ? 1 : 2;
}
tracepoint:sched:sched_process_exec${only} {
  $mm = curtask->mm; $len = $mm->arg_end - $mm->arg_start;
  if (@xe[tid] == 1) {
    printf("e\\t%lu\\t%d\\t%d\\t%d\\t%s\\t%d\\t%r\\n", nsecs, pid, curtask->real_parent->tgid, uid, comm, $len, buf(uptr($mm->arg_start), $len > ${chunk} ? ${chunk} : $len));
  } else {
    printf("E\\t%lu\\t%d\\t%d\\t%d\\t%s\\t%d\\t%s\\n", nsecs, pid, curtask->real_parent->tgid, uid, comm, $len, str(args->filename));
  }
}
tracepoint:sched:sched_process_exec${only} {
  $mm = curtask->mm; $len = $mm->arg_end - $mm->arg_start;
  $off = (uint64)(@xe[tid] == 1 ? ${chunk} : 0);
  delete(@xe[tid]);
  unroll(${o.argvChunks}) {
    if ($off < $len && $off < ${chunk * o.argvChunks}) {
      $n = $len - $off;
      printf("A\\t%d\\t%d\\t%r\\n", pid, $off, buf(uptr($mm->arg_start + $off), $n > ${chunk} ? ${chunk} : $n));
      $off += ${chunk};
    }
  }
}
tracepoint:sched:sched_process_exit /pid == tid${trk}/ { ${hdr('X', '\\t%d', ', curtask->exit_code')} }
${tracked ? `// The group is gone once its last thread exits (signal->live is decremented before this tracepoint).
tracepoint:sched:sched_process_exit /@tr[pid] && curtask->signal->live.counter == 0/ { delete(@tr[pid]); }
` : ''}
tracepoint:syscalls:sys_enter_connect${only} {
  $sa = (struct sockaddr_in *)args->uservaddr;
  if ($sa->sin_family == 2) {
    @cn[tid] = 1;
    printf("C\\t%lu\\t%d\\t%d\\t%d\\t%s\\t2\\t%d\\t%s\\n", nsecs, tid, pid, uid, comm,
      (($sa->sin_port & 0xff) << 8) | ($sa->sin_port >> 8), ntop(2, $sa->sin_addr.s_addr));
  }
}
tracepoint:syscalls:sys_enter_connect${only} {
  $s6 = (struct sockaddr_in6 *)args->uservaddr;
  if ($s6->sin6_family == 10) {
    @cn[tid] = 1;
    printf("C\\t%lu\\t%d\\t%d\\t%d\\t%s\\t10\\t%d\\t%s\\n", nsecs, tid, pid, uid, comm,
      (($s6->sin6_port & 0xff) << 8) | ($s6->sin6_port >> 8), ntop(10, $s6->sin6_addr.in6_u.u6_addr8));
  }
}
tracepoint:syscalls:sys_enter_connect${only} {
  $su = (struct sockaddr_un *)args->uservaddr;
  if ($su->sun_family == 1) {
    @cn[tid] = 1;
    printf("C\\t%lu\\t%d\\t%d\\t%d\\t%s\\t1\\t0\\t%s\\n", nsecs, tid, pid, uid, comm, $su->sun_path);
  }
}
tracepoint:syscalls:sys_exit_connect /@cn[tid]/ { printf("R\\t%d\\t%d\\n", tid, args->ret); delete(@cn[tid]); }

tracepoint:net:net_dev_queue {
  $skb = (struct sk_buff *)args->skbaddr;
  $ip = (struct iphdr *)($skb->head + $skb->network_header);
  if ($ip->version == 4 && $ip->protocol == 17) {
    $udp = (struct udphdr *)($skb->head + $skb->transport_header);
    if ($udp->source == ${dnsBe} || $udp->dest == ${dnsBe}) {
      printf("Q\\t%lu\\t%d\\t%lu\\to\\t%u\\t%d\\t%u\\t%d\\n", nsecs, pid, (uint64)$skb, $ip->saddr,
        (($udp->source & 0xff) << 8) | ($udp->source >> 8), $ip->daddr, (($udp->dest & 0xff) << 8) | ($udp->dest >> 8));
    }
  }
}
tracepoint:net:net_dev_queue {
  $skb = (struct sk_buff *)args->skbaddr;
  $ip = (struct iphdr *)($skb->head + $skb->network_header);
  if ($ip->version == 4 && $ip->protocol == 17) {
    $udp = (struct udphdr *)($skb->head + $skb->transport_header);
    if ($udp->source == ${dnsBe} || $udp->dest == ${dnsBe}) {
      $ul = ((($udp->len & 0xff) << 8) | ($udp->len >> 8)) - 8;
      printf("q\\t%lu\\t%r\\n", (uint64)$skb, buf((uint8 *)$udp + 8, $ul > 192 ? 192 : $ul));
    }
  }
}
// Answers from a non-loopback server arrive here; loopback ones were already seen leaving (net_dev_queue).
tracepoint:net:netif_receive_skb {
  $skb = (struct sk_buff *)args->skbaddr;
  if ($skb->dev->ifindex != 1) {
    $ip = (struct iphdr *)($skb->data);
    if ($ip->version == 4 && $ip->protocol == 17) {
      $udp = (struct udphdr *)($skb->data + $ip->ihl * 4);
      if ($udp->source == ${dnsBe}) {
        printf("Q\\t%lu\\t%d\\t%lu\\ti\\t%u\\t%d\\t%u\\t%d\\n", nsecs, pid, (uint64)$skb, $ip->saddr,
          (($udp->source & 0xff) << 8) | ($udp->source >> 8), $ip->daddr, (($udp->dest & 0xff) << 8) | ($udp->dest >> 8));
      }
    }
  }
}
tracepoint:net:netif_receive_skb {
  $skb = (struct sk_buff *)args->skbaddr;
  if ($skb->dev->ifindex != 1) {
    $ip = (struct iphdr *)($skb->data);
    if ($ip->version == 4 && $ip->protocol == 17) {
      $udp = (struct udphdr *)($skb->data + $ip->ihl * 4);
      if ($udp->source == ${dnsBe}) {
        $ul = ((($udp->len & 0xff) << 8) | ($udp->len >> 8)) - 8;
        printf("q\\t%lu\\t%r\\n", (uint64)$skb, buf((uint8 *)$udp + 8, $ul > 192 ? 192 : $ul));
      }
    }
  }
}
`);
  // Write-opens: the first open of a path by a pid in a window is printed at once, for writeBudget paths per
  // pid and window (low latency for what a job usually writes) and for every create with an execute bit (a
  // dropped binary must precede its exec); repeats and the rest of a flood are counted in the kernel per (pid, dirfd, path) and printed once per window: printing each
  // costs 1.68x on file-heavy jobs (notes/ebpf-on-this-kernel.md). Two map generations alternate so user
  // space prints and clears one while the probes fill the other; @wn totals per pid make a full map visible.
  const writeProbe = (probe: string, op: string, flagsExpr: string, modeExpr: string, filter: string) => {
    const pathArg = probe.includes('truncate') ? 'path' : probe.includes('creat') ? 'pathname' : 'filename';
    const dfd = probe.includes('openat') ? 'args->dfd' : '-100';
    return `${probe} /${filter}${excl}/ {
  $p = str(args->${pathArg});
  if ((@wb[pid] < ${o.writeBudget} || (${modeExpr} & 0111) != 0) && @ws[pid, $p] == 0) {
    @wb[pid] = @wb[pid] + 1;
    @ws[pid, $p] = 1;
    ${hdr('W', '\\t' + op + '\\t%d\\t%d\\t%d\\t%s', `, ${flagsExpr}, ${modeExpr}, ${dfd}, $p`)}
  } else if (@wg == 0) { @wc0[pid, ${dfd}, $p] = count(); @wn0[pid] = count(); }
  else { @wc1[pid, ${dfd}, $p] = count(); @wn1[pid] = count(); }
}
`;
  };
  // O_CREAT (0x40) decides whether the mode argument means anything.
  parts.push(writeProbe('tracepoint:syscalls:sys_enter_openat', 'o', 'args->flags', '((args->flags & 0x40) != 0 ? args->mode : 0)', `(args->flags & ${WRITE_FLAGS}) != 0`));
  parts.push(writeProbe('tracepoint:syscalls:sys_enter_openat2', 'o', '*uptr((uint64 *)args->how)', '((*uptr((uint64 *)args->how) & 0x40) != 0 ? *uptr((uint64 *)args->how + 1) : 0)', `(*uptr((uint64 *)args->how) & ${WRITE_FLAGS}) != 0`));
  parts.push(writeProbe('tracepoint:syscalls:sys_enter_creat', 'c', 'args->mode', 'args->mode', '1'));
  parts.push(writeProbe('tracepoint:syscalls:sys_enter_truncate', 't', '0', '0', '1'));
  if (sens.length) {
    const test = `if (${sens.join(' || ')}) {
    $p = str($f);
    if (@rs[pid, $p] == 0) { @rs[pid, $p] = 1; ${hdr('S', '\\t%s', ', $p')} }
  }`;
    parts.push(`tracepoint:syscalls:sys_enter_openat /1${excl}/ {
  $f = args->filename;
${sensHead ? `  $h = *uptr((uint16 *)$f);
  if (${sensHead}) {
  ${test}
  }` : `  ${test}`}
}
`);
  }
  if (sens.length && o.dirfdSensitiveNames.length) parts.push(renderDirfdOpens(o.dirfdSensitiveNames, excl));
  parts.push(renderWatcherSignals([...o.excludePids, ...o.protectedPids], o.protectedComms, excl));
  parts.push(`tracepoint:syscalls:sys_enter_rename /1${excl}/ { ${hdr('N', '\\t%d\\t%s', ', tid, str(args->oldname)')} }
tracepoint:syscalls:sys_enter_rename /1${excl}/ { printf("n\\t%d\\t%s\\n", tid, str(args->newname)); }
// The *at calls' paths relative to a directory fd are printed fd:N/path (user space reads /proc/<pid>/fd/N; fd:N//abs
// is an absolute path, which the kernel takes as it is).
tracepoint:syscalls:sys_enter_renameat, tracepoint:syscalls:sys_enter_renameat2 /(int32)args->olddfd < 0${excl}/ { ${hdr('N', '\\t%d\\t%s', ', tid, str(args->oldname)')} }
tracepoint:syscalls:sys_enter_renameat, tracepoint:syscalls:sys_enter_renameat2 /(int32)args->olddfd >= 0${excl}/ { ${hdr('N', '\\t%d\\tfd:%d/%s', ', tid, args->olddfd, str(args->oldname)')} }
tracepoint:syscalls:sys_enter_renameat, tracepoint:syscalls:sys_enter_renameat2 /(int32)args->newdfd < 0${excl}/ { printf("n\\t%d\\t%s\\n", tid, str(args->newname)); }
tracepoint:syscalls:sys_enter_renameat, tracepoint:syscalls:sys_enter_renameat2 /(int32)args->newdfd >= 0${excl}/ { printf("n\\t%d\\tfd:%d/%s\\n", tid, args->newdfd, str(args->newname)); }
// Unlinks are reported when they succeed (tar, make and rm -f try many that do not exist); the name is read
// at exit from the caller's memory, which the syscall does not change.
tracepoint:syscalls:sys_enter_unlink /1${excl}/ { @ul[tid] = (uint64)args->pathname; @uld[tid] = -100; }
tracepoint:syscalls:sys_enter_unlinkat /(args->flag & 0x200) == 0${excl}/ { @ul[tid] = (uint64)args->pathname; @uld[tid] = (int32)args->dfd; }
tracepoint:syscalls:sys_exit_unlink, tracepoint:syscalls:sys_exit_unlinkat /@ul[tid]/ {
  if (args->ret == 0) {
    if (@uld[tid] >= 0) { ${hdr('U', '\\tfd:%d/%s', ', @uld[tid], str(@ul[tid])')} }
    else { ${hdr('U', '\\t%s', ', str(@ul[tid])')} }
  }
  delete(@ul[tid]);
  delete(@uld[tid]);
}
tracepoint:syscalls:sys_enter_chmod /(args->mode & 0111) != 0${excl}/ { ${hdr('M', '\\t%d\\t%s', ', args->mode, str(args->filename)')} }
tracepoint:syscalls:sys_enter_fchmodat, tracepoint:syscalls:sys_enter_fchmodat2 /(args->mode & 0111) != 0 && (int32)args->dfd < 0${excl}/ { ${hdr('M', '\\t%d\\t%s', ', args->mode, str(args->filename)')} }
tracepoint:syscalls:sys_enter_fchmodat, tracepoint:syscalls:sys_enter_fchmodat2 /(args->mode & 0111) != 0 && (int32)args->dfd >= 0${excl}/ { ${hdr('M', '\\t%d\\tfd:%d/%s', ', args->mode, args->dfd, str(args->filename)')} }
tracepoint:syscalls:sys_enter_fchmod /(args->mode & 0111) != 0${excl}/ { ${hdr('M', '\\t%d\\tfd:%d', ', args->mode, args->fd')} }

tracepoint:syscalls:sys_enter_ptrace /(args->request == 16 || args->request == 0x4206)${trk}/ { ${hdr('P', '\\t%d\\t%d', ', args->request, args->pid')} }
tracepoint:syscalls:sys_enter_process_vm_readv${only} { ${hdr('V', '\\tr\\t%d', ', args->pid')} }
tracepoint:syscalls:sys_enter_process_vm_writev${only} { ${hdr('V', '\\tw\\t%d', ', args->pid')} }
tracepoint:syscalls:sys_enter_memfd_create${only} { ${hdr('D', '\\t%s', ', str(args->uname)')} }
tracepoint:syscalls:sys_enter_setuid /uid != 0 && args->uid == 0${trk}/ { ${hdr('G', '\\tsetuid\\t%d', ', args->uid')} }
tracepoint:syscalls:sys_enter_setresuid /uid != 0 && (args->ruid == 0 || args->euid == 0 || args->suid == 0)${trk}/ { ${hdr('G', '\\tsetresuid\\t%d', ', 0')} }
tracepoint:syscalls:sys_enter_setgid /uid != 0 && args->gid == 0${trk}/ { ${hdr('G', '\\tsetgid\\t%d', ', args->gid')} }
tracepoint:syscalls:sys_enter_setresgid /uid != 0 && (args->rgid == 0 || args->egid == 0 || args->sgid == 0)${trk}/ { ${hdr('G', '\\tsetresgid\\t%d', ', 0')} }
tracepoint:syscalls:sys_enter_bpf /args->cmd == 5${trk}/ { ${hdr('B', '\\t%d', ', args->cmd')} }

interval:ms:${o.writeFlushMillis} {
  @wg = 1 - @wg;
  if (@wg == 1) { print(@wc0); clear(@wc0); print(@wn0); clear(@wn0); }
  else { print(@wc1); clear(@wc1); print(@wn1); clear(@wn1); }
  clear(@wb); clear(@ws); clear(@rs);
  printf("H\\tflush\\n");
}
END { print(@wc0); print(@wn0); print(@wc1); print(@wn1); clear(@wc0); clear(@wn0); clear(@wc1); clear(@wn1); clear(@wb); clear(@ws); clear(@rs); clear(@cf); clear(@cn); clear(@ul); delete(@wg);${tracked ? ' clear(@tr);' : ''} }
`);
  return parts.join('\n');
}

// Offset of `struct vfsmount mnt` inside `struct mount` (mnt_hash, mnt_parent, mnt_mountpoint come first, 8-byte
// pointers: unchanged since 3.3); bpftrace 0.17 has no container_of/offsetof.
const MOUNT_VFSMOUNT_OFFSET = 32;
const DIRFD_DEPTH = 16;

/**
 * `tar -C ~ -cf - .aws` opens `credentials` relative to the fd of `.aws`: the absolute-path prefix filter never
 * sees it, and /proc/<pid>/fd/<dirfd> is often closed or reused by the time user space looks. So the directory is
 * resolved here: its dentry names up to the mount root, crossing mounts through the mount's mountpoint, one short
 * `k` record per name (a 512-byte stack holds one string at a time), then the `K` record with the opened name.
 */
export function renderDirfdOpens(names: readonly string[], excl = ''): string {
  const test = [...new Set(names)].map((n) => `strncmp(str($f), ${bpfStringLiteral(n)}, ${Buffer.byteLength(n) + 1}) == 0`).join(' || ');
  const head = headTest('$h', names);
  return `tracepoint:syscalls:sys_enter_openat /(int32)args->dfd >= 0${excl}/ {
  $f = args->filename;
  $h = *uptr((uint16 *)$f);
  $fdt = curtask->files->fdt;
  if (${head ? `(${head}) && ` : ''}(${test}) && (uint64)args->dfd < (uint64)$fdt->max_fds) {
    $file = *($fdt->fd + args->dfd);
    $d = $file->f_path.dentry;
    $m = (struct mount *)((uint64)$file->f_path.mnt - ${MOUNT_VFSMOUNT_OFFSET});
    $done = 0;
    unroll(${DIRFD_DEPTH}) {
      if ($done == 0) {
        if ($d == $m->mnt.mnt_root) {
          if ($m == $m->mnt_parent) { $done = 1; } else { $d = $m->mnt_mountpoint; $m = $m->mnt_parent; }
        } else {
          printf("k\\t%d\\t%s\\n", tid, str($d->d_name.name));
          $d = $d->d_parent;
        }
      }
    }
    ${HEAD.replace('%s', 'K')}\\t%d\\t%d\\t%d\\t%s\\n", nsecs, pid, uid, comm, tid, args->dfd, $done, str($f));
  }
}
`;
}

// SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGTERM, SIGSTOP, SIGTSTP: the signals that stop or kill a process by default.
const STOPPING_SIGNALS = [1, 2, 3, 9, 15, 19, 20];

/**
 * `kill -9 <agent>` from a shell is a builtin (no exec to match on): the kernel's signal_generate tracepoint names
 * the target task (pid, comm) whatever the sending syscall (kill, tkill, tgkill, pidfd_send_signal). Signals sent
 * by excluded pids (the agent stopping its own bpftrace) are not reported.
 */
export function renderWatcherSignals(pids: readonly number[], comms: readonly string[], excl = ''): string {
  const targets = [
    ...[...new Set(pids)].filter((p) => Number.isInteger(p) && p > 0).map((p) => `args->pid == ${p}`),
    ...[...new Set(comms)].filter((c) => c !== '').map((c) => `strncmp(args->comm, ${bpfStringLiteral(c.slice(0, 15))}, ${Math.min(Buffer.byteLength(c), 15)}) == 0`),
  ];
  if (!targets.length) return '';
  const sigs = STOPPING_SIGNALS.map((n) => `args->sig == ${n}`).join(' || ');
  return `tracepoint:signal:signal_generate /(${sigs})${excl}/ {
  if (${targets.join(' || ')}) { ${HEAD.replace('%s', 'T')}\\t%d\\t%d\\t%s\\n", nsecs, pid, uid, comm, args->sig, args->pid, args->comm); }
}
`;
}
