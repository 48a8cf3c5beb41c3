// fast-check arbitraries for wire frames: every valid frame, canonical form.
// Shared by codec tests (and usable by relay fuzz tests).
import fc from 'fast-check';
import { decodeFrame } from '../../../src/protocol/codec.js';
import {
  type Address,
  type Frame,
  FrameType,
  PeerGoneReason,
} from '../../../src/protocol/frames.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u16 = fc.integer({ min: 0, max: 0xffff });
const ipv4 = fc.ipV4().map((host): Address => ({ family: 4, host, port: 0 }));
const ipv6 = bytes(16).map((raw): Address => {
  // Canonical text via a decode of the raw bytes.
  const frame = new Uint8Array(2 + 1 + 16 + 2);
  frame.set([1, FrameType.WELCOME, 6]);
  frame.set(raw, 3);
  return (decodeFrame(frame) as { observed: Address }).observed;
});
const address = fc.tuple(fc.oneof(ipv4, ipv6), u16).map(([a, port]): Address => ({ ...a, port }));

export const arbitraryFrame: fc.Arbitrary<Frame> = fc.oneof(
  bytes(32).map((key): Frame => ({ type: FrameType.HELLO, key })),
  fc
    .tuple(bytes(32), bytes(32))
    .map(([nonce, relayId]): Frame => ({ type: FrameType.CHALLENGE, nonce, relayId })),
  bytes(64).map((signature): Frame => ({ type: FrameType.AUTH, signature })),
  address.map((observed): Frame => ({ type: FrameType.WELCOME, observed })),
  fc
    .tuple(bytes(32), u16)
    .map(([peer, listenPort]): Frame => ({ type: FrameType.CONNECT, peer, listenPort })),
  fc.tuple(bytes(32), address, u16).map(
    ([peer, observed, listenPort]): Frame => ({
      type: FrameType.ESTABLISHED,
      peer,
      observed,
      listenPort,
    }),
  ),
  fc
    .tuple(bytes(32), fc.constantFrom(...Object.values(PeerGoneReason)))
    .map(([peer, reason]): Frame => ({ type: FrameType.PEER_GONE, peer, reason })),
  fc
    .tuple(bytes(32), fc.uint8Array({ maxLength: 300 }))
    .map(([key, payload]): Frame => ({ type: FrameType.FORWARD, key, payload })),
  fc
    .tuple(u16, fc.string({ maxLength: 200, unit: 'grapheme' }))
    .map(([code, message]): Frame => ({ type: FrameType.NOTICE, code, message })),
  fc
    .tuple(
      fc.constantFrom(FrameType.HANDSHAKE_INIT, FrameType.HANDSHAKE_RESP),
      bytes(32),
      bytes(32),
      bytes(64),
    )
    .map(
      ([type, identity, ephemeral, signature]): Frame => ({ type, identity, ephemeral, signature }),
    ),
  fc
    .tuple(
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.maxSafeNat(),
      fc.uint8Array({ minLength: 17, maxLength: 300 }),
    )
    .map(
      ([epoch, counter, ciphertext]): Frame => ({
        type: FrameType.DATA,
        epoch,
        counter: BigInt(counter),
        ciphertext,
      }),
    ),
  fc
    .tuple(bytes(16), bytes(32))
    .map(
      ([sessionId, nonce]): Frame => ({ type: FrameType.REHANDSHAKE_CHALLENGE, sessionId, nonce }),
    ),
  fc
    .tuple(bytes(32), bytes(32))
    .map(([nonce, mac]): Frame => ({ type: FrameType.REHANDSHAKE_RESPONSE, nonce, mac })),
  bytes(32).map((mac): Frame => ({ type: FrameType.REHANDSHAKE_CONFIRM, mac })),
);
