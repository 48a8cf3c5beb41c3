/**
 * "Which relay holds this key?", asked of the whole cluster when presence has
 * no answer yet (a CONNECT for a peer whose ADD is still on its way), and
 * answered for the keys registered here. Bounded: at most
 * CLUSTER_LIMITS.maxLocatesInFlight questions at a time, each with a timeout.
 */
import { KEY_BYTES } from '../../protocol/frames.js';
import {
  type DirectoryPeer,
  type PeerId,
  type PeerLocation,
  peerIdOf,
  UNKNOWN,
} from '../peer-directory.js';
import type { Backplane } from './backplane.js';
import type { ClusterStats } from './cluster-metrics.js';
import { CLUSTER_LIMITS } from './cluster-options.js';
import {
  type ClusterMessage,
  ClusterMessageType,
  decodeClusterMessage,
  encodeClusterMessage,
  LOCATE_SUBJECT,
} from './cluster-wire.js';
import type { Presence } from './presence.js';

export interface ClusterLocatorOptions {
  backplane: Backplane;
  presence: Presence;
  counters: ClusterStats;
  sender: { name: string; instance: Uint8Array };
  locateTimeoutMs: number;
  /** The local peer with this id, if registered here. */
  localPeer: (id: PeerId) => DirectoryPeer | undefined;
}

export class ClusterLocator {
  readonly #options: ClusterLocatorOptions;
  #inFlight = 0;

  constructor(options: ClusterLocatorOptions) {
    this.#options = options;
  }

  /** What this relay knows, and when it knows nothing and may ask: a promise of the cluster's answer. */
  locate(id: PeerId): PeerLocation | Promise<PeerLocation> {
    const known = this.locateNow(id);
    if (known.kind !== 'unknown') return known;
    if (!this.#options.backplane.up || this.#inFlight >= CLUSTER_LIMITS.maxLocatesInFlight) {
      return UNKNOWN;
    }
    return this.#ask(id);
  }

  /** What this relay knows right now, without asking. */
  locateNow(id: PeerId): PeerLocation {
    const peer = this.#options.localPeer(id);
    if (peer) return { kind: 'local', peer };
    const claim = this.#options.presence.claimOf(id);
    return claim ? { kind: 'remote', relay: claim.relay.name } : UNKNOWN;
  }

  /** Someone asks who holds a key: answer only if it is here. */
  answer(data: Uint8Array, reply: string | undefined): void {
    if (!reply) return;
    const { counters, presence, backplane, sender } = this.#options;
    let message: ClusterMessage;
    try {
      message = decodeClusterMessage(data);
    } catch {
      counters.invalidMessages += 1;
      return;
    }
    if (message.type !== ClusterMessageType.LOCATE) return;
    const id = peerIdOf(message.key);
    const stamp = presence.localStamp(id);
    if (stamp === undefined || !this.#options.localPeer(id)) return;
    backplane.publish(
      reply,
      encodeClusterMessage(sender, { type: ClusterMessageType.LOCATED, key: message.key, stamp }),
    );
  }

  async #ask(id: PeerId): Promise<PeerLocation> {
    const { counters, presence, backplane, sender } = this.#options;
    this.#inFlight += 1;
    counters.locates += 1;
    try {
      const key = Buffer.from(id, 'base64url');
      if (key.length !== KEY_BYTES) return UNKNOWN;
      const answer = await backplane.request(
        LOCATE_SUBJECT,
        encodeClusterMessage(sender, { type: ClusterMessageType.LOCATE, key }),
        this.#options.locateTimeoutMs,
      );
      if (!answer) return this.locateNow(id);
      let message: ClusterMessage;
      try {
        message = decodeClusterMessage(answer);
      } catch {
        counters.invalidMessages += 1;
        return this.locateNow(id);
      }
      if (message.type === ClusterMessageType.LOCATED) {
        presence.hint(message.name, message.instance, message.key, message.stamp);
      }
      return this.locateNow(id);
    } finally {
      this.#inFlight -= 1;
    }
  }
}
