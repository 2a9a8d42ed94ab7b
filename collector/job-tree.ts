// Builds a job's process tree from its stored events, with what each process did (egress, writes,
// sensitive reads, findings) marked on it: the picture an investigator wants first. Pure.
import type { StoredEvent, StoredFinding } from './store-types.js';

export interface TreeNode {
  pid: number;
  ppid: number;
  argv: string[];
  exe: string;
  marks: string[];      // "net 127.7.7.7:80 (webhook.site)", "write dist/config.json", "FINDING high secret-bearing-egress"
  children: TreeNode[];
}

interface Building extends TreeNode { execs: number }

const MAX_MARKS_PER_NODE = 20;

export function buildJobTree(events: readonly StoredEvent[], findings: readonly StoredFinding[], rootPid: number | undefined): TreeNode[] {
  const nodes = new Map<number, Building>();
  const node = (pid: number, ppid = 0): Building => {
    let n = nodes.get(pid);
    if (!n) { n = { pid, ppid, argv: [], exe: '', marks: [], children: [], execs: 0 }; nodes.set(pid, n); }
    return n;
  };
  const mark = (pid: number | undefined, text: string): void => {
    if (!pid) return;
    const n = node(pid);
    if (n.marks.length < MAX_MARKS_PER_NODE && !n.marks.includes(text)) n.marks.push(text);
  };
  for (const { event: e } of events) {
    const pid = e.pid ?? 0;
    switch (e.kind) {
      case 'exec': {
        const n = node(pid, e.ppid ?? 0);
        if (!n.ppid) n.ppid = e.ppid ?? 0;
        if (n.execs++ > 0) n.marks.push(`exec ${n.argv.join(' ')}`); // an earlier image of this pid
        n.argv = e.exec.argv ?? [];
        n.exe = e.exe ?? '';
        break;
      }
      case 'fork':
        if (e.fork.childPid) { const c = node(e.fork.childPid, pid); c.ppid = pid; c.argv = c.argv.length ? c.argv : [e.comm ?? '']; }
        break;
      case 'net':
        if (!e.net.resolver) mark(pid, `net ${e.net.dstIp ?? ''}:${e.net.dstPort ?? 0}${e.net.domain ? ` (${e.net.domain})` : ''}${e.net.allowed || e.net.trusted ? '' : ' [not allowed]'}`);
        break;
      case 'file':
        mark(pid, `${(e.file.op ?? 'write').toLowerCase()} ${e.file.newPath || e.file.path || ''} [${e.file.newPathClass || e.file.pathClass || '?'}]`);
        break;
      case 'read':
        mark(pid, `read ${e.read.path ?? ''} [${e.read.pathClass ?? '?'}]`);
        break;
      case 'access':
        mark(pid, `${e.access.kind ?? 'access'} → ${e.access.targetPid ?? 0} ${e.access.targetComm ?? ''}`);
        break;
      case 'secret':
        mark(pid, `secret ${e.secret.secretName ?? ''} via ${e.secret.channel ?? ''} (${e.secret.encoding ?? ''})`);
        break;
      default:
        break;
    }
  }
  for (const f of findings) {
    const pids = new Set(f.evidence.map((x) => x.pid).filter((p): p is number => !!p));
    for (const pid of pids) mark(pid, `FINDING ${f.severity} ${f.ruleId}`);
  }
  const out = new Map<number, TreeNode>();
  for (const n of nodes.values()) out.set(n.pid, { pid: n.pid, ppid: n.ppid, argv: n.argv, exe: n.exe, marks: n.marks, children: [] });
  const roots: TreeNode[] = [];
  for (const n of [...out.values()].sort((a, b) => a.pid - b.pid)) {
    const parent = n.pid !== rootPid ? out.get(n.ppid) : undefined;
    if (parent && parent !== n) parent.children.push(n);
    else roots.push(n);
  }
  return roots;
}

export function renderTree(roots: readonly TreeNode[]): string {
  const lines: string[] = [];
  const walk = (n: TreeNode, prefix: string, last: boolean, top: boolean): void => {
    const head = top ? '' : `${prefix}${last ? '└─ ' : '├─ '}`;
    lines.push(`${head}${n.pid} ${n.argv.join(' ') || n.exe || '?'}`);
    const inner = top ? '' : `${prefix}${last ? '   ' : '│  '}`;
    for (const m of n.marks) lines.push(`${inner}${n.children.length ? '│' : ' '}    · ${m}`);
    n.children.forEach((c, i) => walk(c, inner, i === n.children.length - 1, false));
  };
  roots.forEach((r) => walk(r, '', true, true));
  return lines.join('\n') + '\n';
}
