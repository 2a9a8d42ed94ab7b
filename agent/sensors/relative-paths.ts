// Relative paths of sensor events made absolute where the sensor delivers them, while their process most likely
// still lives: a path relative to a directory fd (fd:N/path) through /proc/<pid>/fd/N, any other through
// /proc/<pid>/cwd; a process gone since is answered from the last link read for it. What stays relative is left to
// enrichment (agent/enrich.ts: the cwd of a live ancestor, else the workspace; fd:N/ paths as they are).
import { readlinkSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { SensorEvent } from './types.js';

/** pid/cwd and pid/fd/N links remembered for processes that exited since. */
export const LAST_LINKS_MAX = 8_192;

/**
 * join(dir, rel) for a directory as the kernel names it (absolute, normal): the plain concatenation when `rel` (a
 * leading "./" aside, as tar writes its members) has no ".", ".." or empty segment to fold, else posix join. An
 * untar resolves 20 000 such names per job; join normalized each one character by character.
 */
export function joinUnder(dir: string, rel: string): string {
  const r = rel.startsWith('./') ? rel.slice(2) : rel;
  if (r === '' || dir === '/' || r.charCodeAt(0) === 46 /* . */ || r.charCodeAt(0) === 47 || r.endsWith('/') || r.includes('//') || r.includes('/.')) return join(dir, rel);
  return `${dir}/${r}`;
}

/** Resolves an event's paths in place; `memo` (one per batch) spares the readlink for the events of one pid. */
export type RelativeResolver = (ev: SensorEvent, memo: Map<string, string | null>) => void;

/**
 * `classify`: the class of a written path, as the sensor's decoder gives it (writeClass with its path context). A file
 * event whose path is made absolute here is classified again: its class was taken from the relative path ("other"),
 * and enrichment classifies again only the events of a job. A host process's untar into /tmp went out as 20 000
 * events of class "other" instead of a few aggregates per directory of class "tmp". An event the decoder left
 * unclassified (pathClass '': a counted write-open's relative path) is classified here, resolved or not.
 */
export function createRelativeResolver(classify?: (path: string) => string): RelativeResolver {
  const lastLinks = new Map<string, string>();
  return (ev, memo) => {
    if (ev.kind !== 'file' && ev.kind !== 'read') return;
    const body = ev.kind === 'file' ? ev.file : ev.read;
    const link = (what: string): string | undefined => {
      const key = `${ev.pid}/${what}`;
      const had = memo.get(key);
      if (had !== undefined) return had ?? undefined;
      let target: string | null = null;
      try {
        target = readlinkSync(`/proc/${ev.pid}/${what}`);
        lastLinks.delete(key);
        lastLinks.set(key, target);
        if (lastLinks.size > LAST_LINKS_MAX) lastLinks.delete(lastLinks.keys().next().value as string);
      } catch {
        // Gone (counted write-opens arrive up to a window later): the last cwd/dirfd seen for it.
        target = lastLinks.get(key) ?? null;
      }
      memo.set(key, target);
      return target ?? undefined;
    };
    const fix = (p: string | undefined): string | undefined => {
      if (!p || isAbsolute(p)) return p;
      const dirfd = /^fd:(\d+)\/(.*)$/s.exec(p);
      if (dirfd) { const d = link(`fd/${dirfd[1]}`); return d ? joinUnder(d, dirfd[2]!) : p; }
      if (p.startsWith('fd:')) return p;
      const cwd = link('cwd');
      return cwd ? join(cwd, p) : p;
    };
    const before = body.path;
    body.path = fix(body.path);
    if (ev.kind !== 'file') return;
    const f = ev.file;
    if (f.newPath) {
      // A rename is classed by where it goes.
      const was = f.newPath;
      f.newPath = fix(f.newPath);
      if (classify && f.newPath && f.newPath !== was) f.pathClass = classify(f.newPath);
    } else if (classify && f.path && (f.path !== before || f.pathClass === '')) {
      f.pathClass = classify(f.path);
    }
  };
}
