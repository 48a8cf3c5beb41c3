/**
 * Reused buffers for large sealed messages: super-frames and big BATCHes.
 *
 * Why: a sealed super-frame is a fresh 64 KiB buffer, and the direct path
 * keeps the last 32 MiB of them for a resend (resend-ring.ts). At 1–2 Gbit/s
 * that is 2–4 k allocations a second of memory outside V8's heap, and V8
 * answered it with a full mark-compact every 60–100 ms: about a fifth of the
 * sender's CPU (docs/performance.md, "Sealed buffers, reused"). With the
 * buffers reused the sender allocates nothing per super-frame once the pool
 * is warm.
 *
 * The pool only hands out and takes back; whoever holds a buffer decides when
 * it is free. For a sealed message sent on the direct path only, that is when
 * the resend ring forgets it AND the link's socket has taken its bytes
 * (peer-sender.ts); a message that went anywhere else (the relay, a link that
 * closed) is never given back and is left to the GC as before.
 *
 * Below SEALED_POOL_MIN_BYTES the pool is not used: Node's allocUnsafe
 * already slices small buffers from a shared 8 KiB slab. A new slot is made
 * only for a message of at least half a slot; a smaller one takes a free
 * slot when there is one and otherwise gets a buffer of its own size, so
 * traffic that never gives buffers back (the relay path) allocates no more
 * than before.
 */
import { MAX_DATA_FRAME_BYTES } from '../protocol/frames.js';

/** Sealed messages at least this long come from the pool. */
export const SEALED_POOL_MIN_BYTES = 16 * 1024;
/** Every pooled buffer is this long: the largest DATA frame. */
export const SEALED_POOL_SLOT_BYTES = MAX_DATA_FRAME_BYTES;
/** A message this long or longer gets a new slot when none is free. */
export const SEALED_POOL_NEW_SLOT_MIN_BYTES = SEALED_POOL_SLOT_BYTES >> 1;
/** Free buffers kept (64 × 64 KiB ≈ 4 MiB); past it a returned one goes to the GC. */
export const SEALED_POOL_MAX_FREE = 64;

export interface SealedPoolCounters {
  /** Slots made because none was free. */
  allocated: number;
  /** Messages below SEALED_POOL_NEW_SLOT_MIN_BYTES given a buffer of their own (none free). */
  unpooled: number;
  /** Buffers handed out again. */
  reused: number;
  /** Buffers given back and kept. */
  released: number;
  /** Buffers given back while the free list was full: left to the GC. */
  discarded: number;
}

export class SealedBufferPool {
  readonly counters: SealedPoolCounters = {
    allocated: 0,
    unpooled: 0,
    reused: 0,
    released: 0,
    discarded: 0,
  };
  readonly #maxFree: number;
  readonly #free: ArrayBuffer[] = [];
  /** For each slot handed out, the very view acquire() returned: only that
   * view gives it back, once — a second or late release() of an older view
   * of a slot that has been handed out again is refused. */
  readonly #lent = new WeakMap<ArrayBuffer, Uint8Array>();

  constructor(maxFree = SEALED_POOL_MAX_FREE) {
    if (!Number.isInteger(maxFree) || maxFree < 0) {
      throw new RangeError(`sealed pool maxFree must be a non-negative integer, got ${maxFree}`);
    }
    this.#maxFree = maxFree;
  }

  /** Buffers on the free list now. */
  get free(): number {
    return this.#free.length;
  }

  /** A buffer of `length` bytes (≤ SEALED_POOL_SLOT_BYTES), contents undefined:
   * a pooled one from SEALED_POOL_MIN_BYTES on. */
  acquire(length: number): Buffer {
    if (!(length >= 0 && length <= SEALED_POOL_SLOT_BYTES)) {
      throw new RangeError(
        `sealed pool buffers hold 0..${SEALED_POOL_SLOT_BYTES} bytes, not ${length}`,
      );
    }
    // A small message is not worth a 64 KiB slot (allocUnsafe slices it from
    // Node's shared slab).
    if (length < SEALED_POOL_MIN_BYTES) return Buffer.allocUnsafe(length);
    let slot = this.#free.pop();
    if (slot !== undefined) {
      this.counters.reused++;
    } else if (length >= SEALED_POOL_NEW_SLOT_MIN_BYTES) {
      // allocUnsafeSlow: its own ArrayBuffer of exactly this size, not zeroed.
      slot = Buffer.allocUnsafeSlow(SEALED_POOL_SLOT_BYTES).buffer as ArrayBuffer;
      this.counters.allocated++;
    } else {
      this.counters.unpooled++;
      return Buffer.allocUnsafe(length);
    }
    const view = Buffer.from(slot, 0, length);
    this.#lent.set(slot, view);
    return view;
  }

  /**
   * Give back a buffer from acquire() that nothing reads or writes any more:
   * the very view acquire() returned. Anything else — a buffer this pool did
   * not make, one already given back, an older view of a slot handed out
   * again — is ignored. Returns whether the buffer is on the free list now.
   */
  release(frame: Uint8Array): boolean {
    const slot = frame.buffer;
    if (!(slot instanceof ArrayBuffer) || this.#lent.get(slot) !== frame) return false;
    this.#lent.delete(slot);
    if (this.#free.length >= this.#maxFree) {
      this.counters.discarded++;
      return false;
    }
    this.#free.push(slot);
    this.counters.released++;
    return true;
  }
}

/** The process's pool: the data path is one thread, like the AEAD it serves. */
export const sealedPool = new SealedBufferPool();
