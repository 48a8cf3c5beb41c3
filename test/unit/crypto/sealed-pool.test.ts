// SealedBufferPool: large sealed messages staged in reused buffers, given
// back only by whoever knows nothing reads them any more.
import { describe, expect, it } from 'vitest';
import {
  SEALED_POOL_NEW_SLOT_MIN_BYTES,
  SEALED_POOL_SLOT_BYTES,
  SealedBufferPool,
} from '../../../src/crypto/sealed-pool.js';

// Above half a slot: a new slot is made when none is free.
const LARGE = SEALED_POOL_NEW_SLOT_MIN_BYTES + 1000;

describe('SealedBufferPool', () => {
  it('hands out buffers of the asked length over a slot of the largest DATA frame', () => {
    const pool = new SealedBufferPool();
    const b = pool.acquire(LARGE);
    expect(b.length).toBe(LARGE);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(SEALED_POOL_SLOT_BYTES);
    expect(pool.acquire(SEALED_POOL_SLOT_BYTES).length).toBe(SEALED_POOL_SLOT_BYTES);
    expect(pool.counters).toEqual({
      allocated: 2,
      unpooled: 0,
      reused: 0,
      released: 0,
      discarded: 0,
    });
  });

  it('refuses a length it cannot hold', () => {
    const pool = new SealedBufferPool();
    for (const bad of [-1, SEALED_POOL_SLOT_BYTES + 1, Number.NaN]) {
      expect(() => pool.acquire(bad)).toThrow(RangeError);
    }
    expect(() => new SealedBufferPool(-1)).toThrow(RangeError);
  });

  it('a released buffer is the next one handed out, whatever length is asked', () => {
    const pool = new SealedBufferPool();
    const first = pool.acquire(LARGE);
    expect(pool.release(first)).toBe(true);
    expect(pool.free).toBe(1);
    const again = pool.acquire(17_000);
    expect(again.buffer).toBe(first.buffer);
    expect(again.length).toBe(17_000);
    expect(pool.free).toBe(0);
    expect(pool.counters).toEqual({
      allocated: 1,
      unpooled: 0,
      reused: 1,
      released: 1,
      discarded: 0,
    });
  });

  it('ignores a second release of the same buffer: it is never handed out twice', () => {
    const pool = new SealedBufferPool();
    const b = pool.acquire(LARGE);
    expect(pool.release(b)).toBe(true);
    expect(pool.release(b)).toBe(false);
    expect(pool.release(b.subarray(5))).toBe(false); // another view of the same slot
    expect(pool.free).toBe(1);
    const x = pool.acquire(LARGE);
    const y = pool.acquire(LARGE);
    expect(x.buffer).toBe(b.buffer);
    expect(y.buffer).not.toBe(b.buffer);
    // A late release of the old view does not free the slot x now uses.
    expect(pool.release(b)).toBe(false);
    expect(pool.free).toBe(0);
    expect(pool.release(x)).toBe(true);
  });

  it('below half a slot: a free slot if there is one, else a buffer of its own that never comes back', () => {
    const pool = new SealedBufferPool();
    const small = pool.acquire(20_000);
    expect(small.buffer.byteLength).toBeLessThan(SEALED_POOL_SLOT_BYTES);
    expect(pool.counters.unpooled).toBe(1);
    expect(pool.release(small)).toBe(false);
    const big = pool.acquire(LARGE);
    expect(pool.release(big)).toBe(true);
    const reused = pool.acquire(20_000);
    expect(reused.buffer).toBe(big.buffer);
    expect(pool.counters).toMatchObject({ allocated: 1, unpooled: 1, reused: 1 });
  });

  it('ignores buffers it did not make', () => {
    const pool = new SealedBufferPool();
    expect(pool.release(Buffer.allocUnsafe(SEALED_POOL_SLOT_BYTES))).toBe(false);
    expect(pool.release(new Uint8Array(100))).toBe(false);
    expect(pool.release(new SealedBufferPool().acquire(LARGE))).toBe(false);
    expect(pool.free).toBe(0);
    expect(pool.counters.released).toBe(0);
  });

  it('keeps at most maxFree buffers; past that a returned one is let go for good', () => {
    const pool = new SealedBufferPool(2);
    const bs = [pool.acquire(LARGE), pool.acquire(LARGE), pool.acquire(LARGE)];
    expect(bs.map((b) => pool.release(b))).toEqual([true, true, false]);
    expect(pool.free).toBe(2);
    expect(pool.counters.discarded).toBe(1);
    // The discarded one is no longer the pool's: releasing it again does nothing.
    expect(pool.release(bs[2]!)).toBe(false);
    expect(pool.free).toBe(2);
  });
});
