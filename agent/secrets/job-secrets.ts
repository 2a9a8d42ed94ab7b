// One job's secrets, ready to use: discovered from its env, with the scanners, redactor factory and
// reporter built once. The entry point for `runwarden run` and the sensors.

import type { Transform } from 'node:stream';
import { discoverSecrets } from './discover.js';
import type { DiscoveredSecret, DiscoverOptions } from './discover.js';
import { createDnsScanner, createExposureReporter } from './exposure.js';
import type { ExposureReporter } from './exposure.js';
import { secretHolders } from './holders.js';
import { createRedactStream, createRedactor } from './redact.js';
import type { Redactor } from './redact.js';
import { createScanner } from './scanner.js';
import type { Scanner, ScannerLimits } from './scanner.js';

/** What may leave the process about a secret: never the value. */
export interface SecretSummary {
  name: string;
  fingerprint: string;
  reason: string;
}

export interface JobSecrets {
  /** Names, sorted and unique (for ProcessExec enrichment, holders, the report). */
  readonly names: readonly string[];
  readonly count: number;
  /** Output, files, egress payloads: channels LOG / FILE / EGRESS. */
  readonly scanner: Scanner;
  /** DNS names (case-insensitive, DNS-safe encodings). */
  readonly dnsScanner: Scanner;
  readonly reporter: ExposureReporter;
  /** A new redacting transform per output stream (each keeps its own held tail). */
  redactStream(): Transform;
  redactor(): Redactor;
  holders(environ: ReadonlyMap<string, string> | readonly string[]): string[];
  summary(): SecretSummary[];
}

export function createJobSecrets(
  env: Readonly<Record<string, string | undefined>>,
  options: DiscoverOptions & ScannerLimits & { installKey: Uint8Array },
): JobSecrets {
  const found: readonly DiscoveredSecret[] = discoverSecrets(env, options);
  const limits: ScannerLimits = {
    ...(options.maxStreams === undefined ? {} : { maxStreams: options.maxStreams }),
    ...(options.maxTableBytes === undefined ? {} : { maxTableBytes: options.maxTableBytes }),
  };
  const scanner = createScanner(found, limits);
  const dnsScanner = createDnsScanner(found, limits);
  const reporter = createExposureReporter(found, options.installKey);
  const redactOptions = options.maxTableBytes === undefined ? {} : { maxTableBytes: options.maxTableBytes };
  return {
    names: [...new Set(found.map((s) => s.name))].sort(),
    count: found.length,
    scanner,
    dnsScanner,
    reporter,
    redactStream: () => createRedactStream(found, redactOptions),
    redactor: () => createRedactor(found, redactOptions),
    holders: (environ) => secretHolders(environ, found),
    summary: () => found.map((s, i) => ({ name: s.name, fingerprint: reporter.fingerprintOf(i), reason: s.reason })),
  };
}
