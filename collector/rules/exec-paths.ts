// Which files an exec runs: its executable, its argv[0] and, for an interpreter, its script argument. Pure; shared by
// the collector's rules context (execWritten) and the agent (an aggregated write that an exec then runs goes out on
// its own first).

export function resolvePath(p: string, cwd: string): string {
  if (p === '') return '';
  const joined = p.startsWith('/') ? p : `${cwd || '/'}/${p}`;
  const out: string[] = [];
  for (const seg of joined.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop(); else out.push(seg);
  }
  return '/' + out.join('/');
}

const INTERPRETERS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'ash', 'fish', 'python', 'python2', 'python3', 'perl', 'ruby', 'node', 'php', 'lua', 'pwsh', 'busybox']);
function isInterpreter(name: string): boolean {
  return INTERPRETERS.has(name) || /^python3(\.\d+)?$/.test(name);
}
function base(p: string): string {
  const i = p.lastIndexOf('/');
  return i === -1 ? p : p.slice(i + 1);
}
/** The script an interpreter runs: its first argument that is not an option ('' when it reads stdin or -c). */
export function scriptArg(argv: readonly string[]): string {
  if (argv.length < 2 || !isInterpreter(base(argv[0] ?? ''))) return '';
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-c' || a === '-e' || a === '-m' || a === '-' || a === '-s' || a === '-E') return '';
    if (a.startsWith('-')) continue;
    return a;
  }
  return '';
}

/** The paths an exec may run that a job could have written: exe, argv[0] and the script argument, resolved. */
export function execCandidates(exe: string, argv: readonly string[], cwd: string): string[] {
  return [exe, resolvePath(argv[0] ?? '', cwd), resolvePath(scriptArg(argv), cwd)].filter((c) => c !== '');
}
