/**
 * The node's control API: what `switchback status` and `switchback ping` talk
 * to, what Prometheus scrapes, and where the inspector mounts its page.
 *
 *   GET  /healthz                 200 {"ok":true} (no auth: for supervisors)
 *   GET  /status                  NodeStatus (src/daemon/node-status.ts)
 *   GET  /transitions             TransitionRecord[], oldest first
 *   POST /ping?peer=NAME&count=N[&timeoutMs=MS]   PingResult[]
 *   GET  /metrics                 Prometheus text format
 *
 * Errors are JSON: {"error":{"code":"UNKNOWN_PEER","message":"…"}}.
 *
 * Who may ask. The API shows live state (peers, addresses) and can make the
 * node send pings, so it binds loopback unless the caller passes
 * `allowRemote: true`. A request needs no token when it comes from a loopback
 * address *and* names a loopback host in its Host header — the second check
 * stops a web page from reading the API through DNS rebinding. Anything else
 * needs the node's token (`Authorization: Bearer T`, `?token=T`, or the
 * `switchback_token` cookie). Routes can ask for the token always
 * (`auth: 'token'`, the inspector's choice) or never (`auth: 'none'`).
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { errorCode, SwitchbackError } from '../errors.js';
import { isLoopback } from './config.js';
import type { NodeObserver } from './node-status.js';

export type ControlServerErrorCode = 'CONTROL_NOT_LOOPBACK' | 'CONTROL_LISTEN_FAILED';

export class ControlServerError extends SwitchbackError<ControlServerErrorCode> {}

/** Limits on POST /ping, so one request cannot keep the node busy for long. */
export const PING_LIMITS = {
  defaultCount: 1,
  maxCount: 100,
  defaultTimeoutMs: 1000,
  maxTimeoutMs: 10_000,
} as const;

export interface ControlServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  observer: NodeObserver;
  metrics: Registry;
  /** Secret that unlocks non-local requests and the inspector's routes. */
  token: string;
  logger: Logger;
  /** Bind a non-loopback host (the node config's `controlAllowRemote`). */
  allowRemote?: boolean;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

/** 'local' (default): loopback requests pass, others need the token. */
export type RouteAuth = 'local' | 'token' | 'none';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => unknown; // awaited when a promise; the value is ignored

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface ControlServer {
  /** http://host:port, without a trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /**
   * Adds a route. `path` is exact, or ends in "/*" to match everything under
   * it ("/inspector/*" matches "/inspector" and "/inspector/app.js").
   * A later route for the same method and path replaces the earlier one.
   */
  route(method: string, path: string, handler: RouteHandler, options?: { auth?: RouteAuth }): void;
  /** Handles WebSocket (or other) upgrades on `path` (exact or "/*"). */
  onUpgrade(path: string, handler: UpgradeHandler, options?: { auth?: RouteAuth }): void;
  /** True when the request carries the node's token. */
  hasToken(req: IncomingMessage): boolean;
  /** True when the request may use a route with `auth` (see the file comment). */
  isAllowed(req: IncomingMessage, auth: RouteAuth): boolean;
  /** Writes {"error":{code,message}} with `status`. */
  sendError(res: ServerResponse, status: number, code: string, message: string): void;
  sendJson(res: ServerResponse, status: number, body: unknown): void;
  /** Stops listening and closes every open connection. Idempotent. */
  close(): Promise<void>;
}

interface Route {
  method: string;
  path: string;
  handler: RouteHandler;
  auth: RouteAuth;
}

interface UpgradeRoute {
  path: string;
  handler: UpgradeHandler;
  auth: RouteAuth;
}

export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { host, port, observer, metrics, token, signal } = options;
  const logger = options.logger.child({ component: 'control' });
  signal?.throwIfAborted();
  if (!isLoopback(host) && !options.allowRemote) {
    throw new ControlServerError(
      'CONTROL_NOT_LOOPBACK',
      `control address ${host} is not loopback; the control API shows live state — bind 127.0.0.1 or pass allowRemote (controlAllowRemote = true in the config)`,
    );
  }

  const routes: Route[] = [];
  const upgrades: UpgradeRoute[] = [];
  const tokenBytes = Buffer.from(token, 'utf8');

  const hasToken = (req: IncomingMessage): boolean => {
    const offered = offeredToken(req);
    if (offered === undefined || tokenBytes.length === 0) return false;
    const bytes = Buffer.from(offered, 'utf8');
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };
  const isAllowed = (req: IncomingMessage, auth: RouteAuth): boolean => {
    if (auth === 'none') return true;
    if (auth === 'local' && isLocalRequest(req)) return true;
    return hasToken(req);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A handler bug must not take the node down: answer 500 and log it.
      logger.error({ err: error }, 'control request failed: %s %s', req.method, req.url);
      if (!res.headersSent)
        sendError(res, 500, 'INTERNAL', 'the node could not answer; see its log');
      else res.destroy();
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = requestUrl(req);
    const match = url && upgrades.findLast((entry) => pathMatches(entry.path, url.pathname));
    if (!match) return rejectUpgrade(socket, 404, 'Not Found');
    if (!isAllowed(req, match.auth)) return rejectUpgrade(socket, 401, 'Unauthorized');
    try {
      match.handler(req, socket, head);
    } catch (error) {
      logger.error({ err: error }, 'control upgrade failed: %s', url.pathname);
      socket.destroy();
    }
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req);
    if (!url) return sendError(res, 400, 'BAD_REQUEST', 'the request target is not a path');
    const onPath = routes.filter((entry) => pathMatches(entry.path, url.pathname));
    if (onPath.length === 0) {
      return sendError(res, 404, 'NOT_FOUND', `no route ${url.pathname}; try /status or /metrics`);
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const route = onPath.findLast((entry) => entry.method === method);
    if (!route) {
      const allow = [...new Set(onPath.map((entry) => entry.method))].join(', ');
      res.setHeader('allow', allow);
      return sendError(
        res,
        405,
        'METHOD_NOT_ALLOWED',
        `${req.method} ${url.pathname}: use ${allow}`,
      );
    }
    if (!isAllowed(req, route.auth)) {
      return sendError(
        res,
        401,
        'UNAUTHORIZED',
        'this request needs the node token (Authorization: Bearer TOKEN or ?token=TOKEN)',
      );
    }
    await route.handler(req, res, url);
  }

  const route: ControlServer['route'] = (method, path, handler, routeOptions = {}) => {
    const upper = method.toUpperCase();
    const existing = routes.findIndex((entry) => entry.method === upper && entry.path === path);
    if (existing >= 0) routes.splice(existing, 1);
    routes.push({ method: upper, path, handler, auth: routeOptions.auth ?? 'local' });
  };

  // --- the API's own routes -------------------------------------------------------
  route('GET', '/healthz', (_req, res) => sendJson(res, 200, { ok: true }), { auth: 'none' });
  route('GET', '/status', (_req, res) => sendJson(res, 200, observer.status()));
  route('GET', '/transitions', (_req, res) => sendJson(res, 200, observer.recentTransitions()));
  route('GET', '/metrics', async (_req, res) => {
    const text = await metrics.metrics();
    res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
    res.end(text);
  });
  route('POST', '/ping', async (_req, res, url) => {
    const peer = url.searchParams.get('peer');
    if (!peer) return sendError(res, 400, 'BAD_REQUEST', 'ping needs ?peer=NAME');
    const count = intParam(url, 'count', PING_LIMITS.defaultCount, PING_LIMITS.maxCount);
    const timeoutMs = intParam(
      url,
      'timeoutMs',
      PING_LIMITS.defaultTimeoutMs,
      PING_LIMITS.maxTimeoutMs,
    );
    if (typeof count === 'string') return sendError(res, 400, 'BAD_REQUEST', count);
    if (typeof timeoutMs === 'string') return sendError(res, 400, 'BAD_REQUEST', timeoutMs);
    const names = observer.status().peers.map((entry) => entry.name);
    if (!names.includes(peer)) return unknownPeer(res, peer, names);
    let results: Awaited<ReturnType<NodeObserver['ping']>>;
    try {
      results = await observer.ping(peer, { count, timeoutMs });
    } catch (error) {
      // The peer may have been removed by a reload between the check and the ping.
      if (errorCode(error) === 'UNKNOWN_PEER') return unknownPeer(res, peer, names);
      throw error;
    }
    sendJson(res, 200, results);
  });

  // --- listen ----------------------------------------------------------------------------
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const why =
        error.code === 'EADDRINUSE'
          ? 'is in use (is another node running? pick another `control` address)'
          : error.code === 'EADDRNOTAVAIL'
            ? 'is not an address of this machine'
            : `cannot be bound (${error.code ?? error.message})`;
      reject(
        new ControlServerError('CONTROL_LISTEN_FAILED', `control address ${host}:${port} ${why}`, {
          cause: error,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  server.on('error', (error) => logger.error({ err: error }, 'control server error'));

  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      signal?.removeEventListener('abort', onAbort);
      server.close(() => resolve());
      // Keep-alive and upgraded sockets (the inspector's WebSockets) would hold
      // close() open forever; the node is stopping, so cut them.
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
    });
    return closing;
  };
  const onAbort = () => void close();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) await close();
  else logger.info('control api listening on %s', url);

  return {
    url,
    port: address.port,
    server,
    route,
    onUpgrade(path, handler, upgradeOptions = {}) {
      const existing = upgrades.findIndex((entry) => entry.path === path);
      if (existing >= 0) upgrades.splice(existing, 1);
      upgrades.push({ path, handler, auth: upgradeOptions.auth ?? 'local' });
    },
    hasToken,
    isAllowed,
    sendError,
    sendJson,
    close,
  };
}

function unknownPeer(res: ServerResponse, peer: string, names: string[]): void {
  const known = names.length > 0 ? `peers: ${names.join(', ')}` : 'this node has no peers';
  sendError(res, 404, 'UNKNOWN_PEER', `no peer named ${JSON.stringify(peer)} (${known})`);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

function requestUrl(req: IncomingMessage): URL | undefined {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return undefined;
  try {
    return new URL(target, 'http://control.invalid');
  } catch {
    return undefined;
  }
}

function pathMatches(pattern: string, path: string): boolean {
  if (pattern.endsWith('/*')) {
    const base = pattern.slice(0, -2);
    return path === base || path.startsWith(`${base}/`);
  }
  return pattern === path;
}

/** A positive integer query parameter, its default, or a message saying what is wrong. */
function intParam(url: URL, name: string, fallback: number, max: number): number | string {
  const text = url.searchParams.get(name);
  if (text === null) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1 || value > max) {
    return `${name} must be a whole number from 1 to ${max}`;
  }
  return value;
}

function offeredToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim();
  const fromQuery = requestUrl(req)?.searchParams.get('token');
  if (fromQuery) return fromQuery;
  const cookie = req.headers.cookie
    ?.split(';')
    .map((part) => part.trim())
    .find((part) => part.startsWith('switchback_token='));
  return cookie ? decodeURIComponent(cookie.slice('switchback_token='.length)) : undefined;
}

/** From a loopback address, to a loopback name: a local tool, not a web page. */
function isLocalRequest(req: IncomingMessage): boolean {
  const remote = req.socket.remoteAddress ?? '';
  const remoteIsLoopback = isLoopback(remote.replace(/^::ffff:/, ''));
  if (!remoteIsLoopback) return false;
  const host = req.headers.host;
  if (host === undefined) return true; // HTTP/1.0 tools; a browser always sends Host
  const name = /^\[([^\]]+)\](?::\d+)?$/.exec(host)?.[1] ?? host.replace(/:\d+$/, '');
  return isLoopback(name.toLowerCase());
}
