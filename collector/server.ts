// The collector's network edge: HTTP(S) listener, websocket upgrade with auth and maxPayload, liveness
// pings, /healthz, /metrics, and the mount point of the read API. The only collector file importing ws.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { RwError } from '../proto/errors.js';
import type { Auth } from './auth.js';
import type { FrameTransport, IngestConnection } from './ingest.js';
import { CLOSE } from './ingest.js';
import type { Metrics } from './metrics.js';

export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface TlsFiles { cert: string; key: string; ca?: string; requireClientCert?: boolean }

export interface ServerOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
  maxFrameBytes: number;
  pingIntervalMillis: number;
  auth: Auth;
  metrics: Metrics;
  logger: Logger;
  /** Builds the protocol handler of one authenticated stream. */
  connect: (transport: FrameTransport, granted: string, connId: string) => IngestConnection;
  apiHandler?: ApiHandler;
  /** Extra readiness check for /healthz (e.g. the store is open). */
  healthy?: () => boolean;
}

export interface IngestServer {
  url: string;
  port: number;
  /** Stop accepting, close streams with 1001, wait for them (at most `graceMillis`), then stop. */
  close(graceMillis?: number): Promise<void>;
  streams(): number;
}

function loadTls(tls: TlsFiles): { cert: Buffer; key: Buffer; ca?: Buffer } {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new RwError('COLLECTOR_ERR_TLS', `${key}: cannot read ${JSON.stringify(path)}: ${(e as Error).message}`, { cause: e, details: { key, value: path } });
    }
  };
  return {
    cert: read('collector.tlsCert', tls.cert),
    key: read('collector.tlsKey', tls.key),
    ...(tls.ca ? { ca: read('collector.tlsCa', tls.ca) } : {}),
  };
}

/** Maps ws's own refusals (raised before our handler sees a message) to a metrics reason. */
function wsErrorReason(code: string | undefined): 'too-large' | 'garbage' | 'invalid' {
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 'too-large';
  if (code === 'WS_ERR_INVALID_UTF8') return 'invalid';
  return 'garbage';
}

export async function startServer(opts: ServerOptions): Promise<IngestServer> {
  const log = opts.logger;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') {
      const ok = opts.healthy ? opts.healthy() : true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'unavailable' }));
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(opts.metrics.render());
      return;
    }
    try {
      if (opts.apiHandler?.(req, res)) return;
    } catch (e) {
      log.error({ err: e, path }, 'API handler failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'internal error' }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
  };

  let server: Server;
  if (opts.tls) {
    const material = loadTls(opts.tls);
    server = createHttpsServer({
      ...material,
      requestCert: Boolean(opts.tls.requireClientCert),
      rejectUnauthorized: Boolean(opts.tls.requireClientCert),
    }, handler) as unknown as Server;
  } else {
    server = createHttpServer(handler);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxFrameBytes, perMessageDeflate: false, clientTracking: true });
  let nextConn = 1;
  let accepting = true;
  const alive = new WeakMap<WebSocket, boolean>();

  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => { /* peer reset during the handshake: nothing to do */ });
    if (!accepting) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const auth = opts.auth.check(req.headers.authorization);
    if (!auth.ok) {
      opts.metrics.rejected('auth');
      log.warn({ reason: 'auth', why: auth.reason, remote: socket.remoteAddress }, 'upgrade refused: missing or wrong agent token');
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connId = `c${nextConn++}`;
      const transport: FrameTransport = {
        send: (bytes) => { if (ws.readyState === ws.OPEN) ws.send(bytes, { binary: true }); },
        close: (code, reason) => { ws.close(code, reason); },
      };
      const conn = opts.connect(transport, auth.agentId, connId);
      alive.set(ws, true);
      ws.on('pong', () => { alive.set(ws, true); });
      ws.on('message', (data, isBinary) => {
        const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
        conn.onMessage(bytes, isBinary);
      });
      ws.on('error', (e: Error & { code?: string }) => { conn.onTransportError(wsErrorReason(e.code), e.message); });
      ws.on('close', () => { conn.onClosed(); });
    });
  });

  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        log.warn({ reason: 'liveness' }, 'stream missed a pong; terminating');
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, Math.max(10, opts.pingIntervalMillis));
  pinger.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve(); });
  });
  server.on('error', (e) => { log.error({ err: e }, 'server error'); });
  const port = (server.address() as AddressInfo).port;
  const hostPart = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `${opts.tls ? 'wss' : 'ws'}://${hostPart}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    streams: () => wss.clients.size,
    close(graceMillis = 5000) {
      closing ??= (async () => {
        accepting = false;
        clearInterval(pinger);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const open = [...wss.clients];
        for (const ws of open) ws.close(CLOSE.goingAway, 'collector shutting down');
        await Promise.race([
          Promise.all(open.map((ws) => ws.readyState === ws.CLOSED ? undefined : new Promise((r) => ws.once('close', r)))),
          new Promise((r) => setTimeout(r, graceMillis).unref()),
        ]);
        for (const ws of wss.clients) ws.terminate();
        server.closeAllConnections();
        await stopped;
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}
