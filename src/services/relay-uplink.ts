/**
 * The node's one connection to the relay, as its peers' data planes see it:
 * each peer gets a RelayPath bound to its key, so a frame for the relay is
 * one FORWARD encode (header built once per peer) and one socket write — no
 * closure into the node, no key encoding per frame.
 *
 *   PeerLink ─ RelayPath.send(sealed) ─▶ RelayUplink ─ FORWARD ─▶ RelayClient ─▶ relay
 *
 * The relay-link chart decides which RelayClient is current (use/release);
 * a path whose uplink has none, or whose socket has more than
 * maxBufferedBytes queued, is not writable and drops (the peer counts why).
 */
import { encodeForward, forwardHeader } from '../protocol/codec.js';
import { FORWARD_HEADER_BYTES, MAX_FRAME_BYTES } from '../protocol/frames.js';
import type { RelayClient } from '../relay/client.js';

/** The relay path to one peer. */
export interface RelayPath {
  /** Would send() take a frame now (relay connected, queue under its cap)? */
  readonly writable: boolean;
  /** Forward an end-to-end frame to the peer; false (and nothing sent) when not writable. */
  send(frame: Uint8Array): boolean;
}

/** Bytes queued towards the relay before frames for it are dropped: the
 * direct link's cap (direct-link.ts), ~30 ms at 1 Gbit/s. */
export const MAX_RELAY_BUFFERED_BYTES = 4 * 1024 * 1024;

/** The largest end-to-end frame a FORWARD can carry; larger ones are refused, never thrown. */
const MAX_FORWARD_PAYLOAD = MAX_FRAME_BYTES - FORWARD_HEADER_BYTES;

export class RelayUplink {
  readonly #maxBuffered: number;
  #client: RelayClient | null = null;

  constructor(options: { maxBufferedBytes?: number } = {}) {
    this.#maxBuffered = options.maxBufferedBytes ?? MAX_RELAY_BUFFERED_BYTES;
  }

  /** The relay connection in use; null while (re)connecting. */
  get client(): RelayClient | null {
    return this.#client;
  }

  /** A connection authenticated: frames go to it from now on. */
  use(client: RelayClient): void {
    this.#client = client;
  }

  /** A connection ended: forget it, unless a newer one already replaced it. */
  release(client: RelayClient): void {
    if (this.#client === client) this.#client = null;
  }

  get writable(): boolean {
    const client = this.#client;
    return client?.isOpen === true && client.bufferedAmount <= this.#maxBuffered;
  }

  /** The relay path to the peer with `peerKey`. */
  pathTo(peerKey: Uint8Array): RelayPath {
    const header = forwardHeader(peerKey);
    const uplink = this;
    return {
      get writable() {
        return uplink.writable;
      },
      send(frame) {
        if (!uplink.writable || frame.length > MAX_FORWARD_PAYLOAD) return false;
        uplink.#client!.sendForward(encodeForward(header, frame));
        return true;
      },
    };
  }
}
