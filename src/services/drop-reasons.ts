/**
 * Why a peer's frame was dropped: the keys of `drops` in status and the
 * `reason` label of switchback_peer_drops_total. One scheme everywhere:
 * UPPER_SNAKE, the same as the error codes a drop may come from (REPLAY,
 * DECRYPT_FAILED, TRUNCATED, … — an error's `code` is used as its drop
 * reason unchanged). docs/cli.md lists them all.
 */
export const DropReason = {
  /** No end-to-end session yet (the handshake has not completed). */
  NO_SESSION: 'NO_SESSION',
  /** The route is the relay and the relay link is down or full. */
  RELAY_UNAVAILABLE: 'RELAY_UNAVAILABLE',
  /** Neither path can take a frame now. */
  NO_PATH: 'NO_PATH',
  /** Larger than a sealed frame can be on any path. */
  TOO_LARGE: 'TOO_LARGE',
  /** Sealing failed for another reason (the session's own code when it has one). */
  SEAL_FAILED: 'SEAL_FAILED',
  /** Opening failed for another reason. */
  OPEN_FAILED: 'OPEN_FAILED',
  /** A frame that does not decode (its ProtocolError code when it has one). */
  BAD_FRAME: 'BAD_FRAME',
  /** A frame type the relay path never carries (only handshakes and DATA do). */
  UNEXPECTED_RELAY_FRAME: 'UNEXPECTED_RELAY_FRAME',
  /** A frame type the direct link never carries (only proofs and DATA do). */
  UNEXPECTED_DIRECT_FRAME: 'UNEXPECTED_DIRECT_FRAME',
  /** A handshake message refused for another reason. */
  HANDSHAKE_FAILED: 'HANDSHAKE_FAILED',
  /** A MIGRATE marker of another upgrade attempt (late or replayed): ignored. */
  STALE_ATTEMPT: 'STALE_ATTEMPT',
  /** Sequence numbers the in-order receiver gave up waiting for (lost with a dead path). */
  GAP_SKIPPED: 'GAP_SKIPPED',
  /** A super-frame whose gso_type software GSO does not segment (UDP, ECN, unknown): dropped. */
  GSO_UNSUPPORTED: 'GSO_UNSUPPORTED',
  /** A super-frame software GSO cannot parse (not IPv4/IPv6 TCP as its header says, bad lengths). */
  GSO_MALFORMED: 'GSO_MALFORMED',
  /** A SUPERFRAME from a peer with which OFFLOAD_SUPERFRAMES is not negotiated. */
  SUPERFRAME_NOT_NEGOTIATED: 'SUPERFRAME_NOT_NEGOTIATED',
  /** A SUPERFRAME whose virtio-net header our TAP would refuse (unknown gso_type, no segment
   * size, a checksum outside the frame): dropped before the write. */
  SUPERFRAME_BAD_HEADER: 'SUPERFRAME_BAD_HEADER',
  /** The frames of a BATCH from a peer with which BATCHED_DATA is not negotiated (one per frame). */
  BATCH_NOT_NEGOTIATED: 'BATCH_NOT_NEGOTIATED',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];
