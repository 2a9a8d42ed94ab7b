// The collector process's lifecycle: open the store, serve ingest, checkpoint periodically, shut down in order.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../cli/config.js';
import { createAuth } from './auth.js';
import { createIngestConnection, createSeqHighWater } from './ingest.js';
import { createGroupCommitter } from './group-commit.js';
import { createMetrics } from './metrics.js';
import type { Metrics } from './metrics.js';
import { startServer } from './server.js';
import { openStore } from './store.js';
import type { ApiHandler } from './server.js';
import type { Store, StoredEvent } from './store-types.js';

export interface StoreOpener {
  (path: string, opts: { stateDir: string; logger?: Logger; synchronous?: 'NORMAL' | 'FULL' }): Store;
}

export interface CollectorOptions {
  config: Readonly<Config>;
  logger: Logger;
  apiHandler?: ApiHandler;
  /** For a read API that needs the store opened here (collector/http-api.ts). */
  makeApiHandler?: (store: Store) => ApiHandler;
  /** Defaults to collector/store.ts. Tests and other stores (PostgreSQL) pass their own. */
  openStore?: StoreOpener;
  /** Synchronously after each commit, before the Ack: newly stored events in order (detection). */
  onCommitted?: (stored: StoredEvent[]) => void;
  /** On shutdown, after the last batch is committed and before the final checkpoint and the store's close. */
  beforeStoreClose?: () => Promise<void>;
  version?: string;
  /**
   * SQLite's sync mode. FULL (default) makes every acked batch survive power loss. The embedded collector of
   * `runwarden run` uses NORMAL: in WAL mode a commit still survives the process dying, and a job's runner that
   * loses power loses the job anyway; it keeps an fsync per batch off the thread that reads the sensor.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** Seconds to wait for agents to close their streams on shutdown. */
  closeGraceMillis?: number;
}

export interface Collector {
  url: string;
  port: number;
  store: Store;
  metrics: Metrics;
  close(): Promise<void>;
}

const HELLO_TIMEOUT_MILLIS = 10_000;

function collectorId(stateDir: string): string {
  const file = join(stateDir, 'collector-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch { /* first start */ }
  const id = randomUUID();
  writeFileSync(file, id + '\n', { mode: 0o600 });
  return id;
}

const nowNs = (): number => Date.now() * 1e6;
const monoSeconds = (): number => Number(process.hrtime.bigint()) / 1e9;

export async function startCollector(opts: CollectorOptions): Promise<Collector> {
  const c = opts.config.collector;
  const log = opts.logger;
  mkdirSync(c.stateDir, { recursive: true, mode: 0o700 });
  const open = opts.openStore ?? openStore;
  const store = open(c.db, { stateDir: c.stateDir, logger: log, ...(opts.synchronous ? { synchronous: opts.synchronous } : {}) });
  const metrics = createMetrics();
  const auth = createAuth(c.tokens);
  if (c.tokens.length === 0) log.warn('collector.tokens is empty: every agent will be refused');
  const seqHighWater = createSeqHighWater();
  const committer = createGroupCommitter({ store, metrics, nowNs, monoSeconds, maxQueuedEvents: Math.max(c.maxBatchEvents, 16_384) });
  const id = collectorId(c.stateDir);
  const version = opts.version ?? '0.0.0';
  let storeOpen = true;

  const apiHandler = opts.makeApiHandler ? opts.makeApiHandler(store) : opts.apiHandler;

  let server;
  try {
    server = await startServer({
      host: c.host,
      port: c.port,
      ...(c.tlsCert || c.tlsKey ? { tls: { cert: c.tlsCert, key: c.tlsKey, ca: c.tlsCa || undefined, requireClientCert: c.requireClientCert } } : {}),
      maxFrameBytes: c.maxFrameBytes,
      pingIntervalMillis: c.pingIntervalMillis,
      auth,
      metrics,
      logger: log,
      ...(apiHandler ? { apiHandler } : {}),
      healthy: () => storeOpen,
      connect: (transport, granted, connId) => createIngestConnection(transport, granted, connId, {
        committer, metrics, auth, logger: log, collectorId: id, version,
        limits: { maxFrameBytes: c.maxFrameBytes, maxBatchEvents: c.maxBatchEvents, helloTimeoutMillis: HELLO_TIMEOUT_MILLIS },
        nowNs, seqHighWater,
        ...(opts.onCommitted ? { onCommitted: opts.onCommitted } : {}),
      }),
    });
  } catch (e) {
    store.close();
    throw e;
  }

  const checkpoint = (why: string): void => {
    try {
      store.checkpoint(nowNs());
    } catch (e) {
      log.error({ err: e, why }, 'checkpoint failed');
    }
  };
  const timer = c.checkpointIntervalMillis > 0 ? setInterval(() => checkpoint('periodic'), c.checkpointIntervalMillis) : undefined;
  timer?.unref();
  log.info({ url: server.url, port: server.port, db: c.db, collectorId: id }, 'collector listening');

  let closing: Promise<void> | undefined;
  const srv = server;
  return {
    url: srv.url,
    port: srv.port,
    store,
    metrics,
    close() {
      closing ??= (async () => {
        if (timer) clearInterval(timer);
        // Once the server delivers no more messages, commit what is queued: every batch that arrived
        // whole is stored (acks to closed streams are lost; agents resend and the store dedupes).
        await srv.close(opts.closeGraceMillis ?? 5000);
        committer.drain();
        if (opts.beforeStoreClose) {
          try { await opts.beforeStoreClose(); } catch (e) { log.error({ err: e }, 'shutdown step failed'); }
        }
        checkpoint('shutdown');
        storeOpen = false;
        store.close();
        log.info('collector stopped');
      })();
      return closing;
    },
  };
}
