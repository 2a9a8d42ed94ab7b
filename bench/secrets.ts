// Benchmark of the secret scanner and redactor: MB/s on one core, 50 secrets in every default encoding.
// Run: npx tsc -p tsconfig.build.json && node dist/bench/secrets.js [MB]

import { randomBytes } from 'node:crypto';
import { createRedactor } from '../agent/secrets/redact.js';
import { createScanner, describeScanner } from '../agent/secrets/scanner.js';

const megabytes = Number(process.argv[2] ?? 64);
const chunkBytes = 64 * 1024;

const secrets = Array.from({ length: 50 }, (_, i) => ({
  name: `SECRET_${i}`,
  value: randomBytes(30).toString('base64url').slice(0, 40),
}));

// Log-like text: printable ASCII with newlines, base64 and JSON punctuation, so bytes of pattern
// classes and of the shared 'other' class both occur.
const input = Buffer.alloc(megabytes * 1024 * 1024);
const alphabet = Buffer.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +/=-_:.,"{}[]\n');
const noise = randomBytes(input.length);
for (let i = 0; i < input.length; i++) input[i] = alphabet[(noise[i] as number) % alphabet.length] as number;

// MB/s over CPU time of this process (user + system), which a busy shared machine distorts far less
// than wall time; wall time is printed alongside.
function measure(label: string, fn: (chunk: Buffer) => void): number {
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  for (let off = 0; off < input.length; off += chunkBytes) fn(input.subarray(off, off + chunkBytes));
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const mbps = input.length / 1e6 / cpu;
  console.log(`${label.padEnd(34)} ${mbps.toFixed(0).padStart(6)} MB/s CPU  ${(input.length / 1e6 / wall).toFixed(0).padStart(6)} MB/s wall  (${megabytes} MiB)`);
  return mbps;
}

const t0 = process.hrtime.bigint();
const scanner = createScanner(secrets);
const buildMillis = Number(process.hrtime.bigint() - t0) / 1e6;
console.log(`scanner: ${describeScanner(scanner)}, built in ${buildMillis.toFixed(0)} ms`);

let sink = 0;
const baseline = measure('baseline (table lookup per byte)', (c) => {
  let acc = 0;
  for (let i = 0; i < c.length; i++) acc ^= alphabet[(c[i] as number) & 63] as number;
  sink += acc;
});
// Warm-up passes (16 MiB) so the JIT has optimised the hot loops before the measured ones.
const warmBytes = Math.min(input.length, 16 * 1024 * 1024);
for (let off = 0; off < warmBytes; off += chunkBytes) scanner.scan(input.subarray(off, off + chunkBytes), 'LOG', 'warmup');
const scan = measure('scan, 50 secrets, all encodings', (c) => { sink += scanner.scan(c, 'LOG', 'stdout').length; });
const redactor = createRedactor(secrets);
for (let off = 0; off < warmBytes; off += chunkBytes) redactor.push(input.subarray(off, off + chunkBytes));
const redact = measure('redact, 50 secrets', (c) => { sink += redactor.push(c).length; });
console.log(`ratio scan/baseline ${(scan / baseline).toFixed(2)}, redact/scan ${(redact / scan).toFixed(2)} (sink ${sink % 10})`);
