// fast-check arbitraries for wire frames: every valid frame, canonical form.
// Shared by codec tests (and usable by relay fuzz tests).
import fc from 'fast-check';
import { decodeFrame } from '../../../src/protocol/codec.js';
import {
  type Address,
  type Frame,
  FrameType,
  PeerGoneReason,
  PROTOCOL_VERSION,
} from '../../../src/protocol/frames.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const ipv4 = fc.ipV4().map((host): Address => ({ family: 4, host, port: 0 }));
const ipv6 = bytes(16).map((raw): Address => {
  // Canonical text via a decode of the raw bytes.
  const frame = new Uint8Array(2 + 1 + 16 + 2);
  frame.set([PROTOCOL_VERSION, FrameType.WELCOME, 6]);
  frame.set(raw, 3);
  return (decodeFrame(frame) as { observed: Address }).observed;
});
const address = fc.tuple(fc.oneof(ipv4, ipv6), u16).map(([a, port]): Address => ({ ...a, port }));

export const arbitraryFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc
    .tuple(bytes(32), u32)
    .map(([key, capabilities]): Frame => ({ type: FrameType.HELLO, key, capabilities })),
  fc.tuple(bytes(32), bytes(32), u32).map(
    ([nonce, relayId, capabilities]): Frame => ({
      type: FrameType.CHALLENGE,
      nonce,
      relayId,
      capabilities,
    }),
  ),
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
  fc.tuple(bytes(32), bytes(32), bytes(12), u32, bytes(64)).map(
    ([identity, ephemeral, timestamp, capabilities, signature]): Frame => ({
      type: FrameType.HANDSHAKE_INIT,
      identity,
      ephemeral,
      timestamp,
      capabilities,
      signature,
    }),
  ),
  fc.tuple(bytes(32), bytes(32), u32, bytes(64)).map(
    ([identity, ephemeral, capabilities, signature]): Frame => ({
      type: FrameType.HANDSHAKE_RESP,
      identity,
      ephemeral,
      capabilities,
      signature,
    }),
  ),
  fc
    .tuple(
      fc.constantFrom(FrameType.DATA, FrameType.CONTROL),
      u32,
      u32,
      fc.maxSafeNat(),
      fc.uint8Array({ minLength: 17, maxLength: 300 }),
    )
    .map(
      ([type, tag, epoch, counter, ciphertext]): Frame => ({
        type,
        tag,
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
