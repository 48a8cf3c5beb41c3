/**
 * The live inspector: GET /inspector (page + assets) and a read-only
 * WebSocket on /inspector/ws, mounted on the control server (or any
 * node:http Server). See docs/inspector.md.
 *
 *   GET /inspector?token=T              the page
 *   GET /inspector/assets/NAME?token=T  inspector.js, inspector.css, connection.svg, relayLink.svg
 *   GET /inspector/ws?token=T           WebSocket: snapshot, then transitions and status
 *
 * Every one of them needs the token (401 otherwise), even from loopback: a
 * web page in the same browser can reach loopback, and it must not be able to
 * watch the node.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import type { NodeObserver } from '../node-status.js';
import { loadInspectorAssets } from './assets.js';
import { type InspectorMessage, type StatusSample, sampleOf } from './messages.js';
import { offeredToken, TOKEN_COOKIE, tokenMatches } from './token.js';

export const INSPECTOR_PATH = '/inspector';
export const INSPECTOR_WS_PATH = '/inspector/ws';

/** The parts of src/daemon/control-server.ts the inspector uses. */
export interface ControlServerLike {
  readonly server: Server;
  route(
    method: string,
    path: string,
    handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>,
    options?: { auth?: 'local' | 'token' | 'none' },
  ): void;
  onUpgrade(
    path: string,
    handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void,
    options?: { auth?: 'local' | 'token' | 'none' },
  ): void;
}

export interface InspectorOptions {
  observer: NodeObserver;
  token: string;
  logger?: Logger;
  /** How often the stream sends status (RTT, loss, relay); default 500 ms. */
  statusIntervalMs?: number;
  /** How much history of samples a new page receives; default 5 minutes. */
  historyMs?: number;
}

export interface Inspector {
  /** Path and query of the page, token included: append to the server's base URL. */
  readonly pagePath: string;
  /** Pages connected right now. */
  clients(): number;
  /** Closes every inspector socket and stops sampling; the HTTP server stays up. */
  close(): Promise<void>;
}

/** While no page is open, the history takes one sample per this many ms
 * instead of one per statusIntervalMs: a node nobody watches does a tenth
 * of the status work (the idle-CPU budget, docs/performance.md). */
export const UNWATCHED_SAMPLE_MS = 5_000;

/** A page that cannot keep up is sent no status until it drains (transitions still go). */
const MAX_BUFFERED_BYTES = 1 << 20;

const isControlServer = (target: Server | ControlServerLike): target is ControlServerLike =>
  typeof (target as ControlServerLike).route === 'function' &&
  typeof (target as ControlServerLike).onUpgrade === 'function';

export async function attachInspector(
  target: Server | ControlServerLike,
  options: InspectorOptions,
): Promise<Inspector> {
  const { observer, token } = options;
  const logger = options.logger?.child({ component: 'inspector' });
  const statusIntervalMs = options.statusIntervalMs ?? 500;
  const historyMs = options.historyMs ?? 5 * 60_000;
  const assets = await loadInspectorAssets();
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });

  // History for a page opened late: one sample per tick while a page is open,
  // one per UNWATCHED_SAMPLE_MS otherwise, bounded by age.
  const samples: StatusSample[] = [];
  let lastSampleAt = Number.NEGATIVE_INFINITY;
  const sockets = new Set<WebSocket>();
  const send = (ws: WebSocket, message: InspectorMessage, droppable: boolean) => {
    if (ws.readyState !== ws.OPEN) return;
    if (droppable && ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
    ws.send(JSON.stringify(message));
  };

  const tick = () => {
    const now = Date.now();
    if (sockets.size === 0 && now - lastSampleAt < UNWATCHED_SAMPLE_MS) return;
    lastSampleAt = now;
    let status: ReturnType<NodeObserver['status']>;
    try {
      status = observer.status();
    } catch (error) {
      logger?.warn({ err: error }, 'inspector could not read node status');
      return;
    }
    const sample = sampleOf(status, now);
    samples.push(sample);
    while (samples.length > 0 && samples[0]!.at < now - historyMs) samples.shift();
    for (const ws of sockets) send(ws, { type: 'status', now, status, sample }, true);
  };
  const timer = setInterval(tick, statusIntervalMs);
  timer.unref();

  const stopTransitions = observer.onTransition((record) => {
    for (const ws of sockets) send(ws, { type: 'transition', record }, false);
  });

  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('error', () => ws.terminate());
    // The stream is read-only: whatever the page sends is ignored.
    ws.on('message', () => {});
    let snapshot: InspectorMessage;
    try {
      snapshot = {
        type: 'snapshot',
        now: Date.now(),
        statusIntervalMs,
        status: observer.status(),
        transitions: observer.recentTransitions(),
        samples,
      };
    } catch (error) {
      // A node mid-reload must not take the process down with it.
      logger?.warn({ err: error }, 'inspector could not read node status for a new page');
      ws.close(1011, 'status unavailable');
      return;
    }
    send(ws, snapshot, false);
  });

  const authorised = (req: IncomingMessage, url: URL) =>
    tokenMatches(token, offeredToken(req, url));

  const handleHttp = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    if (!authorised(req, url)) {
      unauthorised(res);
      return;
    }
    const headers = {
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // The token is in the URL: never hand it to another origin.
      'referrer-policy': 'no-referrer',
      'content-security-policy':
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    };
    if (url.pathname === INSPECTOR_PATH || url.pathname === `${INSPECTOR_PATH}/`) {
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/html; charset=utf-8',
        // Lets the page's own fetches carry the token without it in every URL.
        'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=${INSPECTOR_PATH}; HttpOnly; SameSite=Strict`,
      });
      res.end(req.method === 'HEAD' ? undefined : assets.page(token));
      return;
    }
    const prefix = `${INSPECTOR_PATH}/assets/`;
    const asset = url.pathname.startsWith(prefix)
      ? assets.get(url.pathname.slice(prefix.length))
      : undefined;
    if (!asset) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
      res.end(`no inspector file ${url.pathname}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': asset.contentType });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = parseUrl(req);
    if (!url || url.pathname !== INSPECTOR_WS_PATH) return rejectUpgrade(socket, 404, 'Not Found');
    if (!authorised(req, url)) return rejectUpgrade(socket, 401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };

  let detach: () => void;
  if (isControlServer(target)) {
    target.route('GET', `${INSPECTOR_PATH}/*`, handleHttp, { auth: 'token' });
    target.onUpgrade(INSPECTOR_WS_PATH, handleUpgrade, { auth: 'token' });
    detach = () => {};
  } else {
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      const url = parseUrl(req);
      if (!url || !isInspectorPath(url.pathname)) {
        // Alone on this server: answer what nobody else will.
        if (target.listenerCount('request') === 1) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('not found\n');
        }
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain; charset=utf-8' });
        res.end('use GET\n');
        return;
      }
      handleHttp(req, res, url);
    };
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = parseUrl(req);
      if (url && isInspectorPath(url.pathname)) handleUpgrade(req, socket, head);
      else if (target.listenerCount('upgrade') === 1) rejectUpgrade(socket, 404, 'Not Found');
    };
    target.on('request', onRequest);
    target.on('upgrade', onUpgrade);
    detach = () => {
      target.off('request', onRequest);
      target.off('upgrade', onUpgrade);
    };
  }

  let closing: Promise<void> | undefined;
  return {
    pagePath: `${INSPECTOR_PATH}?token=${encodeURIComponent(token)}`,
    clients: () => sockets.size,
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        stopTransitions();
        detach();
        for (const ws of sockets) ws.terminate();
        sockets.clear();
        wss.close(() => resolve());
      });
      return closing;
    },
  };
}

function isInspectorPath(path: string): boolean {
  return path === INSPECTOR_PATH || path.startsWith(`${INSPECTOR_PATH}/`);
}

function parseUrl(req: IncomingMessage): URL | undefined {
  const target = req.url ?? '/';
  if (!target.startsWith('/')) return undefined;
  try {
    return new URL(target, 'http://inspector.invalid');
  } catch {
    return undefined;
  }
}

function unauthorised(res: ServerResponse): void {
  res.writeHead(401, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    'www-authenticate': 'Bearer realm="switchback inspector"',
  });
  res.end(
    'the inspector needs the node token: open the URL the daemon printed (…/inspector?token=…)\n',
  );
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}
