// Switchback wire frames. docs/protocol.md is the prose version of this file.
//
// Protocol flow (numbers match docs/protocol.md):
//   1. Client opens a WebSocket to the relay and sends HELLO(key).
//   2. Relay answers CHALLENGE(nonce, relayId); client signs and sends AUTH.
//   3. Relay verifies, answers WELCOME(observed address). Anything else before
//      WELCOME is refused with a close code (src/relay/close-codes.ts).
//   4. Both peers send CONNECT(peer key, direct listen port). When both have
//      asked for each other, the relay sends ESTABLISHED to each side.
//   5. Peers exchange end-to-end frames inside FORWARD: HANDSHAKE_INIT/RESP,
//      then DATA. The relay sees only FORWARD's destination key.
//   6. A direct TLS WebSocket opens; REHANDSHAKE_CHALLENGE/RESPONSE/CONFIRM
//      prove the session both ways on it; MIGRATE moves traffic.
//
// Framing: one frame per binary WebSocket message, on the relay link and on the
// direct link alike. Integers are big-endian. Every frame starts with
//   [0] version (PROTOCOL_VERSION)  [1] type  [2..] body
// A Key is a 32-byte Ed25519 public key. An Address is
//   family u8 (4 | 6) | address (4 | 16 bytes) | port u16

export const PROTOCOL_VERSION = 1;

/** Largest frame any decoder accepts, header included. A 1500-byte Ethernet
 * frame sealed with its headers fits with room to spare. */
export const MAX_FRAME_BYTES = 65_536;
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const NONCE_BYTES = 32;
export const SESSION_ID_BYTES = 16;
export const MAC_BYTES = 32;
/** version(1) type(1) epoch u32 counter u64: the DATA header, also the AEAD's
 * associated data (docs/protocol.md §6.1). */
export const DATA_HEADER_BYTES = 14;
/** Poly1305 tag appended to every DATA ciphertext. */
export const AEAD_TAG_BYTES = 16;
/** Smallest DATA ciphertext: one kind byte plus the tag. */
export const MIN_CIPHERTEXT_BYTES = 1 + AEAD_TAG_BYTES;
/** Largest NOTICE message, in UTF-8 bytes. */
export const MAX_NOTICE_BYTES = 1024;
/** Largest counter a sender uses (2^53 - 1, so it is exact as a JS number);
 * a session that reaches it needs a new handshake. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

export const FrameType = {
  // Relay control (plaintext between a client and the relay).
  HELLO: 0x01, //           c→r  key(32)
  CHALLENGE: 0x02, //       r→c  nonce(32) relayId(32)
  AUTH: 0x03, //            c→r  signature(64) over AUTH_CONTEXT|relayId|nonce|key
  WELCOME: 0x04, //         r→c  observed Address
  CONNECT: 0x05, //         c→r  peer key(32) listenPort u16 (0 = not listening)
  ESTABLISHED: 0x06, //     r→c  peer key(32) peer's observed Address listenPort u16
  PEER_GONE: 0x07, //       r→c  peer key(32) reason u8 (PeerGoneReason)
  FORWARD: 0x08, //         c→r  destination key(32) payload…
  //                        r→c  source key(32) payload…   (payload = an end-to-end frame)
  NOTICE: 0x09, //          r→c  code u16 message-length u16 message utf8 (non-fatal, ≤ 1024 bytes)

  // End to end (peer↔peer, inside FORWARD or raw on the direct link).
  HANDSHAKE_INIT: 0x10, //  identity(32) ephemeral(32) signature(64)   docs/protocol.md §5
  HANDSHAKE_RESP: 0x11, //  identity(32) ephemeral(32) signature(64)
  DATA: 0x20, //            epoch u32 counter u64 ciphertext(≥17) (AEAD; plaintext is a SealedMessage)

  // Direct-link proof (raw on a freshly opened direct link, before any DATA).
  REHANDSHAKE_CHALLENGE: 0x30, // sessionId(16) nonce(32)
  REHANDSHAKE_RESPONSE: 0x31, //  nonce(32) mac(32)
  REHANDSHAKE_CONFIRM: 0x32, //   mac(32)
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

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

export type Frame =
  | { type: typeof FrameType.HELLO; key: Uint8Array }
  | { type: typeof FrameType.CHALLENGE; nonce: Uint8Array; relayId: Uint8Array }
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
  | { type: typeof FrameType.DATA; epoch: number; counter: bigint; ciphertext: Uint8Array }
  | { type: typeof FrameType.REHANDSHAKE_CHALLENGE; sessionId: Uint8Array; nonce: Uint8Array }
  | { type: typeof FrameType.REHANDSHAKE_RESPONSE; nonce: Uint8Array; mac: Uint8Array }
  | { type: typeof FrameType.REHANDSHAKE_CONFIRM; mac: Uint8Array };

/** Initiator's half: identity key, ephemeral X25519 key, signature over the
 * transcript so far (docs/protocol.md §handshake). */
export interface HandshakeInit {
  type: typeof FrameType.HANDSHAKE_INIT;
  identity: Uint8Array;
  ephemeral: Uint8Array;
  signature: Uint8Array;
}

/** Responder's half, bound to the initiator's message by the signature. */
export interface HandshakeResp {
  type: typeof FrameType.HANDSHAKE_RESP;
  identity: Uint8Array;
  ephemeral: Uint8Array;
  signature: Uint8Array;
}

export type FrameOf<T extends FrameType> = Extract<Frame, { type: T }>;

// Inside DATA: the plaintext of every sealed frame starts with a kind byte.
// Ping, pong and migrate ride sealed so that every proof of life is
// authenticated and replay-checked, and share the data's sequence space.
export const SealedKind = {
  ETHERNET: 0, //  an Ethernet frame, as read from the TAP device
  PING: 1, //      id u32 sentAt u64 (sender's monotonic ms; echoed, never interpreted)
  PONG: 2, //      id u32 sentAt u64 (copied from the PING)
  MIGRATE: 3, //   lastSeq u64: last counter this sender put on the path being left
  CLOSE: 4, //     reason u8: the sender is closing this path on purpose
} as const;
export type SealedKind = (typeof SealedKind)[keyof typeof SealedKind];

export type SealedMessage =
  | { kind: typeof SealedKind.ETHERNET; frame: Uint8Array }
  | { kind: typeof SealedKind.PING; id: number; sentAt: bigint }
  | { kind: typeof SealedKind.PONG; id: number; sentAt: bigint }
  | { kind: typeof SealedKind.MIGRATE; lastSeq: bigint }
  | { kind: typeof SealedKind.CLOSE; reason: number };
