// Workspace integrity for one job: hashes of git-tracked files at start and the tracked files changed or
// deleted at end (THREATS.md class 15), plus a chokidar log of which paths changed during the job, with times,
// for the caller to join with the sensors' FileWrite events. Every list is bounded.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { watch } from 'chokidar';

export interface IntegrityLimits {
  maxTrackedFiles: number;
  maxTotalBytes: number;
  maxFileBytes: number;
  maxGitOutputBytes: number;
  maxListed: number;
  maxWatchRecords: number;
}
export const INTEGRITY_LIMITS: Readonly<IntegrityLimits> = Object.freeze({
  maxTrackedFiles: 20_000,
  maxTotalBytes: 512 * 1024 * 1024,
  maxFileBytes: 64 * 1024 * 1024,
  maxGitOutputBytes: 16 * 1024 * 1024,
  maxListed: 1_000,
  maxWatchRecords: 10_000,
});

export interface TrackedSnapshot {
  workspace: string;
  /** relative path → sha256 (or `size:N` for files over maxFileBytes; `symlink:target` for links). */
  files: Map<string, string>;
  /** Tracked files left unhashed because of a limit. */
  truncated: boolean;
}

export interface TrackedDiff {
  changed: string[];
  deleted: string[];
  truncated: boolean;
}

function git(args: string[], cwd: string, maxBuffer: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, encoding: 'buffer', maxBuffer, env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } }, (err, stdout) => {
      resolve(err ? undefined : stdout);
    });
  });
}

async function hashFile(path: string, maxFileBytes: number): Promise<{ digest: string; bytes: number } | undefined> {
  let st;
  try { st = await lstat(path); } catch { return undefined; }
  if (st.isSymbolicLink()) return { digest: `symlink:${await readlink(path).catch(() => '')}`, bytes: 0 };
  if (!st.isFile()) return undefined;
  if (st.size > maxFileBytes) return { digest: `size:${st.size}`, bytes: 0 };
  return new Promise((resolve) => {
    const h = createHash('sha256');
    const s = createReadStream(path);
    s.on('data', (c) => h.update(c));
    s.on('error', () => resolve(undefined));
    s.on('end', () => resolve({ digest: h.digest('hex'), bytes: st.size }));
  });
}

/** Hashes the git-tracked files of `workspace`; undefined when it is not a git work tree. */
export async function snapshotTracked(workspace: string, limits: IntegrityLimits = INTEGRITY_LIMITS): Promise<TrackedSnapshot | undefined> {
  const out = await git(['ls-files', '-z', '--cached'], workspace, limits.maxGitOutputBytes);
  if (out === undefined) return undefined;
  const paths = out.toString('utf8').split('\0').filter(Boolean);
  const files = new Map<string, string>();
  let total = 0;
  let truncated = paths.length > limits.maxTrackedFiles;
  for (const rel of paths.slice(0, limits.maxTrackedFiles)) {
    if (total >= limits.maxTotalBytes) { truncated = true; break; }
    const r = await hashFile(join(workspace, rel), limits.maxFileBytes);
    if (r === undefined) continue; // deleted before the job started, or a submodule dir
    files.set(rel, r.digest);
    total += r.bytes;
  }
  return { workspace, files, truncated };
}

/** Re-hashes the snapshot's files: which changed, which are gone. */
export async function diffTracked(before: TrackedSnapshot, limits: IntegrityLimits = INTEGRITY_LIMITS): Promise<TrackedDiff> {
  const changed: string[] = [];
  const deleted: string[] = [];
  let truncated = before.truncated;
  for (const [rel, digest] of before.files) {
    const now = await hashFile(join(before.workspace, rel), limits.maxFileBytes);
    if (now === undefined) deleted.push(rel);
    else if (now.digest !== digest) changed.push(rel);
  }
  if (changed.length > limits.maxListed || deleted.length > limits.maxListed) truncated = true;
  return { changed: changed.slice(0, limits.maxListed), deleted: deleted.slice(0, limits.maxListed), truncated };
}

export type WatchEvent = 'add' | 'addDir' | 'change' | 'unlink' | 'unlinkDir';
export interface WorkspaceChange { path: string; event: WatchEvent; tsMs: number }

export interface WorkspaceWatcher {
  /** Resolves once the initial scan is done: changes from then on are recorded. */
  ready: Promise<void>;
  /** Changes so far (relative paths), oldest first, at most maxWatchRecords. */
  changes(): WorkspaceChange[];
  /** Changes not recorded because the log was full. */
  dropped(): number;
  close(): Promise<void>;
}

// .git/objects and node_modules churn by the thousand in ordinary builds and would exhaust inotify watches;
// .git/hooks and .git/config stay watched (persistence through git hooks).
const IGNORED = new RegExp(`(^|[\\\\/])(\\.git[\\\\/](objects|logs|lfs)|node_modules)([\\\\/]|$)`);

export function watchWorkspace(workspace: string, limits: IntegrityLimits = INTEGRITY_LIMITS, now: () => number = Date.now): WorkspaceWatcher {
  const log: WorkspaceChange[] = [];
  let dropped = 0;
  const w = watch(workspace, { ignoreInitial: true, followSymlinks: false, persistent: true, ignored: (p: string) => IGNORED.test(p) });
  const record = (event: WatchEvent) => (p: string): void => {
    if (log.length >= limits.maxWatchRecords) { dropped++; return; }
    log.push({ path: relative(workspace, p).split(sep).join('/'), event, tsMs: now() });
  };
  for (const e of ['add', 'addDir', 'change', 'unlink', 'unlinkDir'] as const) w.on(e, record(e));
  w.on('error', () => { /* an unreadable subdirectory: the sensors still see writes there */ });
  const ready = new Promise<void>((resolve) => w.once('ready', () => resolve()));
  let closed: Promise<void> | undefined;
  return {
    ready,
    changes: () => [...log],
    dropped: () => dropped,
    close: () => (closed ??= w.close()),
  };
}
