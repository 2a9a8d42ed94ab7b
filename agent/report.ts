// The `runwarden run` job report: its shape (agent/report.schema.json), the terminal summary and the
// Markdown step summary. Pure: times, paths and findings come in as arguments.
import type { Severity } from '../cli/config.js';
import { SEVERITIES } from '../cli/config.js';
import type { FindingEvidence } from '../collector/finding.js';
import type { JobStart } from '../proto/types.js';

export const REPORT_VERSION = 1;

export interface ReportFinding {
  ruleId: string;
  severity: Severity;
  title: string;
  tags: string[];
  explanation?: string;
  evidence: FindingEvidence[];
}

export interface EgressSummary {
  dst: string;          // ip:port
  domain?: string;
  proto?: string;
  count: number;
  allowed?: boolean;
}

export interface ReportSummary {
  processes: number;
  egress: EgressSummary[];
  filesWritten: number;
  secrets: string[];    // names only, never values
  sensor: string;       // ebpf, ptrace, procfs, or none
  blindSpots: string[];
  drops: number;
  workspace?: { changed: string[]; deleted: string[]; truncated: boolean };
}

export interface ReportJob extends JobStart {
  id: string;
  command: string[];
  startedAt: string;
  endedAt: string;
  durationMs: number;
  exitCode: number;
  signal?: string;
}

export interface JobReport {
  version: number;
  job: ReportJob;
  findings: ReportFinding[];
  summary: ReportSummary;
}

/** What the sensors + embedded collector + rules produce for one wrapped job (the lead wires a real one in). */
export interface JobWatchResult {
  findings: ReportFinding[];
  summary: Partial<ReportSummary>;
}
export interface JobWatch {
  /** Before the command is spawned: sensors attached, collector up (bpftrace needs ~1 s; attacks take less). */
  prepare(): Promise<void>;
  /** After prepare: whether the running sensor reports file writes (then no workspace watcher is needed). */
  seesFileWrites?(): boolean;
  /** Lets a sensor wrap the command (the ptrace sensor runs it under strace). */
  wrapArgv?(argv: readonly string[]): string[];
  /** Right after spawn, synchronously: the job root. */
  attach(rootPid: number): void;
  /** Raw job output, before redaction (the secret scanner looks at it). */
  onOutput?(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
  /** After the command exits and its output is drained: flush and return the outcome. */
  stop(end: { exitCode: number }): Promise<JobWatchResult>;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function parseSeverity(v: string): Severity | undefined {
  const l = v.toLowerCase();
  return (SEVERITIES as readonly string[]).includes(l) ? (l as Severity) : undefined;
}

/** True when some finding is at or above `failOn`. */
export function failOnMet(findings: readonly ReportFinding[], failOn: Severity | undefined): boolean {
  if (failOn === undefined) return false;
  const min = severityRank(failOn);
  return findings.some((f) => severityRank(f.severity) >= min);
}

export interface BuildReportInput {
  jobId: string;
  start: JobStart;
  command: readonly string[];
  startedMs: number;
  endedMs: number;
  exitCode: number;
  signal?: string | undefined;
  watch: JobWatchResult;
  base: Omit<ReportSummary, 'egress' | 'blindSpots' | 'drops'> & Partial<ReportSummary>;
}

export function buildReport(i: BuildReportInput): JobReport {
  const findings = [...i.watch.findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.ruleId.localeCompare(b.ruleId));
  const w = i.watch.summary;
  const summary: ReportSummary = {
    processes: Math.max(i.base.processes, w.processes ?? 0),
    egress: w.egress ?? i.base.egress ?? [],
    filesWritten: Math.max(i.base.filesWritten, w.filesWritten ?? 0),
    secrets: [...new Set([...(i.base.secrets ?? []), ...(w.secrets ?? [])])].sort(),
    sensor: w.sensor ?? i.base.sensor,
    blindSpots: w.blindSpots ?? i.base.blindSpots ?? [],
    drops: w.drops ?? i.base.drops ?? 0,
    ...(w.workspace ?? i.base.workspace ? { workspace: w.workspace ?? i.base.workspace } : {}),
  };
  const job: ReportJob = {
    ...i.start,
    id: i.jobId,
    command: [...i.command],
    startedAt: new Date(i.startedMs).toISOString(),
    endedAt: new Date(i.endedMs).toISOString(),
    durationMs: Math.max(0, Math.round(i.endedMs - i.startedMs)),
    exitCode: i.exitCode,
    ...(i.signal ? { signal: i.signal } : {}),
  };
  return { version: REPORT_VERSION, job, findings, summary };
}

function countBySeverity(findings: readonly ReportFinding[]): string {
  const parts: string[] = [];
  for (const s of [...SEVERITIES].reverse()) {
    const n = findings.filter((f) => f.severity === s).length;
    if (n) parts.push(`${n} ${s}`);
  }
  return parts.join(', ');
}

function trustWord(j: JobStart): string {
  return j.untrusted ? 'untrusted' : 'trusted';
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Plain-text summary for stderr at the end of `runwarden run`. */
export function terminalSummary(r: JobReport, reportPath?: string): string {
  const j = r.job;
  const s = r.summary;
  const lines = [
    `runwarden: job ${j.id} (${j.provider ?? 'generic'} ${j.trigger ?? ''}, ${trustWord(j)}) exit ${j.exitCode}${j.signal ? ` (${j.signal})` : ''} in ${secs(j.durationMs)}`,
    `  sensor: ${s.sensor}${s.drops ? `, ${s.drops} events dropped` : ''}${s.blindSpots.length ? `; blind spots: ${s.blindSpots.join(', ')}` : ''}`,
    `  processes: ${s.processes}  files written: ${s.filesWritten}  egress: ${s.egress.length} destination(s)  secrets in env: ${s.secrets.length ? s.secrets.join(', ') : 'none'}`,
  ];
  if (s.workspace && (s.workspace.changed.length || s.workspace.deleted.length)) {
    lines.push(`  tracked files changed: ${s.workspace.changed.length}, deleted: ${s.workspace.deleted.length}`);
  }
  if (r.findings.length === 0) lines.push('  findings: none');
  else {
    lines.push(`  findings: ${r.findings.length} (${countBySeverity(r.findings)})`);
    for (const f of r.findings.slice(0, 20)) lines.push(`    ${f.severity.toUpperCase().padEnd(8)} ${f.ruleId}  ${f.title}`);
    if (r.findings.length > 20) lines.push(`    … and ${r.findings.length - 20} more (see the report)`);
  }
  if (reportPath) lines.push(`  report: ${reportPath}`);
  return lines.join('\n') + '\n';
}

/** Escapes text for a Markdown table cell or inline span: no HTML, no pipes, no newlines. */
export function mdEscape(t: string): string {
  return t.replace(/[\\`*_[\]<>|#]/g, (c) => `\\${c}`).replace(/\r?\n/g, ' ');
}

/** An inline code span for Markdown (a backslash escape does not work inside one). */
export function mdCode(t: string): string {
  return '`' + t.replace(/`/g, "'").replace(/\|/g, '\\|').replace(/\r?\n/g, ' ') + '`';
}

/** Markdown appended to $GITHUB_STEP_SUMMARY (GitHub renders it on the run page). */
export function markdownSummary(r: JobReport): string {
  const j = r.job;
  const s = r.summary;
  const icon = r.findings.some((f) => severityRank(f.severity) >= severityRank('high')) ? '🚨'
    : r.findings.length ? '⚠️' : '✅';
  const out = [
    `### ${icon} Runwarden: ${r.findings.length ? `${r.findings.length} finding(s) (${countBySeverity(r.findings)})` : 'no findings'}`,
    '',
    `Job ${mdCode(j.id)} — ${mdEscape(j.provider ?? 'generic')} ${mdCode(j.trigger ?? '')}, **${trustWord(j)}**${j.trustReason ? ` (${mdEscape(j.trustReason)})` : ''}; exit ${j.exitCode} in ${secs(j.durationMs)}; sensor ${mdCode(s.sensor)}${s.blindSpots.length ? ` (blind spots: ${s.blindSpots.map(mdEscape).join(', ')})` : ''}.`,
    '',
  ];
  if (r.findings.length) {
    out.push('| severity | rule | title | tags |', '|---|---|---|---|');
    for (const f of r.findings.slice(0, 50)) {
      out.push(`| ${f.severity} | ${mdCode(f.ruleId)} | ${mdEscape(f.title)} | ${f.tags.map(mdEscape).join(', ')} |`);
    }
    if (r.findings.length > 50) out.push(`| | | … and ${r.findings.length - 50} more | |`);
    out.push('');
  }
  out.push(
    `<details><summary>Activity</summary>`,
    '',
    `- processes: ${s.processes}`,
    `- files written: ${s.filesWritten}`,
    `- egress: ${s.egress.length ? s.egress.slice(0, 30).map((e) => mdCode(e.domain ? `${e.domain} (${e.dst})` : e.dst)).join(', ') : 'none'}`,
    `- secrets in env (names): ${s.secrets.length ? s.secrets.map(mdCode).join(', ') : 'none'}`,
    '',
    '</details>',
    '',
  );
  return out.join('\n');
}
