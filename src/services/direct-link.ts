// One open direct path to one peer: a binary WebSocket over mutual TLS 1.3
// whose far end has already proved the pinned identity key (dial.ts pins the
// server, direct-listener.ts pins the client). The link moves opaque bytes;
// sealing, sequence numbers and heartbeats live above it.
//
// Hot path: send() is one call into ws (no copy of ours; client frames use an
// all-zero mask, which ws skips — masking guards HTTP proxies against cache
// poisoning and buys nothing inside TLS), and received messages are handed on
// as the Buffer ws produced, without a copy.
import type WebSocket from 'ws';
import { encodeKey } from '../crypto/identity.js';
import { Reason } from '../reasons.js';

/** WebSocket close codes the direct path uses (4000-4999 is ours, RFC 6455 §7.4.2). */
export const LinkCloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001, //          we are shutting down
  UNSUPPORTED_DATA: 1003, //    a text message: the direct path is binary only
  ABNORMAL: 1006, //            no close frame: the socket died (never sent, only seen)
  TOO_BIG: 1009, //             message above maxPayload
  DUPLICATE: 4001, //           simultaneous open: the other link won the tie-break
  UNCLAIMED: 4002, //           accepted, but nobody claimed the link in time
  FALLBACK: 4003, //            the chart left the direct path (fallback)
  LISTENER_CLOSED: 4004, //     the listener that accepted it closed
} as const;
export type LinkCloseCode = (typeof LinkCloseCode)[keyof typeof LinkCloseCode];

/** How a link ended. `byPeer` is true when the far end sent the close frame. */
export interface LinkClosed {
  code: number;
  reason: string;
  byPeer: boolean;
  /** PEER_CLOSED when the peer closed on purpose, CLOSED otherwise. */
  cause: typeof Reason.CLOSED | typeof Reason.PEER_CLOSED;
}

export type MessageHandler = (data: Uint8Array) => void;

/** Default cap on bytes queued for sending; above it send() drops and returns false. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024; // ~30 ms at 1 Gbit/s
/** Messages kept while no handler is set before the socket is paused. */
const EARLY_MESSAGES = 256;
const EARLY_BYTES = 1024 * 1024;
/** How long close() waits for the peer's close frame before cutting the socket. */
const CLOSE_GRACE_MS = 1000;

export interface DirectLinkOptions {
  maxBufferedBytes?: number;
}

export class DirectLink {
  /** The peer's identity key, proved by TLS (never taken from the wire). */
  readonly peerKey: Uint8Array;
  /** encodeKey(peerKey), for logs and maps. */
  readonly peerId: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** True when we dialled this link, false when our listener accepted it. */
  readonly initiator: boolean;
  /** Resolves once, when the socket is gone (after close(), or when it dies). */
  readonly closed: Promise<LinkClosed>;

  readonly #ws: WebSocket;
  readonly #maxBuffered: number;
  #handler: MessageHandler | undefined;
  #early: Buffer[] = [];
  #earlyBytes = 0;
  #closingLocally = false;
  #closeTimer: NodeJS.Timeout | undefined;
  #closedInfo: LinkClosed | undefined;
  #resolveClosed!: (info: LinkClosed) => void;
  #sent = 0;
  #sentBytes = 0;
  #dropped = 0;
  #received = 0;

  /** Wraps an OPEN, already-authenticated WebSocket. Used by dial and listener. */
  constructor(
    ws: WebSocket,
    peerKey: Uint8Array,
    initiator: boolean,
    remote: { address: string; port: number },
    options: DirectLinkOptions = {},
  ) {
    this.#ws = ws;
    this.peerKey = peerKey;
    this.peerId = encodeKey(peerKey);
    this.initiator = initiator;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        this.close(LinkCloseCode.UNSUPPORTED_DATA, 'binary only');
        return;
      }
      this.#received++;
      if (this.#handler !== undefined) {
        this.#handler(data);
        return;
      }
      // Nobody takes messages yet (the link is between owners): keep a few,
      // then leave the rest in the kernel so TCP holds the peer back. We do
      // not pause at once because a paused socket would not see a close.
      this.#early.push(data);
      this.#earlyBytes += data.length;
      if (this.#early.length >= EARLY_MESSAGES || this.#earlyBytes >= EARLY_BYTES) ws.pause();
    });
    ws.on('close', (code: number, reason: Buffer) => this.#onClose(code, reason.toString()));
    // 'error' always precedes 'close' in ws; the close carries what we report.
    ws.on('error', () => {});
  }

  /**
   * Sets (or with undefined, clears) the receiver of binary messages.
   * Messages that arrived while none was set are delivered first, in order.
   */
  onMessage(handler: MessageHandler | undefined): void {
    this.#handler = handler;
    while (this.#handler !== undefined && this.#early.length > 0) {
      this.#handler(this.#early.shift() as Buffer);
    }
    if (this.#early.length === 0) this.#earlyBytes = 0;
    if (this.#handler !== undefined && this.#ws.isPaused) this.#ws.resume();
  }

  /**
   * Queues one message. Returns false, and drops it, when the link is not
   * open or more than maxBufferedBytes are already queued (a full NIC queue
   * drops too; the layers above count and recover). The bytes are NOT
   * copied: do not modify them after send() (they may sit in the queue).
   */
  send(bytes: Uint8Array): boolean {
    const ws = this.#ws;
    if (ws.readyState !== 1 || ws.bufferedAmount > this.#maxBuffered) {
      this.#dropped++;
      return false;
    }
    ws.send(bytes);
    this.#sent++;
    this.#sentBytes += bytes.length;
    return true;
  }

  /** Bytes of the messages send() queued so far. */
  get sentBytes(): number {
    return this.#sentBytes;
  }

  /**
   * Of sentBytes, how many the socket has surely taken: the messages sent
   * before that point are no longer read by ws, Node's streams or TLS, so
   * their buffers may be reused. A lower bound — what is still queued counts
   * WebSocket headers and control frames too — and meaningful only while the
   * link is open (writes are taken in order, one socket).
   */
  get settledBytes(): number {
    return this.#sentBytes - this.#ws.bufferedAmount;
  }

  /** Sends a WebSocket ping carrying `payload` (≤125 bytes); false if not open. */
  ping(payload: Uint8Array): boolean {
    if (this.#ws.readyState !== 1) return false;
    this.#ws.ping(payload);
    return true;
  }

  /** Subscribes to WebSocket pings from the peer (used by the tie-break). */
  onPing(handler: (payload: Buffer) => void): () => void {
    this.#ws.on('ping', handler);
    return () => this.#ws.off('ping', handler);
  }

  /** Subscribes to WebSocket pongs (answers to our ping()): the heartbeat. */
  onPong(handler: (payload: Buffer) => void): () => void {
    this.#ws.on('pong', handler);
    return () => this.#ws.off('pong', handler);
  }

  /** Open, and not over its send-buffer cap: a send() now would be queued. */
  get writable(): boolean {
    return this.#ws.readyState === 1 && this.#ws.bufferedAmount <= this.#maxBuffered;
  }

  get isOpen(): boolean {
    return this.#ws.readyState === 1;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  /** Messages sent, dropped by send(), and received. */
  get counters(): { sent: number; dropped: number; received: number } {
    return { sent: this.#sent, dropped: this.#dropped, received: this.#received };
  }

  /** Set once closed. */
  get closeInfo(): LinkClosed | undefined {
    return this.#closedInfo;
  }

  /**
   * Starts a clean close (close frame, then TCP FIN). If the peer does not
   * answer within a second the socket is cut, so `closed` always settles.
   */
  close(code: number = LinkCloseCode.NORMAL, reason = ''): void {
    if (this.#closedInfo !== undefined || this.#closingLocally) return;
    this.#closingLocally = true;
    const ws = this.#ws;
    if (ws.readyState === 0 || ws.readyState === 1) {
      ws.close(code, reason);
      this.#closeTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    } else if (ws.readyState === 2) {
      this.#closeTimer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    }
  }

  /** Cuts the socket at once (abort, shutdown). */
  terminate(): void {
    this.#closingLocally = true;
    this.#ws.terminate();
  }

  #onClose(code: number, reason: string): void {
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#handler = undefined;
    this.#early = [];
    const byPeer = !this.#closingLocally && code !== LinkCloseCode.ABNORMAL;
    this.#closedInfo = {
      code,
      reason,
      byPeer,
      cause: byPeer ? Reason.PEER_CLOSED : Reason.CLOSED,
    };
    this.#resolveClosed(this.#closedInfo);
  }
}
