/**
 * Peers by public key, found without encoding the key: a frame from the
 * relay names its sender by 32 raw bytes, and the lookup runs once per frame.
 * Buckets are keyed by the key's first four bytes (a u32 read in place); a
 * bucket holds the few keys that share them, compared byte by byte.
 */
import { keysEqual } from '../crypto/identity.js';

export class PeerIndex<T> {
  readonly #buckets = new Map<number, { key: Uint8Array; value: T }[]>();

  get(key: Uint8Array): T | undefined {
    if (key.length < 4) return undefined;
    const bucket = this.#buckets.get(prefixOf(key));
    if (bucket === undefined) return undefined;
    for (let i = 0; i < bucket.length; i++) {
      const entry = bucket[i]!;
      if (keysEqual(entry.key, key)) return entry.value;
    }
    return undefined;
  }

  /** Adds or replaces the value for `key` (the index keeps its own copy of the key). */
  set(key: Uint8Array, value: T): void {
    const prefix = prefixOf(key);
    const bucket = this.#buckets.get(prefix) ?? [];
    const existing = bucket.find((entry) => keysEqual(entry.key, key));
    if (existing) existing.value = value;
    else bucket.push({ key: key.slice(), value });
    this.#buckets.set(prefix, bucket);
  }

  delete(key: Uint8Array): void {
    const prefix = prefixOf(key);
    const bucket = this.#buckets.get(prefix);
    if (!bucket) return;
    const left = bucket.filter((entry) => !keysEqual(entry.key, key));
    if (left.length === 0) this.#buckets.delete(prefix);
    else this.#buckets.set(prefix, left);
  }
}

function prefixOf(key: Uint8Array): number {
  return ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
}
