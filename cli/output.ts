// The CLI's one formatter: records as an aligned table, a JSON array, or JSON lines. Commands print what it returns.
import { RwError } from '../proto/errors.js';

export const FORMATS = ['table', 'json', 'jsonl'] as const;
export type Format = (typeof FORMATS)[number];

export interface Column<R> { header: string; get: (r: R) => string | number | undefined; maxWidth?: number }

export function parseFormat(v: string | undefined, dflt: Format = 'table'): Format {
  if (v === undefined) return dflt;
  if ((FORMATS as readonly string[]).includes(v)) return v as Format;
  throw new RwError('CLI_ERR_USAGE', `--format must be one of ${FORMATS.join(', ')}, got ${v}`);
}

const DEFAULT_MAX_WIDTH = 80;

function cell(v: string | number | undefined, max: number): string {
  // Control characters from recorded argv/paths must not drive the reader's terminal.
  const s = String(v ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function formatRecords<R>(records: readonly R[], format: Format, columns: readonly Column<R>[]): string {
  if (format === 'json') return `${JSON.stringify(records, null, 2)}\n`;
  if (format === 'jsonl') return records.map((r) => `${JSON.stringify(r)}\n`).join('');
  const rows = records.map((r) => columns.map((c) => cell(c.get(r), c.maxWidth ?? DEFAULT_MAX_WIDTH)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((s, i) => (i === cells.length - 1 ? s : s.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** A single object (e.g. a verify result) as JSON; table format prints the given text instead. */
export function formatObject(obj: unknown, format: Format, text: string): string {
  if (format === 'table') return text.endsWith('\n') ? text : `${text}\n`;
  return format === 'json' ? `${JSON.stringify(obj, null, 2)}\n` : `${JSON.stringify(obj)}\n`;
}
