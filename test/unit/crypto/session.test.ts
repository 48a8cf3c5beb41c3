import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { SessionError } from '../../../src/crypto/errors.js';
import { Session } from '../../../src/crypto/session.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { decodeFrame } from '../../../src/protocol/codec.js';
import { ProtocolError } from '../../../src/protocol/errors.js';
import {
  FORWARD_HEADER_BYTES,
  FrameType,
  MAX_DATA_FRAME_BYTES,
  MAX_FRAME_BYTES,
  MAX_SEALED_BYTES,
  MAX_SUPERFRAME_BYTES,
  SealedKind,
  Space,
  VIRTIO_NET_HDR_BYTES,
} from '../../../src/protocol/frames.js';
import { handshakePair, sessionPair } from './pair.js';

beforeAll(async () => {
  await sodiumReady();
});

const ethernet = (n: number, size = 60) => {
  const frame = new Uint8Array(size);
  new DataView(frame.buffer).setUint32(0, n);
  return frame;
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('session seal/open', () => {
  it('round-trips ethernet frames and control messages both ways', async () => {
    const { a, b } = await sessionPair();
    const frame = ethernet(1, 1400);
    const opened = b.open(a.sealEthernet(frame));
    expect(opened.seq).toBe(0);
    expect(opened.message).toEqual({ kind: SealedKind.ETHERNET, frame });
    expect(b.open(a.seal({ kind: SealedKind.PING, id: 7, sentAt: 99n })).message).toEqual({
      kind: SealedKind.PING,
      id: 7,
      sentAt: 99n,
    });
    const attemptId = new Uint8Array(16).fill(3);
    expect(a.open(b.seal({ kind: SealedKind.MIGRATE, attemptId, lastSeq: 41n })).message).toEqual({
      kind: SealedKind.MIGRATE,
      attemptId,
      lastSeq: 41n,
    });
    expect(a.open(b.sealKeepalive(7)).message).toEqual({ kind: SealedKind.KEEPALIVE, nextTag: 7 });
    expect(b.stats.opened).toBe(2);
    expect(b.stats.openedControl).toBe(1);
  });

  it('produces DATA frames the codec decodes, with counter = sequence', async () => {
    const { a } = await sessionPair();
    for (let i = 0; i < 3; i++) {
      const frame = decodeFrame(a.sealEthernet(ethernet(i)));
      expect(frame).toMatchObject({
        type: FrameType.DATA,
        tag: a.tag,
        epoch: 0,
        counter: BigInt(i),
      });
    }
    expect(a.nextSeq).toBe(3);
  });

  it('seals exactly as docs/protocol.md §9.1 writes it, each space with its own key', async () => {
    const sodium = await sodiumReady();
    const { aliceKeys } = await handshakePair();
    const a = new Session(aliceKeys);
    a.sealEthernet(ethernet(0));
    const frame = a.sealEthernet(ethernet(1, 100));
    const control = a.seal({ kind: SealedKind.CLOSE, reason: 5 });
    const key = (space: number) =>
      sodium.crypto_kdf_derive_from_key(32, 1 + space, 'sbspace2', aliceKeys.sendKey);
    const open = (f: Uint8Array, k: Uint8Array) =>
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
        null,
        f.subarray(18),
        f.subarray(0, 18),
        f.subarray(6, 18),
        k,
      );
    expect(open(frame, key(0))).toEqual(new Uint8Array([SealedKind.ETHERNET, ...ethernet(1, 100)]));
    expect(open(control, key(1))).toEqual(new Uint8Array([SealedKind.CLOSE, 5]));
    const tag = aliceKeys.tag.toString(16).padStart(8, '0');
    expect(Buffer.from(frame.subarray(0, 18)).toString('hex')).toBe(
      `0220${tag}00000000${'0'.repeat(15)}1`,
    );
    // The control frame starts its own counter at 0.
    expect(Buffer.from(control.subarray(0, 18)).toString('hex')).toBe(
      `0221${tag}00000000${'0'.repeat(16)}`,
    );
  });

  it('a frame sealed for one session does not open in another', async () => {
    const first = await sessionPair();
    const second = await sessionPair();
    expect(codeOf(() => second.b.open(first.a.sealEthernet(ethernet(0))))).toBe('UNKNOWN_SESSION');
    expect(second.b.stats.unknownSession).toBe(1);
    // Nor does our own frame open with our own receive key (directions differ).
    const { aliceKeys } = await handshakePair();
    const self = new Session(aliceKeys);
    expect(codeOf(() => self.open(self.sealEthernet(ethernet(0))))).toBe('DECRYPT_FAILED');
  });

  it('flipping any bit of a sealed frame makes open fail', async () => {
    const { a, b } = await sessionPair();
    const sealed = a.sealEthernet(ethernet(1, 64));
    fc.assert(
      fc.property(fc.nat({ max: sealed.length * 8 - 1 }), (bit) => {
        const copy = sealed.slice();
        copy[bit >> 3]! ^= 1 << (bit & 7);
        let error: unknown;
        try {
          b.open(copy);
        } catch (e) {
          error = e;
        }
        expect(error instanceof SessionError || error instanceof ProtocolError).toBe(true);
      }),
      { numRuns: 1000 },
    );
    // ...and the untouched frame still opens: failures did not move the window.
    expect(b.open(sealed).seq).toBe(0);
  });

  it('every single-bit flip, exhaustively, on a small frame', async () => {
    const { a, b } = await sessionPair();
    const sealed = a.seal({ kind: SealedKind.CLOSE, reason: 1 });
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const copy = sealed.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => b.open(copy)).toThrow();
    }
    expect(b.stats.opened).toBe(0);
  });

  it('drops replays and duplicates with REPLAY, counting them', async () => {
    const { a, b } = await sessionPair();
    const frames = [0, 1, 2].map((i) => a.sealEthernet(ethernet(i)));
    for (const f of frames) b.open(f);
    for (const f of frames) expect(codeOf(() => b.open(f))).toBe('REPLAY');
    expect(b.stats.replayed).toBe(3);
    expect(b.stats.opened).toBe(3);
  });

  it('accepts reordering inside the window exactly once, and drops stale frames', async () => {
    const { a, b } = await sessionPair();
    const frames = Array.from({ length: 3000 }, (_, i) => a.sealEthernet(ethernet(i)));
    const order = fc.sample(
      fc.shuffledSubarray(
        frames.map((_, i) => i),
        { minLength: 3000 },
      ),
      1,
    )[0]!;
    // A bounded shuffle: window is 4064, so any permutation of 3000 fits.
    const seen: number[] = [];
    for (const i of order) seen.push(b.open(frames[i]!).seq);
    expect(seen.sort((x, y) => x - y)).toEqual(frames.map((_, i) => i));
    for (const i of order.slice(0, 50)) expect(codeOf(() => b.open(frames[i]!))).toBe('REPLAY');
    // 5000 more in order, then frame 0 of the old batch is far behind.
    const late = a.sealEthernet(ethernet(0));
    for (let i = 0; i < 5000; i++) b.open(a.sealEthernet(ethernet(i)));
    expect(codeOf(() => b.open(late))).toBe('STALE');
  });

  it('refuses malformed input with ProtocolError, counted', async () => {
    const { b } = await sessionPair();
    expect(codeOf(() => b.open(new Uint8Array([2, 0x20, 0])))).toBe('TRUNCATED');
    expect(codeOf(() => b.open(new Uint8Array([2, 0x01, ...new Uint8Array(36)])))).toBe(
      'UNKNOWN_TYPE',
    );
    expect(codeOf(() => b.open(new Uint8Array([1, 0x20, ...new Uint8Array(40)])))).toBe(
      'BAD_VERSION',
    );
    expect(b.stats.malformed).toBe(3);
  });

  it('arbitrary bytes only ever give a ProtocolError or a SessionError', async () => {
    const { a, b } = await sessionPair();
    const valid = a.sealEthernet(ethernet(1));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 100 }),
          fc
            .uint8Array({ maxLength: 100 })
            .map((tail) => new Uint8Array([...valid.subarray(0, 18), ...tail])),
        ),
        (raw) => {
          try {
            b.open(raw);
          } catch (error) {
            expect(error instanceof ProtocolError || error instanceof SessionError).toBe(true);
            return;
          }
          throw new Error('random bytes opened');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses to seal after close', async () => {
    const { a } = await sessionPair();
    a.close();
    expect(codeOf(() => a.sealEthernet(ethernet(0)))).toBe('SESSION_CLOSED');
  });
});

describe('rekey', () => {
  it('ratchets after a frame count and loses nothing, even reordered across epochs', async () => {
    const { a, b } = await sessionPair({ rekeyAfterFrames: 10 });
    const frames = Array.from({ length: 100 }, (_, i) => a.sealEthernet(ethernet(i)));
    const epochs = frames.map((f) => (decodeFrame(f) as { epoch: number }).epoch);
    expect(Math.max(...epochs)).toBe(9);
    expect(a.stats.sendRekeys).toBe(9);
    // Deliver in pairs swapped across each epoch boundary: 9, 10 → 10, 9.
    const order = frames.map((_, i) => i);
    for (let i = 9; i + 1 < order.length; i += 10)
      [order[i], order[i + 1]] = [order[i + 1]!, order[i]!];
    const got = order.map((i) => b.open(frames[i]!));
    expect(got.map((o) => o.seq).sort((x, y) => x - y)).toEqual(
      order.slice().sort((x, y) => x - y),
    );
    got.forEach((o) => {
      expect(o.message.kind).toBe(SealedKind.ETHERNET);
      expect(o.epoch).toBe(Math.floor(o.seq / 10));
    });
    expect(b.epochs.receive).toBe(9);
  });

  it('ratchets after a time limit; the old epoch opens only within its grace period', async () => {
    let now = 0;
    const { a, b } = await sessionPair({
      rekeyAfterMs: 1000,
      previousKeyGraceMs: 500,
      now: () => now,
    });
    const old1 = a.sealEthernet(ethernet(0));
    const old2 = a.sealEthernet(ethernet(1));
    now = 1000;
    const fresh = a.sealEthernet(ethernet(2));
    expect(a.epochs.send).toBe(1);
    b.open(fresh); // receiver moves to epoch 1
    expect(b.open(old1).epoch).toBe(0); // in grace
    now = 1600;
    expect(codeOf(() => b.open(old2))).toBe('UNKNOWN_EPOCH');
    expect(b.stats.unknownEpoch).toBe(1);
  });

  it('follows a peer that skipped epochs (their frames were lost), within maxEpochSkip', async () => {
    const { a, b } = await sessionPair({ rekeyAfterFrames: 1, maxEpochSkip: 4 });
    const frames = Array.from({ length: 12 }, (_, i) => a.sealEthernet(ethernet(i)));
    b.open(frames[0]!); // epoch 0
    expect(b.open(frames[4]!).epoch).toBe(4); // skips 1..3
    expect(b.open(frames[3]!).epoch).toBe(3); // previous epoch, in grace
    expect(codeOf(() => b.open(frames[1]!))).toBe('UNKNOWN_EPOCH'); // two back: gone
    expect(codeOf(() => b.open(frames[11]!))).toBe('UNKNOWN_EPOCH'); // 7 ahead: too far
  });

  it('a forged future epoch does not move the receiver', async () => {
    const { a, b } = await sessionPair();
    const frame = a.sealEthernet(ethernet(0));
    const forged = frame.slice();
    forged[9] = 1; // epoch 0 → 1 (bytes 6..10), the AEAD tag no longer matches
    expect(codeOf(() => b.open(forged))).toBe('DECRYPT_FAILED');
    expect(b.epochs.receive).toBe(0);
    expect(b.open(frame).seq).toBe(0);
  });
});

describe('counter spaces', () => {
  it('data and control count separately; data sequence numbers have no holes', async () => {
    const { a, b } = await sessionPair();
    const sealed = [
      a.sealEthernet(ethernet(0)),
      a.seal({ kind: SealedKind.PING, id: 1, sentAt: 1n }),
      a.sealEthernet(ethernet(1)),
      a.sealKeepalive(),
      a.sealEthernet(ethernet(2)),
    ];
    const opened = sealed.map((f) => b.open(f));
    expect(opened.map((o) => [o.space, o.seq])).toEqual([
      [Space.DATA, 0],
      [Space.CONTROL, 0],
      [Space.DATA, 1],
      [Space.CONTROL, 1],
      [Space.DATA, 2],
    ]);
    expect(a.nextSequence(Space.DATA)).toBe(3);
    expect(a.nextSequence(Space.CONTROL)).toBe(2);
    expect(b.highestIn(Space.CONTROL)).toBe(1);
    expect(b.highestReceived).toBe(2);
  });

  it('has one replay window per space: counter 0 once in each, then REPLAY', async () => {
    const { a, b } = await sessionPair();
    const data = a.sealEthernet(ethernet(0));
    const control = a.sealKeepalive();
    expect(b.open(data).seq).toBe(0);
    expect(b.open(control).seq).toBe(0);
    expect(codeOf(() => b.open(data))).toBe('REPLAY');
    expect(codeOf(() => b.open(control))).toBe('REPLAY');
  });

  it('never repeats a (key, nonce) pair across spaces, whatever the interleaving', async () => {
    const sodium = await sodiumReady();
    const { aliceKeys } = await handshakePair();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 120 }),
        fc.integer({ min: 1, max: 20 }),
        async (controls, rekeyAfterFrames) => {
          const a = new Session(aliceKeys, { rekeyAfterFrames });
          const pairs = new Set<string>();
          // Epoch base keys as docs/protocol.md §9.4 ratchets them, then the
          // key of each space as §9.1 derives it.
          const bases = [aliceKeys.sendKey];
          const keyOf = (epoch: number, space: number) => {
            while (bases.length <= epoch) {
              bases.push(sodium.crypto_kdf_derive_from_key(32, 1, 'sbrekey2', bases.at(-1)!));
            }
            return sodium.crypto_kdf_derive_from_key(32, 1 + space, 'sbspace2', bases[epoch]!);
          };
          for (const isControl of controls) {
            const frame = isControl
              ? a.seal({ kind: SealedKind.PONG, id: 1, sentAt: 2n })
              : a.sealEthernet(ethernet(1));
            const space = frame[1] === FrameType.DATA ? 0 : 1;
            const epoch = new DataView(frame.buffer).getUint32(6);
            const key = keyOf(epoch, space);
            // It really was sealed with that key...
            sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
              null,
              frame.subarray(18),
              frame.subarray(0, 18),
              frame.subarray(6, 18),
              key,
            );
            // ...and that (key, nonce) pair is new.
            const pair = `${Buffer.from(key).toString('hex')}:${Buffer.from(frame.subarray(6, 18)).toString('hex')}`;
            expect(pairs.has(pair)).toBe(false);
            pairs.add(pair);
          }
          // Overlapping counters (both spaces start at 0) yet distinct keys.
          expect(keyOf(0, 0)).not.toEqual(keyOf(0, 1));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a data frame relabelled as control (or back) fails authentication', async () => {
    const { a, b } = await sessionPair();
    const data = a.sealEthernet(ethernet(0));
    data[1] = FrameType.CONTROL;
    expect(codeOf(() => b.open(data))).toBe('DECRYPT_FAILED');
    const control = a.sealKeepalive();
    control[1] = FrameType.DATA;
    expect(codeOf(() => b.open(control))).toBe('DECRYPT_FAILED');
    expect(b.stats.opened).toBe(0);
  });

  it('refuses an authentic frame whose kind belongs to the other space (UNKNOWN_KIND)', async () => {
    const sodium = await sodiumReady();
    const { aliceKeys, bobKeys } = await handshakePair();
    const b = new Session(bobKeys);
    // A PING sealed by hand into the DATA space, with the right key.
    const header = new Uint8Array(18);
    header.set([2, FrameType.DATA]);
    new DataView(header.buffer).setUint32(2, aliceKeys.tag);
    const key = sodium.crypto_kdf_derive_from_key(32, 1, 'sbspace2', aliceKeys.sendKey);
    const ping = new Uint8Array([SealedKind.PING, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    const ct = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
      ping,
      header,
      null,
      header.subarray(6),
      key,
    );
    const frame = new Uint8Array([...header, ...ct]);
    const error = (() => {
      try {
        b.open(frame);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('UNKNOWN_KIND');
    expect(b.stats.malformed).toBe(1);
  });
});

describe('frame sizes', () => {
  it('carries a 64 KiB super-frame with its virtio-net header; one byte more is TOO_LARGE', async () => {
    const { a, b } = await sessionPair();
    const superframe = new Uint8Array(MAX_SUPERFRAME_BYTES + VIRTIO_NET_HDR_BYTES).fill(7);
    const sealed = a.sealEthernet(superframe);
    expect(sealed.length + FORWARD_HEADER_BYTES).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const opened = b.open(sealed);
    expect(opened.message.kind).toBe(SealedKind.ETHERNET);
    expect((opened.message as { frame: Uint8Array }).frame.length).toBe(superframe.length);
    // The largest plaintext fits exactly; one byte more does not.
    const largest = new Uint8Array(MAX_SEALED_BYTES - 1);
    expect(a.sealEthernet(largest).length).toBe(MAX_DATA_FRAME_BYTES);
    expect(codeOf(() => a.sealEthernet(new Uint8Array(MAX_SEALED_BYTES)))).toBe('TOO_LARGE');
  });
});
