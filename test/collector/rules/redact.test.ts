// Secret-shaped tokens are masked in finding text; paths, hashes and ordinary words are not.
import t from 'tap';
import { maskSecretLike } from '../../../collector/rules/redact.js';

const cases: [string, string][] = [
  ['curl -d npm_0OuVl6hxIXIXOQRU8FIaIXLXByVicVG6T9eX http://x', 'curl -d [redacted] http://x'],
  ['token ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'token [redacted]'],
  ['AKIAIOSFODNN7EXAMPLE', '[redacted]'],
  ['Bearer q8Zr2LmX9vTn4KpW7sYb3HcJ6dFg1aEu', 'Bearer [redacted]'],
  ['exec /usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet src/util.c', 'exec /usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet src/util.c'],
  ['sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
  ['org.gradle.launcher.daemon.bootstrap.GradleDaemon', 'org.gradle.launcher.daemon.bootstrap.GradleDaemon'],
];
for (const [input, want] of cases) t.equal(maskSecretLike(input), want, input);
