/**
 * `switchback up --inspect stately`: forwards the node's XState inspection
 * events (observer.onInspection, every actor of every peer) to Stately's
 * hosted inspector, using @statelyai/inspect — the successor of
 * @xstate/inspect, which only speaks xstate v4.
 *
 *   node actors ──inspect──▶ createWebSocketInspector ──ws──▶ bridge server (loopback)
 *                                                               │  relays to every other client
 *   browser: http://127.0.0.1:PORT/?token=T  ◀──────────────────┘
 *            (embeds the hosted inspector, posts each event into it)
 *
 * The bridge server does what @statelyai/inspect/server's
 * createInspectorServer does (buffer the last 200 events, relay each to every
 * other client, serve a page that embeds the inspector UI), but binds
 * loopback only, accepts port 0, asks for a token, and closes cleanly — the
 * package's own server listens on every interface and cannot be awaited.
 * The hosted UI itself needs internet; the events never leave this machine
 * except into that browser tab.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketInspector } from '@statelyai/inspect';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { SwitchbackError } from '../errors.js';
import { isLoopback } from './config.js';
import { offeredToken, tokenMatches } from './inspector/token.js';
import type { NodeObserver } from './node-status.js';

export class StatelyBridgeError extends SwitchbackError<
  'STATELY_NOT_LOOPBACK' | 'STATELY_LISTEN_FAILED' | 'STATELY_CONNECT_FAILED'
> {}

export interface StatelyBridgeOptions {
  observer: NodeObserver;
  /** Loopback only (default 127.0.0.1). */
  host?: string;
  /** Default 0: a free port, printed in `url`. */
  port?: number;
  /** Default: 16 random bytes, base64url. */
  token?: string;
  /** The inspector UI to embed (default Stately's hosted one). */
  inspectorUrl?: string;
  logger: Logger;
}

export interface StatelyBridge {
  /** Open this in a browser: http://127.0.0.1:PORT/?token=T */
  readonly url: string;
  /** Where inspection events are relayed: ws://127.0.0.1:PORT/?token=T */
  readonly wsUrl: string;
  close(): Promise<void>;
}

/** The package's own server keeps this many for a UI that connects late. */
const BUFFERED_EVENTS = 200;
const SOURCE_PATH = '/source';

export async function startStatelyBridge(options: StatelyBridgeOptions): Promise<StatelyBridge> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? randomBytes(16).toString('base64url');
  const inspectorUrl = options.inspectorUrl ?? 'https://stately.ai/inspect';
  const logger = options.logger.child({ component: 'stately-bridge' });
  if (!isLoopback(host)) {
    throw new StatelyBridgeError(
      'STATELY_NOT_LOOPBACK',
      `stately bridge address ${host} is not loopback; inspection events show every peer's state`,
    );
  }

  const buffer: string[] = [];
  /** The node's own inspector socket, server side. */
  let source: WebSocket | undefined;
  let sourceSeen: () => void = () => {};
  const sourceConnected = new Promise<void>((resolve) => (sourceSeen = resolve));

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://bridge.invalid');
    if (!tokenMatches(token, offeredToken(req, url))) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('the stately bridge needs its token: open the URL the daemon printed\n');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
    });
    res.end(bridgePage(inspectorUrl));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 << 20 });
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://bridge.invalid');
    if (!tokenMatches(token, offeredToken(req, url))) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      if (url.pathname === SOURCE_PATH) {
        source = ws;
        sourceSeen();
        // Only the node's own inspector publishes; viewers just listen.
        ws.on('message', (data) => {
          const text = data.toString();
          buffer.push(text);
          if (buffer.length > BUFFERED_EVENTS) buffer.shift();
          for (const client of wss.clients) {
            if (client !== ws && client.readyState === WebSocket.OPEN) client.send(text);
          }
        });
      } else {
        for (const text of buffer) ws.send(text);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(
        new StatelyBridgeError(
          'STATELY_LISTEN_FAILED',
          `stately bridge cannot listen on ${host}:${options.port ?? 0} (${error.code ?? error.message})`,
          { cause: error },
        ),
      );
    http.once('error', onError);
    http.listen(options.port ?? 0, host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  const base = `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const query = `?token=${encodeURIComponent(token)}`;

  const closeServer = () =>
    new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      http.close(() => resolve());
      http.closeAllConnections();
    });

  // The node's side: @statelyai/inspect's own WebSocket inspector.
  const inspector = createWebSocketInspector({ url: `ws://${base}${SOURCE_PATH}${query}` });
  const connected = await Promise.race([
    sourceConnected.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(resolve, 5_000, false).unref()),
  ]);
  if (!connected) {
    inspector.stop();
    await closeServer();
    throw new StatelyBridgeError(
      'STATELY_CONNECT_FAILED',
      `the stately inspector did not connect to its bridge on ${base}`,
    );
  }
  const stopInspection = options.observer.onInspection((_peer, event) => {
    inspector.inspect.next?.(event as never);
  });

  const url = `http://${base}/${query}`;
  logger.info('stately inspector bridge on %s (needs internet for the hosted ui)', url);
  let closing: Promise<void> | undefined;
  return {
    url,
    wsUrl: `ws://${base}/${query}`,
    close() {
      closing ??= (async () => {
        stopInspection();
        // Let the inspector's socket finish its closing handshake first: a
        // socket cut under it makes @statelyai/inspect retry every 5 s, forever.
        const sourceClosed =
          source && source.readyState !== WebSocket.CLOSED
            ? new Promise<void>((resolve) => {
                source?.once('close', () => resolve());
                setTimeout(resolve, 1_000).unref();
              })
            : Promise.resolve();
        inspector.stop();
        await sourceClosed;
        await closeServer();
      })();
      return closing;
    },
  };
}

/** Same page as @statelyai/inspect/server, with our address and no auto-open. */
function bridgePage(inspectorUrl: string): string {
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Switchback — Stately inspector</title>
  <style>* { margin: 0; padding: 0; } html, body { height: 100%; } iframe { width: 100%; height: 100%; border: none; }</style>
</head>
<body>
  <iframe id="inspector" src="${inspectorUrl.replace(/"/g, '&quot;')}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const buffer = [];
    let connected = false;
    window.addEventListener('message', (e) => {
      if (e.data && e.data.type === '@statelyai.connected') {
        connected = true;
        for (const event of buffer) iframe.contentWindow.postMessage(event, '*');
        buffer.length = 0;
      }
    });
    const ws = new WebSocket('ws://' + location.host + '/' + location.search);
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (connected) iframe.contentWindow.postMessage(data, '*');
      else buffer.push(data);
    };
  </script>
</body>
</html>`;
}
