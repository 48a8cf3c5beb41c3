import { PeerGoneReason } from '../../protocol/frames.js';
import { type PeerId, peerIdOf } from '../peer-directory.js';
import type { ClusterTimings } from './cluster-options.js';
import { controlSubject, forwardPrefix, type SnapshotEntry } from './cluster-wire.js';

// Which peer key is on which relay, cluster-wide (docs/relay.md "Presence").
// Pure: no timers, no I/O; the cluster directory feeds it what NATS brought
// and acts on what its hooks report.
//
//   a remote relay ──HEARTBEAT──▶ known (lastHeard renewed; seq compared)
//        │ ADD / REMOVE deltas, in order; a gap (missed delta) ─▶ SYNC_REQUEST ─▶ SYNC replaces its set
//        │ BYE, a new instance, or silence > presenceExpiryMs
//        ▼
//   forgotten: every key it held is released (PEER_GONE to their partners here)
//
// Newest registration wins, cluster-wide. A registration is stamped
//   stamp = max(wall-clock ms, newest stamp known for that key + 1)
// and claims compare by (stamp, relay name), the name breaking a tie. A node
// that moves from relay A to relay B registers at B while B already knows A's
// claim, so B's stamp is larger whatever the clocks say, and B wins at once.
// Only registrations B has not heard of yet (made within one NATS round trip
// of each other) are ordered by wall clock — a genuine race, either answer is
// right, and every relay picks the same one.

/** A remote relay as heard over NATS. */
export interface RelayRecord {
  readonly name: string;
  /** Hex of its instance bytes: a new value means the relay restarted. */
  readonly instance: string;
  /** Monotonic ms of its last message of any kind. */
  lastHeard: number;
  /** Last presence sequence number applied in order. */
  seq: number;
  /** True once a full SYNC arrived and no delta has been missed since. */
  synced: boolean;
  /** Monotonic ms of the last SYNC_REQUEST sent to it (-Infinity: never). */
  syncRequestedAt: number;
  /** Keys whose newest claim is on this relay. */
  readonly keys: Set<PeerId>;
  /** SYNC chunks being collected, with the next chunk number expected. */
  pending?: { next: number; entries: Map<PeerId, SnapshotEntry> };
  /** NATS subjects of this relay, built once. */
  readonly controlSubject: string;
  readonly forwardPrefix: string;
}

/** The newest registration of a key on another relay. */
export interface Claim {
  readonly key: Uint8Array;
  readonly relay: RelayRecord;
  readonly stamp: number;
}

export type ForgetCause = 'expired' | 'bye' | 'restarted';

export interface PresenceHooks {
  /** `id` is now on `claim.relay` (a new key, or a newer registration). */
  claimed(id: PeerId, claim: Claim): void;
  /** `claim` no longer holds `id`: it left (DISCONNECTED) or registered anew (REPLACED). */
  released(id: PeerId, claim: Claim, reason: PeerGoneReason): void;
  /** A newer registration elsewhere beats our local one: close it (4010). */
  localSuperseded(id: PeerId, by: Claim): void;
  /** Our local registration beats a remote one: announce ours again so that relay closes its. */
  localWins(id: PeerId): void;
  relayJoined(relay: RelayRecord): void;
  relayForgotten(relay: RelayRecord, cause: ForgetCause, peers: number): void;
  /** Ask `relay` for its full presence (SYNC_REQUEST). */
  requestSync(relay: RelayRecord): void;
}

interface Clocks {
  /** Wall clock, ms since the epoch: registration stamps. */
  wallMs(): number;
  /** Monotonic ms: expiry and retry spacing. */
  monoMs(): number;
}

export class Presence {
  private readonly relays = new Map<string, RelayRecord>();
  private readonly claims = new Map<PeerId, Claim>();
  /** Stamps of this relay's own registrations. */
  private readonly locals = new Map<PeerId, { key: Uint8Array; stamp: number }>();

  constructor(
    private readonly self: string,
    private readonly hooks: PresenceHooks,
    private readonly timings: Pick<ClusterTimings, 'presenceExpiryMs' | 'syncRetryMs'>,
    private readonly clocks: Clocks = { wallMs: Date.now, monoMs: () => performance.now() },
  ) {}

  /** Remote keys known (entries of the presence table). */
  get size(): number {
    return this.claims.size;
  }

  get relayCount(): number {
    return this.relays.size;
  }

  relayNames(): string[] {
    return [...this.relays.keys()].sort();
  }

  claimOf(id: PeerId): Claim | undefined {
    return this.claims.get(id);
  }

  relay(name: string): RelayRecord | undefined {
    return this.relays.get(name);
  }

  // --- this relay's own registrations -------------------------------------

  /** Stamps a new local registration of `key`; a remote claim of it is released (REPLACED). */
  registerLocal(id: PeerId, key: Uint8Array): number {
    const claim = this.claims.get(id);
    const previous = this.locals.get(id);
    const stamp = Math.max(
      Math.floor(this.clocks.wallMs()),
      (claim?.stamp ?? -1) + 1,
      (previous?.stamp ?? -1) + 1,
    );
    if (claim) this.release(id, claim, PeerGoneReason.REPLACED);
    this.locals.set(id, { key, stamp });
    return stamp;
  }

  /** Forgets a local registration; returns its stamp. */
  unregisterLocal(id: PeerId): number | undefined {
    const local = this.locals.get(id);
    this.locals.delete(id);
    return local?.stamp;
  }

  localStamp(id: PeerId): number | undefined {
    return this.locals.get(id)?.stamp;
  }

  /** Every local registration, for a SYNC. */
  localEntries(): SnapshotEntry[] {
    return [...this.locals.values()];
  }

  get localCount(): number {
    return this.locals.size;
  }

  // --- what other relays say ---------------------------------------------

  heartbeat(name: string, instance: string, seq: number): void {
    const relay = this.recordFor(name, instance);
    if (!relay.synced || relay.seq !== seq) this.askSync(relay);
  }

  add(name: string, instance: string, seq: number, key: Uint8Array, stamp: number): void {
    const relay = this.recordFor(name, instance);
    this.apply(relay, peerIdOf(key), key, stamp);
    this.sequence(relay, seq);
  }

  remove(
    name: string,
    instance: string,
    seq: number,
    key: Uint8Array,
    stamp: number,
    reason: PeerGoneReason,
  ): void {
    const relay = this.recordFor(name, instance);
    const id = peerIdOf(key);
    const claim = this.claims.get(id);
    if (claim?.relay === relay && claim.stamp === stamp) this.release(id, claim, reason);
    this.sequence(relay, seq);
  }

  /** One chunk of a relay's full presence; the set is replaced when the last one arrives. */
  sync(
    name: string,
    instance: string,
    seq: number,
    chunk: number,
    last: boolean,
    entries: SnapshotEntry[],
  ): void {
    const relay = this.recordFor(name, instance);
    if (chunk === 0) relay.pending = { next: 0, entries: new Map() };
    const pending = relay.pending;
    if (!pending || pending.next !== chunk) {
      // A chunk went missing: start over.
      relay.pending = undefined;
      relay.synced = false;
      this.askSync(relay, true);
      return;
    }
    for (const entry of entries) pending.entries.set(peerIdOf(entry.key), entry);
    pending.next += 1;
    if (!last) return;
    relay.pending = undefined;
    for (const id of [...relay.keys]) {
      if (!pending.entries.has(id))
        this.release(id, this.claims.get(id)!, PeerGoneReason.DISCONNECTED);
    }
    for (const [id, entry] of pending.entries) this.apply(relay, id, entry.key, entry.stamp);
    relay.seq = seq;
    relay.synced = true;
  }

  /**
   * A claim learnt on the side (a LOCATED answer, or the sender of a WANT):
   * applied like an ADD but only from a relay already heard, and without
   * touching its sequence. Returns the newest claim of the key afterwards.
   */
  hint(name: string, instance: string, key: Uint8Array, stamp: number): Claim | undefined {
    const relay = this.relays.get(name);
    const id = peerIdOf(key);
    if (relay?.instance === instance) {
      relay.lastHeard = this.clocks.monoMs();
      this.apply(relay, id, key, stamp);
    }
    return this.claims.get(id);
  }

  bye(name: string, instance: string): void {
    const relay = this.relays.get(name);
    if (relay?.instance === instance) this.forget(relay, 'bye');
  }

  /** Forgets every relay silent for longer than the expiry. */
  sweep(): void {
    const deadline = this.clocks.monoMs() - this.timings.presenceExpiryMs;
    for (const relay of [...this.relays.values()]) {
      if (relay.lastHeard < deadline) this.forget(relay, 'expired');
    }
  }

  // --- internals -----------------------------------------------------------

  private recordFor(name: string, instance: string): RelayRecord {
    let relay = this.relays.get(name);
    if (relay && relay.instance !== instance) {
      this.forget(relay, 'restarted');
      relay = undefined;
    }
    if (!relay) {
      relay = {
        name,
        instance,
        lastHeard: this.clocks.monoMs(),
        seq: 0,
        synced: false,
        syncRequestedAt: Number.NEGATIVE_INFINITY,
        keys: new Set(),
        controlSubject: controlSubject(name),
        forwardPrefix: forwardPrefix(name),
      };
      this.relays.set(name, relay);
      this.hooks.relayJoined(relay);
    }
    relay.lastHeard = this.clocks.monoMs();
    return relay;
  }

  /** Deltas carry the relay's sequence number; a gap means one was missed. */
  private sequence(relay: RelayRecord, seq: number): void {
    const inOrder = relay.synced && seq === (relay.seq + 1) >>> 0;
    relay.seq = seq;
    if (!inOrder) {
      relay.synced = false;
      this.askSync(relay);
    }
  }

  private askSync(relay: RelayRecord, now = false): void {
    const at = this.clocks.monoMs();
    if (!now && at - relay.syncRequestedAt < this.timings.syncRetryMs) return;
    relay.syncRequestedAt = at;
    this.hooks.requestSync(relay);
  }

  private apply(relay: RelayRecord, id: PeerId, key: Uint8Array, stamp: number): void {
    const local = this.locals.get(id);
    if (local) {
      if (!newer(stamp, relay.name, local.stamp, this.self)) {
        this.hooks.localWins(id);
        return;
      }
      // The hook closes the local connection, which unregisters it here.
      this.hooks.localSuperseded(id, { key, relay, stamp });
      this.locals.delete(id);
    }
    const existing = this.claims.get(id);
    if (existing) {
      if (existing.relay === relay && existing.stamp === stamp) return;
      if (!newer(stamp, relay.name, existing.stamp, existing.relay.name)) return;
      this.release(id, existing, PeerGoneReason.REPLACED);
    }
    const claim: Claim = { key, relay, stamp };
    this.claims.set(id, claim);
    relay.keys.add(id);
    this.hooks.claimed(id, claim);
  }

  private release(id: PeerId, claim: Claim, reason: PeerGoneReason): void {
    this.claims.delete(id);
    claim.relay.keys.delete(id);
    this.hooks.released(id, claim, reason);
  }

  private forget(relay: RelayRecord, cause: ForgetCause): void {
    this.relays.delete(relay.name);
    const peers = relay.keys.size;
    for (const id of [...relay.keys]) {
      this.release(id, this.claims.get(id)!, PeerGoneReason.DISCONNECTED);
    }
    this.hooks.relayForgotten(relay, cause, peers);
  }
}

/** (stamp, relay name) ordering: is a newer than b? */
export function newer(stampA: number, nameA: string, stampB: number, nameB: string): boolean {
  return stampA > stampB || (stampA === stampB && nameA > nameB);
}
