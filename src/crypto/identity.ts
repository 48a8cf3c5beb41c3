// Node identities: one Ed25519 key pair per node. Peers are authorised by
// public key (as WireGuard does); the key's text form is base64url without
// padding, 43 characters (docs/protocol.md §1).
import { KeyFormatError } from './errors.js';
import { requireSodium, sodiumReady } from './sodium.js';

export const PUBLIC_KEY_BYTES = 32;
export const SECRET_KEY_BYTES = 64; // libsodium layout: seed(32) || public key(32)
export const SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

export interface Identity {
  publicKey: Uint8Array;
  /** libsodium's 64-byte Ed25519 secret key (seed || public key). */
  secretKey: Uint8Array;
}

export async function generateIdentity(): Promise<Identity> {
  const sodium = await sodiumReady();
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  return { publicKey, secretKey: privateKey };
}

/** The identity whose 32-byte seed is `seed` (key files store the seed). */
export function identityFromSeed(seed: Uint8Array): Identity {
  if (seed.length !== SEED_BYTES) {
    throw new KeyFormatError(`identity seed must be ${SEED_BYTES} bytes, got ${seed.length}`);
  }
  const { publicKey, privateKey } = requireSodium().crypto_sign_seed_keypair(seed);
  return { publicKey, secretKey: privateKey };
}

/** Ed25519 signature of `message`. Needs sodiumReady() awaited earlier. */
export function signDetached(secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  const sodium = requireSodium();
  if (secretKey.length !== SECRET_KEY_BYTES) {
    throw new KeyFormatError(
      `secret key must be ${SECRET_KEY_BYTES} bytes, got ${secretKey.length}`,
    );
  }
  return sodium.crypto_sign_detached(message, secretKey);
}

/** True when `signature` is `publicKey`'s signature of `message`. Never throws
 * on malformed keys or signatures (they simply do not verify), except when
 * libsodium is not ready. */
export function verifyDetached(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const sodium = requireSodium();
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false; // libsodium throws on some invalid points; that is "does not verify"
  }
}

/** base64url (RFC 4648 §5) without padding: 43 characters. */
export function encodeKey(publicKey: Uint8Array): string {
  if (publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new KeyFormatError(
      `public key must be ${PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`,
    );
  }
  return Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString(
    'base64url',
  );
}

/** Inverse of encodeKey. Accepts only the canonical 43-character form, so a
 * key has exactly one spelling (configs and logs compare as strings). */
export function decodeKey(text: string): Uint8Array {
  if (typeof text !== 'string' || !KEY_TEXT.test(text)) {
    throw new KeyFormatError(
      'public key must be 43 base64url characters (A-Z a-z 0-9 - _, no padding)',
    );
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (bytes.length !== PUBLIC_KEY_BYTES || encodeKey(bytes) !== text) {
    throw new KeyFormatError('public key is not canonical base64url (last character is off)');
  }
  return bytes;
}

/** Constant-order byte comparison for sorting keys (tie-breaks): <0, 0, >0. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Equality of two public keys (not secret: no constant time needed). */
export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareKeys(a, b) === 0;
}
