import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { type Logger, pino } from 'pino';
import type { Registry } from 'prom-client';
import WebSocket, { WebSocketServer } from 'ws';
import { sodiumReady } from '../crypto/sodium.js';
import { RELAY_ID_BYTES } from './auth-message.js';
import { CLOSE_INFO, CloseCode } from './close-codes.js';
import { closeSoon } from './close-soon.js';
import { ClusterDirectory } from './cluster/cluster-directory.js';
import type { ClusterOptions } from './cluster/cluster-options.js';
import { RelayError } from './errors.js';
import { type RelayLimits, resolveLimits } from './limits.js';
import { createRelayRegistry, RelayStats } from './metrics.js';
import { boundUrl, createMetricsServer, type Health } from './metrics-http.js';
import { LocalPeerDirectory, type PeerDirectory } from './peer-directory.js';
import { type ConnectionContext, RelayConnection } from './relay-connection.js';
import { ReplayCache } from './replay-cache.js';

// The relay: where peers meet (docs/relay.md). One WebSocket endpoint for
// clients, one small HTTP endpoint for /healthz and /metrics. Connection
// handling is in relay-connection.ts; who-talks-to-whom in peer-directory.ts.

export interface HostPort {
  host: string;
  port: number;
}

export interface RelayServerOptions {
  listen: HostPort;
  /** Where /healthz and /metrics are served; omitted = not served. */
  metrics?: HostPort;
  /** PEM certificate chain and key: the relay speaks wss:// instead of ws://. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  limits?: Partial<RelayLimits>;
  /** 32 bytes that AUTH signatures are bound to; random per process by default. */
  relayId?: Uint8Array;
  /** Join a relay cluster over NATS (docs/relay.md "A relay cluster"); alone when omitted. */
  cluster?: ClusterOptions;
  /** Defaults to the in-process directory (or the cluster's); another one can be passed here. */
  directory?: PeerDirectory;
  logger?: Logger;
  /** Aborting closes the relay (as close() does). */
  signal?: AbortSignal;
}

export interface RelayAddress {
  /** ws://host:port or wss://host:port, with the port actually bound. */
  url: string;
  host: string;
  port: number;
  /** http://host:port of /healthz and /metrics, when served. */
  metricsUrl?: string;
}

/** How long close() waits for clients to answer the close frame before cutting them off. */
const CLOSE_GRACE_MS = 1_000;

/**
 * A ws subclass for server-side sockets. ws closes a connection that sends a
 * message over maxPayload with the generic 1009; the relay's own code for it
 * is FRAME_TOO_LARGE, so a client can tell it apart from other errors.
 */
class RelayWebSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    if (code === 1009) {
      super.close(CloseCode.FRAME_TOO_LARGE, CLOSE_INFO.FRAME_TOO_LARGE.reason);
      return;
    }
    super.close(code, data);
  }
}

export class RelayServer {
  readonly relayId: Uint8Array;
  readonly limits: RelayLimits;
  readonly stats = new RelayStats();
  readonly registry: Registry;
  readonly directory: PeerDirectory;
  private readonly log: Logger;
  private readonly context: ConnectionContext;
  private readonly connections = new Set<RelayConnection>();
  private readonly sockets = new Set<WebSocket>();
  private http?: HttpServer;
  private wss?: WebSocketServer;
  private metricsHttp?: HttpServer;
  private keepaliveTimer?: NodeJS.Timeout;
  private stopping = false;
  private directoryStarted = false;
  private closing?: Promise<void>;
  private readonly onAbort = () => void this.close();

  constructor(private readonly options: RelayServerOptions) {
    try {
      this.limits = resolveLimits(options.limits);
    } catch (cause) {
      throw new RelayError('BAD_OPTION', (cause as Error).message, { cause });
    }
    if (this.limits.burstBytes < this.limits.maxFrameBytes) {
      throw new RelayError(
        'BAD_OPTION',
        'burstBytes is smaller than maxFrameBytes: a full-size frame could never pass; raise the burst',
      );
    }
    if (options.relayId && options.relayId.length !== RELAY_ID_BYTES) {
      throw new RelayError('BAD_OPTION', `relayId must be ${RELAY_ID_BYTES} bytes`);
    }
    this.relayId = options.relayId ?? new Uint8Array(randomBytes(RELAY_ID_BYTES));
    this.log = options.logger ?? pino({ level: 'silent' });
    try {
      this.directory =
        options.directory ??
        (options.cluster
          ? new ClusterDirectory({ ...options.cluster, log: this.log, stats: this.stats })
          : new LocalPeerDirectory());
    } catch (cause) {
      throw new RelayError('BAD_OPTION', (cause as Error).message, { cause });
    }
    this.context = {
      limits: this.limits,
      relayId: this.relayId,
      directory: this.directory,
      stats: this.stats,
      replays: new ReplayCache(this.limits.replayCacheSize),
      log: this.log,
    };
    this.registry = createRelayRegistry(this.stats, {
      connections: () => this.sockets.size,
      authenticatedPeers: () => this.directory.peerCount,
      pairs: () => this.directory.pairCount,
    });
    this.directory.addMetrics?.(this.registry);
  }

  /** What /healthz answers. */
  health(): Health {
    if (this.stopping) return { serving: false, state: 'shutting down' };
    const directory = this.directory.health?.();
    if (!directory) return { serving: true, state: 'ok' };
    return { serving: true, state: directory.ok ? 'ok' : 'degraded', detail: directory.detail };
  }

  /** Open WebSocket connections right now. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Binds the relay (and metrics) addresses; resolves with what was bound. */
  async start(): Promise<RelayAddress> {
    const { signal } = this.options;
    signal?.throwIfAborted();
    await sodiumReady();
    // A cluster joins NATS first: refused credentials stop the relay before it listens,
    // an unreachable NATS does not (it serves local peers and keeps trying).
    await this.directory.start?.({ signal });
    this.directoryStarted = true;

    const http = this.createTransport();
    this.http = http;
    const wss = new WebSocketServer({
      server: http,
      maxPayload: this.limits.maxFrameBytes,
      clientTracking: false,
      perMessageDeflate: false,
      WebSocket: RelayWebSocket,
    });
    this.wss = wss;
    wss.on('connection', (ws, req) => this.accepted(ws, req.socket));
    wss.on('error', (error) => this.log.error(`relay websocket server error: ${error.message}`));
    http.on('clientError', (_error, socket) => socket.destroy());
    http.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('switchback relay: connect with a websocket\n');
    });

    await listen(http, this.options.listen, 'relay');
    http.on('error', (error) => this.log.error(`relay listener error: ${error.message}`));
    const scheme = this.options.tls ? 'wss' : 'ws';
    const address = http.address() as { address: string; port: number };
    const result: RelayAddress = {
      url: boundUrl(http, scheme),
      host: address.address,
      port: address.port,
    };

    if (this.options.metrics) {
      const metricsHttp = createMetricsServer({
        registry: this.registry,
        health: () => this.health(),
      });
      this.metricsHttp = metricsHttp;
      try {
        await listen(metricsHttp, this.options.metrics, 'metrics');
        metricsHttp.on('error', (error) =>
          this.log.error(`metrics listener error: ${error.message}`),
        );
      } catch (error) {
        await this.close();
        throw error;
      }
      result.metricsUrl = boundUrl(metricsHttp, 'http');
    }

    this.keepaliveTimer = setInterval(() => {
      for (const connection of this.connections) connection.keepalive();
    }, this.limits.keepaliveIntervalMs);

    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.log.info(
      `relay listening on ${result.url}${result.metricsUrl ? `, metrics on ${result.metricsUrl}` : ''}`,
    );
    return result;
  }

  /** Closes every client with SHUTTING_DOWN, then the listeners. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    clearInterval(this.keepaliveTimer);
    for (const connection of this.connections) connection.refuse('SHUTTING_DOWN');
    // Sockets that never got a RelayConnection (refused at accept) close the same way.
    const open = [...this.sockets];
    for (const ws of open) {
      if (ws.readyState === WebSocket.OPEN) {
        ws.close(CloseCode.SHUTTING_DOWN, CLOSE_INFO.SHUTTING_DOWN.reason);
      }
    }
    const grace = AbortSignal.timeout(CLOSE_GRACE_MS);
    await Promise.all(
      open.map((ws) =>
        ws.readyState === WebSocket.CLOSED
          ? undefined
          : once(ws, 'close', { signal: grace }).catch(() => ws.terminate()),
      ),
    );
    this.wss?.close();
    // Every local peer is unregistered by now: the cluster has announced each removal.
    if (this.directoryStarted) await this.directory.close?.();
    const wasListening = Boolean(this.http?.listening);
    await Promise.all([closeHttp(this.http), closeHttp(this.metricsHttp)]);
    if (wasListening) this.log.info('relay closed');
  }

  private createTransport(): HttpServer {
    const { tls } = this.options;
    if (!tls) return createHttpServer();
    try {
      return createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
    } catch (cause) {
      throw new RelayError(
        'TLS_CONFIG',
        `tls certificate or key is not usable (${(cause as Error).message}); pass PEM files that belong together`,
        { cause },
      );
    }
  }

  private accepted(ws: WebSocket, socket: Socket): void {
    this.stats.connectionsAccepted += 1;
    this.sockets.add(ws);
    ws.on('close', () => this.sockets.delete(ws));
    // Socket errors end in 'close'; RelayConnection adds its own listener to count them.
    ws.on('error', () => {});
    if (this.stopping) {
      this.stats.refuse(CLOSE_INFO.SHUTTING_DOWN.metric);
      closeSoon(ws, CloseCode.SHUTTING_DOWN, CLOSE_INFO.SHUTTING_DOWN.reason);
      return;
    }
    if (this.sockets.size > this.limits.maxConnections) {
      // Accepted only to say why: the client gets a code instead of a reset.
      this.stats.refuse(CLOSE_INFO.TOO_MANY_CONNECTIONS.metric);
      closeSoon(ws, CloseCode.TOO_MANY_CONNECTIONS, CLOSE_INFO.TOO_MANY_CONNECTIONS.reason);
      return;
    }
    const connection = new RelayConnection(ws, socket, this.context);
    this.connections.add(connection);
    ws.on('close', () => this.connections.delete(connection));
  }
}

async function listen(server: HttpServer, { host, port }: HostPort, what: string): Promise<void> {
  try {
    server.listen(port, host);
    await once(server, 'listening');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const hint =
      code === 'EADDRINUSE'
        ? 'the port is in use: pick another port or stop the other process'
        : code === 'EADDRNOTAVAIL'
          ? 'that address is not on this machine: use one of its own addresses or 0.0.0.0'
          : code === 'EACCES'
            ? 'ports below 1024 need privileges: use a higher port'
            : (cause as Error).message;
    throw new RelayError('LISTEN_FAILED', `cannot listen for ${what} on ${host}:${port}: ${hint}`, {
      cause,
    });
  }
}

async function closeHttp(server: HttpServer | undefined): Promise<void> {
  if (!server?.listening) return;
  const closed = once(server, 'close');
  server.close();
  server.closeAllConnections();
  await closed;
}
