/**
 * A Switchback node: one identity, one relay link, one direct listener, one
 * device, and per configured peer a connection chart with its PeerLink.
 * docs/architecture.md draws it. The node is also the NodeObserver that the
 * control API, metrics, CLI, demo and inspector read.
 *
 * Start-up order (each step can fail with a clear error, undoing the others):
 *   1. load the key, make the TLS certificate of it;
 *   2. open the direct listener (peers' keys authorised);
 *   3. open the device (TAP, or in-memory);
 *   4. create a PeerLink per peer and plug it into the pump;
 *   5. start the relay-link chart; on each connect, CONNECT to every peer.
 */
import type { Logger } from 'pino';
import { type Actor, createActor, type InspectionEvent } from 'xstate';
import { createTlsCredentials, type TlsCredentials } from '../crypto/certificate.js';
import { encodeKey, type Identity, keysEqual, loadIdentity } from '../crypto/identity.js';
import { sodiumReady } from '../crypto/sodium.js';
import { TimestampClock } from '../crypto/timestamp.js';
import { errorCode } from '../errors.js';
import { type RelayLinkMachine, relayLinkMachine } from '../machines/relay-link.js';
import type { Address } from '../protocol/frames.js';
import type { RelayClient } from '../relay/client.js';
import { dialDirect, establishDirect } from '../services/dial.js';
import { DirectListener } from '../services/direct-listener.js';
import { PeerLink, stateString } from '../services/peer-link.js';
import { relayLinkServices } from '../services/relay-link.js';
import type { FrameDevice } from '../tap/device.js';
import { L2Switch } from '../tap/l2-switch.js';
import { createMemoryDevicePair } from '../tap/memory-device.js';
import { PacketPump } from '../tap/pump.js';
import { openTapDevice } from '../tap/tap-device.js';
import { ConfigError, type NodeConfig, type PeerConfig } from './config.js';
import type {
  NodeObserver,
  NodeStatus,
  PathFigures,
  PeerStatus,
  PingResult,
  TransitionRecord,
} from './node-status.js';

export interface NodeOptions {
  logger: Logger;
  /** Use this device instead of the config's (tests, the demo). */
  device?: FrameDevice;
  /** Port to announce in CONNECT instead of the listener's (the demo's fault proxy). */
  advertisePort?: number;
  /** Do not connect to the relay until startRelay() (to set advertisePort first). */
  deferRelay?: boolean;
  /** Identity to use instead of loading config.keyFile. */
  identity?: Identity;
  /** Longest a sequence gap holds back later frames (ms). */
  gapTimeoutMs?: number;
  /** Model tests only: peers' charts are created but not started (PeerLink.followActor). */
  holdCharts?: boolean;
}

/** Bytes queued towards the relay before frames for it are dropped: the
 * direct link's cap (src/services/direct-link.ts), ~30 ms at 1 Gbit/s. */
const MAX_RELAY_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Longest close() waits for close handshakes before cutting sockets. */
const CLOSE_BUDGET_MS = 500;

/** Transitions kept for /transitions and the inspector's first screen. */
const TRANSITION_LOG_SIZE = 500;

interface PeerEntry {
  config: PeerConfig;
  link: PeerLink;
  since: number;
  transitions: number;
  lastEvent: string;
  lastState: string;
}

export class Node implements NodeObserver {
  readonly identity: Identity;
  readonly config: NodeConfig;
  readonly device: FrameDevice;
  readonly listener: DirectListener;
  readonly relayActor: Actor<RelayLinkMachine>;
  readonly pump: PacketPump;

  readonly #logger: Logger;
  readonly #credentials: TlsCredentials;
  #options: NodeOptions;
  readonly #peers = new Map<string, PeerEntry>();
  readonly #byKey = new Map<string, PeerEntry>();
  readonly #l2 = new L2Switch();
  readonly #transitions: TransitionRecord[] = [];
  readonly #transitionListeners = new Set<(record: TransitionRecord) => void>();
  readonly #inspectionListeners = new Set<(peer: string, event: unknown) => void>();
  readonly #startedAt = Date.now();
  #relay: RelayClient | null = null;
  #relayState = { state: 'connecting', reason: 'CONNECTING', lastEvent: '' };
  #closed = false;
  /** INIT timestamps for every peer (docs/protocol.md §6.3): file-backed next
   * to the key file, in memory when the identity was handed in. */
  #timestampClock!: TimestampClock;

  private constructor(
    config: NodeConfig,
    identity: Identity,
    credentials: TlsCredentials,
    listener: DirectListener,
    device: FrameDevice,
    options: NodeOptions,
  ) {
    this.config = config;
    this.identity = identity;
    this.#credentials = credentials;
    this.listener = listener;
    this.device = device;
    this.#options = options;
    this.#logger = options.logger;
    this.pump = new PacketPump(device, this.#l2);
    this.#timestampClock = options.identity
      ? new TimestampClock()
      : TimestampClock.forKeyFile(config.keyFile);
    for (const peer of config.peers) this.#addPeer(peer);

    const services = relayLinkServices({
      identity,
      connectTimeoutMs: config.relayTimings.connectTimeoutMs,
      onConnected: (client) => this.#onRelayConnected(client),
      onDisconnected: (client) => {
        if (this.#relay === client) this.#relay = null;
      },
    });
    this.relayActor = createActor(relayLinkMachine.provide({ actors: services }), {
      input: {
        url: config.relay,
        timings: config.relayTimings,
        seed: seedOf(identity.publicKey, 0),
      },
      inspect: (event) => this.#onInspection('relay', event),
    });
    this.relayActor.subscribe(() => this.#followRelay());
    if (!options.deferRelay) this.relayActor.start();
  }

  /** Connect to the relay (only needed with `deferRelay`). */
  startRelay(advertisePort?: number): void {
    if (advertisePort !== undefined) this.#options.advertisePort = advertisePort;
    this.relayActor.start();
  }

  static async start(config: NodeConfig, options: NodeOptions): Promise<Node> {
    await sodiumReady();
    const identity = options.identity ?? (await loadKey(config)); // 1.
    const self = config.peers.findIndex((p) => keysEqual(p.publicKey, identity.publicKey));
    if (self >= 0) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${config.file}: peers.${self}.publicKey: this is this node's own key; list the other nodes' keys (switchback pubkey --key THEIR_KEY)`,
      );
    }
    const credentials = await createTlsCredentials(identity);
    // The listener exists before the node does; its callbacks reach the node late-bound.
    let node: Node | undefined;
    const listener = await DirectListener.open({
      // 2.
      host: config.listen.host,
      port: config.listen.port,
      credentials,
      authorised: config.peers.map((p) => p.publicKey),
      onRefused: (reason, remote) =>
        options.logger.warn({ reason, remote }, 'direct listener refused a connection'),
      onUnclaimed: (peerKey) => node?.peerDialled(peerKey),
    });
    let device: FrameDevice;
    try {
      device = options.device ?? (await openDevice(config)); // 3.
    } catch (error) {
      await listener.close();
      throw error;
    }
    node = new Node(config, identity, credentials, listener, device, options); // 4. 5.
    return node;
  }

  get publicKey(): string {
    return encodeKey(this.identity.publicKey);
  }

  peer(name: string): PeerLink | undefined {
    return this.#peers.get(name)?.link;
  }

  /** Replace the peer list: unchanged peers keep their paths and sessions. */
  updatePeers(peers: PeerConfig[]): { added: string[]; removed: string[] } {
    const wanted = new Map(peers.map((p) => [p.publicKeyText, p]));
    const removed: string[] = [];
    for (const [name, entry] of this.#peers) {
      const keep = wanted.get(entry.config.publicKeyText);
      if (keep && keep.name === name) continue;
      removed.push(name);
      this.#removePeer(name);
    }
    const added: string[] = [];
    for (const peer of peers) {
      if (this.#peers.has(peer.name)) continue;
      added.push(peer.name);
      this.#addPeer(peer);
      if (this.#relay) this.#relay.connectPeer(peer.publicKey, this.#advertisedPort());
    }
    return { added, removed };
  }

  /** A peer's direct link arrived while its chart was not attempting. */
  peerDialled(peerKey: Uint8Array): void {
    const entry = this.#byKey.get(encodeKey(peerKey));
    if (!entry) return;
    this.#logger.debug({ peer: entry.config.name }, 'peer dialled us: joining its attempt');
    entry.link.peerDialled();
  }

  /** Our own addresses changed: every chart re-probes at once. */
  networkChanged(): void {
    this.relayActor.send({ type: 'NETWORK_CHANGE' });
    for (const { link } of this.#peers.values()) link.networkChanged();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#peers.values()].map(({ link }) => link.close()));
    this.pump.close();
    this.relayActor.send({ type: 'STOP' });
    this.relayActor.stop();
    // Peers were told (close frames are on their way); waiting for every
    // answer is not worth blowing the 2 s shutdown budget on.
    const relay = this.#relay;
    const graceful = Promise.allSettled([
      this.listener.close(),
      this.device.close(),
      relay?.close(),
    ]);
    const budget = new Promise((resolve) => setTimeout(resolve, CLOSE_BUDGET_MS).unref());
    if ((await Promise.race([graceful.then(() => 'done'), budget])) !== 'done') relay?.terminate();
  }

  // ── NodeObserver ─────────────────────────────────────────────────────────

  status(): NodeStatus {
    const observed = this.#relay?.observed;
    return {
      publicKey: this.publicKey,
      uptime: Math.round((Date.now() - this.#startedAt) / 1000),
      relay: {
        url: this.config.relay,
        state: this.#relayState.state,
        reason: this.#relayState.reason,
        observed: observed ? hostPort(observed.host, observed.port, observed.family) : null,
      },
      listen: hostPort(
        this.listener.host,
        this.listener.port,
        this.listener.host.includes(':') ? 6 : 4,
      ),
      device: {
        name: this.device.name,
        kind: this.#options.device ? 'memory' : this.config.device,
        mtu: this.device.mtu,
      },
      peers: [...this.#peers.values()].map((entry) => this.#peerStatus(entry)),
    };
  }

  recentTransitions(): TransitionRecord[] {
    return [...this.#transitions];
  }

  onTransition(listener: (record: TransitionRecord) => void): () => void {
    this.#transitionListeners.add(listener);
    return () => this.#transitionListeners.delete(listener);
  }

  onInspection(listener: (peer: string, event: unknown) => void): () => void {
    this.#inspectionListeners.add(listener);
    return () => this.#inspectionListeners.delete(listener);
  }

  async ping(peer: string, options: { count: number; timeoutMs: number }): Promise<PingResult[]> {
    const link = this.peer(peer);
    if (!link) throw new Error(`no peer named "${peer}"`);
    const results: PingResult[] = [];
    for (let i = 0; i < options.count; i++) {
      if (!link.session()) {
        results.push({ peer, path: 'relay', rttMs: null, error: 'no session' });
        continue;
      }
      const { path, rttMs } = await link.ping(options.timeoutMs);
      results.push({ peer, path, rttMs, error: rttMs === null ? 'timeout' : null });
    }
    return results;
  }

  // ── Internals ────────────────────────────────────────────────────────────

  #addPeer(config: PeerConfig): void {
    const log = this.#logger.child({ peer: config.name });
    const entry: PeerEntry = {
      config,
      since: Date.now(),
      transitions: 0,
      lastEvent: '',
      lastState: '',
      link: undefined as unknown as PeerLink,
    };
    this.#peers.set(config.name, entry);
    this.#byKey.set(config.publicKeyText, entry);
    this.listener.authorise(config.publicKey);
    entry.link = new PeerLink({
      name: config.name,
      peerKey: config.publicKey,
      identity: this.identity,
      timestampClock: this.#timestampClock,
      timings: this.config.timings,
      quality: this.config.quality,
      seed: seedOf(this.identity.publicKey, seedOf(config.publicKey, 1)),
      gapTimeoutMs: this.#options.gapTimeoutMs,
      holdChart: this.#options.holdCharts,
      sendViaRelay: (bytes) => {
        if (!this.#relayWritable()) return false;
        this.#relay!.forward(config.publicKey, bytes);
        return true;
      },
      canSendViaRelay: () => this.#relayWritable(),
      direct: {
        allow: (key) => this.listener.authorise(key),
        establish: (key, host, port, signal) => this.#establish(key, host, port, signal),
      },
      inspect: (event) => this.#onInspection(config.name, event),
      log: (level, message, fields) => log[level](fields ?? {}, message),
    });
    entry.link.actor.subscribe(() => this.#followPeer(entry));
    this.#followPeer(entry);
    this.pump.addPeer(config.name, entry.link);
  }

  #removePeer(name: string): void {
    const entry = this.#peers.get(name);
    if (!entry) return;
    this.pump.removePeer(name);
    this.#peers.delete(name);
    this.#byKey.delete(entry.config.publicKeyText);
    this.listener.revoke(entry.config.publicKey);
    void entry.link.close();
  }

  #establish(peerKey: Uint8Array, host: string, port: number, signal: AbortSignal) {
    const timings = this.config.timings;
    return establishDirect({
      localKey: this.identity.publicKey,
      peerKey,
      inbound: (handler) => this.listener.onLink(peerKey, handler),
      dial: (dialSignal) =>
        dialDirect({
          host,
          port,
          credentials: this.#credentials,
          expectedPeer: peerKey,
          timeoutMs: timings.connectTimeoutMs,
          signal: dialSignal,
        }),
      dialDelayMs: timings.dialDelayMs,
      timeoutMs: timings.connectTimeoutMs,
      signal,
    });
  }

  /** A relay that cannot keep up gets drops (counted by the peer), never an
   * unbounded queue in our memory. */
  #relayWritable(): boolean {
    const relay = this.#relay;
    return relay?.isOpen === true && relay.bufferedAmount <= MAX_RELAY_BUFFERED_BYTES;
  }

  #advertisedPort(): number {
    return this.#options.advertisePort ?? this.listener.port;
  }

  #onRelayConnected(client: RelayClient): void {
    this.#relay = client;
    client.on('established', (event) => {
      this.#byKey.get(encodeKey(event.peer))?.link.onEstablished(event.observed, event.listenPort);
    });
    client.on('forward', (event) => {
      const entry = this.#byKey.get(encodeKey(event.from));
      if (entry) entry.link.onRelayFrame(event.payload);
    });
    client.on('peer-gone', (event) => {
      this.#byKey.get(encodeKey(event.peer))?.link.onPeerGone();
    });
    client.on('notice', (event) =>
      this.#logger.debug({ code: event.code }, `relay notice: ${event.message}`),
    );
    for (const { config } of this.#peers.values()) {
      client.connectPeer(config.publicKey, this.#advertisedPort());
    }
  }

  #followPeer(entry: PeerEntry): void {
    const snapshot = entry.link.actor.getSnapshot();
    const state = stateString(snapshot.value);
    if (state === entry.lastState) return;
    const from = entry.lastState;
    entry.lastState = state;
    if (from === '') return;
    entry.transitions++;
    entry.since = Date.now();
    this.#record({
      at: entry.since,
      peer: entry.config.name,
      machine: 'connection',
      from,
      to: state,
      event: entry.lastEvent,
      reason: snapshot.context.reason,
      transport: snapshot.context.transport,
    });
  }

  #followRelay(): void {
    const snapshot = this.relayActor.getSnapshot();
    const state = stateString(snapshot.value);
    const from = this.#relayState.state;
    this.#relayState = { ...this.#relayState, state, reason: snapshot.context.reason };
    if (state === from) return;
    this.#record({
      at: Date.now(),
      peer: 'relay',
      machine: 'relayLink',
      from,
      to: state,
      event: this.#relayState.lastEvent,
      reason: snapshot.context.reason,
    });
  }

  #onInspection(peer: string, event: InspectionEvent): void {
    if (
      event.type === '@xstate.event' &&
      (event.actorRef as { sessionId?: string }).sessionId === event.rootId
    ) {
      const name = event.event.type;
      if (peer === 'relay') this.#relayState.lastEvent = name;
      else {
        const entry = this.#peers.get(peer);
        if (entry) entry.lastEvent = name;
      }
    }
    for (const listener of this.#inspectionListeners) listener(peer, event);
  }

  #record(record: TransitionRecord): void {
    this.#transitions.push(record);
    if (this.#transitions.length > TRANSITION_LOG_SIZE) this.#transitions.shift();
    const { peer, from, to, reason, event } = record;
    this.#logger.info({ peer, from, to, reason, event }, `${peer}: ${from} -> ${to} (${reason})`);
    for (const listener of this.#transitionListeners) listener(record);
  }

  #peerStatus(entry: PeerEntry): PeerStatus {
    const link = entry.link;
    const snapshot = link.actor.getSnapshot();
    const figures = (path: 'relay' | 'direct'): PathFigures => {
      const stats = link.stats[path];
      const counters = link.counters[path];
      return {
        rttMs: stats.srttMs ?? null,
        jitterMs: stats.srttMs === undefined ? null : stats.rttvarMs,
        loss: stats.sent === 0 ? null : stats.loss,
        ...counters,
      };
    };
    const endpoint = link.endpoint;
    return {
      name: entry.config.name,
      publicKey: entry.config.publicKeyText,
      path: snapshot.context.transport,
      state: stateString(snapshot.value),
      reason: snapshot.context.reason,
      since: entry.since,
      transitions: entry.transitions,
      upgrades: link.upgrades,
      fallbacks: link.fallbacks,
      endpoint: endpoint ? hostPort(endpoint.host, endpoint.port, endpoint.family) : null,
      lastHandshake: link.lastHandshake,
      paired: link.paired,
      paths: { relay: figures('relay'), direct: figures('direct') },
      drops: withGapsSkipped(link.drops, link.ordering.skipped),
    };
  }
}

/** The node's key, with the config named in the error a user has to fix. */
async function loadKey(config: NodeConfig): Promise<Identity> {
  try {
    return await loadIdentity(config.keyFile);
  } catch (error) {
    if (errorCode(error) === 'KEY_FILE_NOT_FOUND') {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${config.file}: key: ${config.keyFile} does not exist; make one with: switchback keygen --out ${config.keyFile}`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function openDevice(config: NodeConfig): Promise<FrameDevice> {
  if (config.device === 'memory') {
    const names = [config.tap.name, `${config.tap.name}-peer`] as const;
    return createMemoryDevicePair({ names, mtu: config.tap.mtu })[0];
  }
  return openTapDevice({
    name: config.tap.name,
    mtu: config.tap.mtu,
    addresses: config.tap.address ? [config.tap.address] : [],
  });
}

/** Frames the in-order receiver gave up waiting for (lost with a dead path) count as drops too. */
function withGapsSkipped(drops: Record<string, number>, skipped: number): Record<string, number> {
  return skipped > 0 ? { ...drops, gapSkipped: skipped } : { ...drops };
}

function hostPort(host: string, port: number, family: Address['family']): string {
  return family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A stable 32-bit seed from a key, so retries of different peers do not align. */
function seedOf(key: Uint8Array, salt: number): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (const byte of key) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h || 1;
}
