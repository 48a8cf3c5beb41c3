/**
 * Pairing across relays (docs/relay.md "A relay cluster", step 2): a CONNECT
 * from local peer L naming Y, which is on relay R, becomes WANT(L→Y, L's port
 * and observed address) to R. R holds it as a remote want for its local Y;
 * the pair forms on each relay when it holds both halves, and each relay
 * sends ESTABLISHED to its own side with the other side's observed address
 * and port — as on one relay.
 */
import type { PeerGoneReason } from '../../protocol/frames.js';
import {
  type DirectoryPeer,
  type LocalPeerDirectory,
  type PeerId,
  peerIdOf,
} from '../peer-directory.js';
import type { ClusterStats } from './cluster-metrics.js';
import {
  type ClusterBody,
  type ClusterMessage,
  ClusterMessageType,
  WantFlag,
} from './cluster-wire.js';
import type { Claim, Presence } from './presence.js';
import { type RemoteWant, RemoteWants } from './remote-wants.js';

export interface CrossRelayPairingOptions {
  local: LocalPeerDirectory;
  presence: Presence;
  counters: ClusterStats;
  /** Publish a control message on a subject. */
  control: (subject: string, body: ClusterBody) => void;
}

type Want = Extract<ClusterMessage, { type: typeof ClusterMessageType.WANT }>;

export class CrossRelayPairing {
  readonly wants = new RemoteWants();
  readonly #options: CrossRelayPairingOptions;

  constructor(options: CrossRelayPairingOptions) {
    this.#options = options;
  }

  /** The paired want for frames from local `from` to remote `to`; undefined when not paired. */
  pairedWant(from: PeerId, to: PeerId): RemoteWant | undefined {
    const want = this.wants.get(from, to);
    return want?.paired ? want : undefined;
  }

  /**
   * Local `from` asked for `to`, which is on another relay as `claim`: tell
   * that relay, and if its peer already asked for ours, the pair is there.
   */
  connect(from: DirectoryPeer, to: PeerId, claim: Claim, listenPort: number): void {
    this.#sendWant(from, claim, listenPort, WantFlag.NEW_CONNECT | WantFlag.ECHO);
    const want = this.wants.get(from.id, to);
    if (want && want.relay === claim.relay) {
      this.wants.pair(want);
      // Sent again on a repeated CONNECT too, as on one relay.
      from.established(want.info, want.listenPort);
    }
  }

  /** WANT(Y→L) from Y's relay: hold it; pair if L asked for Y too. */
  wantArrived(message: Want): void {
    const { local, presence, counters } = this.#options;
    const toId = peerIdOf(message.to);
    const target = local.lookup(toId);
    if (!target) {
      counters.staleWants += 1;
      return;
    }
    // The sender's WANT is itself news of where Y is (its ADD may still be on the way).
    const claim = presence.hint(message.name, message.instance, message.from, message.fromStamp);
    if (claim?.relay.name !== message.name || claim.stamp !== message.fromStamp) {
      counters.staleWants += 1;
      return;
    }
    const fromId = peerIdOf(message.from);
    const { want, changed } = this.wants.arrived(toId, fromId, claim, message);
    const port = local.wantPort(toId, fromId);
    if (port === undefined) return;
    if (!want.paired) {
      this.wants.pair(want);
      target.established(want.info, want.listenPort);
    } else if (message.flags & WantFlag.NEW_CONNECT || changed) {
      target.established(want.info, want.listenPort);
    }
    if (message.flags & WantFlag.ECHO) this.#sendWant(target, claim, port, 0);
  }

  /** Y is now on `claim.relay`: every local peer that asked for Y asks there. */
  claimed(id: PeerId, claim: Claim): void {
    for (const [peer, port] of this.#options.local.wantersOf(id)) {
      this.#sendWant(peer, claim, port, WantFlag.ECHO);
    }
  }

  /** Y left its relay (or registered anew): its wants are void, its pairs here end. */
  released(id: PeerId, reason: PeerGoneReason): void {
    for (const { localId, want } of this.wants.releaseRemote(id)) {
      this.#options.local.lookup(localId)?.peerGone(want.info.key, reason);
    }
  }

  /** After a backplane outage: every cross-relay want is asked again. */
  refreshAll(): void {
    const { local, presence } = this.#options;
    for (const [peer, to, port] of local.allWants()) {
      const claim = presence.claimOf(to);
      if (claim) this.#sendWant(peer, claim, port, WantFlag.ECHO);
    }
  }

  #sendWant(from: DirectoryPeer, claim: Claim, listenPort: number, flags: number): void {
    const fromStamp = this.#options.presence.localStamp(from.id);
    if (fromStamp === undefined) return;
    this.#options.counters.wantsSent += 1;
    this.#options.control(claim.relay.controlSubject, {
      type: ClusterMessageType.WANT,
      from: from.key,
      fromStamp,
      to: claim.key,
      listenPort,
      flags,
      observed: from.observed,
    });
  }
}
