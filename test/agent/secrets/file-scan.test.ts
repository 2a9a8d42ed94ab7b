// agent/secrets/file-scan.ts: real files, bounded read, read errors as values.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanFile } from '../../../agent/secrets/file-scan.js';
import { createScanner } from '../../../agent/secrets/scanner.js';

const secrets = [{ name: 'GITHUB_TOKEN', value: 'ghs_R4nd0mT0k3nV4lu3xyzABCDEFGHIJKLMN0123' }];
const gh = secrets[0]?.value as string;

t.test('a secret in a written file (a09: token baked into dist/config.json)', async (t) => {
  const dir = t.testdir({ dist: {} });
  const path = join(dir, 'dist', 'config.json');
  await writeFile(path, JSON.stringify({ api: 'https://api.example.invalid', token: gh }));
  const scanner = createScanner(secrets);
  const r = await scanFile(scanner, path);
  t.same(r.exposures.map((e) => [e.secretName, e.encoding, e.channel, e.location]), [['GITHUB_TOKEN', 'plain', 'FILE', path]]);
  t.equal(r.truncated, false);
  t.equal(r.error, undefined);
  const again = await scanFile(scanner, path);
  t.equal(again.exposures.length, 1, 'a rescan of the rewritten file reports again');
});

t.test('only the first maxBytes are read; a secret across a read-chunk boundary is found', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'big.bin');
  const before = Buffer.alloc(256 * 1024 - 10, 0x41);
  const after = Buffer.alloc(1024 * 1024, 0x42);
  await writeFile(path, Buffer.concat([before, Buffer.from(gh), after, Buffer.from(gh)]));
  const r = await scanFile(createScanner(secrets), path, { maxBytes: 512 * 1024 });
  t.equal(r.bytesScanned, 512 * 1024);
  t.equal(r.truncated, true);
  t.equal(r.exposures.length, 1);
  t.equal(r.exposures[0]?.offset, before.length);
  const tail = await scanFile(createScanner(secrets), path, { maxBytes: before.length + 10 });
  t.equal(tail.exposures.length, 0, 'a secret cut by the limit is not reported');
});

t.test('a file that vanished or is a directory is an outcome', async (t) => {
  const dir = t.testdir();
  const gone = await scanFile(createScanner(secrets), join(dir, 'nope'));
  t.same([gone.error, gone.exposures, gone.bytesScanned], ['ENOENT', [], 0]);
  const d = await scanFile(createScanner(secrets), dir);
  t.equal(d.error, 'EISDIR');
});
