// Runs committed events through the rule engine and stores what it concludes; alerts go to the sinks.
// Called from the ingest commit hook, so a finding is in the DB before the batch that caused it is acked.
import type { Logger } from 'pino';
import type { Engine } from './rules/engine.js';
import type { Finding } from './finding.js';
import type { Store, StoredEvent } from './store-types.js';

export interface FindingSink { offer(finding: Finding & { id: number }): void }

export interface Detection {
  onCommitted(stored: readonly StoredEvent[]): void;
  stats(): { findings: number; errors: number };
}

export function createDetection(o: { engine: Engine; store: Store; sinks?: readonly FindingSink[]; logger: Logger }): Detection {
  let findings = 0;
  let errors = 0;
  const log = o.logger.child({ component: 'detection' });

  function persist(list: Finding[]): void {
    if (list.length === 0) return;
    let ids: number[];
    try {
      ids = o.store.appendFindings(list);
    } catch (err) {
      errors++;
      log.error({ err, findings: list.length }, 'findings could not be stored');
      return;
    }
    findings += list.length;
    list.forEach((f, i) => {
      const id = ids[i] ?? 0;
      log.warn({ findingId: id, ruleId: f.ruleId, severity: f.severity, jobId: f.jobId }, f.explanation);
      for (const s of o.sinks ?? []) s.offer({ ...f, id });
    });
  }

  return {
    onCommitted(stored) {
      for (const { id, event } of stored) {
        let out: Finding[];
        try {
          out = o.engine.process(event, id);
          if (event.kind === 'jobEnd' && event.jobId) out = [...out, ...o.engine.endJob(event.jobId)];
        } catch (err) {
          // A rule bug must not stop ingest: the event is stored, the miss is logged and counted.
          errors++;
          log.error({ err, eventId: id }, 'rule engine failed on an event');
          continue;
        }
        persist(out);
      }
    },
    stats: () => ({ findings, errors }),
  };
}
