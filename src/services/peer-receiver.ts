/**
 * The receive side of one peer's data plane: open, dispatch, release in order.
 *
 *   DATA or CONTROL (relay or direct) ─▶ open (session slots, replay window) ─▶ by sealed kind:
 *     ETHERNET, SUPERFRAME, BATCH ─▶ the session's InOrderReceiver ─▶ onFrames(batch)  (the pump)
 *     PING      ─▶ PONG on the path it came by (that path is being measured)
 *     PONG      ─▶ onPong                                     (the probes)
 *     MIGRATE   ─▶ onPeerMigrated(attemptId)                  (the migrate step)
 *     KEEPALIVE ─▶ nothing more (opening it was its job: it may promote a session)
 *
 * Control messages are in their own counter space (docs/protocol.md §9.1):
 * they are handled on arrival and never enter the data ordering, so data
 * never waits for one. Data sequence numbers are per session, so each
 * session has its own ordering: a late frame of the previous session is put
 * in order among that session's frames, never against the new one's
 * numbers. Frames the orderings release together reach the listeners as one
 * batch (an array reused between calls: listeners read it during the call
 * and keep no reference).
 *
 * With an offloaded TAP (vnetHdrBytes 10) every frame handed on starts with a
 * virtio-net header: a SUPERFRAME carries its own (written back whole, the
 * kernel segments), a plain ETHERNET frame is copied behind an empty one in a
 * reused slab. With a plain TAP a SUPERFRAME is segmented here (software
 * GSO, as the kernel would have done) into plain frames in the same slab,
 * handed on as one batch — the pump writes them with one device call. Frames
 * in the slab, unlike the others, are valid only during the listener call
 * (the pump writes or seals them at once). A SUPERFRAME that was not
 * negotiated, or that cannot be segmented, is counted and never handed on.
 */
import type { Opened, Session } from '../crypto/session.js';
import { errorCode } from '../errors.js';
import { Capability, hasCapability } from '../protocol/capabilities.js';
import { SealedKind, type SealedMessage } from '../protocol/frames.js';
import { SoftwareGso } from '../tap/gso.js';
import { emptyVnetHeader, isWritableVnetPacket } from '../tap/virtio-net-hdr.js';
import { DropReason } from './drop-reasons.js';
import { InOrderReceiver, type InOrderReceiverCounters } from './in-order-receiver.js';
import type { PeerCounters } from './peer-counters.js';
import type { PathName } from './peer-ports.js';

export type FramesListener = (frames: readonly Uint8Array[]) => void;

export const PEER_RECEIVER_DEFAULTS = {
  // Longer than any sane RTT difference between the two paths; short enough
  // that a frame lost with a dead path stalls the stream only this long.
  gapTimeoutMs: 250,
  // 4 k frames ≈ 5.6 MB of 1400-byte frames: a migration's worth of backlog.
  holdLimit: 4096,
  // ...and at most this many bytes: 4096 super-frames would be 256 MiB.
  holdBytesLimit: 32 << 20,
  // The reused slab plain frames get their empty virtio-net header in
  // (offloaded TAP), or super-frames are segmented into (plain TAP): a full
  // batch is handed on when it fills. A 64 KiB super-frame's segments take
  // about 68 KiB.
  vnetSlabBytes: 256 << 10,
} as const;

/** What an ordering holds: an ETHERNET or SUPERFRAME message as decoded, or
 * NOTHING in place of one that was dropped, so its sequence number is still
 * released (no gap waits for it). */
type DataMessage = Extract<SealedMessage, { kind: 0 | 6 | 7 }>;
const NOTHING = null;

/** An opened frame and the session that opened it (SessionSlots.open gives one). */
export interface OpenedFrame extends Opened {
  session: Session;
}

export interface PeerReceiverOptions {
  /** Open a frame with the peer's sessions (PeerSession.open); throws the
   * refusal, which is counted here by its code. */
  open: (bytes: Uint8Array) => OpenedFrame;
  counters: PeerCounters;
  gapTimeoutMs?: number;
  /** Frames handed on start with this many bytes of virtio-net header (10:
   * the node's TAP is offloaded; default 0). */
  vnetHdrBytes?: number;
  /** Seal `message` and send it on `path` (the PONG answering a PING). */
  reply: (path: PathName, message: SealedMessage) => void;
  /** A sealed PONG arrived on `path`. */
  onPong: (path: PathName, id: number) => void;
  /** The peer's MIGRATE marker of upgrade attempt `attemptId` arrived: it
   * has moved its sending (docs/protocol.md §12). */
  onPeerMigrated: (attemptId: Uint8Array) => void;
}

export class PeerReceiver {
  readonly #options: PeerReceiverOptions;
  readonly #listeners = new Set<FramesListener>();
  readonly #batch: Uint8Array[] = [];
  readonly #vnetHdrBytes: number;
  /** Scratch for checking a SUPERFRAME's virtio-net header. */
  readonly #vnet = emptyVnetHeader();
  /** Plain frames behind an empty virtio-net header (offloaded TAP), or the
   * segments of super-frames (plain TAP; allocated when the first arrives). */
  #slab: Uint8Array | undefined;
  #slabUsed = 0;
  /** Software GSO for super-frames to a plain TAP (made with the slab). */
  #gso: SoftwareGso | undefined;
  readonly #takeSegment = (segment: Uint8Array): void => {
    this.#batch.push(this.#intoSlab(segment, 0));
  };
  /** One ordering per live session (at most the three slots'). */
  readonly #orderings = new Map<Session, InOrderReceiver<DataMessage | null>>();
  /** The last ordering used, and its session: the common case skips the map. */
  #last: InOrderReceiver<DataMessage | null> | undefined;
  #lastSession: Session | undefined;
  /** What orderings of sessions already gone counted. */
  readonly #retired: InOrderReceiverCounters = {
    delivered: 0,
    late: 0,
    skipped: 0,
    overflows: 0,
    timeouts: 0,
  };

  constructor(options: PeerReceiverOptions) {
    this.#options = options;
    this.#vnetHdrBytes = options.vnetHdrBytes ?? 0;
  }

  /** Counters of the in-order release (late, skipped, …), over every session. */
  get ordering(): InOrderReceiverCounters {
    const sum = { ...this.#retired };
    for (const ordering of this.#orderings.values()) addCounters(sum, ordering.counters);
    return sum;
  }

  onFrames(listener: FramesListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A DATA or CONTROL frame from the peer, by either path. */
  receive(bytes: Uint8Array, path: PathName): void {
    const options = this.#options;
    let opened: OpenedFrame;
    try {
      opened = options.open(bytes);
    } catch (error) {
      // REPLAY is the normal fate of the second copy while suspect.
      options.counters.drop(errorCode(error) ?? DropReason.OPEN_FAILED);
      return;
    }
    options.counters.received(path, bytes.length);

    const message = opened.message;
    switch (message.kind) {
      case SealedKind.ETHERNET:
        this.#orderingOf(opened.session).push(opened.seq, message);
        return;
      case SealedKind.SUPERFRAME: {
        // For a plain TAP the header is checked as the super-frame is
        // segmented (GSO_MALFORMED, GSO_UNSUPPORTED), on release.
        const refused = !hasCapability(opened.session.capabilities, Capability.OFFLOAD_SUPERFRAMES)
          ? DropReason.SUPERFRAME_NOT_NEGOTIATED
          : this.#vnetHdrBytes === 0 || isWritableVnetPacket(message.packet, this.#vnet)
            ? undefined
            : DropReason.SUPERFRAME_BAD_HEADER;
        if (refused !== undefined) options.counters.drop(refused);
        // A refused one still takes its sequence number, so no gap waits for it.
        this.#orderingOf(opened.session).push(
          opened.seq,
          refused === undefined ? message : NOTHING,
        );
        return;
      }
      case SealedKind.BATCH: {
        // The codec checked every length; taken whole or refused whole.
        const negotiated = hasCapability(opened.session.capabilities, Capability.BATCHED_DATA);
        if (!negotiated)
          options.counters.drop(DropReason.BATCH_NOT_NEGOTIATED, message.frames.length);
        this.#orderingOf(opened.session).push(opened.seq, negotiated ? message : NOTHING);
        return;
      }
      case SealedKind.PING:
        options.reply(path, { kind: SealedKind.PONG, id: message.id, sentAt: message.sentAt });
        return;
      case SealedKind.PONG:
        options.onPong(path, message.id);
        return;
      case SealedKind.MIGRATE:
        // Normally on the relay, as its last frame; on the direct link when
        // the relay was down as the peer moved (PeerSender.markRelayTail).
        options.onPeerMigrated(message.attemptId);
        return;
      case SealedKind.CLOSE:
      case SealedKind.KEEPALIVE:
        return;
    }
  }

  /** The current session changed: orderings of sessions that are gone are dropped. */
  newSession(): void {
    for (const [session, ordering] of this.#orderings) {
      if (!session.isClosed) continue;
      addCounters(this.#retired, ordering.counters);
      ordering.close();
      this.#orderings.delete(session);
    }
    this.#last = this.#lastSession = undefined;
  }

  close(): void {
    for (const ordering of this.#orderings.values()) ordering.close();
    this.#orderings.clear();
    this.#last = this.#lastSession = undefined;
  }

  #orderingOf(session: Session): InOrderReceiver<DataMessage | null> {
    if (session === this.#lastSession) return this.#last!;
    let ordering = this.#orderings.get(session);
    if (!ordering) {
      ordering = this.#newOrdering();
      this.#orderings.set(session, ordering);
    }
    this.#last = ordering;
    this.#lastSession = session;
    return ordering;
  }

  #newOrdering(): InOrderReceiver<DataMessage | null> {
    return new InOrderReceiver<DataMessage | null>({
      gapTimeoutMs: this.#options.gapTimeoutMs ?? PEER_RECEIVER_DEFAULTS.gapTimeoutMs,
      holdLimit: PEER_RECEIVER_DEFAULTS.holdLimit,
      holdBytesLimit: PEER_RECEIVER_DEFAULTS.holdBytesLimit,
      sizeOf: (message) => (message === null ? 0 : sizeOfData(message)),
      firstSeq: 0,
      deliver: (message) => this.#deliver(message),
      released: () => this.#hand(),
    });
  }

  /** One released message into the batch, in the device's form. */
  #deliver(message: DataMessage | null): void {
    if (message === NOTHING) return; // dropped and counted on arrival
    if (message.kind === SealedKind.SUPERFRAME) {
      // Header + frame already, for an offloaded TAP; a plain one gets it
      // segmented.
      if (this.#vnetHdrBytes > 0) this.#batch.push(message.packet);
      else this.#segment(message.packet);
      return;
    }
    if (message.kind === SealedKind.BATCH) {
      const frames = message.frames;
      for (let i = 0; i < frames.length; i++) {
        this.#batch.push(
          this.#vnetHdrBytes === 0 ? frames[i]! : this.#intoSlab(frames[i]!, this.#vnetHdrBytes),
        );
      }
      return;
    }
    if (this.#vnetHdrBytes === 0) {
      this.#batch.push(message.frame);
      return;
    }
    // ETHERNET to an offloaded TAP: an empty virtio-net header in front
    // (gso NONE, checksum complete), in the reused slab.
    this.#batch.push(this.#intoSlab(message.frame, this.#vnetHdrBytes));
  }

  /** A super-frame for a plain TAP: its segments into the slab, each one
   * into the batch; a super-frame that cannot be segmented is counted. */
  #segment(packet: Uint8Array): void {
    this.#gso ??= new SoftwareGso();
    const result = this.#gso.split(packet, this.#takeSegment);
    if (typeof result === 'string') this.#options.counters.drop(result);
  }

  /** `frame` copied into the slab behind `headerBytes` zero bytes (an empty
   * virtio-net header, or none); the batch is handed on first when full. */
  #intoSlab(frame: Uint8Array, headerBytes: number): Uint8Array {
    this.#slab ??= new Uint8Array(PEER_RECEIVER_DEFAULTS.vnetSlabBytes);
    const slab = this.#slab;
    const size = headerBytes + frame.length;
    if (this.#slabUsed + size > slab.length) this.#hand();
    const at = this.#slabUsed;
    if (headerBytes > 0) slab.fill(0, at, at + headerBytes);
    slab.set(frame, at + headerBytes);
    this.#slabUsed = at + size;
    return slab.subarray(at, at + size);
  }

  /** Segments of super-frames segmented here (status, tests). */
  get gso(): { split: number; segments: number; checksummed: number } {
    return this.#gso?.counters ?? { split: 0, segments: 0, checksummed: 0 };
  }

  #hand(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    try {
      for (const listener of this.#listeners) listener(batch);
    } finally {
      batch.length = 0;
      this.#slabUsed = 0;
    }
  }
}

function sizeOfData(message: DataMessage): number {
  switch (message.kind) {
    case SealedKind.SUPERFRAME:
      return message.packet.length;
    case SealedKind.BATCH: {
      let bytes = 0;
      for (const frame of message.frames) bytes += frame.length;
      return bytes;
    }
    default:
      return message.frame.length;
  }
}

function addCounters(into: InOrderReceiverCounters, from: InOrderReceiverCounters): void {
  into.delivered += from.delivered;
  into.late += from.late;
  into.skipped += from.skipped;
  into.overflows += from.overflows;
  into.timeouts += from.timeouts;
}
