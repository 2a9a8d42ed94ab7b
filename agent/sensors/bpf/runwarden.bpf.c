// SPDX-License-Identifier: GPL-2.0
/* The libbpf sensor's kernel half: the probes of agent/sensors/bpftrace-script.ts as one CO-RE object. Each probe
 * fills one ring-buffer record (runwarden.h) that the loader prints as the script's record(s). Options arrive as
 * rodata set by the loader before load; the write window and generation in .bss, flipped by the loader. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "runwarden.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000
#define WRITE_FLAGS (0x1 | 0x2 | 0x40 | 0x200) /* O_WRONLY|O_RDWR|O_CREAT|O_TRUNC */
#define O_CREAT_ 0x40

const volatile __u32 argv_max = 768;
const volatile __u32 write_budget = 64;
const volatile __u16 dns_port_be = 0x3500;
const volatile bool tracked = false;
const volatile bool proc_reads = true;
const volatile __u32 n_excl = 0;
const volatile __u32 excl[RW_MAX_EXCL] = {};
const volatile __u32 n_prot = 0;
const volatile __u32 prot[RW_MAX_PROT] = {};
const volatile __u32 n_pcomm = 0;
const volatile __u8 pcomm_len[RW_MAX_PCOMM] = {};
const volatile char pcomm[RW_MAX_PCOMM][16] = {};
const volatile __u32 n_pfx = 0;
const volatile __u8 pfx_nw[RW_MAX_PFX] = {};
const volatile __u64 pfx_last_mask[RW_MAX_PFX] = {};
const volatile __u64 pfx[RW_MAX_PFX][RW_PFX_WORDS] = {};
/* First two bytes (little-endian u16) of some prefix (and 0, a failed read): one bit each. */
const volatile __u8 pfx_heads[8192] = {};
const volatile __u32 n_names = 0;
const volatile __u8 name_nw[RW_MAX_NAMES] = {};
const volatile __u64 name_last_mask[RW_MAX_NAMES] = {};
const volatile __u64 names[RW_MAX_NAMES][RW_NAME_WORDS] = {};
const volatile __u8 name_heads[8192] = {};

__u32 window = 1; /* write budgets and once-per-window sets are per window; the loader advances it */
__u32 gen = 0;    /* which count maps the probes fill (the loader prints the other) */

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4 << 20); } rb SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } lost SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, __u32); __type(value, __u8); } tr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 16384); __type(key, struct rw_pkey); __type(value, __u32); } ws SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 16384); __type(key, struct rw_pkey); __type(value, __u32); } rs SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 16384); __type(key, __u32); __type(value, struct rw_budget); } wb SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, struct rw_wkey); __type(value, __u64); } wc0 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, struct rw_wkey); __type(value, __u64); } wc1 SEC(".maps");
/* Write-opens per pid that the full count map could not hold (bpftrace: @wn minus the sum of @wc). */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u64); } wm0 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4096); __type(key, __u32); __type(value, __u64); } wm1 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, __u32); __type(value, __u8); } cn SEC(".maps");
struct unlink_arg { __u64 ptr; __s64 dfd; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, __u32); __type(value, struct unlink_arg); } ul SEC(".maps");
/* Processes whose cwd user space knows from the last J record of their pid (at their exec, or at the return of a chdir,
 * fchdir, setns or unshare) or of their parent's at their fork: their cwd-relative write-opens carry RW_DFD_EXEC_CWD and
 * need no wakeup. Cleared at those calls' entry and at the group's exit; never set for a cwd shared with another
 * process (CLONE_FS). pivot_root moving other processes' cwd is not seen. */
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16384); __type(key, __u32); __type(value, __u8); } cwdx SEC(".maps");
/* Per CPU, the hash of each of the last write-opens past their budget, one slot per hash: a path not in its slot goes to
 * the loader, which counts it (RW_WCOUNT); one in its slot is a repeat, counted in the generation's map here. */
#define RW_RECENT 1024
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, RW_RECENT); __type(key, __u32); __type(value, __u64); } recent SEC(".maps");

/* Per-CPU room for what does not fit the 512-byte stack: an exec or dirfd record before output, the map keys. */
struct scratch {
	union { struct rw_exec exec; struct rw_dirfd dirfd; } rec;
	struct rw_cwd cwd;
	struct { struct rw_wkey wk; struct rw_pkey pk; } keys;
	/* on_openat → on_openat_sensitive (tail call, same CPU, same syscall): keys.pk.path already holds the path. */
	__u8 have_path;
	__u8 heads;
};
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct scratch); } scratch SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&lost, &k);
	if (v) (*v)++;
}

/* Wake the loader only when the ring is a quarter full; else it reads every poll interval (bounded latency,
 * one wakeup per batch instead of one per record). */
static __always_inline __u64 wake_flags(void)
{
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) > bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE) / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void *reserve(__u64 size)
{
	void *p = bpf_ringbuf_reserve(&rb, size, 0);
	if (!p) count_lost();
	return p;
}

static __always_inline void submit(void *p) { bpf_ringbuf_submit(p, wake_flags()); }

/* The rare records the rules act on first (ptrace, process_vm_*, setuid/setgid to root, memfd, bpf, signals to the
 * watcher, reads of the sensitive set) wake the loader at once; the rest wait for its next poll (--poll-ms) or a
 * quarter-full ring. */
static __always_inline void submit_now(void *p) { bpf_ringbuf_submit(p, BPF_RB_FORCE_WAKEUP); }
static __always_inline void output(void *p, __u64 size)
{
	if (bpf_ringbuf_output(&rb, p, size, wake_flags())) count_lost();
}

static __always_inline void fill_hdr(struct rw_hdr *h, __u8 type)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->type = type;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ts = bpf_ktime_get_ns();
	h->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline bool is_tracked(__u32 pid)
{
	return !tracked || bpf_map_lookup_elem(&tr, &pid) != NULL;
}

static __always_inline bool is_excluded(__u32 pid)
{
	for (__u32 i = 0; i < RW_MAX_EXCL; i++) {
		if (i >= n_excl) break;
		if (excl[i] == pid) return true;
	}
	return false;
}

/* File probes: not the agent (excludePids), and with trackPids only the tracked trees. */
static __always_inline bool file_watched(__u32 pid) { return !is_excluded(pid) && is_tracked(pid); }

static __always_inline __u32 cur_pid(void) { return bpf_get_current_pid_tgid() >> 32; }

/* Reads a user string as bpftrace's str() would (≤ 199 bytes and a NUL), the rest of the buffer zeroed: paths are
 * hash keys and compared 8 bytes at a time. */
static __always_inline long read_path(char *buf, const char *u)
{
	__u64 *w = (__u64 *)buf;
#pragma unroll
	for (int i = 0; i < RW_STR / 8; i++) w[i] = 0;
	return bpf_probe_read_user_str(buf, RW_STR, u);
}

static __always_inline bool head_in(const volatile __u8 *bits, __u16 h)
{
	return (bits[(h >> 3) & 8191] >> (h & 7)) & 1;
}

static __always_inline bool prefix_at(const __u64 *p, __u32 i)
{
	if (i >= RW_MAX_PFX) return false;
	__u32 nw = pfx_nw[i];
	for (__u32 j = 0; j < RW_PFX_WORDS; j++) {
		if (j >= nw) break;
		__u64 m = j + 1 == nw ? pfx_last_mask[i] : ~0ULL;
		if ((p[j] & m) != pfx[i][j]) return false;
	}
	return true;
}

static __always_inline bool starts(const char *p, const char *lit, int n)
{
	for (int i = 0; i < n; i++) if (p[i] != lit[i]) return false;
	return true;
}

static __always_inline bool sensitive(const char *path)
{
	if (proc_reads && starts(path, "/proc/", 6) && !starts(path, "/proc/self", 10) && !starts(path, "/proc/thread-self", 17)) return true;
	for (__u32 i = 0; i < RW_MAX_PFX; i++) {
		if (i >= n_pfx) break;
		if (prefix_at((const __u64 *)path, i)) return true;
	}
	return false;
}

static __always_inline bool dirfd_name(const char *path)
{
	const __u64 *p = (const __u64 *)path;
	for (__u32 i = 0; i < RW_MAX_NAMES; i++) {
		if (i >= n_names) break;
		__u32 nw = name_nw[i];
		bool ok = true;
		for (__u32 j = 0; j < RW_NAME_WORDS; j++) {
			if (j >= nw) break;
			__u64 m = j + 1 == nw ? name_last_mask[i] : ~0ULL;
			if ((p[j] & m) != names[i][j]) { ok = false; break; }
		}
		if (ok) return true;
	}
	return false;
}

static __always_inline struct scratch *get_scratch(void)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&scratch, &k);
}

/* ---- processes ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (parent->flags & PF_KTHREAD) return 0;
	if (child->pid != child->tgid) return 0; /* a thread */
	__u32 pid = parent->tgid;
	if (!is_tracked(pid)) return 0;
	__u32 cpid = child->tgid;
	/* The child starts in its parent's directory: known to user space when the parent's is (the F record carries the
	 * pair). Not with CLONE_FS: a chdir of either would move both, and only the caller's is seen. */
	if (bpf_map_lookup_elem(&cwdx, &pid) && child->fs != parent->fs) {
		__u8 yes = 1;
		bpf_map_update_elem(&cwdx, &cpid, &yes, BPF_ANY);
	}
	if (tracked) {
		__u8 one = 1;
		if (bpf_map_update_elem(&tr, &cpid, &one, BPF_ANY)) {
			/* A child the map cannot hold would vanish from view: say so (Y), user space counts it as a loss. */
			struct rw_num *y = reserve(sizeof(*y));
			if (y) { fill_hdr(&y->h, RW_TRACK_FULL); y->n = cpid; submit(y); }
		}
	}
	struct rw_num *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_FORK);
	r->n = cpid;
	submit(r);
	return 0;
}

/* Directory names from `de` up to the root, leaf first, crossing mounts through their mountpoints; *done: the walk
 * reached the root within RW_DIR_DEPTH steps. */
static __always_inline __u32 walk_dirs(struct dentry *de, struct vfsmount *vm, char dirs[RW_DIR_DEPTH][RW_STR], __u8 *done)
{
	struct mount *m = container_of(vm, struct mount, mnt);
	__u32 nd = 0;
	for (int i = 0; i < RW_DIR_DEPTH; i++) {
		struct dentry *root = BPF_CORE_READ(m, mnt.mnt_root);
		if (de == root) {
			struct mount *parent = BPF_CORE_READ(m, mnt_parent);
			if (m == parent) { *done = 1; break; }
			de = BPF_CORE_READ(m, mnt_mountpoint);
			m = parent;
			continue;
		}
		if (nd < RW_DIR_DEPTH) {
			bpf_probe_read_kernel_str(dirs[nd & (RW_DIR_DEPTH - 1)], RW_STR, BPF_CORE_READ(de, d_name.name));
			nd++;
		}
		de = BPF_CORE_READ(de, d_parent);
	}
	if (!*done) {
		/* bpftrace's loop checks the root once more after its last step */
		struct dentry *root = BPF_CORE_READ(m, mnt.mnt_root);
		if (de == root && m == BPF_CORE_READ(m, mnt_parent)) *done = 1;
	}
	return nd;
}

/* fd `fd` of task t as its exec left it (stdin, stdout): the inode's type, device, number and file system. */
static __always_inline void fd_at(struct task_struct *t, unsigned int fd, struct rw_fd *out)
{
	out->mode = 0;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds)) return;
	struct file **arr = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (!arr || bpf_probe_read_kernel(&f, sizeof(f), arr + fd) || !f) return;
	struct inode *in = BPF_CORE_READ(f, f_inode);
	if (!in) return;
	out->mode = BPF_CORE_READ(in, i_mode);
	out->rdev = BPF_CORE_READ(in, i_rdev);
	out->ino = BPF_CORE_READ(in, i_ino);
	out->magic = (__u32)BPF_CORE_READ(in, i_sb, s_magic);
}

/* The J record: task t's working directory, walked now; complete walks make pid's relative paths resolvable in user
 * space (cwdx), an incomplete one sends them through /proc again. */
static __always_inline void send_cwd(__u32 pid, struct task_struct *t, struct scratch *s)
{
	struct rw_cwd *c = &s->cwd;
	fill_hdr(&c->h, RW_CWD);
	__u8 done = 0;
	__u32 nd = walk_dirs(BPF_CORE_READ(t, fs, pwd.dentry), BPF_CORE_READ(t, fs, pwd.mnt), c->dirs, &done);
	c->done = done;
	c->ndirs = nd;
	__u8 one = 1;
	/* Shared with another process (CLONE_FS): its chdir would move this one unseen. */
	if (done && BPF_CORE_READ(t, fs, users) == 1) bpf_map_update_elem(&cwdx, &pid, &one, BPF_ANY);
	else bpf_map_delete_elem(&cwdx, &pid);
	__u64 csize = offsetof(struct rw_cwd, dirs) + (__u64)(nd & 31) * RW_STR;
	if (csize > sizeof(*c)) csize = sizeof(*c);
	output(c, csize);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 pid = cur_pid();
	if (!is_tracked(pid)) return 0;
	struct scratch *s = get_scratch();
	if (!s) return 0;
	struct rw_exec *e = &s->rec.exec;
	fill_hdr(&e->h, RW_EXEC);
	struct task_struct *t = bpf_get_current_task_btf();
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	struct mm_struct *mm = t->mm;
	__u64 start = BPF_CORE_READ(mm, arg_start), end = BPF_CORE_READ(mm, arg_end);
	__u64 len = end > start ? end - start : 0;
	e->argv_len = len;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	__u32 n = len < argv_max ? len : argv_max;
	if (n > RW_ARGV_MAX) n = RW_ARGV_MAX;
	if (bpf_probe_read_user(e->argv, n, (void *)start)) n = 0;
	e->argv_read = n;
	e->cgroup = bpf_get_current_cgroup_id();
	fd_at(t, 0, &e->fd[0]);
	fd_at(t, 1, &e->fd[1]);
	/* The working directory, walked here: /proc/<pid>/cwd of a short-lived process is gone when the agent reads it. */
	send_cwd(pid, t, s);
	output(e, offsetof(struct rw_exec, argv) + n);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	if (!is_tracked(pid)) return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (pid == (__u32)id) {
		struct rw_num *r = reserve(sizeof(*r));
		if (r) { fill_hdr(&r->h, RW_EXIT); r->n = t->exit_code; submit(r); }
	}
	/* The group is gone once its last thread exits (signal->live is decremented before this tracepoint). */
	if (BPF_CORE_READ(t, signal, live.counter) == 0) {
		if (tracked) bpf_map_delete_elem(&tr, &pid);
		bpf_map_delete_elem(&cwdx, &pid);
	}
	return 0;
}

/* A new working directory (chdir, fchdir; setns and unshare may give the caller another root and cwd): forgotten at
 * the call, so that a relative path racing it goes through /proc, and walked again at its return (a J record), so that
 * the process's relative paths after it are joined in user space, also once it is gone. */
static __always_inline int cwd_call(void)
{
	__u32 pid = cur_pid();
	if (is_tracked(pid)) bpf_map_delete_elem(&cwdx, &pid);
	return 0;
}
static __always_inline int cwd_ret(void)
{
	__u32 pid = cur_pid();
	if (!is_tracked(pid)) return 0;
	struct scratch *s = get_scratch();
	if (!s) return 0;
	send_cwd(pid, bpf_get_current_task_btf(), s);
	return 0;
}
SEC("tp/syscalls/sys_enter_chdir")
int on_chdir(void *ctx) { return cwd_call(); }
SEC("tp/syscalls/sys_enter_fchdir")
int on_fchdir(void *ctx) { return cwd_call(); }
SEC("tp/syscalls/sys_enter_setns")
int on_setns(void *ctx) { return cwd_call(); }
SEC("tp/syscalls/sys_enter_unshare")
int on_unshare(void *ctx) { return cwd_call(); }
SEC("tp/syscalls/sys_exit_chdir")
int on_chdir_ret(void *ctx) { return cwd_ret(); }
SEC("tp/syscalls/sys_exit_fchdir")
int on_fchdir_ret(void *ctx) { return cwd_ret(); }
SEC("tp/syscalls/sys_exit_setns")
int on_setns_ret(void *ctx) { return cwd_ret(); }
SEC("tp/syscalls/sys_exit_unshare")
int on_unshare_ret(void *ctx) { return cwd_ret(); }

/* ---- network ---- */

SEC("tp/syscalls/sys_enter_connect")
int on_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = cur_pid();
	if (!is_tracked(pid)) return 0;
	const void *ua = (const void *)ctx->args[1];
	__u16 fam = 0;
	bpf_probe_read_user(&fam, sizeof(fam), ua);
	if (fam != 2 && fam != 10 && fam != 1) return 0;
	struct rw_connect *c = reserve(sizeof(*c));
	if (!c) return 0;
	fill_hdr(&c->h, RW_CONNECT);
	c->family = fam;
	c->port = 0;
	__builtin_memset(c->addr, 0, sizeof(c->addr));
	if (fam == 2) {
		struct sockaddr_in sa = {};
		bpf_probe_read_user(&sa, sizeof(sa), ua);
		c->port = bpf_ntohs(sa.sin_port);
		__builtin_memcpy(c->addr, &sa.sin_addr, 4);
	} else if (fam == 10) {
		struct sockaddr_in6 sa = {};
		bpf_probe_read_user(&sa, sizeof(sa), ua);
		c->port = bpf_ntohs(sa.sin6_port);
		__builtin_memcpy(c->addr, &sa.sin6_addr, 16);
	} else {
		bpf_probe_read_user_str(c->addr, sizeof(c->addr), ua + 2);
	}
	__u32 tid = c->h.tid;
	submit(c);
	__u8 one = 1;
	bpf_map_update_elem(&cn, &tid, &one, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int on_connect_ret(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&cn, &tid)) return 0;
	bpf_map_delete_elem(&cn, &tid);
	struct rw_num *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_CONNECT_RET);
	r->n = ctx->ret;
	submit(r);
	return 0;
}

static __always_inline void dns_packet(struct sk_buff *skb, const unsigned char *ip_at, const unsigned char *udp_at, __u8 dir, bool either_port)
{
	struct iphdr ip;
	struct udphdr udp;
	if (bpf_probe_read_kernel(&ip, sizeof(ip), ip_at)) return;
	if (ip.version != 4 || ip.protocol != 17) return;
	if (!udp_at) udp_at = ip_at + ip.ihl * 4;
	if (bpf_probe_read_kernel(&udp, sizeof(udp), udp_at)) return;
	if (udp.source != dns_port_be && !(either_port && udp.dest == dns_port_be)) return;
	struct rw_dns *d = reserve(sizeof(*d));
	if (!d) return;
	fill_hdr(&d->h, RW_DNS);
	d->skb = (__u64)skb;
	d->dir = dir;
	d->saddr = ip.saddr;
	d->daddr = ip.daddr;
	d->sport = bpf_ntohs(udp.source);
	d->dport = bpf_ntohs(udp.dest);
	int ul = (int)bpf_ntohs(udp.len) - 8;
	if (ul < 0) ul = 0;
	if (ul > RW_DNS_MAX) ul = RW_DNS_MAX;
	d->len = ul;
	if (bpf_probe_read_kernel(d->payload, ul & 0xff, udp_at + 8)) d->len = 0;
	submit(d);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(on_net_dev_queue, struct sk_buff *skb)
{
	unsigned char *head = skb->head;
	dns_packet(skb, head + skb->network_header, head + skb->transport_header, 'o', true);
	return 0;
}

/* Answers from a non-loopback server arrive here; loopback ones were already seen leaving (net_dev_queue). */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_netif_receive_skb, struct sk_buff *skb)
{
	if (BPF_CORE_READ(skb, dev, ifindex) == 1) return 0;
	dns_packet(skb, skb->data, NULL, 'i', false);
	return 0;
}

/* ---- files ---- */

static __always_inline void count_write(void *wc, void *wm, struct rw_wkey *wk, __u32 pid)
{
	__u64 *n = bpf_map_lookup_elem(wc, wk);
	if (n) { __sync_fetch_and_add(n, 1); return; }
	__u64 one = 1;
	if (!bpf_map_update_elem(wc, wk, &one, BPF_NOEXIST)) return;
	n = bpf_map_lookup_elem(wc, wk); /* another CPU inserted it meanwhile */
	if (n) { __sync_fetch_and_add(n, 1); return; }
	__u64 *m = bpf_map_lookup_elem(wm, &pid);
	if (m) __sync_fetch_and_add(m, 1);
	else bpf_map_update_elem(wm, &pid, &one, BPF_NOEXIST);
}

/* Where a relative path is: RW_DFD_EXEC_CWD for the cwd user space knows (no wakeup needed), a directory fd, or
 * AT_FDCWD (-100: user space reads /proc/<pid>/cwd). An absolute path is AT_FDCWD (the kernel ignores the fd). */
static __always_inline __s32 path_dfd(__u32 pid, const char *path, __s64 dfd)
{
	if (path[0] == '/') return -100;
	if (dfd == -100 && bpf_map_lookup_elem(&cwdx, &pid)) return RW_DFD_EXEC_CWD;
	return (__s32)dfd;
}

/* A path user space resolves through /proc: relative, and not to the cwd it knows. */
static __always_inline bool needs_proc(const char *path, __s32 at)
{
	return path[0] != '/' && at != RW_DFD_EXEC_CWD;
}

/* Submits r, waking the loader at once when its path needs /proc (read while the process lives). */
static __always_inline void submit_at(void *r, const char *path, __s32 at)
{
	bpf_ringbuf_submit(r, needs_proc(path, at) ? BPF_RB_FORCE_WAKEUP : wake_flags());
}

/* 64-bit hash of (pid, dfd, path) over the path's words up to its NUL (the rest is zeroed); never 0, an empty slot.
 * A collision only sends a new path to the kernel's count map instead of the loader's: counted all the same. */
static __always_inline __u64 path_hash(__u32 pid, __s32 dfd, const char *path, long len)
{
	const __u64 *w = (const __u64 *)path;
	__u64 h = (0xcbf29ce484222325ULL ^ (((__u64)pid << 32) | (__u32)dfd)) * 0x100000001b3ULL;
	for (int i = 0; i < RW_STR / 8; i++) {
		if (i * 8 >= len) break;
		h = (h ^ w[i]) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h | 1;
}

/* Write-opens: the first open of a path by a pid in a window is printed at once, for write_budget paths per pid and
 * window and for every create with an execute bit; repeats and the rest of a flood are counted per (pid, dfd, path)
 * and printed by the loader every window (bpftrace-script.ts, same rules): the rest of a flood in the loader's table,
 * repeats in the generation's map here. */
static __always_inline void write_open(__u32 pid, __u8 op, __u32 flags, __u32 mode, __s32 dfd, const char *u, struct scratch *s, bool *have_path)
{
	struct rw_pkey *pk = &s->keys.pk;
	long len = RW_STR;
	if (!*have_path) { len = read_path(pk->path, u); *have_path = true; }
	pk->pid = pid;
	__u32 win = window;
	struct rw_budget *b = bpf_map_lookup_elem(&wb, &pid);
	__u32 used = b && b->window == win ? b->used : 0;
	/* A flood past its budget is counted without the once-per-window lookup (an LRU map: the costlier one). */
	bool eligible = used < write_budget || (mode & 0111);
	__u32 *seen = eligible ? bpf_map_lookup_elem(&ws, pk) : NULL;
	if (eligible && (!seen || *seen != win)) {
		struct rw_budget nb = { .window = win, .used = used + 1 };
		bpf_map_update_elem(&wb, &pid, &nb, BPF_ANY);
		bpf_map_update_elem(&ws, pk, &win, BPF_ANY);
		struct rw_write *w = reserve(sizeof(*w));
		if (!w) return;
		fill_hdr(&w->h, RW_WRITE);
		w->op = op;
		w->flags = flags;
		w->mode = mode;
		w->dfd = dfd;
		__builtin_memcpy(w->path, pk->path, RW_STR);
		w->dfd = path_dfd(pid, w->path, dfd);
		submit_at(w, w->path, w->dfd);
		return;
	}
	/* Counted writes are printed at the window's end, often after the process is gone: marked as the printed ones are. */
	__s32 at = path_dfd(pid, pk->path, dfd);
	/* A flood of new paths (an untar) is counted by the loader: a hash-map insert of this 208-byte key here cost
	 * ~1.1 µs per open, most of the in-kernel time of an untar; a ring record costs a fraction of it. The ring's
	 * reader is not woken for it. Repeats, and everything when the ring is full, are counted here as before. */
	__u64 h = path_hash(pid, at, pk->path, len);
	__u32 k = (__u32)h & (RW_RECENT - 1);
	__u64 *slot = bpf_map_lookup_elem(&recent, &k);
	if (slot && *slot != h) {
		*slot = h;
		struct rw_wcount *c = bpf_ringbuf_reserve(&rb, sizeof(*c), 0);
		if (c) {
			c->type = RW_WCOUNT;
			c->k.pid = pid;
			c->k.dfd = at;
			__builtin_memcpy(c->k.path, pk->path, RW_STR);
			submit(c);
			return;
		}
	}
	struct rw_wkey *wk = &s->keys.wk;
	wk->pid = pid;
	wk->dfd = at;
	__builtin_memcpy(wk->path, pk->path, RW_STR);
	if (gen) count_write(&wc1, &wm1, wk, pid);
	else count_write(&wc0, &wm0, wk, pid);
}

/* The directory of a dirfd-relative open of a credential file name, resolved here while the fd is open: dentry
 * names up to the mount root, crossing mounts through the mountpoint (bpftrace-script.ts renderDirfdOpens). */
static __always_inline void dirfd_open(__s32 dfd, const char *name, struct scratch *s)
{
	struct rw_dirfd *d = &s->rec.dirfd;
	fill_hdr(&d->h, RW_DIRFD);
	d->dfd = dfd;
	d->done = 0;
	d->ndirs = 0;
	__builtin_memcpy(d->name, name, RW_STR);
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if ((__u64)dfd >= (__u64)BPF_CORE_READ(fdt, max_fds)) return;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), fds + dfd);
	if (!f) return;
	__u8 done = 0;
	__u32 nd = walk_dirs(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), d->dirs, &done);
	d->done = done;
	d->ndirs = nd;
	__u64 size = offsetof(struct rw_dirfd, dirs) + (__u64)(nd & 31) * RW_STR;
	if (size > sizeof(*d)) size = sizeof(*d);
	output(d, size);
}

/* Whether an open's path may be sensitive, from its first two bytes: 1 a sensitive prefix, 2 a dirfd name, or both. */
static __always_inline __u8 sensitive_heads(__s32 dfd, const char *u)
{
	bool want_pfx = proc_reads || n_pfx;
	bool want_name = n_names && dfd >= 0;
	if (!want_pfx && !want_name) return 0;
	__u16 h = 0;
	bpf_probe_read_user(&h, sizeof(h), u);
	return (want_pfx && head_in(pfx_heads, h) ? 1 : 0) | (want_name && head_in(name_heads, h) ? 2 : 0);
}

/* A read of the sensitive set (a prefix, once per pid, path and window) and a dirfd-relative open of a credential file
 * name. Its own program, tail-called by on_openat when the path's head matches: within on_openat it took the verifier
 * past its complexity limit under 190-byte prefixes once the read woke the loader at once, which it does here: the
 * rules act on these first (a runner's memory read through /proc/<pid>/mem is the tj-actions attack). */
SEC("tp/syscalls/sys_enter_openat")
int on_openat_sensitive(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = cur_pid();
	struct scratch *s = get_scratch();
	if (!s) return 0;
	__s32 dfd = (__s32)ctx->args[0];
	const char *u = (const char *)ctx->args[1];
	struct rw_pkey *pk = &s->keys.pk;
	if (!s->have_path) read_path(pk->path, u);
	__u8 heads = s->heads;
	s->have_path = 0;
	if ((heads & 1) && sensitive(pk->path)) {
		pk->pid = pid;
		__u32 win = window;
		__u32 *seen = bpf_map_lookup_elem(&rs, pk);
		if (!seen || *seen != win) {
			bpf_map_update_elem(&rs, pk, &win, BPF_ANY);
			struct rw_path *r = reserve(sizeof(*r));
			if (r) {
				fill_hdr(&r->h, RW_SENS);
				r->n = 0;
				__builtin_memcpy(r->path, pk->path, RW_STR);
				submit_now(r);
			}
		}
	}
	if ((heads & 2) && dirfd_name(pk->path)) {
		dirfd_open(dfd, pk->path, s);
	}
	return 0;
}

/* on_openat_sensitive, set by the loader's skeleton from the initial value below. */
/* Sizes, not BTF types, for key and value: the kernel refuses BTF value types on a program array, which libbpf reports on
 * stderr before it retries without them. */
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 1); __uint(key_size, sizeof(__u32)); __array(values, int (void *)); } open_tail SEC(".maps") = {
	.values = { [0] = (void *)&on_openat_sensitive },
};

SEC("tp/syscalls/sys_enter_openat")
int on_openat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	struct scratch *s = get_scratch();
	if (!s) return 0;
	__s32 dfd = (__s32)ctx->args[0];
	const char *u = (const char *)ctx->args[1];
	__u32 flags = ctx->args[2];
	bool have = false;
	if (flags & WRITE_FLAGS) write_open(pid, 'o', flags, (flags & O_CREAT_) ? (__u32)ctx->args[3] : 0, dfd, u, s, &have);
	__u8 heads = sensitive_heads(dfd, u);
	if (!heads) return 0;
	s->have_path = have;
	s->heads = heads;
	bpf_tail_call(ctx, &open_tail, 0);
	/* Not reached unless the tail call failed (the program array is filled at load): counted as a loss. */
	s->have_path = 0;
	count_lost();
	return 0;
}

SEC("tp/syscalls/sys_enter_openat2")
int on_openat2(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	__u64 how[2] = {};
	bpf_probe_read_user(how, sizeof(how), (void *)ctx->args[2]);
	if (!(how[0] & WRITE_FLAGS)) return 0;
	struct scratch *s = get_scratch();
	if (!s) return 0;
	bool have = false;
	write_open(pid, 'o', (__u32)how[0], (how[0] & O_CREAT_) ? (__u32)how[1] : 0, (__s32)ctx->args[0], (const char *)ctx->args[1], s, &have);
	return 0;
}

SEC("tp/syscalls/sys_enter_creat")
int on_creat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	struct scratch *s = get_scratch();
	if (!s) return 0;
	bool have = false;
	write_open(pid, 'c', (__u32)ctx->args[1], (__u32)ctx->args[1], -100, (const char *)ctx->args[0], s, &have);
	return 0;
}

SEC("tp/syscalls/sys_enter_truncate")
int on_truncate(struct trace_event_raw_sys_enter *ctx)
{
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	struct scratch *s = get_scratch();
	if (!s) return 0;
	bool have = false;
	write_open(pid, 't', 0, 0, -100, (const char *)ctx->args[0], s, &have);
	return 0;
}

static __always_inline int rename_common(__s64 odfd, const char *oldp, __s64 ndfd, const char *newp)
{
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	struct rw_rename *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_RENAME);
	bpf_probe_read_user_str(r->old, RW_STR, oldp);
	bpf_probe_read_user_str(r->new, RW_STR, newp);
	r->odfd = path_dfd(pid, r->old, odfd);
	r->ndfd = path_dfd(pid, r->new, ndfd);
	bool need = needs_proc(r->old, r->odfd) || needs_proc(r->new, r->ndfd);
	bpf_ringbuf_submit(r, need ? BPF_RB_FORCE_WAKEUP : wake_flags());
	return 0;
}

SEC("tp/syscalls/sys_enter_rename")
int on_rename(struct trace_event_raw_sys_enter *ctx) { return rename_common(-100, (const char *)ctx->args[0], -100, (const char *)ctx->args[1]); }
SEC("tp/syscalls/sys_enter_renameat")
int on_renameat(struct trace_event_raw_sys_enter *ctx) { return rename_common((__s32)ctx->args[0], (const char *)ctx->args[1], (__s32)ctx->args[2], (const char *)ctx->args[3]); }
SEC("tp/syscalls/sys_enter_renameat2")
int on_renameat2(struct trace_event_raw_sys_enter *ctx) { return rename_common((__s32)ctx->args[0], (const char *)ctx->args[1], (__s32)ctx->args[2], (const char *)ctx->args[3]); }

/* Unlinks are reported when they succeed (tar, make and rm -f try many that do not exist); the name is read at
 * exit from the caller's memory, which the syscall does not change. */
static __always_inline int unlink_enter(const char *p, __s64 dfd)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!file_watched(id >> 32)) return 0;
	__u32 tid = (__u32)id;
	struct unlink_arg a = { .ptr = (__u64)p, .dfd = dfd };
	bpf_map_update_elem(&ul, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_enter_unlink")
int on_unlink(struct trace_event_raw_sys_enter *ctx) { return unlink_enter((const char *)ctx->args[0], -100); }

SEC("tp/syscalls/sys_enter_unlinkat")
int on_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & 0x200) return 0; /* AT_REMOVEDIR */
	return unlink_enter((const char *)ctx->args[1], (__s32)ctx->args[0]);
}

static __always_inline int unlink_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct unlink_arg *a = bpf_map_lookup_elem(&ul, &tid);
	if (!a) return 0;
	__u64 p = a->ptr;
	__s64 dfd = a->dfd;
	bpf_map_delete_elem(&ul, &tid);
	if (ret != 0) return 0;
	struct rw_path *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_UNLINK);
	bpf_probe_read_user_str(r->path, RW_STR, (const char *)p);
	__s32 at = path_dfd(id >> 32, r->path, dfd);
	r->n = at;
	submit_at(r, r->path, at);
	return 0;
}

SEC("tp/syscalls/sys_exit_unlink")
int on_unlink_ret(struct trace_event_raw_sys_exit *ctx) { return unlink_exit(ctx->ret); }
SEC("tp/syscalls/sys_exit_unlinkat")
int on_unlinkat_ret(struct trace_event_raw_sys_exit *ctx) { return unlink_exit(ctx->ret); }

/* chmod (fd: its dirfd, AT_FDCWD for chmod) and fchmod (fd: the file's fd, no path): mode in n's high half, the fd
 * or path_dfd() in its low half. */
static __always_inline int chmod_common(__u8 type, __u32 mode, const char *p, __s64 fd)
{
	if (!(mode & 0111)) return 0;
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	struct rw_path *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, type);
	r->path[0] = 0;
	if (!p) {
		r->n = ((__s64)mode << 32) | (__u32)fd;
		submit(r);
		return 0;
	}
	bpf_probe_read_user_str(r->path, RW_STR, p);
	__s32 at = path_dfd(pid, r->path, fd);
	r->n = ((__s64)mode << 32) | (__u32)at;
	submit_at(r, r->path, at);
	return 0;
}

SEC("tp/syscalls/sys_enter_chmod")
int on_chmod(struct trace_event_raw_sys_enter *ctx) { return chmod_common(RW_CHMOD, ctx->args[1], (const char *)ctx->args[0], -100); }
SEC("tp/syscalls/sys_enter_fchmodat")
int on_fchmodat(struct trace_event_raw_sys_enter *ctx) { return chmod_common(RW_CHMOD, ctx->args[2], (const char *)ctx->args[1], (__s32)ctx->args[0]); }
SEC("tp/syscalls/sys_enter_fchmodat2")
int on_fchmodat2(struct trace_event_raw_sys_enter *ctx) { return chmod_common(RW_CHMOD, ctx->args[2], (const char *)ctx->args[1], (__s32)ctx->args[0]); }
SEC("tp/syscalls/sys_enter_fchmod")
int on_fchmod(struct trace_event_raw_sys_enter *ctx) { return chmod_common(RW_FCHMOD, ctx->args[1], NULL, (__s64)ctx->args[0]); }

/* ---- process access, privilege ---- */

static __always_inline int target_rec(__u8 type, __u32 a, __u32 b, __u32 target)
{
	struct rw_target *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, type);
	r->a = a;
	r->b = b;
	r->target = target;
	r->tcomm[0] = 0;
	submit_now(r);
	return 0;
}

SEC("tp/syscalls/sys_enter_ptrace")
int on_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	long req = ctx->args[0];
	if (req != 16 && req != 0x4206) return 0;
	if (!is_tracked(cur_pid())) return 0;
	return target_rec(RW_PTRACE, req, 0, ctx->args[1]);
}

SEC("tp/syscalls/sys_enter_process_vm_readv")
int on_vm_readv(struct trace_event_raw_sys_enter *ctx)
{
	if (!is_tracked(cur_pid())) return 0;
	return target_rec(RW_VM, 'r', 0, ctx->args[0]);
}

SEC("tp/syscalls/sys_enter_process_vm_writev")
int on_vm_writev(struct trace_event_raw_sys_enter *ctx)
{
	if (!is_tracked(cur_pid())) return 0;
	return target_rec(RW_VM, 'w', 0, ctx->args[0]);
}

SEC("tp/syscalls/sys_enter_memfd_create")
int on_memfd(struct trace_event_raw_sys_enter *ctx)
{
	if (!is_tracked(cur_pid())) return 0;
	struct rw_path *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_MEMFD);
	r->n = 0;
	bpf_probe_read_user_str(r->path, RW_STR, (const char *)ctx->args[0]);
	submit_now(r);
	return 0;
}

/* set*id to 0 by a non-root caller; b is the id printed (bpftrace prints 0 for the res* calls). */
static __always_inline int setid(__u32 call, bool to_root, __u32 id)
{
	if (!to_root || (__u32)bpf_get_current_uid_gid() == 0) return 0;
	if (!is_tracked(cur_pid())) return 0;
	return target_rec(RW_SETID, call, id, 0);
}

SEC("tp/syscalls/sys_enter_setuid")
int on_setuid(struct trace_event_raw_sys_enter *ctx) { return setid(0, (__u32)ctx->args[0] == 0, ctx->args[0]); }
SEC("tp/syscalls/sys_enter_setresuid")
int on_setresuid(struct trace_event_raw_sys_enter *ctx) { return setid(1, (__u32)ctx->args[0] == 0 || (__u32)ctx->args[1] == 0 || (__u32)ctx->args[2] == 0, 0); }
SEC("tp/syscalls/sys_enter_setgid")
int on_setgid(struct trace_event_raw_sys_enter *ctx) { return setid(2, (__u32)ctx->args[0] == 0, ctx->args[0]); }
SEC("tp/syscalls/sys_enter_setresgid")
int on_setresgid(struct trace_event_raw_sys_enter *ctx) { return setid(3, (__u32)ctx->args[0] == 0 || (__u32)ctx->args[1] == 0 || (__u32)ctx->args[2] == 0, 0); }

SEC("tp/syscalls/sys_enter_bpf")
int on_bpf(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[0] != 5) return 0; /* BPF_PROG_LOAD */
	if (!is_tracked(cur_pid())) return 0;
	struct rw_num *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_BPF);
	r->n = 5;
	submit_now(r);
	return 0;
}

/* A stopping signal generated for a protected pid or a task whose comm starts with a protected prefix, whatever
 * the sending syscall (a shell builtin kill has no exec to match on). */
SEC("tp_btf/signal_generate")
int BPF_PROG(on_signal, int sig, struct kernel_siginfo *info, struct task_struct *task)
{
	if (sig != 1 && sig != 2 && sig != 3 && sig != 9 && sig != 15 && sig != 19 && sig != 20) return 0;
	__u32 pid = cur_pid();
	if (!file_watched(pid)) return 0;
	__u32 target = task->pid;
	char tc[16];
	bpf_probe_read_kernel(tc, sizeof(tc), task->comm);
	bool hit = false;
	for (__u32 i = 0; i < RW_MAX_EXCL; i++) { if (i >= n_excl) break; if (excl[i] == target) hit = true; }
	for (__u32 i = 0; i < RW_MAX_PROT; i++) { if (i >= n_prot) break; if (prot[i] == target) hit = true; }
	for (__u32 i = 0; i < RW_MAX_PCOMM && !hit; i++) {
		if (i >= n_pcomm) break;
		bool ok = true;
		for (__u32 j = 0; j < 15; j++) {
			if (j >= pcomm_len[i]) break;
			if (tc[j] != pcomm[i][j]) { ok = false; break; }
		}
		if (ok) hit = true;
	}
	if (!hit) return 0;
	struct rw_target *r = reserve(sizeof(*r));
	if (!r) return 0;
	fill_hdr(&r->h, RW_SIGNAL);
	r->a = sig;
	r->b = 0;
	r->target = target;
	__builtin_memcpy(r->tcomm, tc, 16);
	submit_now(r);
	return 0;
}
