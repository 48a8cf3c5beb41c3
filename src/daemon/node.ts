/**
 * A Switchback node: one identity, one relay link (to one relay of the
 * config's list at a time), one direct listener, one
 * device, and per configured peer a data plane (PeerLink) with its
 * connection chart. This file is the wiring; what the node shows the outside
 * is node-observation.ts, and docs/architecture.md draws both.
 *
 * Start-up order (each step can fail with a clear error, undoing the others):
 *   1. load the key, make the TLS certificate of it;
 *   2. open the direct listener (peers' keys authorised);
 *   3. open the device (TAP, or in-memory);
 *   4. per peer: a PeerLink on the relay uplink, its chart started, plugged into the pump;
 *   5. start the relay-link chart; on each connect (to whichever relay of the
 *      list), CONNECT to every peer: the relays pair us again, and the peers'
 *      charts and sessions carry on as they were.
 */
import type { Logger } from 'pino';
import { type Actor, createActor } from 'xstate';
import { createTlsCredentials, type TlsCredentials } from '../crypto/certificate.js';
import { encodeKey, type Identity, keysEqual } from '../crypto/identity.js';
import { loadIdentity } from '../crypto/key-file.js';
import { sodiumReady } from '../crypto/sodium.js';
import { TimestampClock } from '../crypto/timestamp.js';
import { errorCode } from '../errors.js';
import { type RelayLinkMachine, relayLinkMachine } from '../machines/relay-link.js';
import { stateString } from '../machines/state-value.js';
import { Capability } from '../protocol/capabilities.js';
import type { RelayClient } from '../relay/client.js';
import { dialDirect, establishDirect } from '../services/dial.js';
import { DirectListener } from '../services/direct-listener.js';
import { PeerIndex } from '../services/peer-index.js';
import { PeerLink } from '../services/peer-link.js';
import { RelayLinkHealth, relayLinkServices } from '../services/relay-link.js';
import { RelayUplink } from '../services/relay-uplink.js';
import type { FrameDevice } from '../tap/device.js';
import { L2Switch } from '../tap/l2-switch.js';
import { createMemoryDevicePair } from '../tap/memory-device.js';
import { PacketPump } from '../tap/pump.js';
import { openTapDevice } from '../tap/tap-device.js';
import { ConfigError, type NodeConfig, type PeerConfig } from './config.js';
import { NodeObservation, type ObservedPeer } from './node-observation.js';
import type { NodeObserver, NodeStatus, PingResult, TransitionRecord } from './node-status.js';
import { type PeerChart, type StartPeerChart, startPeerChart } from './peer-chart.js';

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
  /** How each peer's chart is started (default: startPeerChart; the model tests pass their own). */
  startChart?: StartPeerChart;
}

/** Longest close() waits for close handshakes before cutting sockets. */
const CLOSE_BUDGET_MS = 500;

interface PeerEntry extends ObservedPeer {
  /** Detach the node from the chart (its events, its snapshots). */
  offChart: () => void;
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
  readonly #byKey = new PeerIndex<PeerEntry>();
  readonly #l2: L2Switch;
  /** What this node advertises to every peer (docs/protocol.md §7). */
  readonly #capabilities: number;
  readonly #uplink = new RelayUplink();
  readonly #relayHealth = new RelayLinkHealth();
  readonly #observation: NodeObservation;
  #closed = false;
  /** INIT timestamps for every peer (docs/protocol.md §6.3): file-backed next
   * to the key file, in memory when the identity was handed in. */
  readonly #timestampClock: TimestampClock;

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
    // With an offloaded TAP every frame inside the node (pump, switch, peer
    // links) starts with its virtio-net header; the peer links convert at
    // the edge (software GSO, or an empty header) for peers without offload.
    // Super-frames from peers are taken with or without an offloaded TAP: a
    // plain TAP gets them segmented by the receiving peer link.
    const vnetHdrBytes = device.vnetHdrBytes ?? 0;
    this.#l2 = new L2Switch({ headerBytes: vnetHdrBytes });
    this.#capabilities =
      Capability.BATCHED_DATA |
      (config.tap.superframes === false ? 0 : Capability.OFFLOAD_SUPERFRAMES);
    this.pump = new PacketPump(device, this.#l2);
    this.#timestampClock = options.identity
      ? new TimestampClock()
      : TimestampClock.forKeyFile(config.keyFile);
    this.#observation = new NodeObservation(
      {
        publicKey: encodeKey(identity.publicKey),
        relayObserved: () => this.#uplink.client?.observed ?? null,
        relayHealth: this.#relayHealth,
        relayConnections: () => this.relayActor.getSnapshot().context.connections,
        get listen() {
          return { host: listener.host, port: listener.port };
        },
        device: {
          name: device.name,
          kind: options.device ? 'memory' : config.device,
          mtu: device.mtu,
          offload: vnetHdrBytes > 0,
        },
        peers: () => this.#peers.values(),
        peer: (name) => this.#peers.get(name),
      },
      options.logger,
    );
    for (const peer of config.peers) this.#addPeer(peer);

    const services = relayLinkServices({
      identity,
      timings: config.relayTimings,
      health: this.#relayHealth,
      onConnected: (client) => this.#onRelayConnected(client),
      onDisconnected: (client) => this.#uplink.release(client),
    });
    this.relayActor = createActor(relayLinkMachine.provide({ actors: services }), {
      input: {
        urls: config.relays,
        timings: config.relayTimings,
        seed: seedOf(identity.publicKey, 0),
      },
      inspect: (event) => this.#observation.inspection('relay', event),
    });
    const followRelay = () => {
      const snapshot = this.relayActor.getSnapshot();
      this.#observation.followRelay(stateString(snapshot.value), snapshot.context);
    };
    this.relayActor.subscribe(followRelay);
    followRelay();
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
      device = options.device ?? (await openDevice(config, options.logger)); // 3.
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

  /** A peer's data plane, by name. */
  peer(name: string): PeerLink | undefined {
    return this.#peers.get(name)?.link;
  }

  /** A peer's running connection chart, by name. */
  chart(name: string): PeerChart | undefined {
    return this.#peers.get(name)?.chart;
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
      this.#uplink.client?.connectPeer(peer.publicKey, this.#advertisedPort());
    }
    return { added, removed };
  }

  /**
   * Replace the relay list (a reload): the link stays where it is if its
   * relay is still listed, else it moves to the new list's first relay.
   */
  updateRelays(urls: readonly string[]): void {
    if (urls.length === 0) return; // the config never gives an empty list
    this.relayActor.send({ type: 'RELAYS_CHANGED', urls: [...urls] });
  }

  /** A peer's direct link arrived while its chart was not attempting: join its attempt. */
  peerDialled(peerKey: Uint8Array): void {
    const entry = this.#byKey.get(peerKey);
    if (!entry) return;
    this.#logger.debug({ peer: entry.config.name }, 'peer dialled us: joining its attempt');
    entry.chart.send({ type: 'PEER_DIALLED' });
  }

  /** Our own addresses changed: every chart re-probes at once. */
  networkChanged(): void {
    this.relayActor.send({ type: 'NETWORK_CHANGE' });
    for (const { chart } of this.#peers.values()) chart.send({ type: 'NETWORK_CHANGE' });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#peers.values()].map((entry) => this.#stopPeer(entry)));
    this.pump.close();
    this.relayActor.send({ type: 'STOP' });
    this.relayActor.stop();
    // Peers were told (close frames are on their way); waiting for every
    // answer is not worth blowing the 2 s shutdown budget on.
    const relay = this.#uplink.client;
    const graceful = Promise.allSettled([
      this.listener.close(),
      this.device.close(),
      relay?.close(),
    ]);
    const budget = new Promise((resolve) => setTimeout(resolve, CLOSE_BUDGET_MS).unref());
    if ((await Promise.race([graceful.then(() => 'done'), budget])) !== 'done') relay?.terminate();
  }

  // ── NodeObserver (node-observation.ts) ───────────────────────────────────

  status(): NodeStatus {
    return this.#observation.status();
  }

  recentTransitions(): TransitionRecord[] {
    return this.#observation.recentTransitions();
  }

  onTransition(listener: (record: TransitionRecord) => void): () => void {
    return this.#observation.onTransition(listener);
  }

  onInspection(listener: (peer: string, event: unknown) => void): () => void {
    return this.#observation.onInspection(listener);
  }

  ping(peer: string, options: { count: number; timeoutMs: number }): Promise<PingResult[]> {
    return this.#observation.ping(peer, options);
  }

  // ── Internals ────────────────────────────────────────────────────────────

  #addPeer(config: PeerConfig): void {
    const log = this.#logger.child({ peer: config.name });
    this.listener.authorise(config.publicKey);
    const link = new PeerLink({
      name: config.name,
      peerKey: config.publicKey,
      identity: this.identity,
      timestampClock: this.#timestampClock,
      timings: this.config.timings,
      quality: this.config.quality,
      relay: this.#uplink.pathTo(config.publicKey),
      direct: {
        allow: (key) => this.listener.authorise(key),
        establish: (key, host, port, signal) => this.#establish(key, host, port, signal),
      },
      gapTimeoutMs: this.#options.gapTimeoutMs,
      capabilities: this.#capabilities,
      vnetHdrBytes: this.device.vnetHdrBytes ?? 0,
      log: (level, message, fields) => log[level](fields ?? {}, message),
    });
    const chart = (this.#options.startChart ?? startPeerChart)({
      link,
      input: {
        peer: config.name,
        timings: this.config.timings,
        seed: seedOf(this.identity.publicKey, seedOf(config.publicKey, 1)),
      },
      inspect: (event) => this.#observation.inspection(config.name, event),
    });
    const offEvents = link.onChartEvent((event) => chart.send(event));
    const entry: PeerEntry = { config, link, chart, offChart: offEvents };
    const subscription = chart.subscribe({
      next: () => this.#observation.followPeer(entry),
      error: (error) => log.warn({ error: String(error) }, 'connection chart failed'),
    });
    entry.offChart = () => {
      offEvents();
      subscription.unsubscribe();
    };
    this.#peers.set(config.name, entry);
    this.#byKey.set(config.publicKey, entry);
    this.#observation.followPeer(entry);
    this.pump.addPeer(config.name, link);
  }

  #removePeer(name: string): void {
    const entry = this.#peers.get(name);
    if (!entry) return;
    this.pump.removePeer(name);
    this.#peers.delete(name);
    this.#byKey.delete(entry.config.publicKey);
    this.#observation.forgetPeer(name);
    this.listener.revoke(entry.config.publicKey);
    void this.#stopPeer(entry);
  }

  /** STOP the chart (its exit actions send what a leaving path owes), then close the link. */
  async #stopPeer(entry: PeerEntry): Promise<void> {
    const { chart, link } = entry;
    if (chart.getSnapshot().status === 'active') chart.send({ type: 'STOP' });
    entry.offChart();
    chart.stop();
    await link.close();
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

  #advertisedPort(): number {
    return this.#options.advertisePort ?? this.listener.port;
  }

  #onRelayConnected(client: RelayClient): void {
    this.#uplink.use(client);
    client.onForward((from, payload) => this.#byKey.get(from)?.link.onRelayFrame(payload));
    client.on('established', (event) => {
      this.#byKey.get(event.peer)?.link.onEstablished(event.observed, event.listenPort);
    });
    client.on('peer-gone', (event) => this.#byKey.get(event.peer)?.link.onPeerGone());
    client.on('notice', (event) =>
      this.#logger.debug({ code: event.code }, `relay notice: ${event.message}`),
    );
    for (const { config } of this.#peers.values()) {
      client.connectPeer(config.publicKey, this.#advertisedPort());
    }
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

/** The config's device. A TAP opens with offload unless `tap.offload` is
 * false; a kernel that refuses offload gets a plain TAP and one log line. */
async function openDevice(config: NodeConfig, logger: Logger): Promise<FrameDevice> {
  if (config.device === 'memory') {
    const names = [config.tap.name, `${config.tap.name}-peer`] as const;
    return createMemoryDevicePair({ names, mtu: config.tap.mtu })[0];
  }
  const options = {
    name: config.tap.name,
    mtu: config.tap.mtu,
    addresses: config.tap.address ? [config.tap.address] : [],
  };
  if (config.tap.offload === false) return openTapDevice(options);
  try {
    return await openTapDevice({ ...options, offload: true });
  } catch (error) {
    if (errorCode(error) !== 'TAP_OFFLOAD_REFUSED') throw error;
    logger.warn(
      { device: config.tap.name, error: String((error as Error).message) },
      'tap offload refused by the kernel: opening a plain tap (no super-frames)',
    );
    return openTapDevice(options);
  }
}

/** A stable 32-bit seed from a key, so retries of different peers do not align. */
function seedOf(key: Uint8Array, salt: number): number {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (const byte of key) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h || 1;
}
