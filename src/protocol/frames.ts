// Switchback wire frames, protocol version 2. docs/protocol.md is the prose
// version of this file; its section numbers are used in comments here.
//
// Protocol flow (numbers match docs/protocol.md §5, relay flow):
//   1. Client opens a WebSocket to the relay and sends HELLO(key, capabilities).
//   2. Relay answers CHALLENGE(nonce, relayId, capabilities); the client signs
//      both capability sets with the challenge and sends AUTH.
//   3. Relay verifies, answers WELCOME(observed address). Anything else before
//      WELCOME is refused with a close code (src/relay/close-codes.ts); a frame
//      of another protocol version with 4014 VERSION_MISMATCH.
//   4. Both peers send CONNECT(peer key, direct listen port). When both have
//      asked for each other, the relay sends ESTABLISHED to each side.
//   5. Peers exchange end-to-end frames inside FORWARD: HANDSHAKE_INIT/RESP,
//      then DATA and CONTROL. The relay sees only FORWARD's destination key.
//   6. A direct TLS WebSocket opens; REHANDSHAKE_CHALLENGE/RESPONSE/CONFIRM
//      prove the session both ways on it; MIGRATE (bound to that attempt)
//      moves traffic.
//
// Framing: one frame per binary WebSocket message, on the relay link and on the
// direct link alike. Integers are big-endian. Every frame starts with
//   [0] version (PROTOCOL_VERSION = 2)  [1] type  [2..] body
// A Key is a 32-byte Ed25519 public key. An Address is
//   family u8 (4 | 6) | address (4 | 16 bytes) | port u16

export const PROTOCOL_VERSION = 2;
/** The version before this one; a frame of it is refused with one line naming
 * both versions (docs/protocol.md §13). */
export const PREVIOUS_PROTOCOL_VERSION = 1;

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 32;
export const SESSION_ID_BYTES = 16;
export const MAC_BYTES = 32;
/** TAI64N timestamp in HANDSHAKE_INIT: seconds u64 | nanoseconds u32. */
export const TIMESTAMP_BYTES = 12;
/** Capability bitfield (src/protocol/capabilities.ts). */
export const CAPABILITIES_BYTES = 4;
/** MIGRATE's attempt id (src/crypto/rehandshake.ts, attemptIdOf). */
export const ATTEMPT_ID_BYTES = 16;

// ---------------------------------------------------------------------------
// Sizes (docs/protocol.md §2.2). The largest frame on every path — relay link,
// direct link, the relay's --max-frame-bytes default, the AEAD staging area —
// must carry one TAP offload super-frame sealed and forwarded:
//
//   super-frame (an Ethernet frame of up to 64 KiB)   65 536  MAX_SUPERFRAME_BYTES
// + virtio-net header                                     10  VIRTIO_NET_HDR_BYTES
// + sealed-message header reserve (kind byte + 15)        16  SEALED_HEADER_RESERVE_BYTES
// = largest sealed plaintext                          65 562  MAX_SEALED_BYTES
// + DATA header (version type tag epoch counter)          18  DATA_HEADER_BYTES
// + Poly1305 tag                                          16  AEAD_TAG_BYTES
// = largest DATA / CONTROL frame                      65 596  MAX_DATA_FRAME_BYTES
// + FORWARD header (version type key)                     34  FORWARD_HEADER_BYTES
// = largest frame of all                              65 630  MAX_FRAME_BYTES
//
// Anything larger is refused: TOO_LARGE in the codec, close 4001 at the relay.

/** Largest Ethernet frame a TAP device with TSO/GSO offload hands over (64 KiB). */
export const MAX_SUPERFRAME_BYTES = 65_536;
/** The legacy struct virtio_net_hdr (no num_buffers) that the TAP prepends
 * with IFF_VNET_HDR and TUNSETVNETHDRSZ 10 (native/tap.c,
 * src/tap/virtio-net-hdr.ts VNET_HDR_BYTES): the header a SUPERFRAME carries. */
export const VIRTIO_NET_HDR_BYTES = 10;
/** Destination MAC, source MAC, EtherType: the least a SUPERFRAME's frame holds. */
export const ETHERNET_HEADER_BYTES = 14;
/** Room in front of a frame inside a sealed plaintext: the kind byte and up
 * to 15 bytes of a future kind's own header (batch count, flags). */
export const SEALED_HEADER_RESERVE_BYTES = 16;
export const MAX_SEALED_BYTES =
  MAX_SUPERFRAME_BYTES + VIRTIO_NET_HDR_BYTES + SEALED_HEADER_RESERVE_BYTES;
/** version(1) type(1) tag u32 epoch u32 counter u64: the header of DATA and
 * CONTROL, also the AEAD's associated data; bytes 6..18 are the nonce. */
export const DATA_HEADER_BYTES = 18;
/** Offset of the 12-byte AEAD nonce (epoch | counter) inside the DATA header. */
export const DATA_NONCE_OFFSET = 6;
/** Poly1305 tag appended to every DATA / CONTROL ciphertext. */
export const AEAD_TAG_BYTES = 16;
export const MAX_DATA_FRAME_BYTES = DATA_HEADER_BYTES + MAX_SEALED_BYTES + AEAD_TAG_BYTES;
/** version(1) type(1) key(32): what FORWARD adds in front of its payload. */
export const FORWARD_HEADER_BYTES = 2 + KEY_BYTES;
/** Largest frame any decoder accepts, header included (the arithmetic above). */
export const MAX_FRAME_BYTES = FORWARD_HEADER_BYTES + MAX_DATA_FRAME_BYTES;
/** Smallest DATA / CONTROL ciphertext: one kind byte plus the tag. */
export const MIN_CIPHERTEXT_BYTES = 1 + AEAD_TAG_BYTES;
/** Largest NOTICE message, in UTF-8 bytes. */
export const MAX_NOTICE_BYTES = 1024;
/** Largest counter a sender uses (2^53 - 1, so it is exact as a JS number);
 * a session that reaches it in either space needs a new handshake. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

export const FrameType = {
  // Relay control (plaintext between a client and the relay), §4.1.
  HELLO: 0x01, //           c→r  key(32) capabilities u32
  CHALLENGE: 0x02, //       r→c  nonce(32) relayId(32) capabilities u32
  AUTH: 0x03, //            c→r  signature(64) over AUTH_CONTEXT|relayId|nonce|key|caps|relayCaps
  WELCOME: 0x04, //         r→c  observed Address
  CONNECT: 0x05, //         c→r  peer key(32) listenPort u16 (0 = not listening)
  ESTABLISHED: 0x06, //     r→c  peer key(32) peer's observed Address listenPort u16
  PEER_GONE: 0x07, //       r→c  peer key(32) reason u8 (PeerGoneReason)
  FORWARD: 0x08, //         c→r  destination key(32) payload…
  //                        r→c  source key(32) payload…   (payload = an end-to-end frame)
  NOTICE: 0x09, //          r→c  code u16 message-length u16 message utf8 (non-fatal, ≤ 1024 bytes)

  // End to end (peer↔peer, inside FORWARD or raw on the direct link), §4.2.
  HANDSHAKE_INIT: 0x10, //  identity(32) ephemeral(32) timestamp(12) capabilities u32 signature(64)
  HANDSHAKE_RESP: 0x11, //  identity(32) ephemeral(32) capabilities u32 signature(64)
  DATA: 0x20, //            tag u32 epoch u32 counter u64 ciphertext(≥17)   data space (§9)
  CONTROL: 0x21, //         tag u32 epoch u32 counter u64 ciphertext(≥17)   control space

  // Direct-link proof (raw on a freshly opened direct link, before any DATA), §4.3.
  REHANDSHAKE_CHALLENGE: 0x30, // sessionId(16) nonce(32)
  REHANDSHAKE_RESPONSE: 0x31, //  nonce(32) mac(32)
  REHANDSHAKE_CONFIRM: 0x32, //   mac(32)
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Counter spaces of a session (docs/protocol.md §9): each has its own key,
 * counter and replay window, and its own frame type on the wire. */
export const Space = {
  DATA: 0, //    Ethernet frames: released in order among themselves
  CONTROL: 1, // ping, pong, migrate, close, keepalive: handled on arrival
} as const;
export type Space = (typeof Space)[keyof typeof Space];

export const PeerGoneReason = {
  DISCONNECTED: 1,
  REPLACED: 2,
} as const;
export type PeerGoneReason = (typeof PeerGoneReason)[keyof typeof PeerGoneReason];

export interface Address {
  family: 4 | 6;
  /** Dotted quad or RFC 5952 text form. */
  host: string;
  port: number;
}

/** A sealed frame of either space, as the generic codec sees it. */
export interface SealedFrame {
  type: typeof FrameType.DATA | typeof FrameType.CONTROL;
  /** Session tag: selects the receiver's session (SessionSlots). */
  tag: number;
  epoch: number;
  counter: bigint;
  ciphertext: Uint8Array;
}

export type Frame =
  | { type: typeof FrameType.HELLO; key: Uint8Array; capabilities: number }
  | {
      type: typeof FrameType.CHALLENGE;
      nonce: Uint8Array;
      relayId: Uint8Array;
      capabilities: number;
    }
  | { type: typeof FrameType.AUTH; signature: Uint8Array }
  | { type: typeof FrameType.WELCOME; observed: Address }
  | { type: typeof FrameType.CONNECT; peer: Uint8Array; listenPort: number }
  | {
      type: typeof FrameType.ESTABLISHED;
      peer: Uint8Array;
      observed: Address;
      listenPort: number;
    }
  | { type: typeof FrameType.PEER_GONE; peer: Uint8Array; reason: PeerGoneReason }
  | { type: typeof FrameType.FORWARD; key: Uint8Array; payload: Uint8Array }
  | { type: typeof FrameType.NOTICE; code: number; message: string }
  | HandshakeInit
  | HandshakeResp
  | SealedFrame
  | { type: typeof FrameType.REHANDSHAKE_CHALLENGE; sessionId: Uint8Array; nonce: Uint8Array }
  | { type: typeof FrameType.REHANDSHAKE_RESPONSE; nonce: Uint8Array; mac: Uint8Array }
  | { type: typeof FrameType.REHANDSHAKE_CONFIRM; mac: Uint8Array };

/** Initiator's half (docs/protocol.md §6): identity key, ephemeral X25519 key,
 * monotonic TAI64N timestamp, capabilities, and a signature over all of it. */
export interface HandshakeInit {
  type: typeof FrameType.HANDSHAKE_INIT;
  identity: Uint8Array;
  ephemeral: Uint8Array;
  /** 12 bytes, TAI64N, strictly greater than every earlier INIT of this identity. */
  timestamp: Uint8Array;
  capabilities: number;
  signature: Uint8Array;
}

/** Responder's half, bound to the initiator's message by the signature. */
export interface HandshakeResp {
  type: typeof FrameType.HANDSHAKE_RESP;
  identity: Uint8Array;
  ephemeral: Uint8Array;
  capabilities: number;
  signature: Uint8Array;
}

export type FrameOf<T extends FrameType> = Extract<Frame, { type: T }>;

// Inside DATA and CONTROL: the plaintext of every sealed frame starts with a
// kind byte. Each kind belongs to exactly one space (§9.2); a kind in the
// other space's frame is refused (UNKNOWN_KIND).
export const SealedKind = {
  ETHERNET: 0, //   data     an Ethernet frame, as read from the TAP device
  PING: 1, //       control  id u32 sentAt u64 (sender's monotonic µs; echoed, never interpreted)
  PONG: 2, //       control  id u32 sentAt u64 (copied from the PING)
  MIGRATE: 3, //    control  attemptId(16) lastSeq u64: last DATA counter put on the path being left
  CLOSE: 4, //      control  reason u8: the sender is closing this path on purpose
  KEEPALIVE: 5, //  control  flags u8 nextTag u32: sent by the initiator at once on RESP; promotes
  //                         the session; names the sender's own next session, if any (§8.2)
  SUPERFRAME: 6, // data     virtio-net header(10) | Ethernet frame of up to MAX_SUPERFRAME_BYTES, as
  //                         read from an offloaded TAP; only when OFFLOAD_SUPERFRAMES is negotiated
  BATCH: 7, //      data     { length u16 | Ethernet frame } × n, n ≥ 1, at most MAX_BATCH_BYTES in
  //                         all: the plain frames of one TAP read; only when BATCHED_DATA is negotiated
} as const;
export type SealedKind = (typeof SealedKind)[keyof typeof SealedKind];

/** Largest BATCH plaintext after its kind byte: a super-frame's worth. */
export const MAX_BATCH_BYTES = MAX_SUPERFRAME_BYTES;
/** Bytes in front of each frame inside a BATCH: its length, u16 big-endian. */
export const BATCH_LENGTH_BYTES = 2;

export type SealedMessage =
  | { kind: typeof SealedKind.ETHERNET; frame: Uint8Array }
  /** `packet` is the virtio-net header followed by the Ethernet frame. */
  | { kind: typeof SealedKind.SUPERFRAME; packet: Uint8Array }
  /** Plain Ethernet frames, in order; decoded, each is a view of the plaintext. */
  | { kind: typeof SealedKind.BATCH; frames: Uint8Array[] }
  | { kind: typeof SealedKind.PING; id: number; sentAt: bigint }
  | { kind: typeof SealedKind.PONG; id: number; sentAt: bigint }
  | { kind: typeof SealedKind.MIGRATE; attemptId: Uint8Array; lastSeq: bigint }
  | { kind: typeof SealedKind.CLOSE; reason: number }
  | {
      kind: typeof SealedKind.KEEPALIVE;
      /** Tag of the session the sender holds in its next slot, null if none. */
      nextTag: number | null;
    };

/** The space a sealed kind travels in. */
export function spaceOfKind(kind: SealedKind): Space {
  return kind === SealedKind.ETHERNET || kind === SealedKind.SUPERFRAME || kind === SealedKind.BATCH
    ? Space.DATA
    : Space.CONTROL;
}

/** The frame type that carries a space. */
export function frameTypeOfSpace(space: Space): typeof FrameType.DATA | typeof FrameType.CONTROL {
  return space === Space.DATA ? FrameType.DATA : FrameType.CONTROL;
}
