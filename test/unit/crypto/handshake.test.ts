import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { HandshakeError } from '../../../src/crypto/errors.js';
import {
  completeHandshake,
  Handshaker,
  initiateHandshake,
  initWins,
  respondToHandshake,
} from '../../../src/crypto/handshake.js';
import { compareKeys, generateIdentity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { compareTimestamps, tai64n } from '../../../src/crypto/timestamp.js';
import {
  Capability,
  capabilityNames,
  KNOWN_CAPABILITIES,
} from '../../../src/protocol/capabilities.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { FrameType, type HandshakeInit, type HandshakeResp } from '../../../src/protocol/frames.js';
import { handshakePair } from './pair.js';

beforeAll(async () => {
  await sodiumReady();
});

const viaWire = <T extends HandshakeInit | HandshakeResp>(frame: T): T =>
  decodeFrame(encodeFrame(frame)) as T;

describe('end-to-end handshake', () => {
  it('gives both sides mirrored keys and the same session id', async () => {
    const { alice, bob, aliceKeys, bobKeys } = await handshakePair();
    expect(aliceKeys.sessionId).toHaveLength(16);
    expect(aliceKeys.sessionId).toEqual(bobKeys.sessionId);
    expect(aliceKeys.sendKey).toEqual(bobKeys.recvKey);
    expect(aliceKeys.recvKey).toEqual(bobKeys.sendKey);
    expect(aliceKeys.sendKey).not.toEqual(aliceKeys.recvKey);
    expect(aliceKeys.proofKey).toEqual(bobKeys.proofKey);
    expect(aliceKeys.role).toBe('initiator');
    expect(bobKeys.role).toBe('responder');
    expect(aliceKeys.peerIdentity).toEqual(bob.publicKey);
    expect(bobKeys.peerIdentity).toEqual(alice.publicKey);
  });

  it('gives a fresh session id and keys for every handshake', async () => {
    const first = await handshakePair();
    const second = await handshakePair();
    expect(first.aliceKeys.sessionId).not.toEqual(second.aliceKeys.sessionId);
    expect(first.aliceKeys.sendKey).not.toEqual(second.aliceKeys.sendKey);
  });

  it('derives keys exactly as docs/protocol.md §6 writes them', async () => {
    const sodium = await sodiumReady();
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const timestamp = tai64n(Date.UTC(2030, 0, 2, 3, 4, 5, 678));
    const pending = initiateHandshake(alice, bob.publicKey, { timestamp, capabilities: 0b111 });
    const ephemeralSecret = pending.ephemeralSecret.slice();
    const { resp } = respondToHandshake(bob, alice.publicKey, pending.init, {
      capabilities: 0b110,
    });
    const keys = completeHandshake(pending, resp);
    const label = (text: string) => new TextEncoder().encode(text);
    const cat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));
    const u32 = (n: number) =>
      new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    const [I, R, eI, eR] = [alice.publicKey, bob.publicKey, pending.init.ephemeral, resp.ephemeral];
    expect(pending.init.timestamp).toEqual(timestamp);
    // Signatures as specified.
    expect(
      sodium.crypto_sign_verify_detached(
        pending.init.signature,
        cat(label('switchback/v2 handshake-init'), I, R, eI, timestamp, u32(0b111)),
        I,
      ),
    ).toBe(true);
    expect(
      sodium.crypto_sign_verify_detached(
        resp.signature,
        cat(
          label('switchback/v2 handshake-resp'),
          I,
          R,
          eI,
          eR,
          u32(0b110),
          pending.init.signature,
        ),
        R,
      ),
    ).toBe(true);
    // Keys as specified.
    const h = sodium.crypto_generichash(
      32,
      cat(label('switchback/v2 transcript'), I, R, eI, eR, timestamp, u32(0b111), u32(0b110)),
      null,
    );
    const dh = sodium.crypto_scalarmult(ephemeralSecret, eR);
    const prk = sodium.crypto_generichash(32, dh, h);
    expect(keys.sendKey).toEqual(sodium.crypto_kdf_derive_from_key(32, 1, 'sbsessn2', prk));
    expect(keys.recvKey).toEqual(sodium.crypto_kdf_derive_from_key(32, 2, 'sbsessn2', prk));
    expect(keys.proofKey).toEqual(sodium.crypto_kdf_derive_from_key(32, 3, 'sbsessn2', prk));
    expect(keys.sessionId).toEqual(
      sodium.crypto_generichash(16, cat(label('switchback/v2 session-id'), h), null),
    );
    const tag = sodium.crypto_generichash(16, cat(label('switchback/v2 session-tag'), h), null);
    expect(keys.tag).toBe(new DataView(tag.buffer).getUint32(0));
    // Capabilities: the intersection of what both advertised, known flags only.
    expect(keys.capabilities).toBe(0b110 & 0b111 & KNOWN_CAPABILITIES);
    expect(keys.peerCapabilities).toBe(0b110);
  });

  it('survives the wire codec', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const pending = initiateHandshake(alice, bob.publicKey);
    const { resp, keys } = respondToHandshake(bob, alice.publicKey, viaWire(pending.init));
    expect(completeHandshake(pending, viaWire(resp)).sessionId).toEqual(keys.sessionId);
  });

  it('refuses an INIT from an identity the responder does not expect (PEER_MISMATCH)', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const mallory = await generateIdentity();
    const pending = initiateHandshake(mallory, bob.publicKey);
    expect(() => respondToHandshake(bob, alice.publicKey, pending.init)).toThrow(
      expect.objectContaining({ code: 'PEER_MISMATCH' }),
    );
  });

  it('refuses a RESP from an identity the initiator does not expect (PEER_MISMATCH)', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const mallory = await generateIdentity();
    const pending = initiateHandshake(alice, bob.publicKey);
    // Mallory holds a valid RESP of her own (to an INIT alice sent her) and
    // replays it in bob's place.
    const { resp } = respondToHandshake(
      mallory,
      alice.publicKey,
      initiateHandshake(alice, mallory.publicKey).init,
    );
    expect(() => completeHandshake(pending, resp)).toThrow(
      expect.objectContaining({ code: 'PEER_MISMATCH' }),
    );
  });

  it('refuses an INIT meant for another responder (BAD_SIGNATURE)', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const carol = await generateIdentity();
    const toCarol = initiateHandshake(alice, carol.publicKey);
    expect(() => respondToHandshake(bob, alice.publicKey, toCarol.init)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });

  it('refuses a RESP that answers another INIT (BAD_SIGNATURE)', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const first = initiateHandshake(alice, bob.publicKey);
    const second = initiateHandshake(alice, bob.publicKey);
    const { resp } = respondToHandshake(bob, alice.publicKey, first.init);
    expect(() => completeHandshake(second, resp)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });

  it('any flipped bit in INIT or RESP is refused with a HandshakeError', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 132 * 8 - 1 }), fc.boolean(), async (bit, inResp) => {
        const pending = initiateHandshake(alice, bob.publicKey);
        const flip = <T extends HandshakeInit | HandshakeResp>(frame: T): T => {
          const bytes = encodeFrame(frame);
          // Every body bit of either frame: INIT has 144 body bytes, RESP 132.
          const at = inResp ? bit : Math.floor((bit * 144) / 132);
          bytes[2 + (at >> 3)]! ^= 1 << (at & 7);
          return decodeFrame(bytes) as T;
        };
        if (!inResp) {
          expect(() => respondToHandshake(bob, alice.publicKey, flip(pending.init))).toThrow(
            HandshakeError,
          );
          return;
        }
        const { resp } = respondToHandshake(bob, alice.publicKey, pending.init);
        expect(() => completeHandshake(pending, flip(resp))).toThrow(HandshakeError);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a low-order ephemeral key (BAD_KEY) even when properly signed', async () => {
    const { signDetached } = await import('../../../src/crypto/identity.js');
    const { LABEL_INIT } = await import('../../../src/crypto/handshake.js');
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const ephemeral = new Uint8Array(32); // the all-zero point: X25519 result is zero
    const timestamp = tai64n(Date.now());
    const message = new Uint8Array([
      ...LABEL_INIT,
      ...alice.publicKey,
      ...bob.publicKey,
      ...ephemeral,
      ...timestamp,
      0,
      0,
      0,
      0,
    ]);
    const init: HandshakeInit = {
      type: FrameType.HANDSHAKE_INIT,
      identity: alice.publicKey,
      ephemeral,
      timestamp,
      capabilities: 0,
      signature: signDetached(alice.secretKey, message),
    };
    expect(() => respondToHandshake(bob, alice.publicKey, init)).toThrow(
      expect.objectContaining({ code: 'BAD_KEY' }),
    );
  });
});

describe('Handshaker (driver with tie-break)', () => {
  it('completes a normal handshake', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const a = new Handshaker(alice, bob.publicKey);
    const b = new Handshaker(bob, alice.publicKey);
    const stepB = b.receive(a.start());
    expect(stepB.reply?.type).toBe(FrameType.HANDSHAKE_RESP);
    const stepA = a.receive(stepB.reply!);
    expect(stepA.keys?.sessionId).toEqual(stepB.keys?.sessionId);
    expect(a.isPending).toBe(false);
  });

  it('resolves simultaneous INITs: the smaller key wins, both end with one session', async () => {
    for (let i = 0; i < 5; i++) {
      const alice = await generateIdentity();
      const bob = await generateIdentity();
      const a = new Handshaker(alice, bob.publicKey);
      const b = new Handshaker(bob, alice.publicKey);
      const initA = a.start();
      const initB = b.start();
      const atA = a.receive(initB);
      const atB = b.receive(initA);
      const aliceSmaller = compareKeys(alice.publicKey, bob.publicKey) < 0;
      expect(initWins(alice.publicKey, bob.publicKey)).toBe(aliceSmaller);
      const [winner, loserStep, winnerStep] = aliceSmaller ? [a, atB, atA] : [b, atA, atB];
      expect(winnerStep.ignored).toBe(true);
      expect(loserStep.reply).toBeDefined();
      const done = winner.receive(loserStep.reply!);
      expect(done.keys?.sessionId).toEqual(loserStep.keys?.sessionId);
      expect(done.keys?.sendKey).toEqual(loserStep.keys?.recvKey);
    }
  });

  it('refuses a RESP with no INIT pending, and a forged RESP leaves the INIT pending', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const a = new Handshaker(alice, bob.publicKey);
    const b = new Handshaker(bob, alice.publicKey);
    const init = a.start();
    const { reply } = b.receive(init);
    const forged = { ...reply!, signature: new Uint8Array(64) };
    expect(() => a.receive(forged)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    expect(a.isPending).toBe(true);
    expect(a.receive(reply!).keys).toBeDefined();
    expect(() => a.receive(reply!)).toThrow(expect.objectContaining({ code: 'HANDSHAKE_STATE' }));
  });

  it('still reports a wrong peer while its own INIT is pending', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const mallory = await generateIdentity();
    const a = new Handshaker(alice, bob.publicKey);
    a.start();
    const fromMallory = initiateHandshake(mallory, alice.publicKey).init;
    expect(() => a.receive(fromMallory)).toThrow(
      expect.objectContaining({ code: 'PEER_MISMATCH' }),
    );
  });
});

describe('Handshaker, version 2 (timestamps, capabilities)', () => {
  it('negotiates the intersection of capabilities; unknown flags are ignored', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const future = 1 << 30; // a flag this implementation does not know
    const a = new Handshaker(alice, bob.publicKey, {
      capabilities: Capability.BATCHED_DATA | Capability.OFFLOAD_SUPERFRAMES | future,
    });
    const b = new Handshaker(bob, alice.publicKey, {
      capabilities: Capability.BATCHED_DATA | future,
    });
    const atB = b.receive(viaWire(a.start()));
    const atA = a.receive(viaWire(atB.reply!));
    for (const keys of [atA.keys!, atB.keys!]) {
      expect(keys.capabilities).toBe(Capability.BATCHED_DATA);
      expect(capabilityNames(keys.capabilities)).toEqual(['BATCHED_DATA']);
    }
    expect(atA.keys!.peerCapabilities).toBe(Capability.BATCHED_DATA | future);
    // A peer without the flag gets the baseline.
    const plain = new Handshaker(bob, alice.publicKey);
    const a2 = new Handshaker(alice, bob.publicKey, { capabilities: Capability.BATCHED_DATA });
    expect(plain.receive(a2.start()).keys?.capabilities).toBe(0);
  });

  it('the capabilities and the timestamp are signed: changing either is BAD_SIGNATURE', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const pending = initiateHandshake(alice, bob.publicKey);
    const moreCaps = { ...pending.init, capabilities: pending.init.capabilities | 1 };
    expect(() => respondToHandshake(bob, alice.publicKey, moreCaps)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
    const later = { ...pending.init, timestamp: tai64n(Date.now() + 3600_000) };
    expect(() => respondToHandshake(bob, alice.publicKey, later)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
    const { resp } = respondToHandshake(bob, alice.publicKey, pending.init);
    expect(() => completeHandshake(pending, { ...resp, capabilities: 2 })).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }),
    );
  });

  it('refuses a replayed INIT, and one sent too soon, with their own codes', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    let now = 0;
    const a = new Handshaker(alice, bob.publicKey);
    const b = new Handshaker(bob, alice.publicKey, { guard: { now: () => now } });
    const first = a.start();
    expect(b.receive(first).keys).toBeDefined();
    expect(b.peerTimestamp).toEqual(first.timestamp);
    now += 10;
    const second = a.start(); // newer timestamp, but 10 ms later
    expect(() => b.receive(second)).toThrow(expect.objectContaining({ code: 'INIT_TOO_SOON' }));
    now += 10_000;
    expect(() => b.receive(first)).toThrow(expect.objectContaining({ code: 'INIT_REPLAYED' }));
    expect(b.receive(second).keys).toBeDefined(); // it was never accepted: still newer
    expect(() => b.receive(second)).toThrow(expect.objectContaining({ code: 'INIT_REPLAYED' }));
  });

  it('the larger key answers the winning INIT and keeps its own pending (a replay must not cancel it)', async () => {
    let alice = await generateIdentity();
    let bob = await generateIdentity();
    if (compareKeys(alice.publicKey, bob.publicKey) > 0) [alice, bob] = [bob, alice];
    const small = new Handshaker(alice, bob.publicKey);
    const large = new Handshaker(bob, alice.publicKey);
    const initSmall = small.start();
    const initLarge = large.start();
    expect(large.receive(initSmall).reply).toBeDefined();
    expect(large.isPending).toBe(true);
    expect(small.receive(initLarge).ignored).toBe(true);
    // The larger side's own RESP still completes, if it ever comes.
    const answered = new Handshaker(alice, bob.publicKey).receive(initLarge);
    expect(large.receive(answered.reply!).keys?.role).toBe('initiator');
  });

  it('every start() uses a newer timestamp from its clock', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const a = new Handshaker(alice, bob.publicKey);
    const stamps = Array.from({ length: 20 }, () => a.start().timestamp);
    for (let i = 1; i < stamps.length; i++) {
      expect(compareTimestamps(stamps[i]!, stamps[i - 1]!)).toBeGreaterThan(0);
    }
  });
});
