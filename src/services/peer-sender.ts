/**
 * The send side of one peer's data plane: choose the path, seal, send.
 *
 *   send(frame) ─▶ paths for the route ─▶ Session.seal ─▶ relay | direct | both
 *                                                        └▶ resend ring (direct only)
 *
 * sendBatch(frames), to a peer with BATCHED_DATA: the plain frames of one
 * read go as few BATCH messages as fit (MAX_BATCH_BYTES each, FrameGroup),
 * one seal and one socket write each; a lone frame goes at once — nothing
 * waits to be batched. From an offloaded TAP the frames without GSO are
 * plain too (checksum completed, header stripped), and so are the segments
 * of a super-frame split for a peer that takes no super-frames.
 *
 * `route` is the chart's context.transport, set by the chart's `routeFrames`
 * action and by nothing else. The paths are chosen BEFORE sealing: a sealed
 * frame then dropped would still use up a sequence number, and the far side
 * would hold every later frame for a gap that can never fill. A full direct
 * link does not lose a frame: the relay carries it, and the receiver puts it
 * back in order by sequence number.
 *
 * The chart's other send-side actions land here too: markTail (MIGRATE as a
 * path's last frame) and resendRecentDirect (what a dying direct link may
 * have swallowed goes again via the relay).
 */

import { sealedPool } from '../crypto/sealed-pool.js';
import type { Session } from '../crypto/session.js';
import { errorCode } from '../errors.js';
import type { Transport } from '../machines/connection.js';
import type { ConnectionTimings } from '../machines/connection-timings.js';
import { Capability, hasCapability } from '../protocol/capabilities.js';
import { readDataSequence } from '../protocol/codec.js';
import {
  MAX_SEALED_BYTES,
  MAX_SUPERFRAME_BYTES,
  SealedKind,
  type SealedMessage,
} from '../protocol/frames.js';
import { SoftwareGso } from '../tap/gso.js';
import {
  emptyVnetHeader,
  readVnetHeader,
  VnetGso,
  type VnetHeader,
} from '../tap/virtio-net-hdr.js';
import type { DirectLinks } from './direct-links.js';
import { DropReason } from './drop-reasons.js';
import { FrameGroup } from './frame-group.js';
import type { PeerCounters } from './peer-counters.js';
import type { PathName } from './peer-ports.js';
import type { RelayPath } from './relay-uplink.js';
import { ResendRing } from './resend-ring.js';

export const PEER_SENDER_DEFAULTS = {
  // Recent frames sent on the direct path only, kept to resend via the relay
  // when the path turns suspect or is left. Below the replay window (4064), so
  // a resent copy is never refused as stale; ~0.8 s of traffic at 5 k frames/s.
  resendRing: 4000,
  // ...and at most this many bytes: 4000 sealed super-frames would be 256 MiB.
  // 32 MiB is all 4000 plain frames (5.6 MB) and ~500 super-frames (~0.27 s
  // at 1 Gbit/s); TCP above resends what falls outside it.
  resendRingBytes: 32 << 20,
} as const;

/** The largest Ethernet frame a DATA frame carries (its sealed message is the
 * kind byte and the frame): sealed, it still fits a FORWARD on the relay, and
 * the direct path takes the same, so a frame never fits one path only
 * (docs/protocol.md §2.2). */
export const MAX_SEALABLE_FRAME = MAX_SEALED_BYTES - 1;

export interface PeerSenderOptions {
  relay: RelayPath;
  direct: DirectLinks;
  /** The session to seal with; null before the first handshake. */
  session: () => Session | null;
  counters: PeerCounters;
  timings: ConnectionTimings;
  /** Frames from the pump start with this many bytes of virtio-net header
   * (10: the node's TAP is offloaded; default 0). */
  vnetHdrBytes?: number;
  log?: (message: string, fields: object) => void;
}

/** Which paths a frame sealed now goes on. */
enum Paths {
  NONE = 0,
  RELAY = 1,
  DIRECT = 2,
  BOTH = 3,
}

export class PeerSender {
  readonly #options: PeerSenderOptions;
  readonly #ring: ResendRing;
  readonly #vnetHdrBytes: number;
  /** Software GSO for a peer without OFFLOAD_SUPERFRAMES (only with an offloaded TAP). */
  readonly #gso: SoftwareGso | undefined;
  /** The session and the count of segments sent, during one #gso.split() call. */
  #gsoSession: Session | undefined;
  #gsoSent = 0;
  readonly #emitSegment = (segment: Uint8Array): void => {
    if (this.#sealAndSend(this.#gsoSession as Session, segment, SealedKind.ETHERNET)) {
      this.#gsoSent++;
    }
  };
  /** During one grouped sendBatch() call: the BATCH being gathered, the
   * session it is sealed with, which input frames failed, and the input frame
   * that software GSO is splitting. */
  readonly #group = new FrameGroup();
  #groupSession: Session | undefined;
  readonly #failed: boolean[] = [];
  #owner = 0;
  readonly #gatherSegment = (segment: Uint8Array): void => {
    this.#gather(segment, this.#owner, true); // the segment is GSO's reused buffer
  };
  readonly #header: VnetHeader = emptyVnetHeader();
  #route: Transport = 'relay';
  /** Last sequence number put on each path in this session; -1 for none. */
  #lastSeqOn: Record<PathName, number> = { relay: -1, direct: -1 };

  constructor(options: PeerSenderOptions) {
    this.#options = options;
    const direct = options.direct;
    // A frame the ring forgets went on the direct link `owner` only; its
    // buffer (staged by the AEAD in the process's sealed pool) is free once
    // that link's socket has taken it up to `mark`.
    this.#ring = new ResendRing(
      PEER_SENDER_DEFAULTS.resendRing,
      PEER_SENDER_DEFAULTS.resendRingBytes,
      (frame, owner, mark) => {
        if (direct.settled(owner, mark)) sealedPool.release(frame);
      },
    );
    this.#vnetHdrBytes = options.vnetHdrBytes ?? 0;
    this.#gso = this.#vnetHdrBytes > 0 ? new SoftwareGso() : undefined;
  }

  /** Super-frames split by software GSO for this peer, and segments out (status, tests). */
  get gso(): { split: number; segments: number; checksummed: number } {
    return this.#gso?.counters ?? { split: 0, segments: 0, checksummed: 0 };
  }

  /** Where frames go now (the chart's context.transport). */
  get route(): Transport {
    return this.#route;
  }

  /** The chart's `routeFrames` action. */
  routeVia(transport: Transport): void {
    this.#route = transport;
  }

  writable(path: PathName): boolean {
    return path === 'relay' ? this.#options.relay.writable : this.#options.direct.writable;
  }

  /**
   * Seal an Ethernet frame and send it on the route. False when dropped
   * (counted). With an offloaded TAP `frame` starts with its virtio-net
   * header: a peer with OFFLOAD_SUPERFRAMES gets it whole as one SUPERFRAME;
   * any other peer gets plain frames cut by software GSO (docs/protocol.md §7).
   */
  send(frame: Uint8Array): boolean {
    const session = this.#options.session();
    if (!session) return this.#options.counters.drop(DropReason.NO_SESSION);
    if (this.#vnetHdrBytes === 0) return this.#sealAndSend(session, frame, SealedKind.ETHERNET);
    if (hasCapability(session.capabilities, Capability.OFFLOAD_SUPERFRAMES)) {
      if (frame.length > this.#vnetHdrBytes + MAX_SUPERFRAME_BYTES) {
        return this.#options.counters.drop(DropReason.TOO_LARGE);
      }
      return this.#sealAndSend(session, frame, SealedKind.SUPERFRAME);
    }
    this.#gsoSession = session;
    this.#gsoSent = 0;
    const result = (this.#gso as SoftwareGso).split(frame, this.#emitSegment);
    this.#gsoSession = undefined;
    if (typeof result === 'string') return this.#options.counters.drop(result);
    // Each segment counted its own drop; the super-frame went if all of it went.
    return this.#gsoSent === result;
  }

  #sealAndSend(
    session: Session,
    frame: Uint8Array,
    kind: typeof SealedKind.ETHERNET | typeof SealedKind.SUPERFRAME,
  ): boolean {
    // Refused before sealing, like every drop here: no sequence number burnt.
    if (frame.length > MAX_SEALABLE_FRAME) return this.#options.counters.drop(DropReason.TOO_LARGE);
    const paths = this.#pathsNow();
    if (paths === Paths.NONE) return this.#dropNoPath(1);
    let sealed: Uint8Array;
    try {
      sealed = session.sealEthernet(frame, kind);
    } catch (error) {
      return this.#options.counters.drop(errorCode(error) ?? DropReason.SEAL_FAILED);
    }
    this.#dispatch(sealed, paths);
    return true;
  }

  /** Frames (≥ 2, each checked by #gather) sealed as one BATCH and sent. */
  #sealAndSendBatch(session: Session, frames: Uint8Array[]): boolean {
    const paths = this.#pathsNow();
    if (paths === Paths.NONE) return this.#dropNoPath(frames.length);
    let sealed: Uint8Array;
    try {
      sealed = session.seal({ kind: SealedKind.BATCH, frames });
    } catch (error) {
      return this.#options.counters.drop(errorCode(error) ?? DropReason.SEAL_FAILED, frames.length);
    }
    this.#dispatch(sealed, paths);
    return true;
  }

  #dropNoPath(frames: number): false {
    return this.#options.counters.drop(
      this.#route === 'relay' ? DropReason.RELAY_UNAVAILABLE : DropReason.NO_PATH,
      frames,
    );
  }

  #dispatch(sealed: Uint8Array, paths: Paths): void {
    if (paths & Paths.DIRECT) {
      const sent = this.#sendOn('direct', sealed, true);
      // Only a frame that went nowhere else may be lost with the direct path.
      // Where it ends in the link's queue lets the ring's forgetting give its
      // buffer back (0: it was not queued, so it is never given back).
      if (paths === Paths.DIRECT) {
        const direct = this.#options.direct;
        this.#ring.record(
          sealed,
          performance.now(),
          sent ? direct.activeSerial : 0,
          sent ? direct.activeSentBytes : 0,
        );
      }
    }
    if (paths & Paths.RELAY) this.#sendOn('relay', sealed, true);
  }

  /**
   * The frames of one device read; returns how many were taken. To a peer
   * with BATCHED_DATA the plain frames among them go as BATCH messages (a
   * lone frame from a plain TAP as ETHERNET, at once). From an offloaded TAP
   * "plain" is every frame without GSO — its checksum completed and its
   * header stripped — and, for a peer without OFFLOAD_SUPERFRAMES, every
   * segment of a super-frame split here; a peer with it gets each GSO
   * super-frame whole, as SUPERFRAME, in its place in the order.
   */
  sendBatch(frames: readonly Uint8Array[]): number {
    const session = this.#options.session();
    if (session !== null && hasCapability(session.capabilities, Capability.BATCHED_DATA)) {
      const superframes = hasCapability(session.capabilities, Capability.OFFLOAD_SUPERFRAMES);
      // A lone frame from an offloaded TAP to a peer that takes super-frames
      // goes whole, as one SUPERFRAME: no checksum to complete here.
      if (frames.length > 1 || (this.#vnetHdrBytes > 0 && !superframes)) {
        return this.#sendGrouped(session, frames, superframes);
      }
    }
    let sent = 0;
    for (let i = 0; i < frames.length; i++) if (this.send(frames[i]!)) sent++;
    return sent;
  }

  #sendGrouped(session: Session, frames: readonly Uint8Array[], superframes: boolean): number {
    const failed = this.#failed;
    failed.length = frames.length;
    failed.fill(false);
    this.#groupSession = session;
    try {
      for (let i = 0; i < frames.length; i++) {
        const frame = frames[i]!;
        if (this.#vnetHdrBytes === 0) {
          this.#gather(frame, i, false);
          continue;
        }
        if (
          superframes &&
          readVnetHeader(frame, this.#header) &&
          this.#header.gsoType !== VnetGso.NONE
        ) {
          this.#flush(); // what came before it goes first
          failed[i] = !this.send(frame);
          continue;
        }
        this.#owner = i;
        const result = (this.#gso as SoftwareGso).split(frame, this.#gatherSegment);
        if (typeof result === 'string') failed[i] = !this.#options.counters.drop(result);
      }
      this.#flush();
    } finally {
      // The group holds views of the caller's frames (a TAP's read slab,
      // valid during this call only): never let a throw carry them over.
      this.#group.clear();
      this.#groupSession = undefined;
    }
    let sent = 0;
    for (let i = 0; i < frames.length; i++) if (!failed[i]) sent++;
    return sent;
  }

  /** A frame for the group; one that cannot be in a BATCH (a runt, or one
   * that fills a BATCH alone) goes alone, after what came before it. */
  #gather(frame: Uint8Array, owner: number, copy: boolean): void {
    const group = this.#group;
    if (!FrameGroup.batchable(frame)) {
      if (!this.#alone(frame)) this.#failed[owner] = true;
      return;
    }
    if (!group.fits(frame)) this.#flush();
    group.add(frame, owner, copy);
  }

  /** The group so far out, then `frame` on its own, so the order holds. */
  #alone(frame: Uint8Array): boolean {
    this.#flush();
    return this.#sealAndSend(this.#groupSession as Session, frame, SealedKind.ETHERNET);
  }

  /** The gathered group out: one frame as ETHERNET, more as one BATCH. A
   * failure fails every input frame that had a frame in it. */
  #flush(): void {
    const group = this.#group;
    const n = group.length;
    if (n === 0) return;
    const session = this.#groupSession as Session;
    const ok =
      n === 1
        ? this.#sealAndSend(session, group.frames[0]!, SealedKind.ETHERNET)
        : this.#sealAndSendBatch(session, group.frames);
    if (!ok) for (let i = 0; i < n; i++) this.#failed[group.owners[i]!] = true;
    group.clear();
  }

  /** Seal a control message (PING, PONG, MIGRATE) and send it on `path`, if it can go now. */
  sendControl(path: PathName, message: SealedMessage): boolean {
    const session = this.#options.session();
    if (!session || !this.writable(path)) return false; // no sequence number burnt
    return this.#sendOn(path, session.seal(message), false);
  }

  /**
   * MIGRATE(attemptId, last data sequence sent on `path`) as that path's
   * last frame: the far side learns we have moved off it, in upgrade attempt
   * `attemptId` (docs/protocol.md §12). Sent even when the path carried
   * nothing yet (the peer's migrate step waits for it as proof that we
   * switched); a dead path gets none.
   */
  markTail(path: PathName, attemptId: Uint8Array): void {
    const lastSeq = Math.max(0, this.#lastSeqOn[path]);
    this.sendControl(path, { kind: SealedKind.MIGRATE, attemptId, lastSeq: BigInt(lastSeq) });
  }

  /**
   * Entering migrating: MIGRATE as the relay's last frame. When the relay
   * cannot take it (it is down), the new direct link carries the marker
   * instead — the relay's tail is whatever it is — so an upgrade never
   * needs the relay to be up; the attempt id makes either path safe.
   */
  markRelayTail(attemptId: Uint8Array): void {
    this.markTail(this.writable('relay') ? 'relay' : 'direct', attemptId);
  }

  /**
   * Frames sent on the direct path only, since its last proof of life, may
   * sit in a dead socket: send them again via the relay. Bounded by the ring
   * and by age (suspectInterval + heartbeatInterval: older frames were
   * answered by a pong). Returns how many went.
   */
  resendRecentDirect(): number {
    const { suspectIntervalMs, heartbeatIntervalMs } = this.#options.timings;
    const since = performance.now() - (suspectIntervalMs + heartbeatIntervalMs);
    // Copies, not new frames: they keep their sequence numbers and are not
    // counted as sent again.
    const relay = this.#options.relay;
    const resent = this.#ring.drainSince(since, (sealed) => relay.send(sealed));
    this.#options.counters.resentViaRelay += resent;
    if (resent > 0) this.#options.log?.('resent recent direct frames via the relay', { resent });
    return resent;
  }

  /** A new session: its sequence numbers start again. */
  newSession(): void {
    this.#lastSeqOn = { relay: -1, direct: -1 };
    this.#ring.clear();
  }

  #pathsNow(): Paths {
    switch (this.#route) {
      case 'relay':
        return this.#options.relay.writable ? Paths.RELAY : Paths.NONE;
      case 'direct':
        if (this.#options.direct.writable) return Paths.DIRECT;
        return this.#options.relay.writable ? Paths.RELAY : Paths.NONE;
      case 'both':
        return (
          (this.#options.direct.writable ? Paths.DIRECT : 0) |
          (this.#options.relay.writable ? Paths.RELAY : 0)
        );
    }
  }

  #sendOn(path: PathName, sealed: Uint8Array, data: boolean): boolean {
    const sent =
      path === 'relay' ? this.#options.relay.send(sealed) : this.#options.direct.send(sealed);
    if (!sent) return false;
    this.#options.counters.sent(path, sealed.length);
    // Only DATA counters are data sequence numbers (CONTROL has its own space).
    if (data) this.#lastSeqOn[path] = readDataSequence(sealed);
    return true;
  }
}
