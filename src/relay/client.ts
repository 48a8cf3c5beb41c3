import { EventEmitter, on } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import type { Identity } from '../crypto/identity.js';
import { sodiumReady } from '../crypto/sodium.js';
import {
  decodeFrame,
  encodeFrame,
  type ForwardParts,
  peekFrameType,
  readForward,
} from '../protocol/codec.js';
import {
  type Address,
  type Frame,
  FrameType,
  MAX_FRAME_BYTES,
  type PeerGoneReason,
} from '../protocol/frames.js';
import { authenticate } from './client-auth.js';
import { RelayClosedError, RelayError } from './errors.js';
import { TickCork } from './tick-cork.js';

// The client side of the relay protocol (docs/protocol.md §5 steps 1-5): used by
// the tests, bench/relay.ts and the node's relay-link service. connect()
// resolves once WELCOME arrived; after that the client only reports what the
// relay says (events) and sends what it is told to (connectPeer, forward).

export type RelayEvent =
  | { type: 'established'; peer: Uint8Array; observed: Address; listenPort: number }
  | { type: 'forward'; from: Uint8Array; payload: Uint8Array }
  | { type: 'peer-gone'; peer: Uint8Array; reason: PeerGoneReason }
  | { type: 'notice'; code: number; message: string }
  | { type: 'close'; code: number; reason: string };
export type RelayEventType = RelayEvent['type'];
export type RelayEventOf<T extends RelayEventType> = Extract<RelayEvent, { type: T }>;

type RelayClientEvents = { [T in RelayEventType]: [RelayEventOf<T>] };

export interface RelayClientOptions {
  signal?: AbortSignal;
  /** Whole connect + authenticate budget. */
  timeoutMs?: number;
  /**
   * The TCP connect alone (our SYN answered) must finish within this, or the
   * connect fails with DIAL_TIMEOUT — so a caller can dial again at once
   * rather than wait out the kernel's SYN retransmissions (1 s, 3 s, 7 s…)
   * after a SYN was lost in a blackhole. Default: only timeoutMs bounds it.
   */
  dialTimeoutMs?: number;
  /** For wss://: CA certificates (PEM) to trust instead of the system's. */
  ca?: string | Buffer;
  /** For wss:// with a self-signed relay certificate in tests. Defaults to true. */
  rejectUnauthorized?: boolean;
  /** Node ↔ relay capabilities we advertise in HELLO; default LOCAL_RELAY_CAPABILITIES. */
  capabilities?: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Receives each FORWARD's source key and payload: views, valid during the call. */
export type ForwardHandler = (from: Uint8Array, payload: Uint8Array) => void;

export class RelayClient extends EventEmitter<RelayClientEvents> {
  /** Resolves when the connection is closed, with the close code and reason. */
  readonly closed: Promise<CloseInfo>;
  /** The data plane's receiver of FORWARDs (onForward); 'forward' events otherwise. */
  #forwardHandler: ForwardHandler | undefined;
  readonly #forward: ForwardParts = { key: new Uint8Array(0), payload: new Uint8Array(0) };
  /** sendForward's writes of one tick leave in one writev. */
  readonly #cork = new TickCork();

  private constructor(
    private readonly ws: WebSocket,
    /** This client's public key. */
    readonly key: Uint8Array,
    /** The relay this client authenticated to (CHALLENGE's relayId). */
    readonly relayId: Uint8Array,
    /** Our address and port as the relay sees them (WELCOME). */
    readonly observed: Address,
    /** What the relay advertised in CHALLENGE (unknown flags included). */
    readonly relayCapabilities: number,
    /** The negotiated node ↔ relay capabilities (ours ∩ the relay's ∩ known). */
    readonly capabilities: number,
  ) {
    super();
    ws.on('message', (data, isBinary) => this.received(data as Buffer, isBinary));
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        const info = { code, reason: reason.toString() };
        this.emit('close', { type: 'close', ...info });
        resolve(info);
      });
    });
  }

  /** Opens a WebSocket to `url` and authenticates as `identity` (steps 1-3,
   * client-auth.ts).
   * A relay of another protocol version fails with RelayError
   * VERSION_MISMATCH, whose message is one line naming both versions. */
  static async connect(
    url: string,
    identity: Identity,
    options: RelayClientOptions = {},
  ): Promise<RelayClient> {
    options.signal?.throwIfAborted();
    await sodiumReady();
    options.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;

    const ws = new WebSocket(url, {
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      ca: options.ca,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      ...boundedDial(url, options.dialTimeoutMs),
    });

    const welcome = await authenticate(ws, identity, url, signal, timeout, options);
    return new RelayClient(
      ws,
      identity.publicKey,
      welcome.relayId,
      welcome.observed,
      welcome.relayCapabilities,
      welcome.capabilities,
    );
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** The local address and port this connection goes out from; null once closed. */
  get localAddress(): string | null {
    const socket = (
      this.ws as unknown as { _socket?: { localAddress?: string; localPort?: number } }
    )._socket;
    if (!socket?.localAddress) return null;
    const host = socket.localAddress.includes(':')
      ? `[${socket.localAddress}]`
      : socket.localAddress;
    return `${host}:${socket.localPort}`;
  }

  /** A WebSocket ping carrying `payload` (≤ 125 bytes); the relay's ws answers it. False when closed. */
  ping(payload: Uint8Array): boolean {
    if (!this.isOpen) return false;
    this.ws.ping(payload);
    return true;
  }

  /** Pongs from the relay (answers to ping()). */
  onPong(handler: (payload: Buffer) => void): () => void {
    this.ws.on('pong', handler);
    return () => this.ws.off('pong', handler);
  }

  /** Bytes queued in this client's socket, not yet sent. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Stops reading from the socket (backpressure: the relay's buffer for us fills, then it drops). */
  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  /** 4. CONNECT(peer, listenPort): ask the relay to pair us with `peerKey`. */
  connectPeer(peerKey: Uint8Array, listenPort: number): void {
    this.sendFrame({ type: FrameType.CONNECT, peer: peerKey, listenPort });
  }

  /** 5. FORWARD(peer, payload): `payload` is an end-to-end frame for `peerKey`. */
  forward(peerKey: Uint8Array, payload: Uint8Array): void {
    this.sendFrame({ type: FrameType.FORWARD, key: peerKey, payload });
  }

  /** 5. FORWARD already encoded by the data plane (codec encodeForward).
   * The socket stays corked until the end of the tick, so the frames of one
   * TAP read batch leave in one writev instead of one syscall each. */
  sendForward(frame: Uint8Array): void {
    if (!this.isOpen) throw new RelayError('CLOSED', 'relay connection is closed');
    this.#cork.hold(this.#socket());
    this.ws.send(frame);
  }

  /** The TCP (or TLS) socket under ws; undefined before open and after close. */
  #socket(): net.Socket | undefined {
    return (this.ws as unknown as { _socket?: net.Socket | null })._socket ?? undefined;
  }

  /**
   * Hand every FORWARD straight to `handler` instead of emitting 'forward'
   * events: the data plane's path, with no event object per frame. One
   * handler at a time; undefined restores the events.
   */
  onForward(handler: ForwardHandler | undefined): void {
    this.#forwardHandler = handler;
  }

  /** Sends already-encoded bytes as one message (tests send junk through this). */
  sendRaw(bytes: Uint8Array | string): void {
    if (!this.isOpen) throw new RelayError('CLOSED', 'relay connection is closed');
    this.ws.send(bytes);
  }

  /** The next event of `type` from now on. */
  next<T extends RelayEventType>(
    type: T,
    { signal, timeoutMs }: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<RelayEventOf<T>> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => done(new RelayError('TIMEOUT', `no ${type} from the relay in ${timeoutMs} ms`)),
              timeoutMs,
            );
      const listener = (event: RelayEventOf<T>) => done(undefined, event);
      const closed = (event: RelayEventOf<'close'>) =>
        done(new RelayClosedError('CLOSED', event.code, event.reason));
      const aborted = () =>
        done(new RelayError('ABORTED', `waiting for ${type} aborted`, { cause: signal?.reason }));
      const done = (error?: Error, event?: RelayEventOf<T>) => {
        clearTimeout(timer);
        // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's typed overloads do not narrow a generic T
        this.off(type, listener as any);
        if (type !== 'close') this.off('close', closed);
        signal?.removeEventListener('abort', aborted);
        if (error) reject(error);
        else resolve(event!);
      };
      // biome-ignore lint/suspicious/noExplicitAny: as above
      this.on(type, listener as any);
      if (type !== 'close') this.on('close', closed);
      signal?.addEventListener('abort', aborted, { once: true });
      if (type !== 'close' && !this.isOpen && this.ws.readyState === WebSocket.CLOSED) {
        done(new RelayClosedError('CLOSED', 1006, 'already closed'));
      }
    });
  }

  /** Every event from now until close (inclusive) or until `signal` aborts. */
  async *events({ signal }: { signal?: AbortSignal } = {}): AsyncGenerator<RelayEvent> {
    const stop = new AbortController();
    const combined = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const merged = new EventEmitter<{ event: [RelayEvent] }>();
    const relay = (event: RelayEvent) => merged.emit('event', event);
    const types: RelayEventType[] = ['established', 'forward', 'peer-gone', 'notice', 'close'];
    // biome-ignore lint/suspicious/noExplicitAny: one listener for every event type
    for (const type of types) this.on(type, relay as any);
    try {
      for await (const [event] of on(merged, 'event', { signal: combined })) {
        yield event as RelayEvent;
        if ((event as RelayEvent).type === 'close') return;
      }
    } catch (error) {
      if (!combined.aborted) throw error;
    } finally {
      stop.abort();
      // biome-ignore lint/suspicious/noExplicitAny: as above
      for (const type of types) this.off(type, relay as any);
    }
  }

  /** Closes the connection (1000 by default) and resolves once it is closed. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason);
      // A relay that never answers the close frame: cut the socket after a moment.
      const timer = setTimeout(() => this.ws.terminate(), 2_000);
      void this.closed.finally(() => clearTimeout(timer));
    }
    return this.closed;
  }

  /** Destroys the socket at once, without a close handshake. */
  terminate(): void {
    this.ws.terminate();
  }

  private sendFrame(frame: Frame): void {
    if (!this.isOpen) throw new RelayError('CLOSED', 'relay connection is closed');
    this.ws.send(encodeFrame(frame));
  }

  private received(data: Buffer, isBinary: boolean): void {
    const handler = this.#forwardHandler;
    if (handler !== undefined && isBinary) {
      let parts: ForwardParts | undefined;
      try {
        if (peekFrameType(data) === FrameType.FORWARD) parts = readForward(data, this.#forward);
      } catch {
        this.ws.close(1002, 'undecodable frame from relay');
        return;
      }
      if (parts !== undefined) {
        handler(parts.key, parts.payload);
        return;
      }
    }
    let frame: Frame;
    try {
      if (!isBinary) throw new RelayError('UNEXPECTED_FRAME', 'text message');
      frame = decodeFrame(data);
    } catch {
      // The relay is trusted to speak the protocol; a frame we cannot read is a
      // bug or a broken relay, so drop the link (the relay-link chart reconnects).
      this.ws.close(1002, 'undecodable frame from relay');
      return;
    }
    switch (frame.type) {
      case FrameType.FORWARD:
        this.emit('forward', { type: 'forward', from: frame.key, payload: frame.payload });
        return;
      case FrameType.ESTABLISHED:
        this.emit('established', {
          type: 'established',
          peer: frame.peer,
          observed: frame.observed,
          listenPort: frame.listenPort,
        });
        return;
      case FrameType.PEER_GONE:
        this.emit('peer-gone', { type: 'peer-gone', peer: frame.peer, reason: frame.reason });
        return;
      case FrameType.NOTICE:
        this.emit('notice', { type: 'notice', code: frame.code, message: frame.message });
        return;
      default:
        this.ws.close(1002, 'unexpected frame from relay');
    }
  }
}

/**
 * ws's own socket factory (plain or TLS, same options), with a deadline on
 * the TCP connect: no answer to our SYN within `ms` destroys the socket with
 * DIAL_TIMEOUT, which ws reports as the connection's error. As ws options:
 * none when there is no deadline.
 */
function boundedDial(url: string, ms: number | undefined) {
  if (ms === undefined) return {};
  const secure = url.startsWith('wss:');
  const createConnection = (
    options: net.NetConnectOpts & tls.ConnectionOptions & { socketPath?: string },
  ) => {
    let socket: net.Socket;
    if (secure) {
      options.path = undefined;
      if (!options.servername && options.servername !== '') {
        options.servername = net.isIP(options.host ?? '') ? '' : options.host;
      }
      socket = tls.connect(options);
    } else {
      (options as net.IpcNetConnectOpts).path = options.socketPath as string;
      socket = net.connect(options);
    }
    const timer = setTimeout(() => {
      socket.destroy(
        new RelayError('DIAL_TIMEOUT', `relay did not answer the TCP connect within ${ms} ms`),
      );
    }, ms);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };
  // ws calls it with the request's options object only.
  return { createConnection: createConnection as unknown as typeof net.createConnection };
}
