// Puts a collector together: the rule pack (loaded by the detection worker before the collector reports it started), alert sinks,
// the read API and ingest, so that the daemon and the embedded collector of `runwarden run` are the same thing.
import type { Logger } from 'pino';
import type { Config } from '../cli/config.js';
import { createAlertsFromConfig } from './alerts/from-config.js';
import type { AlertDispatcher } from './alerts/dispatcher.js';
import { startCollector } from './daemon.js';
import type { Collector } from './daemon.js';
import { createDetection } from './detection.js';
import type { Detection } from './detection.js';
import { createApiHandler } from './http-api.js';
import { RwError } from '../proto/errors.js';
import type { StoredEvent } from './store-types.js';

export interface AssembledCollector extends Collector {
  detection: Detection;
  alerts: AlertDispatcher;
}

export const ALERT_FLUSH_MILLIS = 5_000;
/** On shutdown, how long detection may take to evaluate what is already committed. */
export const DETECTION_SETTLE_MILLIS = 10_000;
/** At start, how long the detection worker may take to load the rules before the collector goes on without them. */
export const RULES_LOAD_MAX_MILLIS = 60_000;

export async function assembleCollector(o: { config: Readonly<Config>; logger: Logger; version?: string; synchronous?: 'NORMAL' | 'FULL' }): Promise<AssembledCollector> {
  const alerts = createAlertsFromConfig(o.config.collector.alerts, o.logger.child({ component: 'alerts' }));
  // Detection needs the store that startCollector opens; events cannot arrive before it is set.
  const hook: { detection?: Detection } = {};
  const collector = await startCollector({
    config: o.config,
    logger: o.logger,
    ...(o.version ? { version: o.version } : {}),
    ...(o.synchronous ? { synchronous: o.synchronous } : {}),
    makeApiHandler: (store) => createApiHandler({ store, apiTokenSha256: [...o.config.collector.apiTokens], logger: o.logger }),
    onCommitted: (stored: StoredEvent[]) => hook.detection?.onCommitted(stored),
    beforeStoreClose: () => hook.detection?.close(DETECTION_SETTLE_MILLIS) ?? Promise.resolve(),
  });
  const detection = createDetection({
    store: collector.store, dbPath: o.config.collector.db, rulePaths: o.config.rules.paths,
    trustedCidrs: o.config.network.trusted, allowList: o.config.network.allow, logger: o.logger, metrics: collector.metrics,
    sinks: [{ offer: (f) => alerts.submit([f]) }],
  });
  hook.detection = detection;
  // The rule pack is compiled once, in the detection worker (it was compiled on this thread too, to check it, which
  // put ~0.2 s more before every `runwarden run`). A collector whose pack does not load stops here, before it says it
  // started: RULES_ERR_INVALID naming file, rule and position, as the worker found them.
  if (!(await detection.ready(RULES_LOAD_MAX_MILLIS))) {
    const failed = detection.failure();
    if (failed) {
      await collector.close();
      alerts.close();
      throw new RwError(failed.code, failed.message);
    }
    o.logger.warn({ waitedMillis: RULES_LOAD_MAX_MILLIS }, 'the detection worker had not loaded the rules yet; events are stored and evaluated once it has');
  }
  collector.metrics.alertSource(() => alerts.stats());
  const close = collector.close.bind(collector);
  let closing: Promise<void> | undefined;
  return Object.assign(collector, {
    detection,
    alerts,
    close(): Promise<void> {
      closing ??= (async () => {
        await close();
        await alerts.flush(Date.now() + ALERT_FLUSH_MILLIS);
        alerts.close();
      })();
      return closing;
    },
  });
}
