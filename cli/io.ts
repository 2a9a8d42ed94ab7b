// The CLI's only door to stdout/stderr/env; commands receive it so tests can capture what they print.
import { readFileSync } from 'node:fs';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  version: string;
  stdoutIsTTY: boolean;
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function processIo(): CliIo {
  return {
    out: (t) => { process.stdout.write(t); },
    err: (t) => { process.stderr.write(t); },
    env: process.env,
    cwd: process.cwd(),
    version: packageVersion(),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
  };
}
