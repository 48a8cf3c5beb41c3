/**
 * One peer's data plane, driven by its connection chart.
 *
 *   send(frame) ─▶ seal (Session) ─▶ route by context.transport ─▶ relay | direct | both
 *   relay FORWARD / direct message ─▶ open (replay window) ─▶ InOrderReceiver ─▶ onFrame
 *
 * The PeerLink owns the session, the live direct link, the path statistics
 * and the connection actor; the actor decides, the PeerLink follows
 * `context.transport` and never asks "are we direct?" anywhere else. When the
 * transport changes while the old path is open, a MIGRATE(lastSeq) marker is
 * the old path's last frame (docs/architecture.md, "One sequence space").
 *
 * End-to-end handshake: once the relay pairs us (ESTABLISHED) and no session
 * exists, both sides send HANDSHAKE_INIT; the Handshaker's tie-break keeps
 * one. A peer that restarts sends a new INIT, and we answer it with a new
 * session. The chart hears PEER_ADDRESS only once a session exists, so an
 * upgrade attempt always has keys to prove.
 */
import { type Actor, createActor, type InspectionEvent, type Subscription } from 'xstate';
import { Handshaker } from '../crypto/handshake.js';
import type { Identity } from '../crypto/identity.js';
import { NO_ATTEMPT } from '../crypto/rehandshake.js';
import { Session } from '../crypto/session.js';
import type { TimestampClock } from '../crypto/timestamp.js';
import { errorCode } from '../errors.js';
import {
  type ConnectionEvent,
  type ConnectionMachine,
  connectionMachine,
  type Transport,
} from '../machines/connection.js';
import type { ConnectionTimings } from '../machines/connection-timings.js';
import {
  decodeFrame,
  encodeFrame,
  peekFrameType,
  readDataSequence,
  readSpace,
} from '../protocol/codec.js';
import { VersionMismatchError } from '../protocol/errors.js';
import { type Address, type Frame, FrameType, SealedKind, Space } from '../protocol/frames.js';
import { dialActor } from './dial-peer.js';
import { type DirectLink, LinkCloseCode } from './direct-link.js';
import { LinkClosedError } from './errors.js';
import { fallbackActor } from './fallback.js';
import { heartbeatActor } from './heartbeat.js';
import { InOrderReceiver } from './in-order-receiver.js';
import { listenActor } from './listen.js';
import { migrateActor } from './migrate.js';
import { PathStats, type QualityPolicy } from './path-quality.js';
import type { PathName, PeerPorts } from './peer-ports.js';
import { rehandshakeActor } from './rehandshake.js';

export interface PeerLinkOptions {
  name: string;
  peerKey: Uint8Array;
  identity: Identity;
  /** INIT timestamps (one clock per node); default: in memory. */
  timestampClock?: TimestampClock;
  timings: ConnectionTimings;
  quality: QualityPolicy;
  /** Jitter seed for this peer's retries. */
  seed: number;
  /** Send an end-to-end frame through the relay; false when the relay is down. */
  sendViaRelay: (bytes: Uint8Array) => boolean;
  /** Whether sendViaRelay would take a frame now (relay up, queue under its cap). */
  canSendViaRelay: () => boolean;
  /** The node's direct-path plumbing (one listener, shared by all peers). */
  direct: {
    allow(peerKey: Uint8Array): void;
    establish(
      peerKey: Uint8Array,
      host: string,
      port: number,
      signal: AbortSignal,
    ): Promise<DirectLink>;
  };
  /** XState inspection events of this peer's actor (inspector, Stately bridge). */
  inspect?: (event: InspectionEvent) => void;
  /** Longest a sequence gap holds back later frames (ms). */
  gapTimeoutMs?: number;
  log?: (level: 'info' | 'warn' | 'debug', message: string, fields?: object) => void;
  /**
   * Model tests only: create this link's own connection actor but do not
   * start it; the test hands the link the model driver's actor with
   * followActor() (test/support/model/real-harness.ts).
   */
  holdChart?: boolean;
}

export type FrameListener = (frame: Uint8Array) => void;

interface PathCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

interface Inbox {
  frames: Frame[];
  waiter: ((frame: Frame | null) => void) | undefined;
}

const NONE: readonly PathName[] = [];
const RELAY: readonly PathName[] = ['relay'];
const DIRECT: readonly PathName[] = ['direct'];
const BOTH: readonly PathName[] = ['direct', 'relay'];

/** Marks a sequence number that carried a control message, not a frame. */
const CONTROL = null;

export const PEER_LINK_DEFAULTS = {
  // Handshake retry while no INIT/RESP got through (the relay may drop one
  // under load): 1 s, 2 s, 4 s … 30 s, like WireGuard's REKEY_TIMEOUT.
  handshakeRetryBaseMs: 1_000,
  handshakeRetryCapMs: 30_000,
  // This many frames in a row that fail to decrypt mean the two sides no
  // longer share a session (a peer restarted unseen, or a replayed INIT made
  // one side switch): start a fresh handshake.
  rehandshakeAfterFailures: 8,
  // Longer than any sane RTT difference between the two paths; short enough
  // that a frame lost with a dead path stalls the stream only this long.
  gapTimeoutMs: 250,
  // 4 k frames ≈ 5.6 MB of 1400-byte frames: a migration's worth of backlog.
  holdLimit: 4096,
  // Pings answered in time count; later ones are ignored by `ping`.
  pingTimeoutMs: 2_000,
  // Recent frames sent on the direct path, kept to resend via the relay when
  // the path turns suspect. Below the replay window (4064), so a resent copy
  // is never refused as stale; ~0.8 s of traffic at 5 k frames/s.
  resendRing: 4000,
} as const;

export class PeerLink implements PeerPorts {
  readonly name: string;
  readonly peerKey: Uint8Array;
  readonly localKey: Uint8Array;
  readonly timings: ConnectionTimings;
  readonly quality: QualityPolicy;
  readonly stats: Record<PathName, PathStats>;
  readonly counters: Record<PathName, PathCounters> = {
    relay: { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0 },
    direct: { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0 },
  };
  /** Frames dropped, by reason code. */
  readonly drops: Record<string, number> = {};
  /** The connection actor this link follows (its own, or a model test's: followActor). */
  actor: Actor<ConnectionMachine>;
  /**
   * Failure injection for tests (HMAC_MISMATCH): rewrites each re-handshake
   * frame this link sends. Undefined in production.
   */
  proofTamper: ((frame: Frame) => Frame) | undefined;

  /** The peer's direct address from ESTABLISHED; null until paired. */
  endpoint: Address | null = null;
  paired = false;
  lastHandshake: number | null = null;
  upgrades = 0;
  fallbacks = 0;
  /** Frames sent again via the relay when the direct path turned suspect. */
  resentViaRelay = 0;

  readonly #options: PeerLinkOptions;
  readonly #handshaker: Handshaker;
  #session: Session | null = null;
  #receiver: InOrderReceiver<Uint8Array | null>;
  #transport: Transport = 'relay';
  #lastSeqOn: Record<PathName, number> = { relay: -1, direct: -1 };
  /** Ring of recent sealed DATA frames sent on the direct link, with when (performance.now()). */
  readonly #recentDirect: ({ bytes: Uint8Array; at: number } | undefined)[] = new Array(
    PEER_LINK_DEFAULTS.resendRing,
  );
  #recentHead = 0;
  #peerMigrated = false;
  #migratedWaiters = new Set<() => void>();
  readonly #links = new Map<string, DirectLink>();
  readonly #inboxes = new Map<string, Inbox>();
  #activeLinkId: string | null = null;
  #nextLinkId = 1;
  #nextPingId = 1;
  readonly #pongHandlers = new Set<(path: PathName, id: number, rttMs: number) => void>();
  readonly #frameListeners = new Set<FrameListener>();
  #subscription: Subscription;
  /** Where this link's own events for the chart go (followActor redirects them). */
  #tell: (event: ConnectionEvent) => void = (event) => this.actor.send(event);
  #lastStateValue = '';
  #closed = false;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #handshakeAttempt = 0;
  #openFailures = 0;
  #versionReported = false;
  readonly #services: {
    listen: ReturnType<typeof listenActor>;
    dial: ReturnType<typeof dialActor>;
    rehandshake: ReturnType<typeof rehandshakeActor>;
    migrate: ReturnType<typeof migrateActor>;
    heartbeat: ReturnType<typeof heartbeatActor>;
    fallback: ReturnType<typeof fallbackActor>;
  };

  constructor(options: PeerLinkOptions) {
    this.#options = options;
    this.name = options.name;
    this.peerKey = options.peerKey;
    this.localKey = options.identity.publicKey;
    this.timings = options.timings;
    this.quality = options.quality;
    this.stats = { relay: new PathStats(options.quality), direct: new PathStats(options.quality) };
    this.#handshaker = new Handshaker(options.identity, options.peerKey, {
      clock: options.timestampClock,
    });
    this.#receiver = this.#newReceiver();

    this.#services = {
      listen: listenActor(this),
      dial: dialActor(this),
      rehandshake: rehandshakeActor(this),
      migrate: migrateActor(this),
      heartbeat: heartbeatActor(this),
      fallback: fallbackActor(this),
    };
    const machine = connectionMachine.provide({ actors: this.#services });
    this.actor = createActor(machine, {
      input: { peer: options.name, timings: options.timings, seed: options.seed },
      inspect: options.inspect,
    });
    this.#subscription = this.actor.subscribe({
      next: () => this.#followChart(),
      error: (error) => this.#log('warn', 'connection chart failed', { error: String(error) }),
    });
    if (!options.holdChart) this.actor.start();
  }

  /**
   * Model tests only: follow `actor` (the model driver's, built from the same
   * chart with this link's services) instead of this link's own, which must
   * not have been started (PeerLinkOptions.holdChart). The events this link
   * would send the chart (PEER_ADDRESS, NETWORK_CHANGE) go to `tell`, so the
   * test decides when each real event reaches the chart.
   */
  followActor(actor: Actor<ConnectionMachine>, tell: (event: ConnectionEvent) => void): void {
    if (this.actor.getSnapshot().status === 'active' && !this.#options.holdChart)
      throw new Error(`${this.name}: followActor needs holdChart (own chart already running)`);
    this.#subscription.unsubscribe();
    this.actor = actor;
    this.#tell = tell;
    this.#lastStateValue = '';
    this.#subscription = actor.subscribe({ next: () => this.#followChart(), error: () => {} });
  }

  /** The connection actors this link's chart invokes (the model tests reuse them). */
  get services() {
    return this.#services;
  }

  // ── The user's API ──────────────────────────────────────────────────────

  /** Where frames go now: the chart's context.transport. */
  get transport(): Transport {
    return this.#transport;
  }

  get reason(): string {
    return this.actor.getSnapshot().context.reason;
  }

  /** Seal and send an Ethernet frame on the current path. False when dropped. */
  send(frame: Uint8Array): boolean {
    const session = this.#session;
    if (!session) return this.#drop('noSession');
    // Choose the paths BEFORE sealing: a sealed frame that is then dropped
    // here would still use up a sequence number, and the far side would hold
    // every later frame for a gap that can never fill.
    const paths = this.#pathsNow();
    if (paths.length === 0) {
      return this.#drop(this.#transport === 'relay' ? 'relayUnavailable' : 'noPath');
    }
    let bytes: Uint8Array;
    try {
      bytes = session.sealEthernet(frame);
    } catch (error) {
      return this.#drop(errorCode(error) ?? 'sealFailed');
    }
    for (const path of paths) this.#sendOn(path, bytes);
    return true;
  }

  onFrame(listener: FrameListener): () => void {
    this.#frameListeners.add(listener);
    return () => this.#frameListeners.delete(listener);
  }

  /** Ping the peer on the path in use; resolves with the RTT, or null on timeout. */
  async ping(
    timeoutMs: number = PEER_LINK_DEFAULTS.pingTimeoutMs,
  ): Promise<{ path: PathName; rttMs: number | null }> {
    const path: PathName = this.#transport === 'relay' ? 'relay' : 'direct';
    const id = this.sendPing(path);
    if (id === undefined) return { path, rttMs: null };
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve({ path, rttMs: null });
      }, timeoutMs);
      const off = this.onPong((answered, pongId, rttMs) => {
        if (answered === path && pongId === id) {
          clearTimeout(timer);
          off();
          resolve({ path, rttMs });
        }
      });
    });
  }

  // ── What the node feeds in ───────────────────────────────────────────────

  /** The relay paired us with this peer (ESTABLISHED). */
  onEstablished(observed: Address, listenPort: number): void {
    this.paired = true;
    const endpoint = { family: observed.family, host: observed.host, port: listenPort };
    const changed = this.endpoint?.host !== endpoint.host || this.endpoint?.port !== endpoint.port;
    this.endpoint = listenPort > 0 ? endpoint : null;
    if (!this.#session) this.#startHandshake();
    else if (changed && this.endpoint) this.#tell({ type: 'PEER_ADDRESS', address: this.endpoint });
  }

  /** The relay says the peer left. Its direct link (if any) will tell the chart itself. */
  onPeerGone(): void {
    this.paired = false;
  }

  /** An end-to-end frame from the peer, through the relay. */
  onRelayFrame(bytes: Uint8Array): void {
    const type = this.#peekType(bytes);
    if (type === undefined) return;
    if (type === FrameType.DATA || type === FrameType.CONTROL) this.#onData(bytes, 'relay');
    else if (type === FrameType.HANDSHAKE_INIT || type === FrameType.HANDSHAKE_RESP) {
      this.#onHandshake(bytes);
    } else this.#drop('unexpectedRelayFrame');
  }

  /** The peer dialled our listener while we were not attempting: join its attempt. */
  peerDialled(): void {
    this.#tell({ type: 'PEER_DIALLED' });
  }

  /** Our own addresses changed: re-probe at once. */
  networkChanged(): void {
    this.#tell({ type: 'NETWORK_CHANGE' });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A model test's actor may have stopped already (followActor).
    if (this.actor.getSnapshot().status === 'active') this.actor.send({ type: 'STOP' });
    this.#subscription.unsubscribe();
    this.actor.stop();
    for (const id of [...this.#links.keys()])
      this.dropLink(id, LinkCloseCode.GOING_AWAY, 'SHUTDOWN');
    this.#receiver.close();
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#handshaker.cancel();
    this.#session?.close();
    for (const wake of this.#migratedWaiters) wake();
  }

  // ── PeerPorts: what the chart's actors may do ────────────────────────────

  session(): Session | null {
    return this.#session;
  }

  allowInbound(): void {
    this.#options.direct.allow(this.peerKey);
  }

  establish(host: string, port: number, signal: AbortSignal): Promise<DirectLink> {
    return this.#options.direct.establish(this.peerKey, host, port, signal);
  }

  adoptLink(link: DirectLink): string {
    const id = `${this.name}#${this.#nextLinkId++}`;
    this.#links.set(id, link);
    this.#inboxes.set(id, { frames: [], waiter: undefined });
    this.#activeLinkId = id;
    this.stats.direct = new PathStats(this.quality);
    link.onMessage((bytes) => this.#onDirectMessage(id, bytes));
    link.onPong((payload) => {
      if (payload.length === 4) this.#onPong('direct', payload.readUInt32BE(0));
    });
    link.closed.then(() => this.#forgetLink(id));
    this.#log('info', 'direct link open', {
      link: id,
      remote: `${link.remoteAddress}:${link.remotePort}`,
    });
    return id;
  }

  link(id: string): DirectLink | undefined {
    return this.#links.get(id);
  }

  dropLink(id: string, code: number, reason: string): void {
    const link = this.#links.get(id);
    if (!link) return;
    this.#followChart(); // a planned switch sends its MIGRATE marker before the close
    link.close(code, reason);
    this.#forgetLink(id);
  }

  nextProofFrame(linkId: string, signal: AbortSignal): Promise<Frame> {
    const inbox = this.#inboxes.get(linkId);
    if (!inbox)
      return Promise.reject(new LinkClosedError(`${this.name}: direct link ${linkId} is closed`));
    const queued = inbox.frames.shift();
    if (queued) return Promise.resolve(queued);
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        inbox.waiter = undefined;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      inbox.waiter = (frame) => {
        signal.removeEventListener('abort', onAbort);
        inbox.waiter = undefined;
        if (frame) resolve(frame);
        else
          reject(
            new LinkClosedError(`${this.name}: direct link ${linkId} closed during its proof`),
          );
      };
    });
  }

  sendRaw(linkId: string, frame: Frame): boolean {
    const sent = this.proofTamper ? this.proofTamper(frame) : frame;
    return this.#links.get(linkId)?.send(encodeFrame(sent)) ?? false;
  }

  waitPeerMigrated(signal: AbortSignal): Promise<void> {
    if (this.#peerMigrated) return Promise.resolve();
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        this.#migratedWaiters.delete(wake);
        resolve();
      };
      const onAbort = () => {
        this.#migratedWaiters.delete(wake);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#migratedWaiters.add(wake);
    });
  }

  /**
   * Probe a path. On the direct link the probe is a WebSocket ping inside the
   * mutually authenticated TLS stream — two-way proof on the data's own
   * socket that consumes no sequence number, so a probe lost with a dead path
   * leaves no gap for the receiver to wait on. On the relay, which we do not
   * trust, it is a sealed PING.
   */
  sendPing(path: PathName): number | undefined {
    const id = this.#nextPingId++ >>> 0;
    const sentAt = performance.now();
    if (path === 'direct') {
      const link = this.#activeLinkId ? this.#links.get(this.#activeLinkId) : undefined;
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, id);
      if (!link?.ping(payload)) return undefined;
    } else {
      const session = this.#session;
      if (!session || !this.#writable('relay')) return undefined;
      const bytes = session.seal({
        kind: SealedKind.PING,
        id,
        sentAt: BigInt(Math.round(sentAt * 1000)),
      });
      if (!this.#sendOn('relay', bytes)) return undefined;
    }
    this.stats[path].probeSent(id, sentAt);
    return id;
  }

  onPong(handler: (path: PathName, id: number, rttMs: number) => void): () => void {
    this.#pongHandlers.add(handler);
    return () => this.#pongHandlers.delete(handler);
  }

  // ── Internals ────────────────────────────────────────────────────────────

  /** Follow the chart: transport changes, attempt starts, counters, logs. */
  #followChart(): void {
    const snapshot = this.actor.getSnapshot();
    const next = snapshot.context.transport;
    if (next !== this.#transport) this.#switchTransport(next);

    const value = stateString(snapshot.value);
    if (value === this.#lastStateValue) return;
    const previous = this.#lastStateValue;
    this.#lastStateValue = value;
    if (value === 'attemptingDirect.listening') this.#peerMigrated = false;
    if (value === 'usingDirect.healthy' && previous.startsWith('attemptingDirect')) this.upgrades++;
    if (value === 'fallingBack') this.fallbacks++;
  }

  /**
   * Move sending to `next`. When a path stops being used while it is still
   * open, its last frame is MIGRATE(last sequence sent on it), so the far
   * side knows that path's tail is complete.
   */
  #switchTransport(next: Transport): void {
    const before = this.#transport;
    this.#transport = next;
    const session = this.#session;
    if (!session) return;
    const left: PathName[] = [];
    // Only a real move off the relay (migrating) marks the relay's end: a
    // recovery from suspect (both → direct) is no migration, and a marker then
    // could complete an attempt the peer has not made.
    if (before === 'relay' && next === 'direct') left.push('relay');
    if (before !== 'relay' && next === 'relay') left.push('direct');
    for (const path of left) {
      // Sent even when the path carried nothing yet: the peer's migrate step
      // waits for it as proof that we have switched.
      if (!this.#writable(path)) continue; // a dead path gets no marker (and burns no sequence number)
      const lastSeq = Math.max(0, this.#lastSeqOn[path]);
      // Phase 1 of protocol v2: the attempt id is not wired yet (NO_ATTEMPT).
      const marker = session.seal({
        kind: SealedKind.MIGRATE,
        attemptId: NO_ATTEMPT,
        lastSeq: BigInt(lastSeq),
      });
      this.#sendOn(path, marker);
    }
    // Leaving the direct path, on purpose or not: what it may not deliver is
    // sent again via the relay. Even an open link (a planned QUALITY fallback)
    // is closed with a 1 s grace, and a slow one may not drain by then.
    if (before === 'direct' && next !== 'direct') this.#resendRecentDirect();
    if (next === 'relay') this.#clearRecentDirect();
  }

  /**
   * The direct path just turned suspect (or died under us): frames sent on it
   * since the last proof of life may sit in a dead socket. Send them again via
   * the relay; the far side's replay window drops the copies that did arrive
   * and its InOrderReceiver puts the rest in place, so a dead direct path
   * costs delivery delay, not frames. Bounded by the ring and by age
   * (suspectInterval + heartbeatInterval: older frames were answered by a pong).
   */
  #resendRecentDirect(): void {
    const cutoff =
      performance.now() - (this.timings.suspectIntervalMs + this.timings.heartbeatIntervalMs);
    const ring = this.#recentDirect;
    let resent = 0;
    for (let i = 0; i < ring.length; i++) {
      const entry = ring[(this.#recentHead + i) % ring.length];
      if (entry === undefined || entry.at < cutoff) continue;
      if (this.#options.sendViaRelay(entry.bytes)) resent++;
    }
    this.#clearRecentDirect();
    this.resentViaRelay += resent;
    if (resent > 0) this.#log('debug', 'resent recent direct frames via the relay', { resent });
  }

  #clearRecentDirect(): void {
    this.#recentDirect.fill(undefined);
    this.#recentHead = 0;
  }

  /** Where a frame sealed now goes, by context.transport and what can take it. */
  #pathsNow(): readonly PathName[] {
    // Shared constant arrays: this runs once per frame.
    switch (this.#transport) {
      case 'relay':
        return this.#writable('relay') ? RELAY : NONE;
      case 'direct':
        // A full direct link does not lose the frame: the relay carries it and
        // the receiver puts it back in order by sequence number.
        if (this.#writable('direct')) return DIRECT;
        return this.#writable('relay') ? RELAY : NONE;
      case 'both': {
        const direct = this.#writable('direct');
        const relay = this.#writable('relay');
        return direct ? (relay ? BOTH : DIRECT) : relay ? RELAY : NONE;
      }
    }
  }

  #writable(path: PathName): boolean {
    if (path === 'relay') return this.#options.canSendViaRelay();
    const link = this.#activeLinkId ? this.#links.get(this.#activeLinkId) : undefined;
    return link?.writable ?? false;
  }

  #sendOn(path: PathName, bytes: Uint8Array): boolean {
    let sent: boolean;
    if (path === 'relay') {
      sent = this.#options.sendViaRelay(bytes);
    } else {
      const link = this.#activeLinkId ? this.#links.get(this.#activeLinkId) : undefined;
      sent = link?.send(bytes) ?? false;
    }
    if (sent) {
      if (path === 'direct') {
        this.#recentDirect[this.#recentHead] = { bytes, at: performance.now() };
        this.#recentHead = (this.#recentHead + 1) % this.#recentDirect.length;
      }
      const counters = this.counters[path];
      counters.framesSent++;
      counters.bytesSent += bytes.length;
      // Only DATA counters are data sequence numbers (CONTROL has its own space).
      if (readSpace(bytes) === Space.DATA) this.#lastSeqOn[path] = readDataSequence(bytes);
    }
    return sent;
  }

  #onDirectMessage(linkId: string, bytes: Uint8Array): void {
    const type = this.#peekType(bytes);
    if (type === undefined) return;
    if (type === FrameType.DATA || type === FrameType.CONTROL) {
      this.#onData(bytes, 'direct');
      return;
    }
    if (
      type === FrameType.REHANDSHAKE_CHALLENGE ||
      type === FrameType.REHANDSHAKE_RESPONSE ||
      type === FrameType.REHANDSHAKE_CONFIRM
    ) {
      let frame: Frame;
      try {
        frame = decodeFrame(bytes);
      } catch (error) {
        this.#drop(errorCode(error) ?? 'badFrame');
        return;
      }
      const inbox = this.#inboxes.get(linkId);
      if (!inbox) return;
      if (inbox.waiter) inbox.waiter(frame);
      else if (inbox.frames.length < 8) inbox.frames.push(frame);
      return;
    }
    this.#drop('unexpectedDirectFrame');
  }

  #onData(bytes: Uint8Array, path: PathName): void {
    const session = this.#session;
    if (!session) {
      this.#drop('noSession');
      return;
    }
    let opened: ReturnType<Session['open']>;
    try {
      opened = session.open(bytes);
    } catch (error) {
      // REPLAY is the normal fate of the second copy while suspect.
      const code = errorCode(error) ?? 'openFailed';
      this.#drop(code);
      if (
        (code === 'DECRYPT_FAILED' || code === 'UNKNOWN_SESSION') &&
        ++this.#openFailures >= PEER_LINK_DEFAULTS.rehandshakeAfterFailures &&
        this.#handshakeTimer === undefined
      ) {
        this.#log('warn', 'frames keep failing to decrypt: starting a new handshake');
        this.#startHandshake();
      }
      return;
    }
    this.#openFailures = 0;
    const counters = this.counters[path];
    counters.framesReceived++;
    counters.bytesReceived += bytes.length;

    const message = opened.message;
    switch (message.kind) {
      case SealedKind.ETHERNET:
        this.#receiver.push(opened.seq, message.frame);
        return;
      case SealedKind.PING: {
        // Answer on the path it came by: that is the path being measured.
        if (!this.#writable(path)) break;
        const pong = session.seal({
          kind: SealedKind.PONG,
          id: message.id,
          sentAt: message.sentAt,
        });
        this.#sendOn(path, pong);
        break;
      }
      case SealedKind.PONG:
        this.#onPong(path, message.id);
        break;
      case SealedKind.MIGRATE:
        if (path === 'relay') {
          this.#peerMigrated = true;
          for (const wake of [...this.#migratedWaiters]) wake();
        }
        break;
      case SealedKind.CLOSE:
      case SealedKind.KEEPALIVE:
        break;
    }
    // Control messages are handled on arrival, in their own counter space:
    // they never enter the data ordering, so data never waits for them.
  }

  /** The frame's type, or undefined (counted) when its header is refused. A
   * peer of another protocol version is named in one line, once. */
  #peekType(bytes: Uint8Array): FrameType | undefined {
    try {
      return peekFrameType(bytes);
    } catch (error) {
      this.#drop(errorCode(error) ?? 'badFrame');
      if (error instanceof VersionMismatchError && !this.#versionReported) {
        this.#versionReported = true;
        this.#log('warn', error.line('peer'));
      }
      return undefined;
    }
  }

  #onPong(path: PathName, id: number): void {
    const rtt = this.stats[path].pongReceived(id, performance.now());
    if (rtt !== undefined) for (const handler of this.#pongHandlers) handler(path, id, rtt);
  }

  #onHandshake(bytes: Uint8Array): void {
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (error) {
      this.#drop(errorCode(error) ?? 'badFrame');
      return;
    }
    if (frame.type !== FrameType.HANDSHAKE_INIT && frame.type !== FrameType.HANDSHAKE_RESP) return;
    try {
      const step = this.#handshaker.receive(frame);
      if (step.reply) this.#sendHandshake(step.reply);
      // Until SessionSlots are wired (phase 2), answering the winner's INIT
      // drops our own pending one, as in v1.
      if (step.keys?.role === 'responder') this.#handshaker.cancel();
      if (step.keys) {
        clearTimeout(this.#handshakeTimer);
        this.#handshakeTimer = undefined;
        this.#handshakeAttempt = 0;
        this.#openFailures = 0;
        this.#session?.close();
        this.#session = new Session(step.keys);
        this.#receiver.close();
        this.#receiver = this.#newReceiver();
        this.#lastSeqOn = { relay: -1, direct: -1 };
        this.#clearRecentDirect();
        this.lastHandshake = Date.now();
        this.#log('info', 'session established', { role: step.keys.role });
        if (this.endpoint) this.#tell({ type: 'PEER_ADDRESS', address: this.endpoint });
      }
    } catch (error) {
      const code = errorCode(error) ?? 'handshakeFailed';
      this.#drop(code);
      // What a replaying relay causes is counted, not logged as a warning.
      const replayed =
        code === 'INIT_REPLAYED' || code === 'INIT_RATE_LIMITED' || code === 'INIT_TOO_SOON';
      this.#log(replayed ? 'debug' : 'warn', 'handshake refused', { code });
    }
  }

  /** Send an INIT, and again on a capped backoff until a session results. */
  #startHandshake(): void {
    if (this.#closed) return;
    try {
      this.#sendHandshake(this.#handshaker.start());
    } catch (error) {
      // The timestamp state file could not be saved: no INIT this time.
      this.#drop(errorCode(error) ?? 'handshakeFailed');
      this.#log('warn', 'cannot start a handshake', { error: String(error) });
    }
    clearTimeout(this.#handshakeTimer);
    const delay = Math.min(
      PEER_LINK_DEFAULTS.handshakeRetryCapMs,
      PEER_LINK_DEFAULTS.handshakeRetryBaseMs * 2 ** this.#handshakeAttempt++,
    );
    this.#handshakeTimer = setTimeout(() => {
      this.#handshakeTimer = undefined;
      if (this.paired && this.#handshaker.isPending) this.#startHandshake();
    }, delay);
  }

  #sendHandshake(frame: Frame): void {
    if (!this.#options.sendViaRelay(encodeFrame(frame))) this.#drop('relayUnavailable');
  }

  #forgetLink(id: string): void {
    this.#links.delete(id);
    const inbox = this.#inboxes.get(id);
    this.#inboxes.delete(id);
    inbox?.waiter?.(null);
    if (this.#activeLinkId === id) this.#activeLinkId = null;
  }

  #newReceiver(): InOrderReceiver<Uint8Array | null> {
    return new InOrderReceiver<Uint8Array | null>({
      gapTimeoutMs: this.#options.gapTimeoutMs ?? PEER_LINK_DEFAULTS.gapTimeoutMs,
      holdLimit: PEER_LINK_DEFAULTS.holdLimit,
      firstSeq: 0,
      deliver: (frame) => {
        if (frame === CONTROL) return;
        for (const listener of this.#frameListeners) listener(frame);
      },
    });
  }

  /** Counters of the in-order receiver (late, skipped, …). */
  get ordering() {
    return this.#receiver.counters;
  }

  #drop(reason: string): false {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
    return false;
  }

  #log(level: 'info' | 'warn' | 'debug', message: string, fields?: object): void {
    this.#options.log?.(level, message, fields);
  }
}

/** "usingDirect.healthy" from { usingDirect: 'healthy' }. */
export function stateString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, inner] = Object.entries(value)[0] ?? [];
    return key === undefined ? '' : `${key}.${stateString(inner)}`;
  }
  return '';
}
