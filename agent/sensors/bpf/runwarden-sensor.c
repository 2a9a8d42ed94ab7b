// SPDX-License-Identifier: Apache-2.0
/* Loader of the libbpf sensor: sets the program's options, loads and attaches runwarden.bpf.c, reads its ring
 * buffer in batches and prints each record as the bpftrace `-f json` line(s) of the bpftrace-script.ts record it
 * stands for, so agent/sensors/bpftrace-decode.ts decodes both kernel programs alike. Repeat write-opens counted in
 * the kernel are printed as bpftrace would print its @wc/@wn maps, one generation every --flush-ms; ring-buffer
 * reservations that failed in the kernel are printed as lost_events. SIGINT/SIGTERM: drain, print the counts, exit 0.
 * Usage: runwarden-sensor [--option value]… (see usage()). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "runwarden.h"
#include "runwarden.skel.h"

#define PIPEFS_MAGIC_ 0x50495045 /* linux/magic.h */

struct opts {
	unsigned argv_chunk, argv_chunks, flush_ms, write_budget, dns_port, map_keys, poll_ms;
	unsigned long ringbuf_bytes, backlog_bytes;
	bool proc_reads;
	const char *prefixes[RW_MAX_PFX];
	unsigned n_prefixes;
	const char *names[RW_MAX_NAMES];
	unsigned n_names;
	unsigned excl[RW_MAX_EXCL], n_excl;
	unsigned prot[RW_MAX_PROT], n_prot;
	const char *pcomm[RW_MAX_PCOMM];
	unsigned n_pcomm;
	unsigned *track;
	unsigned n_track;
};

static struct opts o = {
	.argv_chunk = 192, .argv_chunks = 4, .flush_ms = 250, .write_budget = 64, .dns_port = 53, .map_keys = 16384,
	.poll_ms = 50, .ringbuf_bytes = 4u << 20, .backlog_bytes = 256ul << 20, .proc_reads = true,
};

static volatile sig_atomic_t stopping;
static void on_stop(int sig) { (void)sig; stopping = 1; }

static void usage(void)
{
	fprintf(stderr, "usage: runwarden-sensor [--argv-chunk N] [--argv-chunks N] [--prefix P]... [--no-proc-reads]\n"
		"  [--exclude-pid N]... [--flush-ms N] [--write-budget N] [--dns-port N] [--dirfd-name S]...\n"
		"  [--protect-pid N]... [--protect-comm S]... [--track-pid N]... [--ringbuf-bytes N] [--backlog-bytes N] [--map-keys N] [--poll-ms N]\n");
	exit(2);
}

static unsigned long num(const char *s, unsigned long lo, unsigned long hi, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "runwarden-sensor: %s must be %lu..%lu, got %s\n", what, lo, hi, s);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv)
{
	o.track = calloc(argc, sizeof(*o.track));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--no-proc-reads")) { o.proc_reads = false; continue; }
		if (i + 1 >= argc) usage();
		const char *v = argv[++i];
#define TOO_MANY(n, max, what) do { if ((n) >= (max)) { fprintf(stderr, "runwarden-sensor: more than %d %s\n", (max), what); exit(2); } } while (0)
		if (!strcmp(a, "--argv-chunk")) o.argv_chunk = num(v, 16, 192, a);
		else if (!strcmp(a, "--argv-chunks")) o.argv_chunks = num(v, 1, 16, a);
		else if (!strcmp(a, "--flush-ms")) o.flush_ms = num(v, 10, 3600000, a);
		else if (!strcmp(a, "--write-budget")) o.write_budget = num(v, 0, 1000000, a);
		else if (!strcmp(a, "--dns-port")) o.dns_port = num(v, 1, 65535, a);
		else if (!strcmp(a, "--map-keys")) o.map_keys = num(v, 16, 1 << 22, a);
		else if (!strcmp(a, "--poll-ms")) o.poll_ms = num(v, 1, 1000, a);
		else if (!strcmp(a, "--ringbuf-bytes")) o.ringbuf_bytes = num(v, 4096, 1ul << 30, a);
		else if (!strcmp(a, "--backlog-bytes")) o.backlog_bytes = num(v, 1ul << 20, 1ul << 40, a);
		else if (!strcmp(a, "--prefix")) {
			TOO_MANY(o.n_prefixes, RW_MAX_PFX, "prefixes");
			if (strlen(v) > 190) { fprintf(stderr, "runwarden-sensor: prefix longer than 190 bytes: %.40s\n", v); exit(2); }
			o.prefixes[o.n_prefixes++] = v;
		} else if (!strcmp(a, "--dirfd-name")) {
			TOO_MANY(o.n_names, RW_MAX_NAMES, "dirfd names");
			if (strlen(v) + 1 > RW_NAME_WORDS * 8 || !*v) { fprintf(stderr, "runwarden-sensor: dirfd name must be 1..63 bytes: %.40s\n", v); exit(2); }
			o.names[o.n_names++] = v;
		} else if (!strcmp(a, "--exclude-pid")) { TOO_MANY(o.n_excl, RW_MAX_EXCL - 1, "excluded pids"); o.excl[o.n_excl++] = num(v, 1, INT_MAX, a); }
		else if (!strcmp(a, "--protect-pid")) { TOO_MANY(o.n_prot, RW_MAX_PROT, "protected pids"); o.prot[o.n_prot++] = num(v, 1, INT_MAX, a); }
		else if (!strcmp(a, "--protect-comm")) { TOO_MANY(o.n_pcomm, RW_MAX_PCOMM, "protected comms"); if (*v) o.pcomm[o.n_pcomm++] = v; }
		else if (!strcmp(a, "--track-pid")) o.track[o.n_track++] = num(v, 1, INT_MAX, a);
		else usage();
	}
}

/* ---- output: one big buffer, written when full and after every batch ----
 * stdout is non-blocking: when the agent reads slower than the kernel produces (busy with a burst, or stopped for a
 * while), what the pipe does not take goes to a backlog in this process, up to
 * --backlog-bytes, so the ring buffer keeps being drained and nothing is lost while the agent catches up. Past that
 * bound the loader waits for the agent, the ring buffer fills and the kernel's failed reservations are printed as
 * lost_events: a bounded queue with counted drops, never a silent one. */

static char obuf[1 << 20];
static size_t olen;
static char *bl;              /* backlog: bytes [bl_head, bl_len) not yet written */
static size_t bl_head, bl_len, bl_cap, bl_peak;
static unsigned long long bl_waits; /* times the loader had to wait for the agent with a full backlog */

/* Waits (up to 1 s) until the pipe takes more. Exits when the agent is gone. */
static void wait_out(void)
{
	struct pollfd p = { .fd = 1, .events = POLLOUT };
	int r = poll(&p, 1, 1000);
	if (r < 0 && errno != EINTR) exit(3);
	if (r > 0 && (p.revents & (POLLERR | POLLHUP))) exit(3); /* the agent is gone */
}

/* Writes what the pipe takes now; returns the bytes written. Exits when the agent is gone. */
static size_t try_write(const char *b, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t w = write(1, b + off, n - off);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0 && errno == EAGAIN) break;
		if (w <= 0) exit(3); /* the agent is gone */
		off += w;
	}
	return off;
}

/* Moves the unwritten bytes to the front of the backlog. */
static void bl_compact(void)
{
	memmove(bl, bl + bl_head, bl_len - bl_head);
	bl_len -= bl_head;
	bl_head = 0;
}

static void bl_drain(void)
{
	if (bl_head < bl_len) bl_head += try_write(bl + bl_head, bl_len - bl_head);
	if (bl_head == bl_len) bl_head = bl_len = 0;
	else if (bl_head > bl_cap / 2) bl_compact();
}

static void bl_add(const char *b, size_t n)
{
	while ((bl_len - bl_head) + n > o.backlog_bytes) { /* full: wait for the agent to take some */
		bl_waits++;
		wait_out();
		bl_drain();
	}
	if (bl_len + n > bl_cap) {
		if (bl_head) bl_compact();
		size_t cap = bl_cap ? bl_cap : 1 << 20;
		while (bl_len + n > cap) cap *= 2;
		if (cap != bl_cap) {
			char *nb = realloc(bl, cap);
			if (!nb) { fprintf(stderr, "runwarden-sensor: out of memory for the backlog (%zu bytes)\n", cap); exit(4); }
			bl = nb;
			bl_cap = cap;
		}
	}
	memcpy(bl + bl_len, b, n);
	bl_len += n;
	if (bl_len - bl_head > bl_peak) bl_peak = bl_len - bl_head;
}

static void oflush(void)
{
	if (bl_len > bl_head) bl_drain(); /* order: the backlog goes first */
	size_t off = bl_len > bl_head ? 0 : try_write(obuf, olen);
	if (off < olen) bl_add(obuf + off, olen - off);
	olen = 0;
}

/* How far behind the agent is, on stderr (the agent reads it into its status; stdout is the backlog itself, so a
 * line there would arrive as late as the backlog). Once a second while there is a backlog, and once when it is gone.
 * Never blocks: an agent that reads no stderr either only misses these lines. */
static void bl_report(long long t)
{
	static long long next;
	static bool reported;
	size_t now = bl_len - bl_head;
	if (now ? t < next : !reported) return;
	struct pollfd p = { .fd = 2, .events = POLLOUT };
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT)) return;
	char b[160];
	int n = snprintf(b, sizeof b, "runwarden-sensor: backlog %zu bytes, peak %zu bytes, %llu waits\n", now, bl_peak, bl_waits);
	if (n > 0 && write(2, b, (size_t)n) == n) { reported = now > 0; next = t + 1000; }
}

/* At stop: everything out, waiting for the agent as long as it reads. */
static void oflush_all(void)
{
	oflush();
	while (bl_len > bl_head) { wait_out(); bl_drain(); }
}

static inline void room(size_t n) { if (olen + n > sizeof(obuf)) oflush(); }
static inline void put(const char *s, size_t n) { room(n); memcpy(obuf + olen, s, n); olen += n; }
#define PUTS(lit) put(lit, sizeof(lit) - 1)
static inline void putch(char c) { room(1); obuf[olen++] = c; }

static void putu(unsigned long long v)
{
	char b[24];
	int i = sizeof(b);
	do { b[--i] = '0' + v % 10; v /= 10; } while (v);
	put(b + i, sizeof(b) - i);
}

static void puti(long long v)
{
	if (v < 0) { putch('-'); putu(-(unsigned long long)v); } else putu(v);
}

static const char hexd[] = "0123456789abcdef";

/* A C string (≤ max bytes) inside a JSON string; bytes ≥ 0x80 are passed as they are (bpftrace's %s). */
static void put_str(const char *s, size_t max)
{
	room(max * 6 + 8);
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\') { obuf[olen++] = '\\'; obuf[olen++] = c; }
		else if (c < 0x20) {
			memcpy(obuf + olen, "\\u00", 4); olen += 4;
			obuf[olen++] = hexd[c >> 4]; obuf[olen++] = hexd[c & 15];
		} else obuf[olen++] = c;
	}
}

/* bpftrace's %r (printable ASCII as is, other bytes \xNN) inside a JSON string; a backslash is \x5c, so the
 * decoder's unescapeR reads it back exactly. */
static void put_r(const unsigned char *b, size_t n)
{
	room(n * 6 + 8);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = b[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (c == '"') obuf[olen++] = '\\';
			obuf[olen++] = c;
		} else {
			memcpy(obuf + olen, "\\\\x", 3); olen += 3;
			obuf[olen++] = hexd[c >> 4]; obuf[olen++] = hexd[c & 15];
		}
	}
}

static inline void line_begin(char tag) { PUTS("{\"type\": \"printf\", \"data\": \""); putch(tag); }
static inline void line_end(void) { PUTS("\\n\"}\n"); }
static inline void tab(void) { PUTS("\\t"); }

/* tag ts pid uid comm: the header of most records */
static void head(char tag, const struct rw_hdr *h)
{
	line_begin(tag);
	tab(); putu(h->ts); tab(); putu(h->pid); tab(); putu(h->uid); tab(); put_str(h->comm, sizeof(h->comm));
}

static size_t strnlen_(const char *s, size_t max) { size_t n = 0; while (n < max && s[n]) n++; return n; }

/* What /proc/<pid>/fd/N would have said, as agent/enrich.ts fdKind sorts it: p (pipe, with its inode), s (socket,
 * with its inode), n (/dev/null), t (a terminal: /dev/pts/N, /dev/ttyN, /dev/tty, /dev/console), f (anything else:
 * a file, a named FIFO, another device), - (not open). */
static void put_fd(const struct rw_fd *d)
{
	unsigned type = d->mode & S_IFMT, maj = d->rdev >> 20, min = d->rdev & 0xfffff;
	char k = 'f';
	if (d->mode == 0) k = '-';
	else if (type == S_IFIFO && d->magic == PIPEFS_MAGIC_) k = 'p';
	else if (type == S_IFSOCK) k = 's';
	else if (type == S_IFCHR && maj == 1 && min == 3) k = 'n';
	else if (type == S_IFCHR && ((maj >= 136 && maj <= 143) || maj == 4 || (maj == 5 && min <= 1))) k = 't';
	putch(k); tab();
	putu(k == 'p' || k == 's' ? d->ino : 0);
}

static void print_exec(const struct rw_exec *e, size_t size)
{
	const unsigned chunk = o.argv_chunk, cap = o.argv_chunk * o.argv_chunks;
	size_t have = size > offsetof(struct rw_exec, argv) ? size - offsetof(struct rw_exec, argv) : 0;
	if (have > e->argv_read) have = e->argv_read;
	/* As the script's strncmp(str(filename), str(argv[0]), 200): both read as str() would, 199 bytes at most. */
	size_t fl = strnlen_(e->filename, RW_STR - 1);
	size_t al = strnlen_((const char *)e->argv, have < RW_STR - 1 ? have : RW_STR - 1);
	bool inline0 = e->argv_len > 0 && fl == al && !memcmp(e->filename, e->argv, fl);
	static unsigned char zero[RW_ARGV_MAX];
	const unsigned char *av = e->argv;
	/* I pid cgroup fd0kind fd0ino fd1kind fd1ino: read at the exec, so the agent need not ask /proc (where a
	 * short-lived process is gone by then). Comes first: the E/e record that follows takes it. */
	line_begin('I'); tab(); putu(e->h.pid); tab(); putu(e->cgroup); tab(); put_fd(&e->fd[0]); tab(); put_fd(&e->fd[1]); line_end();
	line_begin(inline0 ? 'e' : 'E');
	tab(); putu(e->h.ts); tab(); putu(e->h.pid); tab(); putu(e->ppid); tab(); putu(e->h.uid); tab(); put_str(e->h.comm, 16);
	tab(); putu(e->argv_len); tab();
	unsigned off = 0;
	if (inline0) {
		unsigned n = e->argv_len < chunk ? e->argv_len : chunk;
		put_r(n <= have ? av : zero, n);
		off = chunk;
	} else put_str(e->filename, RW_STR - 1);
	line_end();
	for (; off < e->argv_len && off < cap; off += chunk) {
		unsigned n = e->argv_len - off < chunk ? e->argv_len - off : chunk;
		line_begin('A'); tab(); putu(e->h.pid); tab(); putu(off); tab();
		put_r(off + n <= have ? av + off : zero, n);
		line_end();
	}
}

/* A path of an *at call: fd:N/path when relative to directory fd N (at >= 0), else as the process gave it. */
static void put_at_path(int at, const char *path)
{
	if (at >= 0 && path[0] != '/') { PUTS("fd:"); puti(at); PUTS("/"); }
	put_str(path, RW_STR);
}

static void wt_add(const struct rw_wkey *k, __u64 n);

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	const struct rw_hdr *h = data;
	if (size < sizeof(*h)) return 0;
	switch (h->type) {
	case RW_WCOUNT: wt_add(&((const struct rw_wcount *)data)->k, 1); return 0;
	case RW_EXEC: print_exec(data, size); break;
	case RW_FORK: case RW_EXIT: {
		const struct rw_num *r = data;
		head(h->type == RW_FORK ? 'F' : 'X', h); tab(); puti(r->n); line_end();
		break;
	}
	case RW_TRACK_FULL: { const struct rw_num *r = data; line_begin('Y'); tab(); puti(r->n); line_end(); break; }
	case RW_CONNECT: {
		const struct rw_connect *c = data;
		line_begin('C'); tab(); putu(h->ts); tab(); putu(h->tid); tab(); putu(h->pid); tab(); putu(h->uid); tab(); put_str(h->comm, 16);
		tab(); putu(c->family); tab(); putu(c->port); tab();
		if (c->family == 1) put_str((const char *)c->addr, sizeof(c->addr));
		else {
			char txt[INET6_ADDRSTRLEN] = "";
			inet_ntop(c->family == 2 ? AF_INET : AF_INET6, c->addr, txt, sizeof(txt));
			put_str(txt, sizeof(txt));
		}
		line_end();
		break;
	}
	case RW_CONNECT_RET: { const struct rw_num *r = data; line_begin('R'); tab(); putu(h->tid); tab(); puti(r->n); line_end(); break; }
	case RW_DNS: {
		const struct rw_dns *d = data;
		line_begin('Q'); tab(); putu(h->ts); tab(); putu(h->pid); tab(); putu(d->skb); tab(); putch(d->dir);
		tab(); putu(d->saddr); tab(); putu(d->sport); tab(); putu(d->daddr); tab(); putu(d->dport); line_end();
		line_begin('q'); tab(); putu(d->skb); tab(); put_r(d->payload, d->len < RW_DNS_MAX ? d->len : RW_DNS_MAX); line_end();
		break;
	}
	case RW_WRITE: {
		const struct rw_write *w = data;
		head('W', h); tab(); putch(w->op); tab(); puti((int)w->flags); tab(); puti((int)w->mode); tab(); puti(w->dfd); tab();
		put_str(w->path, RW_STR); line_end();
		break;
	}
	case RW_RENAME: {
		/* N/n old and new path; O/o: that path is relative to the cwd last sent for the pid; fd:N/path: to a dirfd. */
		const struct rw_rename *r = data;
		head(r->odfd == RW_DFD_EXEC_CWD ? 'O' : 'N', h); tab(); putu(h->tid); tab(); put_at_path(r->odfd, r->old); line_end();
		line_begin(r->ndfd == RW_DFD_EXEC_CWD ? 'o' : 'n'); tab(); putu(h->tid); tab(); put_at_path(r->ndfd, r->new); line_end();
		break;
	}
	case RW_UNLINK: case RW_SENS: case RW_MEMFD: {
		/* An unlink's relative path relative to the cwd last sent for the pid is tagged u; to a dirfd, fd:N/path. */
		const struct rw_path *p = data;
		int at = h->type == RW_UNLINK ? (int)p->n : -100;
		head(at == RW_DFD_EXEC_CWD ? 'u' : h->type == RW_UNLINK ? 'U' : h->type == RW_SENS ? 'S' : 'D', h); tab();
		put_at_path(at, p->path); line_end();
		break;
	}
	case RW_CHMOD: case RW_FCHMOD: {
		/* M ts pid uid comm mode path; m: the path is relative to the cwd last sent for the pid. */
		const struct rw_path *p = data;
		int at = (int)(p->n & 0xffffffff);
		head(h->type == RW_CHMOD && at == RW_DFD_EXEC_CWD ? 'm' : 'M', h); tab(); puti((int)(p->n >> 32)); tab();
		if (h->type == RW_FCHMOD) { PUTS("fd:"); puti(at); }
		else put_at_path(at, p->path);
		line_end();
		break;
	}
	case RW_DIRFD: {
		const struct rw_dirfd *d = data;
		unsigned nd = d->ndirs;
		size_t fit = size > offsetof(struct rw_dirfd, dirs) ? (size - offsetof(struct rw_dirfd, dirs)) / RW_STR : 0;
		if (nd > fit) nd = fit;
		for (unsigned i = 0; i < nd && i < RW_DIR_DEPTH; i++) { line_begin('k'); tab(); putu(h->tid); tab(); put_str(d->dirs[i], RW_STR); line_end(); }
		head('K', h); tab(); putu(h->tid); tab(); puti(d->dfd); tab(); putu(d->done); tab(); put_str(d->name, RW_STR); line_end();
		break;
	}
	case RW_CWD: {
		/* J pid complete path: the names walked (leaf first) joined root first; at an exec its I and E records follow. */
		const struct rw_cwd *c = data;
		unsigned nd = c->ndirs;
		size_t fit = size > offsetof(struct rw_cwd, dirs) ? (size - offsetof(struct rw_cwd, dirs)) / RW_STR : 0;
		if (nd > fit) nd = fit;
		if (nd > RW_DIR_DEPTH) nd = RW_DIR_DEPTH;
		static char path[RW_DIR_DEPTH * RW_STR + 2];
		size_t len = 0;
		for (unsigned i = nd; i-- > 0;) {
			size_t n = strnlen_(c->dirs[i], RW_STR - 1);
			path[len++] = '/';
			memcpy(path + len, c->dirs[i], n);
			len += n;
		}
		if (len == 0) path[len++] = '/';
		line_begin('J'); tab(); putu(h->pid); tab(); putu(c->done); tab(); put_str(path, len); line_end();
		break;
	}
	case RW_PTRACE: case RW_VM: case RW_SETID: case RW_SIGNAL: {
		const struct rw_target *t = data;
		static const char *const calls[] = { "setuid", "setresuid", "setgid", "setresgid" };
		char tag = h->type == RW_PTRACE ? 'P' : h->type == RW_VM ? 'V' : h->type == RW_SETID ? 'G' : 'T';
		head(tag, h); tab();
		if (tag == 'P') { putu(t->a); tab(); puti((int)t->target); }
		else if (tag == 'V') { putch(t->a == 'w' ? 'w' : 'r'); tab(); puti((int)t->target); }
		else if (tag == 'G') { const char *c = calls[t->a & 3]; put(c, strlen(c)); tab(); putu(t->b); }
		else { putu(t->a); tab(); puti((int)t->target); tab(); put_str(t->tcomm, 16); }
		line_end();
		break;
	}
	case RW_BPF: { const struct rw_num *r = data; head('B', h); tab(); puti(r->n); line_end(); break; }
	default: break;
	}
	if (olen > sizeof(obuf) - (64 << 10)) oflush();
	return 0;
}

/* ---- counted write-opens: one generation printed as bpftrace prints @wc<gen> then @wn<gen> ----
 * The counts of a window come from two places: the flood of new paths past their budget, sent by the probes one
 * record each (RW_WCOUNT) and counted here, and the repeats the probes counted in the generation's map. Both go
 * into one table, merged by key, printed and emptied at the window's end. Past the table's capacity (twice
 * --map-keys) a write-open is counted per pid only, as the kernel's map does with what it cannot hold. */

static struct rw_wkey *wkeys;
static __u64 *wvals;
static __u32 mkeys[4096];
static __u64 mvals[4096];

struct went { struct rw_wkey k; __u64 n; };
static struct went *wt;       /* entries [0, wt_n) */
static __u32 *wt_slot;        /* open addressing: entry index + 1, 0 empty */
static unsigned wt_n, wt_cap, wt_mask;
/* Per pid, write-opens neither table held (open addressing over pids; 0 is no pid). */
#define WT_MISS 8192
static __u32 miss_pid[WT_MISS];
static __u64 miss_n[WT_MISS];
static unsigned miss_used;

static void wt_init(unsigned map_keys)
{
	wt_cap = map_keys * 2;
	unsigned slots = 1;
	while (slots < wt_cap * 2) slots <<= 1;
	wt_mask = slots - 1;
	wt = calloc(wt_cap, sizeof(*wt));
	wt_slot = calloc(slots, sizeof(*wt_slot));
	if (!wt || !wt_slot) { fprintf(stderr, "runwarden-sensor: out of memory\n"); exit(1); }
}

/* The pid's count; with `add`, a new one (0) if it has none. */
static __u64 *miss_at(__u32 pid, bool add)
{
	unsigned i = (pid * 2654435761u) & (WT_MISS - 1);
	for (unsigned probe = 0; probe < WT_MISS; probe++, i = (i + 1) & (WT_MISS - 1)) {
		if (miss_pid[i] == pid) return &miss_n[i];
		if (miss_pid[i] == 0) {
			if (!add || miss_used >= WT_MISS / 2) return NULL; /* more pids than that overflowed in one window: not kept */
			miss_pid[i] = pid;
			miss_n[i] = 0;
			miss_used++;
			return &miss_n[i];
		}
	}
	return NULL;
}

static void miss_add(__u32 pid, __u64 n)
{
	__u64 *m = miss_at(pid, true);
	if (m) *m += n;
}

static void wt_add(const struct rw_wkey *k, __u64 n)
{
	size_t len = strnlen_(k->path, RW_STR);
	__u64 h = 0xcbf29ce484222325ULL ^ (((__u64)k->pid << 32) | (__u32)k->dfd);
	for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)k->path[i]) * 0x100000001b3ULL;
	unsigned i = (unsigned)(h ^ (h >> 32)) & wt_mask;
	for (;; i = (i + 1) & wt_mask) {
		__u32 e = wt_slot[i];
		if (!e) break;
		struct went *w = &wt[e - 1];
		if (w->k.pid == k->pid && w->k.dfd == k->dfd && !strncmp(w->k.path, k->path, RW_STR)) { w->n += n; return; }
	}
	if (wt_n >= wt_cap) { miss_add(k->pid, n); return; }
	struct went *w = &wt[wt_n];
	w->k.pid = k->pid;
	w->k.dfd = k->dfd;
	memset(w->k.path, 0, RW_STR);
	memcpy(w->k.path, k->path, len < RW_STR ? len : RW_STR - 1);
	w->n = n;
	wt_slot[i] = ++wt_n;
}

/* All entries of a hash map, deleted as read: batches where the kernel has them, else key by key. */
static unsigned drain_map(int fd, void *keys, size_t ksize, __u64 *vals, unsigned cap)
{
	unsigned total = 0;
	__u32 in = 0, out = 0;
	bool first = true, batch_ok = true;
	while (total < cap) {
		__u32 count = cap - total;
		int err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, (char *)keys + (size_t)total * ksize, vals + total, &count, NULL);
		if (err < 0 && errno != ENOENT) { if (first) batch_ok = false; total += err < 0 ? 0 : count; break; }
		total += count;
		if (err < 0) break; /* ENOENT: the last batch */
		in = out;
		first = false;
	}
	if (batch_ok) return total;
	char *k = keys;
	while (total < cap && !bpf_map_get_next_key(fd, NULL, k + (size_t)total * ksize)) {
		char *key = k + (size_t)total * ksize;
		if (!bpf_map_lookup_elem(fd, key, vals + total)) total++;
		bpf_map_delete_elem(fd, key);
	}
	return total;
}

static void print_counts(struct runwarden_bpf *skel, int g)
{
	int wc = bpf_map__fd(g ? skel->maps.wc1 : skel->maps.wc0);
	int wm = bpf_map__fd(g ? skel->maps.wm1 : skel->maps.wm0);
	unsigned n = drain_map(wc, wkeys, sizeof(*wkeys), wvals, o.map_keys);
	unsigned m = drain_map(wm, mkeys, sizeof(*mkeys), mvals, 4096);
	for (unsigned i = 0; i < n; i++) wt_add(&wkeys[i], wvals[i]);
	for (unsigned j = 0; j < m; j++) miss_add(mkeys[j], mvals[j]);
	if (!wt_n && !miss_used) return;
	PUTS("{\"type\": \"map\", \"data\": {\"@wc"); putch('0' + g); PUTS("\": {");
	for (unsigned i = 0; i < wt_n; i++) {
		const struct went *w = &wt[i];
		if (i) PUTS(", ");
		putch('"'); putu(w->k.pid); putch(','); puti(w->k.dfd); putch(','); put_str(w->k.path, RW_STR); PUTS("\": ");
		putu(w->n);
		if (olen > sizeof(obuf) - (64 << 10)) oflush();
	}
	PUTS("}}}\n");
	if (miss_used) {
		/* Per pid: what the table holds plus what it could not (the decoder reports the difference as a loss). */
		for (unsigned i = 0; i < wt_n; i++) {
			__u64 *mm = miss_at(wt[i].k.pid, false);
			if (mm) *mm += wt[i].n;
		}
		PUTS("{\"type\": \"map\", \"data\": {\"@wn"); putch('0' + g); PUTS("\": {");
		bool first = true;
		for (unsigned j = 0; j < WT_MISS; j++) {
			if (!miss_pid[j]) continue;
			if (!first) PUTS(", ");
			first = false;
			putch('"'); putu(miss_pid[j]); PUTS("\": "); putu(miss_n[j]);
		}
		PUTS("}}}\n");
	}
	if (wt_n) memset(wt_slot, 0, ((size_t)wt_mask + 1) * sizeof(*wt_slot));
	wt_n = 0;
	if (miss_used) memset(miss_pid, 0, sizeof(miss_pid));
	miss_used = 0;
}

/* ---- detaching: every link at once ----
 * Each tracepoint link waits for an RCU grace period when it goes (~55 ms on this kind of VM); one after the
 * other, the ~35 links took 1.85 s from SIGINT to exit, which `runwarden run` waited for after every job. Destroyed
 * from a thread each, they wait for the same grace periods together. Falls back to one by one where a thread
 * cannot be made. */
static void *destroy_link(void *arg)
{
	bpf_link__destroy(*(struct bpf_link **)arg);
	*(struct bpf_link **)arg = NULL;
	return NULL;
}

static void detach_all(struct runwarden_bpf *skel)
{
	struct bpf_link **links = (struct bpf_link **)&skel->links;
	enum { N = sizeof(skel->links) / sizeof(struct bpf_link *) };
	pthread_t th[N];
	bool started[N] = { false };
	for (size_t i = 0; i < N; i++) {
		if (!links[i]) continue;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 64 << 10);
		started[i] = pthread_create(&th[i], &a, destroy_link, &links[i]) == 0;
		pthread_attr_destroy(&a);
	}
	for (size_t i = 0; i < N; i++) if (started[i]) pthread_join(th[i], NULL);
	runwarden_bpf__detach(skel); /* what no thread took: one by one */
}

static __u64 lost_total(int fd, int ncpu, __u64 *buf)
{
	__u32 k = 0;
	__u64 sum = 0;
	if (bpf_map_lookup_elem(fd, &k, buf)) return 0;
	for (int i = 0; i < ncpu; i++) sum += buf[i];
	return sum;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG) return 0;
	return vfprintf(stderr, fmt, ap);
}

static bool syscall_tp_exists(const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "/sys/kernel/tracing/events/syscalls/%s", name);
	if (!access(p, F_OK)) return true;
	snprintf(p, sizeof(p), "/sys/kernel/debug/tracing/events/syscalls/%s", name);
	return !access(p, F_OK);
}

static void words(const char *s, size_t len, volatile __u64 *w, volatile __u8 *nw, volatile __u64 *last_mask)
{
	size_t n = (len + 7) / 8;
	for (size_t j = 0; j < n; j++) {
		__u64 v = 0;
		size_t k = len - j * 8 < 8 ? len - j * 8 : 8;
		memcpy(&v, s + j * 8, k);
		w[j] = v;
	}
	*nw = n;
	*last_mask = len % 8 ? (1ull << (8 * (len % 8))) - 1 : ~0ull;
}

static void add_head(volatile __u8 *bits, const char *s, size_t len)
{
	const unsigned char *b = (const unsigned char *)s;
	if (len == 0) { for (int i = 0; i < 8192; i++) bits[i] = 0xff; return; }
	if (len == 1) { for (unsigned x = 0; x < 256; x++) { unsigned h = b[0] | x << 8; bits[h >> 3] |= 1 << (h & 7); } return; }
	unsigned h = b[0] | b[1] << 8;
	bits[h >> 3] |= 1 << (h & 7);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	libbpf_set_print(libbpf_log);

	struct runwarden_bpf *skel = runwarden_bpf__open();
	if (!skel) { fprintf(stderr, "runwarden-sensor: cannot open the BPF object: %s\n", strerror(errno)); return 1; }
	struct runwarden_bpf__rodata *ro = skel->rodata;
	ro->argv_max = o.argv_chunk * o.argv_chunks;
	ro->write_budget = o.write_budget;
	ro->dns_port_be = htons(o.dns_port);
	ro->tracked = o.n_track > 0;
	ro->proc_reads = o.proc_reads;
	o.excl[o.n_excl++] = getpid();
	ro->n_excl = o.n_excl;
	for (unsigned i = 0; i < o.n_excl; i++) ro->excl[i] = o.excl[i];
	ro->n_prot = o.n_prot;
	for (unsigned i = 0; i < o.n_prot; i++) ro->prot[i] = o.prot[i];
	ro->n_pcomm = o.n_pcomm;
	for (unsigned i = 0; i < o.n_pcomm; i++) {
		size_t l = strlen(o.pcomm[i]);
		if (l > 15) l = 15;
		memcpy((char *)ro->pcomm[i], o.pcomm[i], l);
		ro->pcomm_len[i] = l;
	}
	unsigned np = 0;
	for (unsigned i = 0; i < o.n_prefixes; i++) {
		bool dup = false;
		for (unsigned j = 0; j < i; j++) if (!strcmp(o.prefixes[i], o.prefixes[j])) dup = true;
		if (dup) continue;
		size_t l = strlen(o.prefixes[i]);
		words(o.prefixes[i], l, ro->pfx[np], &ro->pfx_nw[np], &ro->pfx_last_mask[np]);
		add_head(ro->pfx_heads, o.prefixes[i], l);
		np++;
	}
	ro->n_pfx = np;
	if (o.proc_reads) add_head(ro->pfx_heads, "/proc/", 6);
	ro->pfx_heads[0] |= 1; /* a failed 2-byte read leaves 0: take the full test */
	/* The script resolves dirfd names only when it watches sensitive paths at all. */
	if (np || o.proc_reads) {
		for (unsigned i = 0; i < o.n_names; i++) {
			size_t l = strlen(o.names[i]) + 1; /* with the NUL: credentials.bak is not credentials */
			words(o.names[i], l, ro->names[i], &ro->name_nw[i], &ro->name_last_mask[i]);
			add_head(ro->name_heads, o.names[i], l);
		}
		ro->n_names = o.n_names;
		ro->name_heads[0] |= 1;
	}
	unsigned long rbytes = 4096;
	while (rbytes < o.ringbuf_bytes) rbytes <<= 1;
	bpf_map__set_max_entries(skel->maps.rb, rbytes);
	struct bpf_map *sized[] = { skel->maps.tr, skel->maps.ws, skel->maps.rs, skel->maps.wb, skel->maps.wc0, skel->maps.wc1, skel->maps.cn, skel->maps.ul };
	for (size_t i = 0; i < sizeof(sized) / sizeof(sized[0]); i++) bpf_map__set_max_entries(sized[i], o.map_keys);
	/* Syscall tracepoints this kernel lacks (fchmodat2 before 6.6, …) are left out, as bpftrace would fail on them. */
	unsigned nprogs = 0;
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		if (!strncmp(sec, "tp/syscalls/", 12) && !syscall_tp_exists(sec + 12)) { bpf_program__set_autoload(prog, false); continue; }
		nprogs++;
	}
	/* Reached by on_openat's tail call (the open_tail program array), not attached itself. */
	bpf_program__set_autoattach(skel->progs.on_openat_sensitive, false);
	nprogs--;
	int err = runwarden_bpf__load(skel);
	if (err) { fprintf(stderr, "runwarden-sensor: loading the BPF programs failed: %s\n", strerror(-err)); return 1; }
	__u8 one = 1;
	int trfd = bpf_map__fd(skel->maps.tr);
	for (unsigned i = 0; i < o.n_track; i++) bpf_map_update_elem(trfd, &o.track[i], &one, BPF_ANY);
	err = runwarden_bpf__attach(skel);
	if (err) { fprintf(stderr, "runwarden-sensor: attaching the probes failed: %s\n", strerror(-err)); return 1; }
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_record, NULL, NULL);
	if (!rb) { fprintf(stderr, "runwarden-sensor: ring buffer: %s\n", strerror(errno)); return 1; }
	wt_init(o.map_keys);
	wkeys = calloc(o.map_keys, sizeof(*wkeys));
	wvals = calloc(o.map_keys, sizeof(*wvals));
	int ncpu = libbpf_num_possible_cpus();
	__u64 *lostbuf = calloc(ncpu > 0 ? ncpu : 1, sizeof(__u64));
	int lostfd = bpf_map__fd(skel->maps.lost);
	__u64 lost_seen = 0;
	if (!wkeys || !wvals || !lostbuf) { fprintf(stderr, "runwarden-sensor: out of memory\n"); return 1; }

	/* A pipe of 1 MiB (fewer wakeups of the agent) that never blocks this loop (see oflush). */
	fcntl(1, F_SETPIPE_SZ, 1 << 20);
	int fl = fcntl(1, F_GETFL);
	if (fl >= 0) fcntl(1, F_SETFL, fl | O_NONBLOCK);
	PUTS("{\"type\": \"attached_probes\", \"data\": {\"probes\": "); putu(nprogs); PUTS("}}\n");
	line_begin('H'); PUTS("\\tstart"); line_end();
	oflush();

	/* Stop when the agent is gone (PR_SET_PDEATHSIG covers most of it; an agent that is PID 1 in a container is why
	 * this compares with the parent at start rather than with 1). */
	pid_t parent = getppid();
	long long next = now_ms() + o.flush_ms;
	for (;;) {
		bool last = stopping;
		int n = ring_buffer__poll(rb, last ? 0 : (int)o.poll_ms);
		if (n < 0 && n != -EINTR) { fprintf(stderr, "runwarden-sensor: ring buffer poll: %s\n", strerror(-n)); break; }
		ring_buffer__consume(rb);
		__u64 l = lost_total(lostfd, ncpu, lostbuf);
		if (l > lost_seen) {
			PUTS("{\"type\": \"lost_events\", \"data\": {\"events\": "); putu(l - lost_seen); PUTS("}}\n");
			lost_seen = l;
		}
		if (last) {
			/* Detach first so nothing is counted after the last print. */
			detach_all(skel);
			ring_buffer__consume(rb);
			print_counts(skel, skel->bss->gen);
			print_counts(skel, !skel->bss->gen);
			l = lost_total(lostfd, ncpu, lostbuf);
			if (l > lost_seen) { PUTS("{\"type\": \"lost_events\", \"data\": {\"events\": "); putu(l - lost_seen); PUTS("}}\n"); }
			oflush_all();
			if (bl_peak) fprintf(stderr, "runwarden-sensor: backlog peak %zu bytes, %llu waits for the agent\n", bl_peak, bl_waits);
			break;
		}
		long long t = now_ms();
		if (t >= next) {
			/* Probes fill the other generation from now on; this one's counts are printed, then H flush marks that
			 * everything counted before it is out (sync() in ebpf.ts waits for it). */
			int g = skel->bss->gen;
			skel->bss->gen = !g;
			skel->data->window++;
			ring_buffer__consume(rb);
			print_counts(skel, g);
			line_begin('H'); PUTS("\\tflush"); line_end();
			next = t + o.flush_ms;
		}
		if (olen) oflush();
		if (bl_len > bl_head || bl_peak) bl_report(now_ms());
		if (getppid() != parent) stopping = 1;
	}
	ring_buffer__free(rb);
	runwarden_bpf__destroy(skel);
	return 0;
}
