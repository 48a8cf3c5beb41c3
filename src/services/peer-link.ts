/**
 * One peer's data plane: the parts, put together. Each part has one job and
 * its own file; this one only wires them and answers for the peer.
 *
 *   pump ─ send(frame) ─▶ PeerSender ─ seal ─▶ RelayPath | DirectLinks ─▶ sockets
 *   sockets ─▶ onRelayFrame / DirectLinks ─▶ PeerReceiver ─ open (PeerSession), order ─▶ onFrames
 *   relay INIT/RESP ─▶ PeerSession (handshake, session slots, retransmit timer)
 *   heartbeat ─ sendPing / onDirectProof ─▶ PeerProbes (RTT, loss per path, proofs)
 *
 * The connection chart (src/machines/connection.ts, run by src/daemon/peer-chart.ts)
 * decides; its actors act through PeerPorts, its named actions through
 * EffectPorts (connection-effects.ts); the data plane tells it things through
 * onChartEvent. `activity` sees data batches both ways (the quiet heartbeat).
 */
import type { Identity } from '../crypto/identity.js';
import type { Session } from '../crypto/session.js';
import type { TimestampClock } from '../crypto/timestamp.js';
import type { ConnectionEvent, Transport } from '../machines/connection.js';
import type { ConnectionTimings } from '../machines/connection-timings.js';
import { type Address, type Frame, FrameType } from '../protocol/frames.js';
import type { EffectPorts } from './connection-effects.js';
import { DataActivity } from './data-activity.js';
import { type DirectLink, LinkCloseCode } from './direct-link.js';
import { DirectLinks } from './direct-links.js';
import { DropReason } from './drop-reasons.js';
import type { QualityPolicy } from './path-quality.js';
import { PeerCounters, peekOrCount } from './peer-counters.js';
import { PeerMigration } from './peer-migration.js';
import type { PathName, PeerPorts } from './peer-ports.js';
import { PeerProbes, PING_TIMEOUT_MS, type ProofHandler } from './peer-probes.js';
import { type FramesListener, PeerReceiver } from './peer-receiver.js';
import { PeerSender } from './peer-sender.js';
import { PeerSession } from './peer-session.js';
import type { RelayPath } from './relay-uplink.js';

export interface PeerLinkOptions {
  name: string;
  peerKey: Uint8Array;
  identity: Identity;
  /** INIT timestamps (one clock per node, docs/protocol.md §6.3); default: in memory. */
  timestampClock?: TimestampClock;
  timings: ConnectionTimings;
  quality: QualityPolicy;
  /** The relay path to this peer (RelayUplink.pathTo). */
  relay: RelayPath;
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
  /** Longest a sequence gap holds back later frames (ms). */
  gapTimeoutMs?: number;
  /** Capabilities advertised (§7); virtio-net header bytes of pump frames (offload: 10). */
  capabilities?: number;
  vnetHdrBytes?: number;
  log?: (level: 'info' | 'warn' | 'debug', message: string, fields?: object) => void;
}

export class PeerLink implements PeerPorts, EffectPorts {
  readonly name: string;
  readonly peerKey: Uint8Array;
  readonly localKey: Uint8Array;
  readonly timings: ConnectionTimings;
  readonly quality: QualityPolicy;
  readonly counters: PeerCounters;
  readonly migration: PeerMigration;
  readonly sender: PeerSender;
  readonly activity: DataActivity;
  /** The peer's direct address from ESTABLISHED; null until paired (or when it does not listen). */
  endpoint: Address | null = null;
  paired = false;

  readonly #options: PeerLinkOptions;
  readonly #session: PeerSession;
  /** The peer's sessions as status reads them (slots, promotions). */
  readonly sessions: Pick<PeerSession, 'current' | 'holdsNext' | 'slotStats'>;
  readonly #links: DirectLinks;
  readonly #receiver: PeerReceiver;
  readonly #probes: PeerProbes;
  readonly #chartListeners = new Set<(event: ConnectionEvent) => void>();
  #closed = false;

  constructor(options: PeerLinkOptions) {
    this.#options = options;
    this.name = options.name;
    this.peerKey = options.peerKey;
    this.localKey = options.identity.publicKey;
    this.timings = options.timings;
    this.quality = options.quality;
    const log = options.log;
    this.activity = new DataActivity(options.vnetHdrBytes ?? 0);
    const counters = new PeerCounters({ warn: (line) => log?.('warn', line) });
    this.counters = counters;
    this.migration = new PeerMigration({ onStale: () => counters.drop(DropReason.STALE_ATTEMPT) });
    const session = () => this.#session.current;

    this.sessions = this.#session = new PeerSession({
      identity: options.identity,
      peerKey: options.peerKey,
      timestampClock: options.timestampClock,
      capabilities: options.capabilities ?? 0,
      counters,
      sendViaRelay: (bytes) => options.relay.send(bytes),
      paired: () => this.paired,
      onSession: () => this.#onSession(),
      log,
    });
    this.#links = new DirectLinks({
      name: options.name,
      counters,
      onData: (bytes) => this.#receiver.receive(bytes, 'direct'),
      onPong: (id) => this.#probes.answered('direct', id),
      onPeerPing: (id, echo) => this.#probes.peerPinged(id, echo),
      log: (message, fields) => log?.('info', message, fields),
    });
    this.sender = new PeerSender({
      relay: options.relay,
      direct: this.#links,
      session,
      counters,
      timings: options.timings,
      vnetHdrBytes: options.vnetHdrBytes ?? 0,
      log: (message, fields) => log?.('debug', message, fields),
    });
    this.#receiver = new PeerReceiver({
      open: (bytes) => this.#session.open(bytes),
      counters,
      gapTimeoutMs: options.gapTimeoutMs,
      vnetHdrBytes: options.vnetHdrBytes ?? 0,
      reply: (path, message) => this.sender.sendControl(path, message),
      onPong: (path, id) => this.#probes.answered(path, id),
      onPeerMigrated: (attemptId) => this.migration.arrived(attemptId),
    });
    this.#receiver.onFrames((frames) => this.activity.seenFrames(frames));
    this.#probes = new PeerProbes({
      quality: options.quality,
      pingDirect: (id, echo) => this.#links.ping(id, echo),
      sendViaRelay: (message) => this.sender.sendControl('relay', message),
    });
  }

  // ── The peer, as the node and the pump see it ───────────────────────────

  /** Where frames go now: the chart's context.transport, as its routeFrames action set it. */
  get transport(): Transport {
    return this.sender.route;
  }

  get stats() {
    return this.#probes.stats;
  }

  /** Frames dropped, by reason code. */
  get drops(): Record<string, number> {
    return this.counters.drops;
  }

  /** Counters of the in-order release (late, skipped, …). */
  get ordering() {
    return this.#receiver.ordering;
  }

  /** When the current session became current (ms since the epoch); null before the first. */
  get lastHandshake(): number | null {
    return this.#session.lastHandshake;
  }

  sendBatch(frames: readonly Uint8Array[]): number {
    this.activity.seenFrames(frames);
    return this.sender.sendBatch(frames);
  }

  /** Frames from the peer, in sequence order, a batch per release (see PeerReceiver). */
  onFrames(listener: FramesListener): () => void {
    return this.#receiver.onFrames(listener);
  }

  /** Events for this peer's chart that only the data plane sees (PEER_ADDRESS). */
  onChartEvent(listener: (event: ConnectionEvent) => void): () => void {
    this.#chartListeners.add(listener);
    return () => this.#chartListeners.delete(listener);
  }

  /** Ping the peer on the path in use; resolves with the RTT, or null on timeout. */
  async ping(timeoutMs = PING_TIMEOUT_MS): Promise<{ path: PathName; rttMs: number | null }> {
    const path: PathName = this.transport === 'relay' ? 'relay' : 'direct';
    return { path, rttMs: await this.#probes.ping(path, timeoutMs) };
  }

  /** The relay paired us with this peer (ESTABLISHED). */
  onEstablished(observed: Address, listenPort: number): void {
    this.paired = true;
    const endpoint = { family: observed.family, host: observed.host, port: listenPort };
    const changed = this.endpoint?.host !== endpoint.host || this.endpoint?.port !== endpoint.port;
    this.endpoint = listenPort > 0 ? endpoint : null;
    // The chart hears an address once a session exists: an attempt has keys to prove.
    if (!this.#session.current) this.#session.start();
    else if (changed && this.endpoint) this.#tell({ type: 'PEER_ADDRESS', address: this.endpoint });
  }

  /** The relay says the peer left. Its direct link (if any) will tell the chart itself. */
  onPeerGone(): void {
    this.paired = false;
  }

  /** An end-to-end frame from the peer, through the relay. */
  onRelayFrame(bytes: Uint8Array): void {
    switch (peekOrCount(bytes, this.counters)) {
      case FrameType.DATA:
      case FrameType.CONTROL:
        this.#receiver.receive(bytes, 'relay');
        return;
      case undefined:
        return; // refused header, counted
      case FrameType.HANDSHAKE_INIT:
      case FrameType.HANDSHAKE_RESP:
        this.#session.receive(bytes);
        return;
      default:
        this.counters.drop(DropReason.UNEXPECTED_RELAY_FRAME);
    }
  }

  /** Stop: the daemon has stopped this peer's chart first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#links.dropAll(LinkCloseCode.GOING_AWAY, 'SHUTDOWN');
    this.#receiver.close();
    this.#session.close();
    this.migration.close();
  }

  // ── PeerPorts: what the chart's actors may do ────────────────────────────

  session(): Session | null {
    return this.#session.current;
  }

  allowInbound(): void {
    this.#options.direct.allow(this.peerKey);
  }

  establish(host: string, port: number, signal: AbortSignal): Promise<DirectLink> {
    return this.#options.direct.establish(this.peerKey, host, port, signal);
  }

  adoptLink(link: DirectLink): string {
    this.#probes.resetDirect();
    return this.#links.adopt(link);
  }

  link(id: string): DirectLink | undefined {
    return this.#links.get(id);
  }

  dropLink(id: string, code: number, reason: string): void {
    this.#links.drop(id, code, reason);
  }

  nextProofFrame(linkId: string, signal: AbortSignal): Promise<Frame> {
    return this.#links.nextProofFrame(linkId, signal);
  }

  sendRaw(linkId: string, frame: Frame): boolean {
    return this.#links.sendRaw(linkId, frame);
  }

  waitPeerMigrated(attemptId: Uint8Array, signal: AbortSignal): Promise<void> {
    return this.migration.wait(attemptId, signal);
  }

  sendPing(path: PathName): number | undefined {
    return this.#probes.send(path);
  }

  onDirectProof(handler: ProofHandler): () => void {
    return this.#probes.onDirectProof(handler);
  }

  // ── Internals ────────────────────────────────────────────────────────────

  /** A new session: both directions' sequence numbers start again. */
  #onSession(): void {
    this.#receiver.newSession();
    this.sender.newSession();
    if (this.endpoint) this.#tell({ type: 'PEER_ADDRESS', address: this.endpoint });
  }

  #tell(event: ConnectionEvent): void {
    for (const listener of this.#chartListeners) listener(event);
  }
}
