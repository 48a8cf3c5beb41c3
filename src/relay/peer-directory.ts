import { type Address, PeerGoneReason } from '../protocol/frames.js';

// Who is connected to the relay, who asked for whom, and how a frame reaches
// its receiver. Everything the relay knows about peers goes through this one
// interface, so a cluster-backed directory (several relays sharing presence
// and forwarding for each other over NATS — DESIGN.md "Where it grows") can
// replace the in-process one without touching connection handling.
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

export type DeliverResult = 'delivered' | 'not_paired' | 'buffer_full';

export interface PeerDirectory {
  /** Adds an authenticated peer. A peer already registered with the same key is
   * unregistered (its partners get PEER_GONE(REPLACED)) and told `replaced()`. */
  register(peer: DirectoryPeer): void;
  /** Removes `peer` (no-op if it was replaced); its partners get PEER_GONE(reason). */
  unregister(peer: DirectoryPeer, reason: PeerGoneReason): void;
  lookup(id: PeerId): DirectoryPeer | undefined;
  /** Records that `from` asks for `to`. Returns the number of peers `from` has asked for. */
  connect(from: DirectoryPeer, to: PeerId, listenPort: number): number;
  /** Hands `frame` to `to` if it is paired with `from`. */
  deliver(from: DirectoryPeer, to: PeerId, frame: Uint8Array): DeliverResult;
  readonly peerCount: number;
  readonly pairCount: number;
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

  connect(from: DirectoryPeer, to: PeerId, listenPort: number): number {
    const entry = this.entries.get(from.id);
    if (entry?.peer !== from) return 0;
    entry.wants.set(to, listenPort);
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
