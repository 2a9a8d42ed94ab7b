// `runwarden findings`: lists findings from a DB file or a collector's HTTP API.
import { RwError } from '../../proto/errors.js';
import { SEVERITIES } from '../config.js';
import type { Severity } from '../config.js';
import { findingView } from '../../collector/event-view.js';
import type { FindingView } from '../../collector/event-view.js';
import { findingFilterToParams } from '../../collector/http-api.js';
import { openStoreReadOnly } from '../../collector/store.js';
import type { FindingFilter } from '../../collector/store-types.js';
import { parseArgs, str } from '../args.js';
import type { CliIo } from '../io.js';
import { formatRecords, parseFormat } from '../output.js';
import type { Column } from '../output.js';
import { fetchApi, parseLimit, parseTimeNs, resolveSource } from './audit.js';

const COLUMNS: readonly Column<FindingView>[] = [
  { header: 'ID', get: (f) => f.id },
  { header: 'TIME', get: (f) => f.ts },
  { header: 'SEVERITY', get: (f) => f.severity },
  { header: 'RULE', get: (f) => f.ruleId, maxWidth: 32 },
  { header: 'JOB', get: (f) => f.jobId, maxWidth: 24 },
  { header: 'TITLE', get: (f) => f.title, maxWidth: 100 },
];

export async function main(args: string[], io: CliIo): Promise<number> {
  const p = parseArgs(args, { db: 'string', url: 'string', token: 'string', job: 'string', severity: 'string', since: 'string', limit: 'string', format: 'string' });
  if (p.positional.length > 0) throw new RwError('CLI_ERR_USAGE', `unexpected argument ${p.positional[0]}`);
  const format = parseFormat(str(p, 'format'));
  const src = resolveSource(p, io);
  const filter: FindingFilter = { limit: parseLimit(p) };
  const job = str(p, 'job');
  if (job !== undefined) filter.jobId = job;
  const sev = str(p, 'severity');
  if (sev !== undefined) {
    if (!SEVERITIES.includes(sev as Severity)) throw new RwError('CLI_ERR_USAGE', `--severity must be one of ${SEVERITIES.join(', ')}, got ${sev}`);
    filter.minSeverity = sev;
  }
  const since = parseTimeNs(p, 'since', Date.now());
  if (since !== undefined) filter.sinceNs = since;

  let views: FindingView[];
  if (src.type === 'url') {
    views = ((await fetchApi(src, '/api/findings', findingFilterToParams(filter))) as { findings?: FindingView[] }).findings ?? [];
  } else {
    const store = openStoreReadOnly(src.path);
    try { views = store.queryFindings(filter).map(findingView); } finally { store.close(); }
  }
  io.out(formatRecords(views, format, COLUMNS));
  return 0;
}
