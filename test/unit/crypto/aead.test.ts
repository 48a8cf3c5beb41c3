import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { frameAead, nextEpochKey, spaceKey, WrapperAead } from '../../../src/crypto/aead.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { DATA_HEADER_BYTES, Space } from '../../../src/protocol/frames.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const unhex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

beforeAll(async () => {
  await sodiumReady();
});

function sealWith(
  aead: ReturnType<typeof frameAead>,
  header: Uint8Array,
  plaintext: Uint8Array,
  key: Uint8Array,
) {
  const staged = aead.stage(plaintext.length);
  staged.set(header, 0);
  staged.set(plaintext, DATA_HEADER_BYTES);
  return aead.seal(plaintext.length, key);
}

describe('frame AEAD', () => {
  it('uses the heap-staged engine and matches the public wrapper byte for byte', () => {
    const fast = frameAead();
    expect(fast).not.toBeInstanceOf(WrapperAead);
    const slow = new WrapperAead();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: DATA_HEADER_BYTES, maxLength: DATA_HEADER_BYTES }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (header, plaintext, key) => {
          const a = sealWith(fast, header, plaintext, key);
          const b = sealWith(slow, header, plaintext, key);
          expect(hex(a)).toBe(hex(b));
          expect(fast.open(a, key)).toEqual(plaintext);
          expect(slow.open(a, key)).toEqual(plaintext);
          const tampered = a.slice();
          tampered[tampered.length - 1]! ^= 1;
          expect(fast.open(tampered, key)).toBeUndefined();
          expect(slow.open(tampered, key)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  // The primitive itself, against RFC 8439 §2.8.2 (first ciphertext bytes and
  // the tag); the test above ties our frame layout to the same primitive.
  it('RFC 8439 §2.8.2 vector holds for the underlying primitive', async () => {
    const sodium = await sodiumReady();
    const key = unhex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
    const nonce = unhex('070000004041424344454647');
    const ad = unhex('50515253c0c1c2c3c4c5c6c7');
    const plaintext = new TextEncoder().encode(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    );
    const sealed = sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
      plaintext,
      ad,
      null,
      nonce,
      key,
    );
    expect(hex(sealed.subarray(-16))).toBe('1ae10b594f09e26a7e902ecbd0600691');
    expect(hex(sealed.subarray(0, 8))).toBe('d31a8d34648e60db');
  });

  it('ratchets keys one way and deterministically', () => {
    const key = new Uint8Array(32).fill(7);
    const next = nextEpochKey(key);
    expect(next).toEqual(nextEpochKey(key));
    expect(next).not.toEqual(key);
    expect(nextEpochKey(next)).not.toEqual(key);
  });

  it('derives one key per counter space, distinct from each other and the epoch key', async () => {
    const sodium = await sodiumReady();
    const key = new Uint8Array(32).fill(9);
    const data = spaceKey(key, Space.DATA);
    const control = spaceKey(key, Space.CONTROL);
    expect(data).toEqual(sodium.crypto_kdf_derive_from_key(32, 1, 'sbspace2', key));
    expect(control).toEqual(sodium.crypto_kdf_derive_from_key(32, 2, 'sbspace2', key));
    expect(data).not.toEqual(control);
    expect(data).not.toEqual(key);
    expect(data).not.toEqual(nextEpochKey(key));
  });
});
