/* Records of the libbpf sensor, shared by the BPF program (runwarden.bpf.c) and its loader (runwarden-sensor.c).
 * Each ring-buffer record is one of these structs; the loader prints it as the bpftrace-script.ts record(s) it
 * stands for, so agent/sensors/bpftrace-decode.ts reads both kernel programs the same way. */
#ifndef RUNWARDEN_H
#define RUNWARDEN_H

/* str() of bpftrace with BPFTRACE_STRLEN=200: 199 bytes and the NUL. */
#define RW_STR 200
#define RW_ARGV_MAX 3072 /* argvChunkBytes (≤ 192) × argvChunks (≤ 16) */
#define RW_DNS_MAX 192
#define RW_DIR_DEPTH 16
#define RW_MAX_EXCL 64
#define RW_MAX_PROT 64
#define RW_MAX_PCOMM 8
#define RW_MAX_PFX 256
#define RW_PFX_WORDS 24 /* prefixes ≤ 190 bytes, compared 8 bytes at a time */
#define RW_MAX_NAMES 32
#define RW_NAME_WORDS 8 /* dirfd names ≤ 63 bytes with their NUL */

enum rw_type {
	RW_EXEC = 1, RW_FORK, RW_EXIT, RW_CONNECT, RW_CONNECT_RET, RW_DNS, RW_WRITE, RW_RENAME, RW_UNLINK, RW_CHMOD,
	RW_FCHMOD, RW_SENS, RW_DIRFD, RW_PTRACE, RW_VM, RW_MEMFD, RW_SETID, RW_BPF, RW_SIGNAL, RW_TRACK_FULL, RW_CWD,
	RW_WCOUNT,
};

/* The dfd a write-open record carries for a cwd-relative path when the process's cwd is still the one sent with its
 * exec (J record): the agent joins the two, and the record need not wake the loader for a /proc/<pid>/cwd read. */
#define RW_DFD_EXEC_CWD (-200) /* relative to the cwd last sent for the pid (J record at exec, chdir or fork) */

struct rw_hdr {
	__u8 type;
	__u8 pad[3];
	__u32 pid; /* thread group id */
	__u64 ts;  /* CLOCK_MONOTONIC ns (bpftrace nsecs) */
	__u32 uid;
	__u32 tid;
	char comm[16];
};

/* What a descriptor pointed at when its process exec'd: enough to tell a pipe, socket, tty or /dev/null, and which
 * pipe (its inode, as /proc/<pid>/fd shows "pipe:[ino]"). mode 0: the descriptor was not open. */
struct rw_fd {
	__u32 mode;  /* i_mode */
	__u32 rdev;  /* i_rdev, the kernel's encoding (major << 20 | minor) */
	__u64 ino;   /* i_ino */
	__u32 magic; /* the file system's s_magic (a pipe is a FIFO on pipefs) */
	__u32 pad;
};

struct rw_exec {
	struct rw_hdr h;
	__u32 ppid;
	__u32 argv_len;  /* arg_end - arg_start */
	__u32 argv_read; /* bytes of argv[] below */
	__u32 pad;
	__u64 cgroup;     /* cgroup v2 id of the process (its cgroup directory's inode number) */
	struct rw_fd fd[2]; /* stdin and stdout after the exec (close-on-exec descriptors are closed by then) */
	char filename[RW_STR];
	__u8 argv[RW_ARGV_MAX];
};

struct rw_num { /* fork (child pid), exit (wait status), connect result, bpf cmd, track-full child */
	struct rw_hdr h;
	__s64 n;
};

struct rw_connect {
	struct rw_hdr h;
	__u16 family;
	__u16 port; /* host order */
	__u8 addr[108]; /* in_addr, in6_addr or sun_path */
};

struct rw_dns {
	struct rw_hdr h;
	__u64 skb;
	__u32 saddr; /* as read from the header */
	__u32 daddr;
	__u16 sport; /* host order */
	__u16 dport;
	__u16 len;
	__u8 dir; /* 'o' queued, 'i' received */
	__u8 pad;
	__u8 payload[RW_DNS_MAX];
};

struct rw_write {
	struct rw_hdr h;
	__u8 op; /* 'o' open, 'c' creat, 't' truncate */
	__u8 pad[3];
	__u32 flags;
	__u32 mode;
	__s32 dfd;
	char path[RW_STR];
};

struct rw_path { /* unlink, sensitive read, memfd name; chmod mode in n, fchmod fd in n */
	struct rw_hdr h;
	__s64 n;
	char path[RW_STR];
};

struct rw_rename {
	struct rw_hdr h;
	__s32 odfd, ndfd; /* where each relative path is: RW_DFD_EXEC_CWD, a directory fd or AT_FDCWD */
	char old[RW_STR];
	char new[RW_STR];
};

struct rw_dirfd {
	struct rw_hdr h;
	__s32 dfd;
	__u8 done;   /* the walk reached the root */
	__u8 ndirs;
	__u8 pad[2];
	char name[RW_STR];
	char dirs[RW_DIR_DEPTH][RW_STR]; /* leaf first */
};

struct rw_cwd { /* the working directory of an exec'ing process, sent just before its exec record */
	struct rw_hdr h;
	__u8 done;   /* the walk reached the root */
	__u8 ndirs;
	__u8 pad[6];
	char dirs[RW_DIR_DEPTH][RW_STR]; /* leaf first */
};

struct rw_target { /* ptrace (a = request), process_vm (a = 'r'|'w'), set*id (a = call, b = id), signal (a = sig) */
	struct rw_hdr h;
	__u32 a;
	__u32 b;
	__u32 target;
	char tcomm[16];
};

/* Key of the per-(pid, dfd, path) count of write-opens beyond the budget (bpftrace @wc0/@wc1). */
struct rw_wkey {
	__u32 pid;
	__s32 dfd;
	char path[RW_STR];
};

/* Key of the once-per-window sets (bpftrace @ws, @rs). */
struct rw_pkey {
	__u32 pid;
	char path[RW_STR];
};

struct rw_budget {
	__u32 window;
	__u32 used;
};

/* A write-open past its process's budget whose path is new to its CPU's recent set: the loader counts it (no
 * header, only the count's key). */
struct rw_wcount {
	__u8 type;
	__u8 pad[3];
	struct rw_wkey k;
};

#endif
