import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type ForwardParts, readForward } from '../../protocol/codec.js';
import { PeerGoneReason } from '../../protocol/frames.js';
import type { RelayStats } from '../metrics.js';
import {
  type DeliverResult,
  type DirectoryHealth,
  type DirectoryPeer,
  LocalPeerDirectory,
  type PeerDirectory,
  type PeerId,
  type PeerLocation,
  peerIdOf,
} from '../peer-directory.js';
import { Backplane } from './backplane.js';
import { ClusterLocator } from './cluster-locator.js';
import { addClusterMetrics, ClusterStats } from './cluster-metrics.js';
import {
  type ClusterOptions,
  type ClusterTimings,
  checkClusterOptions,
  resolveTimings,
} from './cluster-options.js';
import {
  type ClusterBody,
  type ClusterMessage,
  ClusterMessageType,
  controlSubject,
  decodeClusterMessage,
  encodeClusterMessage,
  forwardPrefix,
  LOCATE_SUBJECT,
  PRESENCE_SUBJECT,
  syncBodies,
} from './cluster-wire.js';
import { CrossRelayPairing } from './cross-relay-pairing.js';
import { type Claim, Presence } from './presence.js';

// A PeerDirectory for a relay in a cluster (docs/relay.md "A relay cluster").
// Local peers are handled exactly as on a lone relay (LocalPeerDirectory);
// what this adds is the other relays' peers:
//
// 1. Presence. Every registration and unregistration here is announced on
//    the presence subject (ADD/REMOVE, stamped); every relay heartbeats; a
//    relay silent for presenceExpiryMs is forgotten (presence.ts).
// 2. Pairing across relays. A CONNECT from local L naming Y, which is on
//    relay R, becomes WANT(L→Y, L's port and observed address) to R. R holds
//    it as a "remote want" for its local Y; the pair forms on each relay when
//    it holds both halves, and each relay sends ESTABLISHED to its own side,
//    with the other side's observed address and port — as on one relay
//    (cross-relay-pairing.ts, its wants in remote-wants.ts).
// 3. Forwarding. A FORWARD from L for a remote partner Y is published, as is,
//    on R's forward subject for Y (bounded: backplane.ts); R checks the pair
//    again and hands it to Y. Frames stay sealed end to end: no relay, here
//    or there, can read or forge them.
// 4. Failures. A partner's relay forgotten, or the partner registering anew
//    anywhere, gives the local side PEER_GONE; its CONNECT is kept, so the pair
//    forms again as soon as the partner is back, wherever it is.

/** A relay name used twice is logged at most this often (it is counted every time). */
const NAME_CONFLICT_LOG_MS = 10_000;

export interface ClusterDirectoryOptions extends ClusterOptions {
  log: Logger;
  /** The relay's counters: cluster drops are counted with the relay's own. */
  stats: RelayStats;
}

export class ClusterDirectory implements PeerDirectory {
  readonly name: string;
  readonly counters = new ClusterStats();
  readonly backplane: Backplane;
  readonly presence: Presence;
  private readonly local = new LocalPeerDirectory();
  private readonly pairing: CrossRelayPairing;
  private seq = 0;
  private readonly sender: { name: string; instance: Uint8Array };
  private readonly timings: ClusterTimings;
  private readonly log: Logger;
  private readonly stats: RelayStats;
  private readonly forwardPrefixLength: number;
  /** Views of the FORWARD being read (reused: one frame at a time). */
  private readonly forwardParts: ForwardParts = {
    key: new Uint8Array(0),
    payload: new Uint8Array(0),
  };
  private readonly locator: ClusterLocator;
  private readonly lastSyncSent = new Map<string, number>();
  private conflictLoggedAt = Number.NEGATIVE_INFINITY;
  private heartbeatTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;

  constructor(options: ClusterDirectoryOptions) {
    checkClusterOptions(options);
    this.name = options.name;
    this.log = options.log;
    this.stats = options.stats;
    this.timings = resolveTimings(options.timings);
    this.sender = { name: options.name, instance: new Uint8Array(randomBytes(8)) };
    this.forwardPrefixLength = forwardPrefix(options.name).length;
    this.presence = new Presence(
      options.name,
      {
        claimed: (id, claim) => this.pairing.claimed(id, claim),
        released: (id, _claim, reason) => this.pairing.released(id, reason),
        localSuperseded: (id, by) => this.localSuperseded(id, by),
        localWins: (id) => this.announce(id),
        relayJoined: (relay) => {
          this.log.info(`relay ${relay.name} joined the cluster`);
        },
        relayForgotten: (relay, cause, peers) => {
          this.counters.forgotten(cause);
          const why =
            cause === 'expired'
              ? `no heartbeat for ${this.timings.presenceExpiryMs} ms`
              : cause === 'bye'
                ? 'it said goodbye'
                : 'it restarted';
          this.log.info(`relay ${relay.name} forgotten: ${why} (${peers} peers)`);
        },
        requestSync: (relay) => {
          this.counters.syncRequests += 1;
          this.control(relay.controlSubject, { type: ClusterMessageType.SYNC_REQUEST });
        },
      },
      this.timings,
    );
    this.pairing = new CrossRelayPairing({
      local: this.local,
      presence: this.presence,
      counters: this.counters,
      control: (subject, body) => this.control(subject, body),
    });
    this.backplane = new Backplane({
      servers: options.servers,
      name: options.name,
      auth: options.auth,
      ca: options.ca,
      timings: this.timings,
      log: options.log,
      onUp: (first) => this.cameUp(first),
      onDown: () => {},
    });
    this.backplane.subscribe(PRESENCE_SUBJECT, (_subject, data) => this.controlMessage(data));
    this.backplane.subscribe(controlSubject(options.name), (_subject, data) =>
      this.controlMessage(data),
    );
    this.locator = new ClusterLocator({
      backplane: this.backplane,
      presence: this.presence,
      counters: this.counters,
      sender: this.sender,
      locateTimeoutMs: this.timings.locateTimeoutMs,
      localPeer: (id) => this.local.lookup(id),
    });
    this.backplane.subscribe(LOCATE_SUBJECT, (_subject, data, reply) =>
      this.locator.answer(data, reply),
    );
    this.backplane.subscribe(`${forwardPrefix(options.name)}*`, (subject, data) =>
      this.forwarded(subject, data),
    );
  }

  get peerCount(): number {
    return this.local.peerCount;
  }

  get pairCount(): number {
    return this.local.pairCount + this.pairing.wants.pairs;
  }

  /** Pairs with the other side on another relay. */
  get remotePairCount(): number {
    return this.pairing.wants.pairs;
  }

  async start({ signal }: { signal?: AbortSignal } = {}): Promise<void> {
    await this.backplane.start({ signal });
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.timings.heartbeatIntervalMs);
    this.sweepTimer = setInterval(() => this.presence.sweep(), this.timings.sweepIntervalMs);
  }

  /** Says goodbye (the others forget our peers at once) and leaves NATS. */
  async close(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
    this.control(PRESENCE_SUBJECT, { type: ClusterMessageType.BYE });
    await this.backplane.close();
  }

  health(): DirectoryHealth {
    const { backplane, presence } = this;
    if (!backplane.up) {
      const since = backplane.downSince
        ? ` since ${new Date(backplane.downSince).toISOString()}`
        : '';
      return {
        ok: false,
        detail: `cluster down${since}: ${backplane.downReason}; serving local peers only`,
      };
    }
    return {
      ok: true,
      detail: `cluster up as ${this.name} via ${backplane.server}: ${presence.relayCount} other relays, ${presence.size} remote peers`,
    };
  }

  addMetrics(registry: Registry): void {
    addClusterMetrics(registry, this);
  }

  // --- PeerDirectory: local peers -------------------------------------------

  register(peer: DirectoryPeer): void {
    // A remote claim of this key is released (its partners here get REPLACED).
    const stamp = this.presence.registerLocal(peer.id, peer.key);
    if (this.local.lookup(peer.id)) this.pairing.wants.dropLocal(peer.id);
    this.local.register(peer);
    this.delta({
      type: ClusterMessageType.ADD,
      seq: this.nextSeq(),
      key: peer.key,
      stamp,
    });
  }

  unregister(peer: DirectoryPeer, reason: PeerGoneReason): void {
    if (this.local.lookup(peer.id) !== peer) return;
    this.local.unregister(peer, reason);
    this.pairing.wants.dropLocal(peer.id);
    const stamp = this.presence.unregisterLocal(peer.id);
    if (stamp === undefined) return;
    this.delta({
      type: ClusterMessageType.REMOVE,
      seq: this.nextSeq(),
      key: peer.key,
      stamp,
      reason,
    });
  }

  lookup(id: PeerId): DirectoryPeer | undefined {
    return this.local.lookup(id);
  }

  locate(id: PeerId): PeerLocation | Promise<PeerLocation> {
    return this.locator.locate(id);
  }

  connect(from: DirectoryPeer, to: PeerId, listenPort: number): number {
    const asked = this.local.connect(from, to, listenPort);
    if (asked === 0 || this.local.lookup(to)) return asked;
    const claim = this.presence.claimOf(to);
    if (!claim) {
      // Not known here (yet): ask; when it turns up, `claimed` sends the WANT.
      const answer = this.locate(to);
      if (answer instanceof Promise) void answer;
      return asked;
    }
    this.pairing.connect(from, to, claim, listenPort);
    return asked;
  }

  // The hot path: a Map lookup for a local receiver, two for a remote one.
  deliver(from: DirectoryPeer, to: PeerId, frame: Uint8Array): DeliverResult {
    const local = this.local.deliver(from, to, frame);
    if (local !== 'not_paired') return local;
    const want = this.pairing.pairedWant(from.id, to);
    if (!want) return 'not_paired';
    return this.backplane.publishFrame(want.forwardSubject, frame);
  }

  // --- frames from other relays --------------------------------------------

  /** switchback.relay.<us>.fwd.<peer>: a FORWARD frame (source key in place) for a local peer. */
  private forwarded(subject: string, frame: Uint8Array): void {
    this.counters.framesReceived += 1;
    this.counters.bytesReceived += frame.length;
    try {
      readForward(frame, this.forwardParts); // version, type, key: the codec's checks
    } catch {
      this.stats.drop('cluster_bad_frame');
      return;
    }
    const to = subject.slice(this.forwardPrefixLength);
    const from = peerIdOf(this.forwardParts.key);
    // Only between peers paired here too: a stale frame after a move is dropped.
    if (!this.pairing.pairedWant(to, from)) {
      this.stats.drop('cluster_not_paired');
      return;
    }
    if (this.local.lookup(to)!.send(frame)) {
      this.stats.framesForwarded += 1;
      this.stats.bytesForwarded += frame.length;
    } else {
      this.stats.drop('receiver_buffer_full');
    }
  }

  // --- control messages ----------------------------------------------------

  private controlMessage(data: Uint8Array): void {
    let message: ClusterMessage;
    try {
      message = decodeClusterMessage(data);
    } catch (cause) {
      this.counters.invalidMessages += 1;
      this.log.debug(`cluster message refused: ${(cause as Error).message}`);
      return;
    }
    if (message.name === this.name) {
      // noEcho keeps our own messages away, so this is another process with our name.
      this.counters.nameConflicts += 1;
      const now = performance.now();
      if (now - this.conflictLoggedAt > NAME_CONFLICT_LOG_MS) {
        this.conflictLoggedAt = now;
        this.log.error(
          `cluster: another relay also calls itself ${this.name}; give each relay its own --id`,
        );
      }
      return;
    }
    const { name, instance } = message;
    const p = this.presence;
    switch (message.type) {
      case ClusterMessageType.HEARTBEAT:
        p.heartbeat(name, instance, message.seq);
        break;
      case ClusterMessageType.ADD:
        p.add(name, instance, message.seq, message.key, message.stamp);
        break;
      case ClusterMessageType.REMOVE:
        p.remove(name, instance, message.seq, message.key, message.stamp, message.reason);
        break;
      case ClusterMessageType.BYE:
        p.bye(name, instance);
        break;
      case ClusterMessageType.SYNC_REQUEST:
        this.sendSync(name);
        break;
      case ClusterMessageType.SYNC:
        p.sync(name, instance, message.seq, message.chunk, message.last, message.entries);
        break;
      case ClusterMessageType.WANT:
        this.pairing.wantArrived(message);
        break;
      default:
        this.counters.invalidMessages += 1;
    }
  }

  /** Full presence to a relay that asked (at most once per syncRetryMs each). */
  private sendSync(name: string): void {
    const now = performance.now();
    const last = this.lastSyncSent.get(name) ?? Number.NEGATIVE_INFINITY;
    if (now - last < this.timings.syncRetryMs / 2) return;
    this.lastSyncSent.set(name, now);
    if (this.lastSyncSent.size > 1_000) this.lastSyncSent.clear();
    const subject = controlSubject(name);
    for (const body of syncBodies(this.presence.localEntries(), this.seq)) {
      this.control(subject, body);
    }
  }

  // --- presence hooks --------------------------------------------------------

  /** A newer registration of a local key elsewhere: the node moved; close ours (4010). */
  private localSuperseded(id: PeerId, by: Claim): void {
    const peer = this.local.lookup(id);
    if (!peer) return;
    this.log.info(
      `peer ${id.slice(0, 8)} registered again on relay ${by.relay.name}: replacing it here`,
    );
    this.unregister(peer, PeerGoneReason.REPLACED);
    peer.replaced();
  }

  /** A remote relay claimed a key whose local registration is newer: say so again. */
  private announce(id: PeerId): void {
    const peer = this.local.lookup(id);
    const stamp = this.presence.localStamp(id);
    if (!peer || stamp === undefined) return;
    this.delta({ type: ClusterMessageType.ADD, seq: this.nextSeq(), key: peer.key, stamp });
  }

  // --- sending ---------------------------------------------------------------

  private heartbeat(): void {
    this.control(PRESENCE_SUBJECT, {
      type: ClusterMessageType.HEARTBEAT,
      seq: this.seq,
      peers: this.presence.localCount,
    });
  }

  /** On every (re)connection: say we are here; after an outage, refresh every cross-relay want. */
  private cameUp(first: boolean): void {
    this.heartbeat();
    if (!first) this.pairing.refreshAll();
  }

  private delta(body: ClusterBody): void {
    this.control(PRESENCE_SUBJECT, body);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private control(subject: string, body: ClusterBody): void {
    this.backplane.publish(subject, encodeClusterMessage(this.sender, body));
  }
}
