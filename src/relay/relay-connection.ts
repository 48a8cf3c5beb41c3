import { randomBytes } from 'node:crypto';
import { isIPv4, type Socket } from 'node:net';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { keysEqual, verifyDetached } from '../crypto/identity.js';
import { errorCode } from '../errors.js';
import {
  KNOWN_RELAY_CAPABILITIES,
  LOCAL_RELAY_CAPABILITIES,
  negotiateCapabilities,
} from '../protocol/capabilities.js';
import {
  decodeFrame,
  encodeFrame,
  type ForwardParts,
  peekFrameType,
  readForward,
  writeForwardKey,
} from '../protocol/codec.js';
import { VersionMismatchError } from '../protocol/errors.js';
import { type Address, type Frame, FrameType, PeerGoneReason } from '../protocol/frames.js';
import { authMessage } from './auth-message.js';
import { CLOSE_INFO, CloseCode, type CloseKind, NoticeCode } from './close-codes.js';
import { closeSoon } from './close-soon.js';
import type { RelayLimits } from './limits.js';
import type { RelayStats } from './metrics.js';
import {
  type DirectoryPeer,
  type PeerDirectory,
  type PeerId,
  PeerIdCache,
  type PeerInfo,
  peerIdOf,
} from './peer-directory.js';
import type { ReplayCache } from './replay-cache.js';
import { TickCork } from './tick-cork.js';
import { monotonicMs, TokenBucket } from './token-bucket.js';

// One client connection on the relay, walking docs/protocol.md §5 steps 1-5:
//
//   hello ──HELLO──▶ auth ──AUTH ok──▶ ready ──(close, refusal)──▶ closed
//     │               │                  │
//     └── anything else, bad signature, auth timeout ──▶ closed (with a close code)
//
// Every refusal is one call to refuse(kind): count it, log one line, close
// with that kind's code. Nothing a client sends can throw out of here.
//
// Hot path (a FORWARD once ready): one clock read for both token buckets, the
// header read in place by the codec (readForward: views, no Frame object),
// the destination's id from a per-connection cache (PeerIdCache: no base64
// per frame), the key rewritten in place, and the same bytes handed to the
// receiver. Sends towards a receiver are corked until the end of the current
// tick, so the frames one incoming TCP read carried leave in one writev.

/** Everything a connection shares with its server. */
export interface ConnectionContext {
  readonly limits: RelayLimits;
  readonly relayId: Uint8Array;
  readonly directory: PeerDirectory;
  readonly stats: RelayStats;
  readonly replays: ReplayCache;
  readonly log: Logger;
}

type State = 'hello' | 'auth' | 'ready' | 'closed';

const EMPTY = new Uint8Array(0);

export class RelayConnection implements DirectoryPeer {
  /** Set by HELLO; empty until then. */
  id: PeerId = '';
  key: Uint8Array = EMPTY;
  /** What the client advertised in HELLO (unknown flags included); 0 until then. */
  clientCapabilities = 0;
  /** The negotiated node ↔ relay capabilities (HELLO ∩ CHALLENGE ∩ known). */
  capabilities = 0;
  readonly observed: Address;
  /** False after a keepalive ping until anything (pong or frame) arrives. */
  private alive = true;
  private state: State = 'hello';
  private nonce: Uint8Array = EMPTY;
  private readonly authTimer: NodeJS.Timeout;
  private readonly bytes: TokenBucket;
  private readonly frames: TokenBucket;
  /** Views of the FORWARD being handled (reused; valid during received()). */
  private readonly forwardParts: ForwardParts = { key: EMPTY, payload: EMPTY };
  private readonly destinations = new PeerIdCache();
  /** Sends towards us within one tick leave in one writev. */
  private readonly cork = new TickCork();

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.observed = observedAddress(socket);
    const { limits } = ctx;
    this.bytes = new TokenBucket(limits.bytesPerSecond, limits.burstBytes, monotonicMs);
    this.frames = new TokenBucket(limits.framesPerSecond, limits.burstFrames, monotonicMs);
    this.authTimer = setTimeout(() => this.expiredAuth(), limits.authTimeoutMs);
    ws.on('message', (data, isBinary) => this.received(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (error) => this.failed(error));
    ws.on('close', () => this.finish(PeerGoneReason.DISCONNECTED));
  }

  get authenticated(): boolean {
    return this.state === 'ready';
  }

  /** Who this is, for log lines: the key once known, else the address. */
  get label(): string {
    return this.id
      ? `peer ${this.id.slice(0, 8)}`
      : `client ${this.observed.host}:${this.observed.port}`;
  }

  // --- DirectoryPeer -------------------------------------------------------

  send(frame: Uint8Array): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    // Bounded per-receiver buffer: a slow reader loses frames, never the relay's memory.
    if (this.ws.bufferedAmount + frame.length > this.ctx.limits.maxSendBufferBytes) return false;
    // Frames for us that arrive in this tick (many per TCP read of the
    // sender's socket) go out together: one writev, not one per frame.
    this.cork.hold(this.socket);
    this.ws.send(frame);
    return true;
  }

  established(partner: PeerInfo, partnerListenPort: number): void {
    this.ctx.log.info(
      `${this.label} paired with ${partner.id.slice(0, 8)} at ${partner.observed.host}:${partner.observed.port}`,
    );
    this.sendControl({
      type: FrameType.ESTABLISHED,
      peer: partner.key,
      observed: partner.observed,
      listenPort: partnerListenPort,
    });
  }

  peerGone(partnerKey: Uint8Array, reason: PeerGoneReason): void {
    this.sendControl({ type: FrameType.PEER_GONE, peer: partnerKey, reason });
  }

  replaced(): void {
    this.refuse('REPLACED');
  }

  // --- server hooks ----------------------------------------------------------

  /** Keepalive tick: destroy the connection if the previous ping went unanswered. */
  keepalive(): void {
    if (this.state === 'closed') return;
    if (!this.alive) {
      this.ctx.stats.refuse(CLOSE_INFO.KEEPALIVE_TIMEOUT.metric);
      this.ctx.log.info(`${this.label} dropped: keepalive timeout`);
      this.finish(PeerGoneReason.DISCONNECTED);
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** Ends the connection with `kind`'s close code; counted and logged once. */
  refuse(kind: CloseKind, detail?: string): void {
    if (this.state === 'closed') return;
    const info = CLOSE_INFO[kind];
    this.ctx.stats.refuse(info.metric);
    this.ctx.log.info(`${this.label} refused: ${info.reason}${detail ? ` (${detail})` : ''}`);
    this.finish(PeerGoneReason.DISCONNECTED);
    closeSoon(this.ws, CloseCode[kind], info.reason);
  }

  // --- steps of docs/protocol.md -------------------------------------------

  private received(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.alive = true;
    if (!isBinary) {
      this.refuse('BAD_FRAME', 'text message');
      return;
    }
    // ws's maxPayload refuses larger messages before buffering them; this is the backstop.
    if (data.length > this.ctx.limits.maxFrameBytes) {
      this.refuse('FRAME_TOO_LARGE', `${data.length} bytes`);
      return;
    }
    const now = monotonicMs();
    if (!this.frames.take(1, now) || !this.bytes.take(data.length, now)) {
      this.refuse('RATE_LIMITED');
      return;
    }

    let frame: Frame | undefined;
    let forward: ForwardParts | undefined;
    try {
      // peekFrameType checks what decodeFrame would first (size, version,
      // type) and throws the same errors, so a bad frame is refused alike.
      if (this.state === 'ready' && peekFrameType(data) === FrameType.FORWARD) {
        forward = readForward(data, this.forwardParts);
      } else {
        frame = decodeFrame(data);
      }
    } catch (error) {
      if (error instanceof VersionMismatchError && error.typeKnown) {
        // A node of another protocol version (a v1 node's HELLO: a known type
        // behind another version byte; junk stays BAD_FRAME): its own close
        // code, whose reason names our version (docs/protocol.md §13).
        this.refuse('VERSION_MISMATCH', error.line('node', 'relay'));
        return;
      }
      const code = errorCode(error) ?? 'UNKNOWN';
      // Whole-frame size was checked above (maxFrameBytes ≤ the codec's limit), so a
      // TOO_LARGE here is a field's length prefix lying: junk like any other.
      this.refuse('BAD_FRAME', code.toLowerCase());
      return;
    }
    if (forward !== undefined) {
      this.forward(forward.key, data);
      return;
    }

    // Not the fast path, so decodeFrame ran and returned (or threw above).
    frame = frame as Frame;
    switch (frame.type) {
      case FrameType.FORWARD:
        this.forward(frame.key, data);
        break;
      case FrameType.CONNECT:
        this.connect(frame.peer, frame.listenPort);
        break;
      case FrameType.HELLO:
        this.hello(frame.key, frame.capabilities);
        break;
      case FrameType.AUTH:
        this.auth(frame.signature);
        break;
      default:
        this.refuse(
          'INVALID_MESSAGE',
          `type 0x${frame.type.toString(16).padStart(2, '0')} is not for the relay`,
        );
    }
  }

  // 1. HELLO(key, capabilities) → 2. CHALLENGE(nonce, relayId, capabilities)
  private hello(key: Uint8Array, capabilities: number): void {
    if (this.state === 'ready') {
      this.refuse('AUTH_REPLAYED', 'hello after welcome');
      return;
    }
    if (this.state === 'auth') {
      this.refuse('INVALID_MESSAGE', 'second hello');
      return;
    }
    this.key = key;
    this.id = peerIdOf(key);
    this.clientCapabilities = capabilities;
    this.nonce = new Uint8Array(randomBytes(32));
    this.state = 'auth';
    this.sendControl({
      type: FrameType.CHALLENGE,
      nonce: this.nonce,
      relayId: this.ctx.relayId,
      capabilities: LOCAL_RELAY_CAPABILITIES,
    });
  }

  // 2. AUTH(signature) → 3. WELCOME(observed address)
  private auth(signature: Uint8Array): void {
    if (this.state === 'hello') {
      this.refuse('NOT_AUTHENTICATED', 'auth before hello');
      return;
    }
    if (this.state === 'ready') {
      this.refuse('AUTH_REPLAYED', 'auth after welcome');
      return;
    }
    if (this.ctx.replays.has(signature)) {
      this.refuse('AUTH_REPLAYED', 'signature seen before');
      return;
    }
    const message = authMessage(
      this.ctx.relayId,
      this.nonce,
      this.key,
      this.clientCapabilities,
      LOCAL_RELAY_CAPABILITIES,
    );
    if (!verifyDetached(this.key, message, signature)) {
      this.refuse('BAD_SIGNATURE');
      return;
    }
    this.ctx.replays.add(signature);
    clearTimeout(this.authTimer);
    this.capabilities = negotiateCapabilities(
      LOCAL_RELAY_CAPABILITIES,
      this.clientCapabilities,
      KNOWN_RELAY_CAPABILITIES,
    );
    this.state = 'ready';
    this.ctx.stats.authenticated += 1;
    this.ctx.log.info(
      `${this.label} authenticated from ${this.observed.host}:${this.observed.port}`,
    );
    this.sendControl({ type: FrameType.WELCOME, observed: this.observed });
    // Registering may replace an older connection with this key (it gets REPLACED).
    this.ctx.directory.register(this);
  }

  // 4. CONNECT(peer, listenPort): ESTABLISHED goes out once both sides asked.
  private connect(peer: Uint8Array, listenPort: number): void {
    if (this.state !== 'ready') {
      this.refuse('NOT_AUTHENTICATED', 'connect before welcome');
      return;
    }
    if (keysEqual(peer, this.key)) {
      this.refuse('SELF_CONNECT');
      return;
    }
    const asked = this.ctx.directory.connect(this, peerIdOf(peer), listenPort);
    if (asked > this.ctx.limits.maxPeersPerConnection) {
      this.refuse('TOO_MANY_PEERS', `${asked} peers`);
    }
  }

  // 5. FORWARD(destination, payload) → FORWARD(source, payload) to the partner.
  // `destination` may be a view into `raw`: read before the key is rewritten.
  private forward(destination: Uint8Array, raw: Buffer): void {
    if (this.state !== 'ready') {
      this.refuse('NOT_AUTHENTICATED', 'forward before welcome');
      return;
    }
    const to = this.destinations.idOf(destination);
    if (to === this.id) {
      this.refuse('SELF_CONNECT', 'forward to self');
      return;
    }
    // The frame goes on as received with the destination key overwritten by the
    // source key: same layout both ways, so no decode-encode copy per frame.
    writeForwardKey(raw, this.key);
    const result = this.ctx.directory.deliver(this, to, raw);
    const { stats } = this.ctx;
    if (result === 'delivered') {
      stats.framesForwarded += 1;
      stats.bytesForwarded += raw.length;
    } else if (result === 'sent') {
      // Towards the partner's relay; the cluster counts it (frames_sent_total).
    } else if (result === 'not_paired') {
      stats.drop('not_paired');
      this.notice(NoticeCode.NOT_PAIRED, `not paired with ${to}`);
    } else {
      stats.drop(result === 'buffer_full' ? 'receiver_buffer_full' : result);
    }
  }

  private notice(code: number, message: string): void {
    // Subject to the send-buffer cap: a client that floods bad FORWARDs and
    // never reads cannot make the relay queue notices without bound.
    this.send(encodeFrame({ type: FrameType.NOTICE, code, message }));
  }

  /** Control frames are few and small, and losing one (ESTABLISHED, PEER_GONE)
   * would wedge the peer, so they bypass the send-buffer cap. */
  private sendControl(frame: Frame): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(encodeFrame(frame));
  }

  private expiredAuth(): void {
    if (this.state === 'hello' || this.state === 'auth') this.refuse('AUTH_TIMEOUT');
  }

  private failed(error: Error): void {
    // ws has already started closing (RelayWebSocket maps 1009 to FRAME_TOO_LARGE).
    if (this.state === 'closed') return;
    const code = errorCode(error);
    const kind: CloseKind | undefined =
      code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'FRAME_TOO_LARGE' : undefined;
    const metric = kind ? CLOSE_INFO[kind].metric : 'websocket_error';
    this.ctx.stats.refuse(metric);
    this.ctx.log.info(`${this.label} refused: ${metric.replace(/_/g, ' ')} (${error.message})`);
    this.finish(PeerGoneReason.DISCONNECTED);
  }

  private finish(reason: PeerGoneReason): void {
    if (this.state === 'closed') return;
    const wasReady = this.state === 'ready';
    this.state = 'closed';
    clearTimeout(this.authTimer);
    if (wasReady) this.ctx.directory.unregister(this, reason);
  }
}

/** Where the client's TCP connection comes from, IPv4-mapped addresses unwrapped. */
function observedAddress(socket: Socket): Address {
  let host = socket.remoteAddress ?? '::';
  if (host.startsWith('::ffff:') && isIPv4(host.slice(7))) host = host.slice(7);
  return { family: isIPv4(host) ? 4 : 6, host, port: socket.remotePort ?? 0 };
}
