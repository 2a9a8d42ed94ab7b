// agent/sensors/strace-parse.ts: strace lines into SensorEvents, table-driven, incl. unfinished/resumed and threads.
import t from 'tap';
import { cArray, cString, createStraceParser, splitArgs } from '../../../agent/sensors/strace-parse.js';

t.test('literals', async (t) => {
  t.same(splitArgs('AT_FDCWD, "/a,b", [1, 2], {x=1, y=2}, 0644'), ['AT_FDCWD', '"/a,b"', '[1, 2]', '{x=1, y=2}', '0644']);
  t.same(cString('"a\\nb\\"c\\\\\\x41\\101"'), { value: 'a\nb"c\\AA', cut: false });
  t.same(cString('"abc"...'), { value: 'abc', cut: true });
  t.equal(cString('NULL'), undefined);
  t.same(cArray('["sh", "-c", "x y"]'), { values: ['sh', '-c', 'x y'], cut: false });
  t.same(cArray('["a", "b"...]'), { values: ['a', 'b'], cut: true });
  t.same(cArray('["a", ...]'), { values: ['a'], cut: true });
});

t.test('a session', async (t) => {
  const p = createStraceParser({ pathContext: { homes: ['/root'] } });
  const lines: [string, unknown[]][] = [
    ['100  1.000001 execve("/usr/bin/sh", ["sh", "-c", "x"], 0x7ffd /* 39 vars */) = 0', [{ kind: 'exec', tsNs: 1_000_001_000, pid: 100, exe: '/usr/bin/sh', comm: 'sh', exec: { argv: ['sh', '-c', 'x'] } }]],
    ['100  1.1 vfork( <unfinished ...>', []],
    ['101  1.2 execve("/usr/bin/curl", ["curl", "http://x"], 0x55 /* 39 vars */ <unfinished ...>', []],
    ['100  1.3 <... vfork resumed>) = 101', [{ kind: 'fork', pid: 100, fork: { childPid: 101 } }]],
    ['101  1.4 <... execve resumed>) = 0', [{ kind: 'exec', pid: 101, exe: '/usr/bin/curl', exec: { argv: ['curl', 'http://x'] } }]],
    ['101  1.5 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f}, 88) = 102', []],
    ['102  1.6 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}, 16) = 0', [{ kind: 'net', pid: 101, net: { family: 'INET', dstIp: '127.0.0.53', dstPort: 53, result: 0 } }]],
    ['101  1.7 connect(4, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 EINPROGRESS (Operation now in progress)', [{ net: { family: 'INET6', dstIp: '::1', dstPort: 443, result: -115 } }]],
    ['101  1.8 connect(5, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)', [{ net: { family: 'UNIX', dstIp: '/var/run/nscd/socket', result: -2 } }]],
    ['101  1.9 openat(AT_FDCWD, "/tmp/o", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3', [{ kind: 'file', file: { op: 'OPEN_WRITE', path: '/tmp/o', count: 1, pathClass: 'tmp' } }]],
    ['101  2.0 openat(AT_FDCWD, "/tmp/o", O_WRONLY|O_APPEND) = 3', []],
    ['101  2.1 openat(AT_FDCWD, "/dev/null", O_WRONLY) = 3', []],
    ['101  2.2 openat(AT_FDCWD, "/proc/77/mem", O_RDONLY) = 3', [{ kind: 'read', read: { pathClass: 'proc-mem', targetPid: 77 } }, { kind: 'access', access: { kind: 'PROC_MEM_OPEN' } }]],
    ['101  2.3 openat(AT_FDCWD, "/root/.npmrc", O_RDONLY) = -1 ENOENT (No such file or directory)', [{ kind: 'read', read: { path: '/root/.npmrc', pathClass: 'credential-file' } }]],
    ['101  2.4 openat(AT_FDCWD, "/etc/hosts", O_RDONLY|O_CLOEXEC) = 3', []],
    ['101  2.5 renameat2(AT_FDCWD, "/tmp/o", AT_FDCWD, "/tmp/p", RENAME_NOREPLACE) = 0', [{ file: { op: 'RENAME', path: '/tmp/o', newPath: '/tmp/p' } }]],
    ['101  2.6 fchmodat(AT_FDCWD, "/tmp/p", 0755) = 0', [{ file: { op: 'CHMOD', path: '/tmp/p', mode: 0o755 } }]],
    ['101  2.7 fchmodat(AT_FDCWD, "/tmp/p", 0644) = 0', []],
    ['101  2.8 unlinkat(AT_FDCWD, "/tmp/p", 0) = 0', [{ file: { op: 'UNLINK', path: '/tmp/p' } }]],
    ['101  2.9 unlinkat(AT_FDCWD, "/tmp/d", AT_REMOVEDIR) = 0', []],
    // *at calls through a directory fd: fd:N/path (rm -r, tar), never joined to the cwd; an absolute path is itself.
    ['101  2.91 unlinkat(3, "x", 0) = 0', [{ file: { op: 'UNLINK', path: 'fd:3/x' } }]],
    ['101  2.92 unlinkat(3, "/abs/x", 0) = 0', [{ file: { op: 'UNLINK', path: '/abs/x' } }]],
    ['101  2.93 renameat2(AT_FDCWD, "a", 4, "b", RENAME_NOREPLACE) = 0', [{ file: { op: 'RENAME', path: 'a', newPath: 'fd:4/b' } }]],
    ['101  2.94 fchmodat(6, "run", 0755) = 0', [{ file: { op: 'CHMOD', path: 'fd:6/run', mode: 0o755 } }]],
    ['101  2.95 openat(5, "c.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 7', [{ file: { op: 'OPEN_WRITE', path: 'fd:5/c.txt' } }]],
    ['101  3.0 ptrace(PTRACE_SEIZE, 77, NULL, 0) = 0', [{ kind: 'access', access: { kind: 'PTRACE_SEIZE', targetPid: 77 } }]],
    ['101  3.1 process_vm_readv(77, [{iov_base=0x1, iov_len=16}], 1, [{iov_base=0x2, iov_len=16}], 1, 0) = 16', [{ kind: 'access', access: { kind: 'VM_READV', targetPid: 77 } }]],
    ['102  3.2 exit_group(0) = ?', []],
    ['101  3.3 +++ exited with 3 +++', [{ kind: 'file', file: { path: '/tmp/o', count: 1 } }, { kind: 'exit', pid: 101, exit: { code: 3 } }]],
    ['100  3.4 +++ killed by SIGKILL +++', [{ kind: 'exit', pid: 100, exit: { signal: 9 } }]],
    ['garbage', []],
  ];
  for (const [line, want] of lines) {
    const got = p.push(line);
    t.equal(got.length, want.length, line);
    t.match(got, want, line);
  }
  // 100 has exited: a task with its number is new, and waits for the clone that made it until flush.
  t.same(p.push('100  4.0 execve("/usr/bin/x", ["x"], 0x1 /* 1 vars */) = 0'), []);
  t.match(p.flush(), [{ kind: 'exec', pid: 100, ppid: undefined }]);
});

t.test('a child printed before the clone that made it', async (t) => {
  const p = createStraceParser({ holdNs: 1e9, maxHeldLines: 3 });
  const lines: [string, unknown[]][] = [
    ['200  1.0 execve("/bin/sh", ["sh", "-c", "x"], 0x1 /* 1 vars */) = 0', [{ kind: 'exec', pid: 200 }]],
    ['200  1.1 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>', []],
    ['201  1.2 execve("/usr/bin/chmod", ["chmod", "+x", "f"], 0x1 /* 1 vars */) = 0', []],
    ['201  1.3 fchmodat(AT_FDCWD, "/w/f", 0755) = 0', []],
    ['200  1.4 <... clone resumed>, child_tidptr=0x7f) = 201', [
      { kind: 'fork', pid: 200, fork: { childPid: 201 } },
      { kind: 'exec', pid: 201, ppid: 200, comm: 'chmod', exec: { argv: ['chmod', '+x', 'f'] } },
      { kind: 'file', pid: 201, file: { op: 'CHMOD', path: '/w/f' } }]],
    // A thread's first syscall before clone3 returns is its process's, once the clone says so.
    ['201  1.5 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x7f}, 88 <unfinished ...>', []],
    ['202  1.6 connect(3, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.3.3.3")}, 16) = 0', []],
    ['201  1.7 <... clone3 resumed>) = 202', [{ kind: 'net', pid: 201, net: { dstIp: '127.3.3.3' } }]],
    // A grandchild printed before both clones: released in order once its parent is.
    ['200  1.8 vfork( <unfinished ...>', []],
    ['204  1.9 execve("/bin/true", ["true"], 0x1 /* 1 vars */) = 0', []],
    ['203  2.0 clone(child_stack=NULL, flags=SIGCHLD) = 204', []],
    ['200  2.1 <... vfork resumed>) = 203', [
      { kind: 'fork', pid: 200, fork: { childPid: 203 } },
      { kind: 'fork', pid: 203, fork: { childPid: 204 } },
      { kind: 'exec', pid: 204, ppid: 203 }]],
    // Never created (the creator's line was lost): emitted without a parent after holdNs of trace time.
    ['300  2.2 execve("/bin/true", ["true"], 0x1 /* 1 vars */) = 0', []],
    ['200  3.3 openat(AT_FDCWD, "/dev/null", O_WRONLY) = 3', [{ kind: 'exec', pid: 300, ppid: undefined }]],
    // ... or once more than maxHeldLines are held.
    ['400  3.4 execve("/bin/a", ["a"], 0x1 /* 1 vars */) = 0', []],
    ['400  3.5 openat(AT_FDCWD, "/w/x", O_WRONLY|O_CREAT, 0644) = 3', []],
    ['401  3.6 execve("/bin/b", ["b"], 0x1 /* 1 vars */) = 0', []],
    ['401  3.7 openat(AT_FDCWD, "/w/y", O_WRONLY|O_CREAT, 0644) = 3', [{ kind: 'exec', pid: 400 }, { kind: 'file', pid: 400 }]],
  ];
  for (const [line, want] of lines) {
    const got = p.push(line);
    t.equal(got.length, want.length, line);
    t.match(got, want, line);
  }
  const rest = p.flush();
  t.equal(rest.length, 2);
  t.match(rest, [{ kind: 'exec', pid: 401 }, { kind: 'file', pid: 401, file: { path: '/w/y' } }]);
});
