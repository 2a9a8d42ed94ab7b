// Which of the job's secrets a process holds in its environment (for SensitiveRead/ProcessAccess targets
// and secret-bearing egress). Only names come out.

import type { ScanSecret } from './scanner.js';

/** /proc/<pid>/environ bytes (NUL-separated NAME=value) → map. A later duplicate name wins, as in getenv. */
export function parseEnviron(data: Uint8Array): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8').split('\u0000')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/**
 * Secret names held by a process. With values, a secret counts when a variable of that name has its value,
 * or any variable carries the value under another name (`export X=$TOKEN`, .npmrc-style lines); a
 * variable of the same name with another value does not. With names only, the name decides.
 */
export function secretHolders(
  environ: ReadonlyMap<string, string> | readonly string[],
  secrets: readonly ScanSecret[],
): string[] {
  const held = new Set<string>();
  if (Array.isArray(environ)) {
    const names = new Set(environ as readonly string[]);
    for (const s of secrets) if (names.has(s.name)) held.add(s.name);
  } else {
    const env = environ as ReadonlyMap<string, string>;
    const values = [...env.values()];
    for (const s of secrets) {
      if (s.value.length === 0) continue;
      if (env.get(s.name) === s.value || values.some((v) => v.includes(s.value))) held.add(s.name);
    }
  }
  return [...held].sort();
}
