// The node's ONE direct listener (docs/protocol.md §10): a TLS 1.3 WebSocket
// server that every authorised peer dials. Mutual TLS with our own pinning:
// node:tls is told not to judge certificates (they are self-signed), and we
// accept a client only when the Ed25519 key its certificate proved is in the
// authorised set — a set that changes at runtime as peers are configured.
// Accepted links are handed to whoever claims that peer (onLink); anything
// else is refused, counted by reason, and never reaches a peer's actor.
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import { certificatePublicKey, type TlsCredentials } from '../crypto/certificate.js';
import { encodeKey } from '../crypto/identity.js';
import { MAX_FRAME_BYTES } from '../protocol/frames.js';
import { REFUSAL_HEADER, REFUSED_STATUS } from './dial.js';
import { DirectLink, LinkCloseCode } from './direct-link.js';
import { ListenFailedError } from './errors.js';

export const LISTENER_DEFAULTS = {
  /** TLS handshake + HTTP upgrade must finish within this (slowloris guard). */
  handshakeTimeoutMs: 5000,
  /** A link nobody claimed is closed after this (peer actor not attempting). */
  unclaimedTtlMs: 10_000,
  maxPayload: MAX_FRAME_BYTES,
} as const;

/** Why a connection was refused; each has a counter. */
export type RefusalReason =
  | 'no_certificate' //  client sent no certificate, or not an Ed25519 one
  | 'unknown_key' //     certificate key is not an authorised peer
  | 'tls_error' //       TLS handshake failed or timed out
  | 'not_websocket'; //  TLS fine, but not a valid WebSocket upgrade

export interface DirectListenerOptions {
  /** Address to bind; port 0 picks a free port (see `port`). */
  host: string;
  port: number;
  credentials: TlsCredentials;
  /** Peer keys allowed to connect at start (change later with authorise/revoke). */
  authorised?: Iterable<Uint8Array>;
  handshakeTimeoutMs?: number;
  unclaimedTtlMs?: number;
  maxPayload?: number;
  maxBufferedBytes?: number;
  /** Called for each refusal (metrics, logs). Must not throw. */
  onRefused?: (reason: RefusalReason, remote: string) => void;
  /**
   * Called when an authorised peer's link arrives and nobody is attempting
   * that peer: the peer is retrying now, and the node can join it at once
   * (the link is kept for unclaimedTtlMs). Must not throw.
   */
  onUnclaimed?: (peerKey: Uint8Array) => void;
  /** Aborts the bind only; close() ends a listener that is open. */
  signal?: AbortSignal;
}

export type LinkHandler = (link: DirectLink) => void;

interface Pending {
  link: DirectLink;
  timer: NodeJS.Timeout;
}

export class DirectListener {
  readonly host: string;
  /** The bound port (the real one when asked for port 0). */
  readonly port: number;

  readonly #server: https.Server;
  readonly #wss: WebSocketServer;
  readonly #options: DirectListenerOptions;
  readonly #authorised = new Map<string, Uint8Array>();
  readonly #handlers = new Map<string, LinkHandler>();
  readonly #pending = new Map<string, Pending>();
  readonly #live = new Set<DirectLink>();
  readonly #sockets = new Set<Socket>();
  readonly #refusals: Record<RefusalReason, number> = {
    no_certificate: 0,
    unknown_key: 0,
    tls_error: 0,
    not_websocket: 0,
  };
  #accepted = 0;
  #closing: Promise<void> | undefined;

  /** Binds and resolves once listening; rejects with ListenFailedError. */
  static async open(options: DirectListenerOptions): Promise<DirectListener> {
    options.signal?.throwIfAborted();
    const timeout = options.handshakeTimeoutMs ?? LISTENER_DEFAULTS.handshakeTimeoutMs;
    const server = https.createServer({
      cert: options.credentials.cert,
      key: options.credentials.key,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      // Ask for the client's certificate but let us judge it: it is
      // self-signed, and the pin in #onUpgrade is the only check that matters.
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      handshakeTimeout: timeout,
      headersTimeout: timeout,
      requestTimeout: timeout,
      connectionsCheckingInterval: Math.min(1000, timeout),
    });
    await new Promise<void>((resolve, reject) => {
      const signal = options.signal;
      const done = (error?: unknown): void => {
        server.off('error', onError);
        server.off('listening', onListening);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else {
          server.close();
          reject(error);
        }
      };
      const onError = (error: NodeJS.ErrnoException): void =>
        done(
          new ListenFailedError(
            `direct listener on ${options.host}:${options.port}: ${listenHint(error)}`,
            { cause: error },
          ),
        );
      const onListening = (): void => done();
      const onAbort = (): void => done(signal?.reason);
      server.once('error', onError);
      server.once('listening', onListening);
      signal?.addEventListener('abort', onAbort, { once: true });
      server.listen({ host: options.host, port: options.port });
    });
    return new DirectListener(server, options);
  }

  private constructor(server: https.Server, options: DirectListenerOptions) {
    this.#server = server;
    this.#options = options;
    this.host = options.host;
    this.port = (server.address() as AddressInfo).port;
    for (const key of options.authorised ?? []) this.authorise(key);
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: options.maxPayload ?? LISTENER_DEFAULTS.maxPayload,
    });
    this.#wss.on('wsClientError', (_error, socket) => this.#refuse('not_websocket', socket));
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('tlsClientError', (_error, socket) => this.#refuse('tls_error', socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#count('not_websocket', req.socket);
      res.writeHead(426, { connection: 'close', 'content-length': 0 }).end();
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket as TLSSocket, head),
    );
    // A listening server must never crash the daemon: errors after bind are
    // per-connection and are counted where they happen.
    server.on('error', () => {});
  }

  /** Allows `peerKey` to connect from now on. */
  authorise(peerKey: Uint8Array): void {
    this.#authorised.set(encodeKey(peerKey), new Uint8Array(peerKey));
  }

  /** Stops accepting `peerKey` and closes its open and unclaimed links. */
  revoke(peerKey: Uint8Array): void {
    const id = encodeKey(peerKey);
    this.#authorised.delete(id);
    this.#dropPending(id, 'revoked');
    for (const link of this.#live) {
      if (link.peerId === id) link.close(LinkCloseCode.FALLBACK, 'revoked');
    }
  }

  isAuthorised(peerKey: Uint8Array): boolean {
    return this.#authorised.has(encodeKey(peerKey));
  }

  /**
   * Claims inbound links from one peer (key bytes or encodeKey text). A link
   * that arrived while nobody claimed the peer is delivered at once (on a
   * microtask); a later onLink for the same peer replaces the handler.
   * Returns the unsubscribe function.
   */
  onLink(peer: Uint8Array | string, handler: LinkHandler): () => void {
    const id = typeof peer === 'string' ? peer : encodeKey(peer);
    this.#handlers.set(id, handler);
    const pending = this.#pending.get(id);
    if (pending !== undefined) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      queueMicrotask(() => this.#dispatch(pending.link));
    }
    return () => {
      if (this.#handlers.get(id) === handler) this.#handlers.delete(id);
    };
  }

  /** Refused connections by reason (a copy). */
  refusals(): Record<RefusalReason, number> {
    return { ...this.#refusals };
  }

  /** Links accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Links currently open through this listener. */
  get openLinks(): number {
    return this.#live.size;
  }

  /** Stops listening, closes every link it accepted, waits until all are gone. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const id of [...this.#pending.keys()]) this.#dropPending(id, 'listener closed');
    this.#handlers.clear();
    const links = [...this.#live];
    for (const link of links) link.close(LinkCloseCode.LISTENER_CLOSED, 'listener closed');
    // Links get their close handshake (bounded by DirectLink's grace),
    // then whatever is left (mid-handshake, refused) is cut.
    await Promise.all(links.map((link) => link.closed));
    for (const socket of this.#sockets) socket.destroy();
    this.#wss.close();
    await serverClosed;
  }

  #onUpgrade(req: IncomingMessage, socket: TLSSocket, head: Buffer): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    // Pin: TLS proved the client holds the key in its certificate; the key
    // must be one we authorised.
    const key = certificatePublicKey(socket.getPeerX509Certificate());
    if (key === undefined) {
      this.#refuseUpgrade('no_certificate', socket);
      return;
    }
    const id = encodeKey(key);
    if (!this.#authorised.has(id)) {
      this.#refuseUpgrade('unknown_key', socket);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const link = new DirectLink(
        ws,
        key,
        false,
        { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
        { maxBufferedBytes: this.#options.maxBufferedBytes },
      );
      this.#accepted++;
      this.#live.add(link);
      void link.closed.then(() => this.#live.delete(link));
      if (this.#closing !== undefined) link.terminate();
      else this.#dispatch(link);
    });
  }

  #dispatch(link: DirectLink): void {
    if (!link.isOpen) return;
    const id = link.peerId;
    const handler = this.#handlers.get(id);
    if (handler !== undefined) {
      try {
        handler(link);
      } catch {
        link.close(LinkCloseCode.UNCLAIMED, 'handler failed');
      }
      return;
    }
    // Nobody is attempting this peer right now: keep the newest link a while,
    // the peer's actor may be a moment behind the peer.
    this.#dropPending(id, 'superseded');
    const ttl = this.#options.unclaimedTtlMs ?? LISTENER_DEFAULTS.unclaimedTtlMs;
    const timer = setTimeout(() => this.#dropPending(id, 'unclaimed'), ttl);
    this.#pending.set(id, { link, timer });
    this.#options.onUnclaimed?.(link.peerKey);
    void link.closed.then(() => {
      const pending = this.#pending.get(id);
      if (pending?.link === link) {
        clearTimeout(pending.timer);
        this.#pending.delete(id);
      }
    });
  }

  #dropPending(id: string, reason: string): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.link.close(LinkCloseCode.UNCLAIMED, reason);
  }

  #refuseUpgrade(reason: RefusalReason, socket: TLSSocket): void {
    this.#count(reason, socket);
    // An answer the dialler can classify (CERT_MISMATCH), then the socket goes.
    socket.end(
      `HTTP/1.1 ${REFUSED_STATUS} Forbidden\r\nconnection: close\r\n${REFUSAL_HEADER}: ${reason}\r\ncontent-length: 0\r\n\r\n`,
    );
    const timer = setTimeout(() => socket.destroy(), 1000);
    socket.once('close', () => clearTimeout(timer));
  }

  #refuse(reason: RefusalReason, socket: Duplex): void {
    this.#count(reason, socket);
    socket.destroy();
  }

  #count(reason: RefusalReason, socket: Duplex): void {
    this.#refusals[reason]++;
    const remote = (socket as Socket).remoteAddress ?? '?';
    try {
      this.#options.onRefused?.(reason, remote);
    } catch {
      // a broken metrics hook must not take the listener down
    }
  }
}

/** What went wrong binding the listener, and what to do about it. */
function listenHint(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return 'the port is in use (another switchback up?); free it or change listen in the config';
    case 'EADDRNOTAVAIL':
      return "no such local address; use one of this machine's addresses or 0.0.0.0 in listen";
    case 'EACCES':
      return 'permission denied; ports below 1024 need root';
    default:
      return error.code ?? error.message;
  }
}
