// The AEAD used for DATA and CONTROL (docs/protocol.md §9.1): ChaCha20-Poly1305
// (IETF, 96-bit nonce). Chosen over XChaCha20 because the nonce is a counter,
// never random, so the extended nonce buys nothing and costs an HChaCha20 per
// frame.
//
//   nonce = epoch u32 BE | counter u64 BE          (= bytes 6..18 of the frame)
//   ad    = version | type | tag | epoch | counter (= bytes 0..18 of the frame)
//
// Per-epoch keys come from a one-way ratchet, so a key that leaks today does
// not open yesterday's frames:  k(e+1) = crypto_kdf(k(e), id 1, "sbrekey2").
// Each counter space seals with its own key of the epoch:
//   k(e, space) = crypto_kdf(k(e), id 1 + space, "sbspace2")
// so a data frame and a control frame with the same epoch and counter never
// share a (key, nonce) pair.
//
// Hot path: libsodium-wrappers copies every argument into WebAssembly memory
// (one malloc each), copies the result out and frees. For DATA frames we use
// one long-lived staging area in that memory instead: the caller writes the
// header and plaintext straight into it, and the sealed frame comes out with a
// single copy. Falls back to the wrappers if the low-level module is absent.
//
// Big messages (super-frames, docs/protocol.md §7) go through node:crypto
// instead: the same construction (ChaCha20-Poly1305 IETF, same key, nonce and
// associated data, so the wire does not change), but OpenSSL's vectorised
// code runs 3-4× libsodium's wasm at 16-64 KiB, while its per-call cipher
// object makes it slower below ~3 KiB (`npm run bench:aead -- --sizes
// 1400,4096,8192,16384,65536`: ratio node/libsodium 0.72, 1.48, 2.18, 3.04,
// 4.18). So plaintexts of AEAD_NODE_CRYPTO_MIN_BYTES and more use node:crypto,
// smaller ones (every MTU-sized frame, control messages) libsodium. The
// node:crypto construction is done in place by the addon (native/aead.c,
// InPlaceAead) where it is built, so no 64 KiB output buffer is allocated per
// message; NodeCryptoAead (node:crypto's API) is the fallback.
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import { createRequire } from 'node:module';
import * as sodiumModule from 'libsodium-wrappers';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  DATA_NONCE_OFFSET,
  MAX_DATA_FRAME_BYTES,
  MAX_FRAME_BYTES,
  MAX_SEALED_BYTES,
  type Space,
} from '../protocol/frames.js';
import { sealedPool } from './sealed-pool.js';
import { requireSodium } from './sodium.js';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const KDF_CONTEXT_REKEY = 'sbrekey2';
export const KDF_ID_NEXT_EPOCH = 1;
export const KDF_CONTEXT_SPACE = 'sbspace2';
/** Plaintexts this long or longer are sealed and opened with node:crypto
 * (the crossover measured by bench:aead lies between 1400 and 4096 bytes). */
export const AEAD_NODE_CRYPTO_MIN_BYTES = 3072;

/** Key of the next epoch in the same direction. */
export function nextEpochKey(key: Uint8Array): Uint8Array {
  return requireSodium().crypto_kdf_derive_from_key(
    AEAD_KEY_BYTES,
    KDF_ID_NEXT_EPOCH,
    KDF_CONTEXT_REKEY,
    key,
  );
}

/** The key one counter space seals with in an epoch: k(e, space). */
export function spaceKey(epochKey: Uint8Array, space: Space): Uint8Array {
  return requireSodium().crypto_kdf_derive_from_key(
    AEAD_KEY_BYTES,
    1 + space,
    KDF_CONTEXT_SPACE,
    epochKey,
  );
}

export function wipe(key: Uint8Array): void {
  requireSodium().memzero(key);
}

/** Seals and opens whole DATA/CONTROL frames: frame = header(18) | ciphertext,
 * with header as associated data and header[6..18) as nonce. */
export interface FrameAead {
  /** A scratch view of 18 + plaintextLength bytes: write header then
   * plaintext into it, then call seal(). Valid until the next call. */
  stage(plaintextLength: number): Uint8Array;
  /** The sealed frame (new bytes) for what was staged. */
  seal(plaintextLength: number, key: Uint8Array): Uint8Array;
  /** The plaintext (new bytes) of a whole DATA frame, or undefined when the
   * tag does not verify. */
  open(frame: Uint8Array, key: Uint8Array): Uint8Array | undefined;
}

interface LowLevelSodium {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _crypto_aead_chacha20poly1305_ietf_encrypt(...args: number[]): number;
  _crypto_aead_chacha20poly1305_ietf_decrypt(...args: number[]): number;
}

/** Staging areas in WebAssembly memory; one per process (calls are sync). */
class HeapAead implements FrameAead {
  private readonly keyPtr: number;
  private readonly inPtr: number;
  private readonly outPtr: number;

  constructor(private readonly m: LowLevelSodium) {
    const area = MAX_FRAME_BYTES + AEAD_TAG_BYTES;
    const base = m._malloc(AEAD_KEY_BYTES + 2 * area);
    if (!base) throw new Error('libsodium could not allocate the AEAD staging area');
    this.keyPtr = base;
    this.inPtr = base + AEAD_KEY_BYTES;
    this.outPtr = this.inPtr + area;
  }

  stage(plaintextLength: number): Uint8Array {
    // HEAPU8 is replaced when WebAssembly memory grows: read it every call.
    return this.m.HEAPU8.subarray(this.inPtr, this.inPtr + DATA_HEADER_BYTES + plaintextLength);
  }

  seal(plaintextLength: number, key: Uint8Array): Uint8Array {
    const { m, keyPtr, inPtr, outPtr } = this;
    m.HEAPU8.set(key, keyPtr);
    // c, clen_p, m, mlen (lo, hi), ad, adlen (lo, hi), nsec, npub, k
    const rc = m._crypto_aead_chacha20poly1305_ietf_encrypt(
      outPtr + DATA_HEADER_BYTES,
      0,
      inPtr + DATA_HEADER_BYTES,
      plaintextLength,
      0,
      inPtr,
      DATA_HEADER_BYTES,
      0,
      0,
      inPtr + DATA_NONCE_OFFSET,
      keyPtr,
    );
    const heap = m.HEAPU8;
    heap.fill(0, keyPtr, keyPtr + AEAD_KEY_BYTES);
    if (rc !== 0) throw new Error('crypto_aead_chacha20poly1305_ietf_encrypt failed');
    heap.copyWithin(outPtr, inPtr, inPtr + DATA_HEADER_BYTES);
    return heap.slice(outPtr, outPtr + DATA_HEADER_BYTES + plaintextLength + AEAD_TAG_BYTES);
  }

  open(frame: Uint8Array, key: Uint8Array): Uint8Array | undefined {
    const { m, keyPtr, inPtr, outPtr } = this;
    const ciphertextLength = frame.length - DATA_HEADER_BYTES;
    if (ciphertextLength < AEAD_TAG_BYTES || frame.length > MAX_DATA_FRAME_BYTES) return undefined;
    let heap = m.HEAPU8;
    heap.set(frame, inPtr);
    heap.set(key, keyPtr);
    // m, mlen_p, nsec, c, clen (lo, hi), ad, adlen (lo, hi), npub, k
    const rc = m._crypto_aead_chacha20poly1305_ietf_decrypt(
      outPtr,
      0,
      0,
      inPtr + DATA_HEADER_BYTES,
      ciphertextLength,
      0,
      inPtr,
      DATA_HEADER_BYTES,
      0,
      inPtr + DATA_NONCE_OFFSET,
      keyPtr,
    );
    heap = m.HEAPU8;
    heap.fill(0, keyPtr, keyPtr + AEAD_KEY_BYTES);
    if (rc !== 0) return undefined;
    return heap.slice(outPtr, outPtr + ciphertextLength - AEAD_TAG_BYTES);
  }
}

/** The same contract through the public wrappers (more copies, same bytes). */
export class WrapperAead implements FrameAead {
  private scratch = new Uint8Array(DATA_HEADER_BYTES + MAX_FRAME_BYTES);

  stage(plaintextLength: number): Uint8Array {
    return this.scratch.subarray(0, DATA_HEADER_BYTES + plaintextLength);
  }

  seal(plaintextLength: number, key: Uint8Array): Uint8Array {
    const staged = this.stage(plaintextLength);
    const ad = staged.subarray(0, DATA_HEADER_BYTES);
    const ciphertext = requireSodium().crypto_aead_chacha20poly1305_ietf_encrypt(
      staged.subarray(DATA_HEADER_BYTES),
      ad,
      null,
      ad.subarray(DATA_NONCE_OFFSET),
      key,
    );
    const frame = new Uint8Array(DATA_HEADER_BYTES + ciphertext.length);
    frame.set(ad, 0);
    frame.set(ciphertext, DATA_HEADER_BYTES);
    return frame;
  }

  open(frame: Uint8Array, key: Uint8Array): Uint8Array | undefined {
    const ad = frame.subarray(0, DATA_HEADER_BYTES);
    try {
      return requireSodium().crypto_aead_chacha20poly1305_ietf_decrypt(
        null,
        frame.subarray(DATA_HEADER_BYTES),
        ad,
        ad.subarray(DATA_NONCE_OFFSET),
        key,
      );
    } catch {
      return undefined;
    }
  }
}

const NODE_CIPHER = 'chacha20-poly1305';

/** The same contract through node:crypto (OpenSSL): one staging buffer in JS
 * memory, a cipher object per call, new bytes out. */
export class NodeCryptoAead implements FrameAead {
  private readonly scratch = new Uint8Array(DATA_HEADER_BYTES + MAX_SEALED_BYTES);

  /** Whether this Node's OpenSSL has ChaCha20-Poly1305 (a FIPS build may not). */
  static get available(): boolean {
    return getCiphers().includes(NODE_CIPHER);
  }

  stage(plaintextLength: number): Uint8Array {
    return this.scratch.subarray(0, DATA_HEADER_BYTES + plaintextLength);
  }

  seal(plaintextLength: number, key: Uint8Array): Uint8Array {
    const staged = this.stage(plaintextLength);
    const ad = staged.subarray(0, DATA_HEADER_BYTES);
    const cipher = createCipheriv(NODE_CIPHER, key, ad.subarray(DATA_NONCE_OFFSET), {
      authTagLength: AEAD_TAG_BYTES,
    });
    cipher.setAAD(ad, { plaintextLength });
    // Every byte is written below: no zero-fill of up to 64 KiB.
    const frame = Buffer.allocUnsafe(DATA_HEADER_BYTES + plaintextLength + AEAD_TAG_BYTES);
    frame.set(ad, 0);
    frame.set(cipher.update(staged.subarray(DATA_HEADER_BYTES)), DATA_HEADER_BYTES);
    cipher.final();
    frame.set(cipher.getAuthTag(), DATA_HEADER_BYTES + plaintextLength);
    return frame;
  }

  open(frame: Uint8Array, key: Uint8Array): Uint8Array | undefined {
    const ciphertextLength = frame.length - DATA_HEADER_BYTES;
    if (ciphertextLength < AEAD_TAG_BYTES || frame.length > MAX_DATA_FRAME_BYTES) return undefined;
    const ad = frame.subarray(0, DATA_HEADER_BYTES);
    const tagAt = frame.length - AEAD_TAG_BYTES;
    try {
      const decipher = createDecipheriv(NODE_CIPHER, key, ad.subarray(DATA_NONCE_OFFSET), {
        authTagLength: AEAD_TAG_BYTES,
      });
      decipher.setAAD(ad, { plaintextLength: ciphertextLength - AEAD_TAG_BYTES });
      decipher.setAuthTag(frame.subarray(tagAt));
      const plaintext = decipher.update(frame.subarray(DATA_HEADER_BYTES, tagAt));
      decipher.final(); // throws when the tag does not verify: nothing is returned
      return plaintext;
    } catch {
      return undefined;
    }
  }
}

/** native/aead.c: ChaCha20-Poly1305 in place with Node's own OpenSSL. */
interface NativeAead {
  aeadSeal(key: Uint8Array, frame: Uint8Array, plaintextLength: number): boolean;
  aeadOpen(key: Uint8Array, frame: Uint8Array): boolean;
}

// From src/crypto/ (tsx) and dist/crypto/ (built) alike, the addon is two levels up.
const ADDON_PATH = '../../native/build/Release/switchback_tap.node';

function loadNativeAead(): NativeAead | undefined {
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as Partial<NativeAead>;
    return typeof addon.aeadSeal === 'function' && typeof addon.aeadOpen === 'function'
      ? (addon as NativeAead)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The same contract with OpenSSL's ChaCha20-Poly1305 working in place
 * (native/aead.c): stage() hands out the sealed frame's own buffer, seal()
 * encrypts it where it lies and appends the tag; open() decrypts the frame
 * in place and returns a view of it (a refusal leaves it as it was). No
 * allocation per opened message, and a large sealed one (a super-frame, a
 * big BATCH) is staged in a buffer from the sealed pool (sealed-pool.ts),
 * which its sender gives back once the socket has taken it: node:crypto
 * allocates its output on every call, and at super-frame rates that
 * external memory drives V8 into a full GC every ~100 ms.
 */
export class InPlaceAead implements FrameAead {
  private staged: Uint8Array | undefined;

  constructor(private readonly native: NativeAead) {}

  /** The addon's AEAD, or undefined when the addon is not built. */
  static load(): InPlaceAead | undefined {
    const native = loadNativeAead();
    return native ? new InPlaceAead(native) : undefined;
  }

  stage(plaintextLength: number): Uint8Array {
    const frame = sealedPool.acquire(DATA_HEADER_BYTES + plaintextLength + AEAD_TAG_BYTES);
    this.staged = frame;
    return frame.subarray(0, DATA_HEADER_BYTES + plaintextLength);
  }

  seal(plaintextLength: number, key: Uint8Array): Uint8Array {
    const frame = this.staged;
    this.staged = undefined;
    if (frame?.length !== DATA_HEADER_BYTES + plaintextLength + AEAD_TAG_BYTES) {
      throw new Error('InPlaceAead.seal without a matching stage()');
    }
    if (!this.native.aeadSeal(key, frame, plaintextLength)) {
      throw new Error('ChaCha20-Poly1305 (OpenSSL) seal failed');
    }
    return frame;
  }

  open(frame: Uint8Array, key: Uint8Array): Uint8Array | undefined {
    const ciphertextLength = frame.length - DATA_HEADER_BYTES;
    if (ciphertextLength < AEAD_TAG_BYTES || frame.length > MAX_DATA_FRAME_BYTES) return undefined;
    if (!this.native.aeadOpen(key, frame)) return undefined;
    return frame.subarray(DATA_HEADER_BYTES, frame.length - AEAD_TAG_BYTES);
  }
}

/** libsodium below AEAD_NODE_CRYPTO_MIN_BYTES of plaintext, node:crypto from
 * there on; the choice is by size alone, so stage() and seal() of one
 * message always meet the same implementation. */
export class SizedAead implements FrameAead {
  constructor(
    private readonly small: FrameAead,
    private readonly large: FrameAead,
    private readonly minLargeBytes = AEAD_NODE_CRYPTO_MIN_BYTES,
  ) {}

  /** Which implementation a plaintext of `plaintextLength` bytes gets. */
  choose(plaintextLength: number): 'small' | 'large' {
    return this.pick(plaintextLength) === this.large ? 'large' : 'small';
  }

  stage(plaintextLength: number): Uint8Array {
    return this.pick(plaintextLength).stage(plaintextLength);
  }

  seal(plaintextLength: number, key: Uint8Array): Uint8Array {
    return this.pick(plaintextLength).seal(plaintextLength, key);
  }

  open(frame: Uint8Array, key: Uint8Array): Uint8Array | undefined {
    return this.pick(frame.length - DATA_HEADER_BYTES - AEAD_TAG_BYTES).open(frame, key);
  }

  private pick(plaintextLength: number): FrameAead {
    return plaintextLength >= this.minLargeBytes ? this.large : this.small;
  }
}

let sharedSodium: FrameAead | undefined;
let shared: FrameAead | undefined;

/** The process's libsodium FrameAead (heap-staged when possible). */
export function libsodiumAead(): FrameAead {
  if (sharedSodium) return sharedSodium;
  requireSodium();
  const low = (sodiumModule as unknown as { libsodium?: Partial<LowLevelSodium> }).libsodium;
  sharedSodium =
    low &&
    typeof low._malloc === 'function' &&
    typeof low._crypto_aead_chacha20poly1305_ietf_encrypt === 'function' &&
    typeof low._crypto_aead_chacha20poly1305_ietf_decrypt === 'function' &&
    low.HEAPU8 instanceof Uint8Array
      ? new HeapAead(low as LowLevelSodium)
      : new WrapperAead();
  return sharedSodium;
}

/** The process's FrameAead: libsodium for small messages; for big ones
 * OpenSSL in place (the addon), else node:crypto, else libsodium too. */
export function frameAead(): FrameAead {
  if (shared) return shared;
  const sodium = libsodiumAead();
  const large = InPlaceAead.load() ?? (NodeCryptoAead.available ? new NodeCryptoAead() : undefined);
  shared = large ? new SizedAead(sodium, large) : sodium;
  return shared;
}
