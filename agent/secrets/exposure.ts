// SecretExposure event bodies from scanner hits (name, keyed fingerprint, channel, encoding: never the value),
// and the one-shot scans of argv arrays and DNS names.

import type { SecretChannel, SecretExposure } from '../../proto/types.js';
import { fingerprint } from './fingerprint.js';
import { createScanner } from './scanner.js';
import type { Exposure, Match, Scanner, ScannerOptions, ScanSecret } from './scanner.js';

export interface ExposureReporter {
  /** Event body for one hit. */
  toEvent(hit: Exposure): SecretExposure;
  /** Fingerprint of the secret at `index` of the list the scanner was built from. */
  fingerprintOf(index: number): string;
}

/** Fingerprints are computed once here, so the values are not needed again per hit. */
export function createExposureReporter(secrets: readonly ScanSecret[], installKey: Uint8Array): ExposureReporter {
  const fps = secrets.map((s) => fingerprint(installKey, s.value));
  const fingerprintOf = (index: number): string => {
    const fp = fps[index];
    if (fp === undefined) throw new RangeError(`no secret at index ${index}`);
    return fp;
  };
  return {
    fingerprintOf,
    toEvent(hit) {
      return {
        secretName: hit.secretName,
        fingerprint: fingerprintOf(hit.secretIndex),
        channel: hit.channel,
        encoding: hit.encoding,
        location: hit.location,
      };
    },
  };
}

function firstPerSecretAndEncoding(matches: readonly Match[], channel: SecretChannel, location: string): Exposure[] {
  const seen = new Set<string>();
  const out: Exposure[] = [];
  for (const m of matches) {
    const key = `${m.secretIndex}\u0000${m.encoding}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ secretName: m.secretName, secretIndex: m.secretIndex, encoding: m.encoding, channel, location, offset: m.start });
  }
  return out;
}

/**
 * Secrets in a process's argv (channel ARGV). Arguments are scanned one by one, so a value cut in two
 * arguments is not reported; `offset` is the argument index.
 */
export function scanArgv(scanner: Scanner, argv: readonly string[], location: string): Exposure[] {
  const matches: Match[] = [];
  argv.forEach((arg, index) => {
    for (const m of scanner.findAll(Buffer.from(arg, 'utf8'))) matches.push({ ...m, start: index });
  });
  return firstPerSecretAndEncoding(matches, 'ARGV', location);
}

/**
 * A scanner for DNS names: case-insensitive (resolvers and exfil tools change case), in the encodings
 * that fit in DNS labels: plain, hex, base32 and base64url.
 */
export function createDnsScanner(secrets: readonly ScanSecret[], options: ScannerOptions = {}): Scanner {
  return createScanner(secrets, { ...options, caseFold: true, labels: ['plain', 'hex', 'base32', 'base64url'] });
}

/**
 * Secrets in a queried DNS name (channel DNS): the name as queried and its labels joined, since exfil
 * tools cut the payload into 63-byte labels. `scanner` should come from createDnsScanner.
 */
export function scanDnsName(scanner: Scanner, name: string, location = name): Exposure[] {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const joined = lower.split('.').join('');
  const matches = [...scanner.findAll(Buffer.from(lower, 'utf8')), ...scanner.findAll(Buffer.from(joined, 'utf8'))];
  return firstPerSecretAndEncoding(matches, 'DNS', location);
}
