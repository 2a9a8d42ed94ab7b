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
import { createEngine } from './rules/engine.js';
import { loadRulePackOrThrow } from './rules/pack.js';
import type { StoredEvent } from './store-types.js';

export interface AssembledCollector extends Collector {
  detection: Detection;
  alerts: AlertDispatcher;
}

export const ALERT_FLUSH_MILLIS = 5_000;

export async function assembleCollector(o: { config: Readonly<Config>; logger: Logger; version?: string }): Promise<AssembledCollector> {
  // Throws RULES_ERR_INVALID naming file, rule and position: a collector with a broken pack must not start.
  const rules = loadRulePackOrThrow(o.config.rules.paths);
  const engine = createEngine({ rules, trustedCidrs: o.config.network.trusted, allowList: o.config.network.allow });
  const alerts = createAlertsFromConfig(o.config.collector.alerts, o.logger.child({ component: 'alerts' }));
  // Detection needs the store that startCollector opens; events cannot arrive before it is set.
  const hook: { detection?: Detection } = {};
  const collector = await startCollector({
    config: o.config,
    logger: o.logger,
    ...(o.version ? { version: o.version } : {}),
    makeApiHandler: (store) => createApiHandler({ store, apiTokenSha256: [...o.config.collector.apiTokens], logger: o.logger }),
    onCommitted: (stored: StoredEvent[]) => hook.detection?.onCommitted(stored),
  });
  const detection = createDetection({
    engine, store: collector.store, logger: o.logger,
    sinks: [{ offer: (f) => alerts.submit([f]) }],
  });
  hook.detection = detection;
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
