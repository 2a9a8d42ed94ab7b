// SHA-256 of a workspace's CI definitions and build entry points at job start (JobStart.config_hashes),
// so a CI definition that differs from the trusted baseline can be flagged (THREATS.md class 10). Bounded.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface ConfigHashLimits { maxFiles: number; maxFileBytes: number; maxDirEntries: number }
export const CONFIG_HASH_LIMITS: Readonly<ConfigHashLimits> = Object.freeze({ maxFiles: 256, maxFileBytes: 1024 * 1024, maxDirEntries: 512 });

/** Single files, relative to the workspace root. */
const FILES = [
  '.gitlab-ci.yml', 'Jenkinsfile', 'azure-pipelines.yml', '.travis.yml', 'bitbucket-pipelines.yml', '.circleci/config.yml',
  'Makefile', 'GNUmakefile', 'makefile', 'package.json', 'setup.py', 'setup.cfg', 'pyproject.toml', 'build.gradle',
  'build.gradle.kts', 'settings.gradle', 'settings.gradle.kts', 'pom.xml', 'Cargo.toml', 'build.rs', '.npmrc', 'conftest.py',
];
/** Directories whose direct files are CI definitions or scripts the CI definitions call. */
const DIRS = ['.github/workflows', '.buildkite', '.gitlab/ci', 'scripts', 'ci', '.ci'];

export interface ConfigHashes {
  hashes: Record<string, string>;
  /** Files skipped because of a limit (too big, too many): the baseline comparison is partial. */
  skipped: string[];
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Canonical JSON of package.json "scripts" (install hooks live there), or undefined. */
export function packageScriptsDigest(text: string): string | undefined {
  try {
    const pkg = JSON.parse(text) as { scripts?: unknown };
    if (!pkg.scripts || typeof pkg.scripts !== 'object') return undefined;
    const sorted = Object.fromEntries(Object.entries(pkg.scripts as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)));
    return sha256(JSON.stringify(sorted));
  } catch {
    return undefined;
  }
}

export async function hashConfigFiles(workspace: string, limits: ConfigHashLimits = CONFIG_HASH_LIMITS): Promise<ConfigHashes> {
  const candidates: string[] = [...FILES];
  for (const d of DIRS) {
    let names: string[];
    try { names = await readdir(join(workspace, d)); } catch { continue; }
    names.sort();
    for (const n of names.slice(0, limits.maxDirEntries)) candidates.push(`${d}/${n}`);
  }
  const hashes: Record<string, string> = {};
  const skipped: string[] = [];
  let count = 0;
  for (const rel of candidates) {
    let st;
    try { st = await lstat(join(workspace, rel)); } catch { continue; }
    // Symlinks are not followed (a job could point one at a secret); their target is what gets hashed.
    if (!st.isFile() && !st.isSymbolicLink()) continue;
    if (count >= limits.maxFiles || st.size > limits.maxFileBytes) { skipped.push(rel); continue; }
    count++;
    if (st.isSymbolicLink()) {
      hashes[rel] = sha256(`symlink:${await readlink(join(workspace, rel)).catch(() => '')}`);
      continue;
    }
    let body: Buffer;
    try { body = await readFile(join(workspace, rel)); } catch { continue; }
    hashes[rel] = sha256(body);
    if (rel === 'package.json') {
      const d = packageScriptsDigest(body.toString('utf8'));
      if (d) hashes['package.json#scripts'] = d;
    }
  }
  return { hashes, skipped };
}
