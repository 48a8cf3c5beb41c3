/**
 * Cross-relay pairing state of one relay: for each local peer L, the remote
 * peers Y (on other relays) that asked for L — "remote wants" — and which of
 * them are paired (both asked). Kept apart from the directory so its
 * invariants live in one place: `wantedBy` is the exact inverse of `byLocal`,
 * and `pairs` counts the paired wants.
 */
import type { Address } from '../../protocol/frames.js';
import type { PeerId, PeerInfo } from '../peer-directory.js';
import type { Claim, RelayRecord } from './presence.js';

/** A remote peer Y that asked for local peer L: held at L's relay. */
export interface RemoteWant {
  /** Y as ESTABLISHED describes it to L. */
  readonly info: PeerInfo;
  listenPort: number;
  readonly relay: RelayRecord;
  /** Y's registration this want belongs to. */
  readonly stamp: number;
  /** Both asked: frames flow. */
  paired: boolean;
  /** Where frames from L for Y go: Y's relay's forward subject for Y. */
  readonly forwardSubject: string;
}

export class RemoteWants {
  /** local id → remote id → that remote peer's want for the local one. */
  readonly #byLocal = new Map<PeerId, Map<PeerId, RemoteWant>>();
  /** remote id → local ids holding a want from it (to clean up when it goes). */
  readonly #wantedBy = new Map<PeerId, Set<PeerId>>();
  #pairs = 0;

  /** Pairs whose other side is on another relay. */
  get pairs(): number {
    return this.#pairs;
  }

  /** The want remote peer `remoteId` holds for local peer `localId`. */
  get(localId: PeerId, remoteId: PeerId): RemoteWant | undefined {
    return this.#byLocal.get(localId)?.get(remoteId);
  }

  /**
   * A WANT from `remoteId` (registered as `claim`) for `localId` arrived: hold
   * it, keeping the one held when nothing about it changed (its pairing too).
   */
  arrived(
    localId: PeerId,
    remoteId: PeerId,
    claim: Claim,
    asked: { listenPort: number; observed: Address },
  ): { want: RemoteWant; changed: boolean } {
    const previous = this.get(localId, remoteId);
    const changed =
      !previous ||
      previous.listenPort !== asked.listenPort ||
      previous.info.observed.host !== asked.observed.host ||
      previous.info.observed.port !== asked.observed.port;
    const want: RemoteWant =
      previous?.relay === claim.relay && previous.stamp === claim.stamp && !changed
        ? previous
        : {
            info: { id: remoteId, key: claim.key, observed: asked.observed },
            listenPort: asked.listenPort,
            relay: claim.relay,
            stamp: claim.stamp,
            paired: previous?.paired ?? false,
            forwardSubject: claim.relay.forwardPrefix + remoteId,
          };
    this.hold(localId, remoteId, want);
    return { want, changed };
  }

  /** Holds (or replaces) `want`: remote peer `remoteId` asked for local peer `localId`. */
  hold(localId: PeerId, remoteId: PeerId, want: RemoteWant): void {
    let wants = this.#byLocal.get(localId);
    if (!wants) {
      wants = new Map();
      this.#byLocal.set(localId, wants);
    }
    const previous = wants.get(remoteId);
    if (previous?.paired && previous !== want && !want.paired) this.#pairs -= 1;
    wants.set(remoteId, want);
    let by = this.#wantedBy.get(remoteId);
    if (!by) {
      by = new Set();
      this.#wantedBy.set(remoteId, by);
    }
    by.add(localId);
  }

  pair(want: RemoteWant): void {
    if (want.paired) return;
    want.paired = true;
    this.#pairs += 1;
  }

  /** Remote peer `remoteId` left: its wants end. Returns the local peers it was paired with. */
  releaseRemote(remoteId: PeerId): Array<{ localId: PeerId; want: RemoteWant }> {
    const holders = this.#wantedBy.get(remoteId);
    if (!holders) return [];
    this.#wantedBy.delete(remoteId);
    const ended: Array<{ localId: PeerId; want: RemoteWant }> = [];
    for (const localId of holders) {
      const wants = this.#byLocal.get(localId);
      const want = wants?.get(remoteId);
      if (!wants || !want) continue;
      wants.delete(remoteId);
      if (wants.size === 0) this.#byLocal.delete(localId);
      if (want.paired) {
        this.#pairs -= 1;
        ended.push({ localId, want });
      }
    }
    return ended;
  }

  /** Local peer `localId`'s registration ended: the wants held for it end too. */
  dropLocal(localId: PeerId): void {
    const wants = this.#byLocal.get(localId);
    if (!wants) return;
    this.#byLocal.delete(localId);
    for (const [remoteId, want] of wants) {
      if (want.paired) this.#pairs -= 1;
      const by = this.#wantedBy.get(remoteId);
      by?.delete(localId);
      if (by?.size === 0) this.#wantedBy.delete(remoteId);
    }
  }
}
