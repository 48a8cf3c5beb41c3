// Sliding anti-replay window over 64-bit-in-spirit counters (exact up to
// 2^53 - 1), after RFC 6479: a ring of 32-bit words, no shifting, O(1) per
// frame. It remembers the highest accepted counter and which of the
// WINDOW_SIZE counters below it were seen (docs/protocol.md §9.3).
//
// Use: check() before decrypting (cheap drop of replays), accept() only after
// the frame authenticated, so forged frames cannot move the window.

const BLOCK_BITS = 32;
const BLOCKS = 128; // power of two; 128 * 32 = 4096 bits of ring
const BLOCK_MASK = BLOCKS - 1;

/** How far behind the highest accepted counter a frame may arrive and still be
 * accepted (once). One block of the ring is kept as the one being cleared. */
export const REPLAY_WINDOW_SIZE = (BLOCKS - 1) * BLOCK_BITS; // 4064

export const ReplayVerdict = {
  OK: 0, //     new counter: may be accepted
  REPLAY: 1, // counter already accepted
  STALE: 2, //  counter behind the window: cannot tell, so refused
} as const;
export type ReplayVerdict = (typeof ReplayVerdict)[keyof typeof ReplayVerdict];

export class ReplayWindow {
  private readonly ring = new Uint32Array(BLOCKS);
  /** Highest accepted counter; -1 until the first accept. */
  private top = -1;

  /** Highest counter accepted so far (-1 when none). */
  get highest(): number {
    return this.top;
  }

  check(counter: number): ReplayVerdict {
    if (counter > this.top) return ReplayVerdict.OK;
    if (this.top - counter >= REPLAY_WINDOW_SIZE) return ReplayVerdict.STALE;
    const block = Math.floor(counter / BLOCK_BITS) & BLOCK_MASK;
    const bit = 1 << (counter % BLOCK_BITS);
    return (this.ring[block]! & bit) !== 0 ? ReplayVerdict.REPLAY : ReplayVerdict.OK;
  }

  /** Marks counter as seen; the caller has had check() return OK for it. */
  accept(counter: number): void {
    if (counter > this.top) {
      // Clear the blocks the window slides over (at most the whole ring).
      const from = Math.floor(this.top / BLOCK_BITS);
      const to = Math.floor(counter / BLOCK_BITS);
      const steps = Math.min(to - from, BLOCKS);
      for (let i = 1; i <= steps; i++) this.ring[(from + i) & BLOCK_MASK] = 0;
      this.top = counter;
    }
    const block = Math.floor(counter / BLOCK_BITS) & BLOCK_MASK;
    this.ring[block]! |= 1 << (counter % BLOCK_BITS);
  }
}
