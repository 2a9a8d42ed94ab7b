// Builds the alert dispatcher from config.collector.alerts (the one place that knows every sink type).
import type { AlertSinkConfig } from '../../cli/config.js';
import type { Logger } from '../../cli/logger.js';
import type { AlertDispatcher, DispatcherLimits, SinkEntry } from './dispatcher.js';
import { createAlertDispatcher } from './dispatcher.js';
import { createFileSink } from './file.js';
import { createSlackSink } from './slack.js';
import { createLogSink } from './stdout.js';
import { createWebhookSink } from './webhook.js';

export function createAlertsFromConfig(sinks: readonly AlertSinkConfig[], logger: Logger, limits?: { [K in keyof DispatcherLimits]?: DispatcherLimits[K] }): AlertDispatcher {
  const entries: SinkEntry[] = sinks.map((c, i) => {
    const name = `${c.type}[${i}]`;
    const sink = c.type === 'webhook' ? createWebhookSink({ url: c.url ?? '', secret: c.secret, name })
      : c.type === 'slack' ? createSlackSink({ url: c.url ?? '', name })
        : c.type === 'file' ? createFileSink({ path: c.path ?? '', name })
          : createLogSink(logger, name);
    return { sink, minSeverity: c.minSeverity, maxPerMinute: c.maxPerMinute };
  });
  let lastLogged = 0;
  return createAlertDispatcher({
    sinks: entries, now: () => Date.now(), ...(limits ? { limits } : {}),
    // Logged at most once per 10 s so a dead receiver does not flood the log.
    onError: (sink, error) => {
      const t = Date.now();
      if (t - lastLogged > 10_000) { lastLogged = t; logger.warn({ sink, error }, 'alert sink dropped a finding'); }
    },
  });
}
