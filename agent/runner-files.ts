// Parses the runner's command files ($GITHUB_ENV, $GITHUB_PATH) into what a later step will see. Pure.
// Format: https://docs.github.com/actions/reference/workflow-commands-for-github-actions#environment-files
// `NAME=value` lines, or multi-line `NAME<<DELIMITER` … `DELIMITER`.

export interface EnvFileEntry { name: string; value: string; line: number }

/** Variables that change how later steps' programs start: setting one from a job is code execution. */
export const LOADER_VARIABLES: readonly string[] = Object.freeze([
  'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'NODE_OPTIONS', 'NODE_PATH', 'PYTHONSTARTUP',
  'PYTHONPATH', 'PYTHONHOME', 'PERL5OPT', 'PERL5LIB', 'RUBYOPT', 'RUBYLIB', 'GLIBC_TUNABLES', 'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS', 'GIT_SSH_COMMAND', 'GIT_EXEC_PATH', 'GIT_CONFIG_GLOBAL', 'PROMPT_COMMAND', 'PATH', 'DOTNET_STARTUP_HOOKS',
]);

export function parseEnvFile(text: string): EnvFileEntry[] {
  const out: EnvFileEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<\s]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const delim = heredoc[2] as string;
      const body: string[] = [];
      const start = i;
      while (++i < lines.length && lines[i] !== delim) body.push(lines[i] as string);
      out.push({ name: heredoc[1] as string, value: body.join('\n'), line: start + 1 });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) out.push({ name: line.slice(0, eq), value: line.slice(eq + 1), line: i + 1 });
  }
  return out;
}

export function parsePathFile(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
}

/**
 * A one-line description of what an env file sets, safe to store: names, and values only for loader
 * variables (after `redact`, which removes secret values).
 */
export function envFileHint(entries: readonly EnvFileEntry[], redact: (s: string) => string, maxChars = 512): string {
  const parts = entries.map((e) => (LOADER_VARIABLES.includes(e.name.toUpperCase()) ? `${e.name}=${redact(e.value)}` : e.name));
  const s = parts.join('\n');
  return s.length > maxChars ? s.slice(0, maxChars) : s;
}
