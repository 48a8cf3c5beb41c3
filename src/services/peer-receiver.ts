/**
 * The receive side of one peer's data plane: open, dispatch, release in order.
 *
 *   DATA or CONTROL (relay or direct) ─▶ Session.open (replay window) ─▶ by sealed kind:
 *     ETHERNET  ─▶ InOrderReceiver ─▶ onFrames(batch)         (the pump)
 *     PING      ─▶ PONG on the path it came by (that path is being measured)
 *     PONG      ─▶ onPong                                     (the probes)
 *     MIGRATE   ─▶ onPeerMigrated                             (the migrate step)
 *     KEEPALIVE ─▶ nothing more (opening it was its job)
 *
 * Control messages are in their own counter space (docs/protocol.md §9.1):
 * they are handled on arrival and never enter the data ordering, so data
 * never waits for one. Frames the ordering releases together reach the
 * listeners as one batch (an array reused between calls: listeners read it
 * during the call and keep no reference).
 */
import type { Session } from '../crypto/session.js';
import { errorCode } from '../errors.js';
import { SealedKind, type SealedMessage } from '../protocol/frames.js';
import { DropReason } from './drop-reasons.js';
import { InOrderReceiver } from './in-order-receiver.js';
import type { PeerCounters } from './peer-counters.js';
import type { PathName } from './peer-ports.js';

export type FramesListener = (frames: readonly Uint8Array[]) => void;

export const PEER_RECEIVER_DEFAULTS = {
  // Longer than any sane RTT difference between the two paths; short enough
  // that a frame lost with a dead path stalls the stream only this long.
  gapTimeoutMs: 250,
  // 4 k frames ≈ 5.6 MB of 1400-byte frames: a migration's worth of backlog.
  holdLimit: 4096,
} as const;

export interface PeerReceiverOptions {
  /** The session to open with; null before the first handshake. */
  session: () => Session | null;
  counters: PeerCounters;
  gapTimeoutMs?: number;
  /** Seal `message` and send it on `path` (the PONG answering a PING). */
  reply: (path: PathName, message: SealedMessage) => void;
  /** A sealed PONG arrived on `path`. */
  onPong: (path: PathName, id: number) => void;
  /** The peer's MIGRATE marker arrived: it has moved its sending to the direct link. */
  onPeerMigrated: () => void;
  /** A frame failed to open: it failed to authenticate, or its tag names no session of ours. */
  onDecryptFailed: () => void;
  /** A frame opened: the two sides share the session. */
  onOpened: () => void;
}

export class PeerReceiver {
  readonly #options: PeerReceiverOptions;
  readonly #listeners = new Set<FramesListener>();
  readonly #batch: Uint8Array[] = [];
  #ordering: InOrderReceiver<Uint8Array>;

  constructor(options: PeerReceiverOptions) {
    this.#options = options;
    this.#ordering = this.#newOrdering();
  }

  /** Counters of the in-order release (late, skipped, …). */
  get ordering() {
    return this.#ordering.counters;
  }

  onFrames(listener: FramesListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A DATA or CONTROL frame from the peer, by either path. */
  receive(bytes: Uint8Array, path: PathName): void {
    const options = this.#options;
    const session = options.session();
    if (!session) {
      options.counters.drop(DropReason.NO_SESSION);
      return;
    }
    let opened: ReturnType<Session['open']>;
    try {
      opened = session.open(bytes);
    } catch (error) {
      // REPLAY is the normal fate of the second copy while suspect.
      const code = errorCode(error) ?? DropReason.OPEN_FAILED;
      options.counters.drop(code);
      if (code === 'DECRYPT_FAILED' || code === 'UNKNOWN_SESSION') options.onDecryptFailed();
      return;
    }
    options.onOpened();
    options.counters.received(path, bytes.length);

    const message = opened.message;
    switch (message.kind) {
      case SealedKind.ETHERNET:
        this.#ordering.push(opened.seq, message.frame);
        return;
      case SealedKind.PING:
        options.reply(path, { kind: SealedKind.PONG, id: message.id, sentAt: message.sentAt });
        break;
      case SealedKind.PONG:
        options.onPong(path, message.id);
        break;
      case SealedKind.MIGRATE:
        // Normally on the relay, as its last frame; on the direct link when
        // the relay was down as the peer moved (PeerSender.markRelayTail).
        options.onPeerMigrated();
        break;
      case SealedKind.CLOSE:
      case SealedKind.KEEPALIVE:
        break;
    }
  }

  /** A new session: its sequence numbers start at 0 again. */
  newSession(): void {
    this.#ordering.close();
    this.#ordering = this.#newOrdering();
  }

  close(): void {
    this.#ordering.close();
  }

  #newOrdering(): InOrderReceiver<Uint8Array> {
    return new InOrderReceiver<Uint8Array>({
      gapTimeoutMs: this.#options.gapTimeoutMs ?? PEER_RECEIVER_DEFAULTS.gapTimeoutMs,
      holdLimit: PEER_RECEIVER_DEFAULTS.holdLimit,
      firstSeq: 0,
      deliver: (frame) => {
        this.#batch.push(frame);
      },
      released: () => this.#hand(),
    });
  }

  #hand(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    try {
      for (const listener of this.#listeners) listener(batch);
    } finally {
      batch.length = 0;
    }
  }
}
