// Puts a collector together: the rule pack (validated before anything listens), the engine, alert sinks,
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
import { loadRulePackOrThrow } from './rules/pack.js';
import type { StoredEvent } from './store-types.js';

export interface AssembledCollector extends Collector {
  detection: Detection;
  alerts: AlertDispatcher;
}

export const ALERT_FLUSH_MILLIS = 5_000;
/** On shutdown, how long detection may take to evaluate what is already committed. */
export const DETECTION_SETTLE_MILLIS = 10_000;

export async function assembleCollector(o: { config: Readonly<Config>; logger: Logger; version?: string; synchronous?: 'NORMAL' | 'FULL' }): Promise<AssembledCollector> {
  // Throws RULES_ERR_INVALID naming file, rule and position: a collector with a broken pack must not start.
  // The worker loads the same pack again in its own thread.
  loadRulePackOrThrow(o.config.rules.paths);
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
