// The AEAD by size (src/crypto/aead.ts): libsodium below
// AEAD_NODE_CRYPTO_MIN_BYTES, node:crypto from there on. Both implement
// ChaCha20-Poly1305 IETF with the same key, nonce and associated data, so
// each seals exactly what the other does and opens what the other sealed.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AEAD_NODE_CRYPTO_MIN_BYTES,
  type FrameAead,
  frameAead,
  InPlaceAead,
  libsodiumAead,
  NodeCryptoAead,
  SizedAead,
  WrapperAead,
} from '../../../src/crypto/aead.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  MAX_SEALED_BYTES,
} from '../../../src/protocol/frames.js';
import { sessionPair } from './pair.js';

beforeAll(async () => {
  await sodiumReady();
});

function seal(aead: FrameAead, header: Uint8Array, plaintext: Uint8Array, key: Uint8Array) {
  const staged = aead.stage(plaintext.length);
  staged.set(header, 0);
  staged.set(plaintext, DATA_HEADER_BYTES);
  return Buffer.from(aead.seal(plaintext.length, key));
}

const SIZES = [
  1,
  60,
  1400,
  AEAD_NODE_CRYPTO_MIN_BYTES - 1,
  AEAD_NODE_CRYPTO_MIN_BYTES,
  40_000,
  MAX_SEALED_BYTES,
];

describe('node:crypto and libsodium: the same ChaCha20-Poly1305 IETF', () => {
  it('node:crypto has the cipher and the addon its in-place AEAD here', () => {
    expect(NodeCryptoAead.available).toBe(true);
    expect(InPlaceAead.load()).toBeInstanceOf(InPlaceAead);
  });

  it('in place: a refused open can be retried with the right key on the same bytes', () => {
    const inPlace = InPlaceAead.load()!;
    const key = randomBytes(32);
    const plaintext = randomBytes(20_000);
    const frame = seal(inPlace, randomBytes(DATA_HEADER_BYTES), plaintext, key);
    expect(inPlace.open(frame, randomBytes(32))).toBeUndefined();
    expect(Buffer.from(inPlace.open(frame, key)!).equals(plaintext)).toBe(true);
  });

  it('in place: seal without a matching stage is an error, not a wrong frame', () => {
    const inPlace = InPlaceAead.load()!;
    inPlace.stage(100);
    expect(() => inPlace.seal(200, randomBytes(32))).toThrow(/matching stage/);
  });

  it.each(SIZES)(
    '%i bytes: identical frames, each opens the other’s, a flipped bit opens in neither',
    (size) => {
      const sodium = libsodiumAead();
      const wrappers = new WrapperAead();
      const node = new NodeCryptoAead();
      const key = randomBytes(32);
      const header = randomBytes(DATA_HEADER_BYTES);
      const plaintext = randomBytes(size);
      const bySodium = seal(sodium, header, plaintext, key);
      const byNode = seal(node, header, plaintext, key);
      expect(bySodium.length).toBe(DATA_HEADER_BYTES + size + AEAD_TAG_BYTES);
      expect(byNode.equals(bySodium)).toBe(true);
      expect(seal(wrappers, header, plaintext, key).equals(bySodium)).toBe(true);
      expect(Buffer.from(node.open(bySodium, key)!).equals(plaintext)).toBe(true);
      expect(Buffer.from(sodium.open(byNode, key)!).equals(plaintext)).toBe(true);
      for (const at of [0, DATA_HEADER_BYTES + Math.floor(size / 2), byNode.length - 1]) {
        const bad = Buffer.from(byNode);
        bad[at]! ^= 1;
        expect(node.open(bad, key)).toBeUndefined();
        expect(sodium.open(bad, key)).toBeUndefined();
      }
      const wrongKey = randomBytes(32);
      expect(node.open(byNode, wrongKey)).toBeUndefined();
    },
  );

  it('node:crypto refuses a frame shorter than a tag or larger than a DATA frame', () => {
    const node = new NodeCryptoAead();
    const key = randomBytes(32);
    expect(node.open(new Uint8Array(DATA_HEADER_BYTES + AEAD_TAG_BYTES - 1), key)).toBeUndefined();
    expect(
      node.open(new Uint8Array(DATA_HEADER_BYTES + MAX_SEALED_BYTES + AEAD_TAG_BYTES + 1), key),
    ).toBeUndefined();
  });
});

describe('SizedAead: the threshold', () => {
  it('libsodium below AEAD_NODE_CRYPTO_MIN_BYTES, node:crypto from there on', () => {
    const sized = frameAead() as SizedAead;
    expect(sized).toBeInstanceOf(SizedAead);
    expect(sized.choose(1400)).toBe('small');
    expect(sized.choose(AEAD_NODE_CRYPTO_MIN_BYTES - 1)).toBe('small');
    expect(sized.choose(AEAD_NODE_CRYPTO_MIN_BYTES)).toBe('large');
    expect(sized.choose(MAX_SEALED_BYTES)).toBe('large');
  });

  it('routes stage, seal and open by size: a recording pair sees each message on the side it belongs to', () => {
    const calls: string[] = [];
    const recording = (name: string, inner: FrameAead): FrameAead => ({
      stage: (n) => inner.stage(n),
      seal: (n, k) => {
        calls.push(`${name} seal ${n}`);
        return inner.seal(n, k);
      },
      open: (f, k) => {
        calls.push(`${name} open ${f.length - DATA_HEADER_BYTES - AEAD_TAG_BYTES}`);
        return inner.open(f, k);
      },
    });
    const sized = new SizedAead(
      recording('sodium', new WrapperAead()),
      recording('node', new NodeCryptoAead()),
      1000,
    );
    const key = randomBytes(32);
    const header = randomBytes(DATA_HEADER_BYTES);
    for (const size of [999, 1000]) {
      const plaintext = randomBytes(size);
      const frame = seal(sized, header, plaintext, key);
      expect(Buffer.from(sized.open(frame, key)!).equals(plaintext)).toBe(true);
    }
    expect(calls).toEqual([
      'sodium seal 999',
      'sodium open 999',
      'node seal 1000',
      'node open 1000',
    ]);
  });

  it('a session pair carries a 64 KiB super-frame and a 60-byte frame through the sized AEAD', async () => {
    const { a, b } = await sessionPair();
    for (const size of [60, 65_000]) {
      const frame = randomBytes(size);
      const opened = b.open(a.sealEthernet(frame));
      expect(opened.message.kind).toBe(0);
      if (opened.message.kind === 0)
        expect(Buffer.from(opened.message.frame).equals(frame)).toBe(true);
    }
  });
});
