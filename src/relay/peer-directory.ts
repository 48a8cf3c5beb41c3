import type { Registry } from 'prom-client';
import { keysEqual } from '../crypto/identity.js';
import { type Address, PeerGoneReason } from '../protocol/frames.js';

// Who is connected to the relay, who asked for whom, and how a frame reaches
// its receiver. Everything the relay knows about peers goes through this one
// interface: the in-process directory below, or the cluster directory
// (src/relay/cluster/cluster-directory.ts: several relays sharing presence and
// forwarding for each other over NATS) without touching connection handling.
//
// Every call is synchronous except `locate` for a key nobody here knows yet,
// which a cluster answers after asking the other relays. The hot path
// (`deliver`) never waits: a frame for a peer on another relay is handed to a
// bounded queue towards it, or dropped and counted.
//
// Pairing rule (docs/protocol.md step 4): A and B are paired while both are
// registered and each has sent CONNECT naming the other. Only paired peers
// exchange FORWARD frames. A CONNECT survives its target's absence, so when B
// reconnects and asks for A again, the pair forms again without A repeating.

/** A key as the directory indexes it: base64url of the 32 key bytes. */
export type PeerId = string;

export function peerIdOf(key: Uint8Array): PeerId {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('base64url');
}

/**
 * The PeerId of the key a connection named last. A stream of FORWARDs to one
 * partner then costs a 32-byte compare per frame instead of a base64 string;
 * a connection that alternates between partners pays what it did without it.
 */
export class PeerIdCache {
  readonly #key = new Uint8Array(32);
  /** Empty until the first key. */
  #id: PeerId = '';

  idOf(key: Uint8Array): PeerId {
    if (this.#id !== '' && keysEqual(key, this.#key)) return this.#id;
    if (key.length !== this.#key.length) return peerIdOf(key);
    this.#id = peerIdOf(key);
    this.#key.set(key);
    return this.#id;
  }
}

/** What a peer tells its partner through ESTABLISHED. */
export interface PeerInfo {
  readonly id: PeerId;
  readonly key: Uint8Array;
  /** Address and port the relay sees this peer's connection come from. */
  readonly observed: Address;
}

/** One authenticated connection, as the directory drives it. */
export interface DirectoryPeer extends PeerInfo {
  /** Queues an encoded frame to this peer; false when dropped (its send buffer is full). */
  send(frame: Uint8Array): boolean;
  /** Both sides asked for each other: tell this peer about `partner`. */
  established(partner: PeerInfo, partnerListenPort: number): void;
  /** A partner left (disconnected or replaced). */
  peerGone(partnerKey: Uint8Array, reason: PeerGoneReason): void;
  /** A newer connection registered the same key: this one is already out of
   * the directory and must close (CloseCode.REPLACED). */
  replaced(): void;
}

/**
 * What became of a FORWARD: `delivered` to a local receiver, `sent` towards
 * the relay of a remote one, or not — `not_paired`, `buffer_full` (the local
 * receiver's send buffer), `cluster_down` (no NATS), `cluster_backlog` (NATS
 * not keeping up). The caller counts the drops by these names.
 */
export type DeliverResult =
  | 'delivered'
  | 'sent'
  | 'not_paired'
  | 'buffer_full'
  | 'cluster_down'
  | 'cluster_backlog';

/** Where a key is registered, as far as this relay can tell. */
export type PeerLocation =
  | { readonly kind: 'local'; readonly peer: DirectoryPeer }
  | { readonly kind: 'remote'; readonly relay: string }
  | { readonly kind: 'unknown' };

export const UNKNOWN: PeerLocation = Object.freeze({ kind: 'unknown' });

/** What /healthz says about the directory beyond "serving". */
export interface DirectoryHealth {
  /** False while degraded (a cluster relay cut off from NATS): still serving local peers. */
  ok: boolean;
  /** One line for people, e.g. "cluster up as r1: 2 other relays, 14 remote peers". */
  detail: string;
}

export interface PeerDirectory {
  /** Adds an authenticated peer. A peer already registered with the same key is
   * unregistered (its partners get PEER_GONE(REPLACED)) and told `replaced()`. */
  register(peer: DirectoryPeer): void;
  /** Removes `peer` (no-op if it was replaced); its partners get PEER_GONE(reason). */
  unregister(peer: DirectoryPeer, reason: PeerGoneReason): void;
  /** The local connection registered with `id`, if any (never waits). */
  lookup(id: PeerId): DirectoryPeer | undefined;
  /** Where `id` is: at once when this relay knows; a promise when it has to ask. */
  locate(id: PeerId): PeerLocation | Promise<PeerLocation>;
  /** Records that `from` asks for `to`. Returns the number of peers `from` has asked for. */
  connect(from: DirectoryPeer, to: PeerId, listenPort: number): number;
  /** Hands `frame` to `to` if it is paired with `from`. */
  deliver(from: DirectoryPeer, to: PeerId, frame: Uint8Array): DeliverResult;
  /** Local peers (authenticated connections). */
  readonly peerCount: number;
  /** Pairs with at least one side here. */
  readonly pairCount: number;
  /** Brought up before the relay listens (a cluster joins NATS here). */
  start?(options: { signal?: AbortSignal }): Promise<void>;
  /** Called after every local peer was unregistered on shutdown. */
  close?(): Promise<void>;
  health?(): DirectoryHealth;
  /** Adds the directory's own metrics to the relay's registry. */
  addMetrics?(registry: Registry): void;
}

interface Entry {
  readonly peer: DirectoryPeer;
  /** Peers this one asked for, with the listen port it gave for each. */
  readonly wants: Map<PeerId, number>;
  /** Peers currently paired with this one (subset of wants, and mutual). */
  readonly partners: Set<PeerId>;
}

/** The single-process directory: two maps, no I/O. */
export class LocalPeerDirectory implements PeerDirectory {
  private readonly entries = new Map<PeerId, Entry>();
  /** Who asked for a key: target → ids of registered peers whose wants name it. */
  private readonly wanters = new Map<PeerId, Set<PeerId>>();
  private pairs = 0;

  get peerCount(): number {
    return this.entries.size;
  }

  get pairCount(): number {
    return this.pairs;
  }

  register(peer: DirectoryPeer): void {
    const previous = this.entries.get(peer.id);
    if (previous) this.unregister(previous.peer, PeerGoneReason.REPLACED);
    this.entries.set(peer.id, { peer, wants: new Map(), partners: new Set() });
    previous?.peer.replaced();
  }

  unregister(peer: DirectoryPeer, reason: PeerGoneReason): void {
    const entry = this.entries.get(peer.id);
    if (entry?.peer !== peer) return;
    this.entries.delete(peer.id);
    for (const target of entry.wants.keys()) {
      const set = this.wanters.get(target);
      set?.delete(peer.id);
      if (set?.size === 0) this.wanters.delete(target);
    }
    for (const partnerId of entry.partners) {
      const partner = this.entries.get(partnerId);
      if (!partner) continue;
      partner.partners.delete(peer.id);
      this.pairs -= 1;
      partner.peer.peerGone(peer.key, reason);
    }
  }

  lookup(id: PeerId): DirectoryPeer | undefined {
    return this.entries.get(id)?.peer;
  }

  locate(id: PeerId): PeerLocation {
    const peer = this.entries.get(id)?.peer;
    return peer ? { kind: 'local', peer } : UNKNOWN;
  }

  /** The listen port `from` gave when it asked for `to`; undefined if it did not. */
  wantPort(from: PeerId, to: PeerId): number | undefined {
    return this.entries.get(from)?.wants.get(to);
  }

  /** Registered peers that asked for `to`, with the listen port each gave. */
  *wantersOf(to: PeerId): Generator<[DirectoryPeer, number]> {
    const ids = this.wanters.get(to);
    if (!ids) return;
    for (const id of [...ids]) {
      const entry = this.entries.get(id);
      const port = entry?.wants.get(to);
      if (entry && port !== undefined) yield [entry.peer, port];
    }
  }

  /** Every registered peer with each key it asked for. */
  *allWants(): Generator<[DirectoryPeer, PeerId, number]> {
    for (const entry of this.entries.values()) {
      for (const [to, port] of entry.wants) yield [entry.peer, to, port];
    }
  }

  connect(from: DirectoryPeer, to: PeerId, listenPort: number): number {
    const entry = this.entries.get(from.id);
    if (entry?.peer !== from) return 0;
    entry.wants.set(to, listenPort);
    let set = this.wanters.get(to);
    if (!set) {
      set = new Set();
      this.wanters.set(to, set);
    }
    set.add(from.id);
    const other = this.entries.get(to);
    const otherPort = other?.wants.get(from.id);
    if (other && otherPort !== undefined) {
      if (!entry.partners.has(to)) {
        entry.partners.add(to);
        other.partners.add(from.id);
        this.pairs += 1;
      }
      // Sent again on a repeated CONNECT too: a new listen port is news for the partner.
      from.established(other.peer, otherPort);
      other.peer.established(from, listenPort);
    }
    return entry.wants.size;
  }

  deliver(from: DirectoryPeer, to: PeerId, frame: Uint8Array): DeliverResult {
    const entry = this.entries.get(from.id);
    if (entry?.peer !== from || !entry.partners.has(to)) return 'not_paired';
    const receiver = this.entries.get(to)!.peer;
    return receiver.send(frame) ? 'delivered' : 'buffer_full';
  }
}
