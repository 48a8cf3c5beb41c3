// ResendRing: the last frames put on the direct path only, with when.
import { describe, expect, it } from 'vitest';
import { ResendRing } from '../../../src/services/resend-ring.js';

const frame = (n: number) => new Uint8Array([n]);

/** Drain everything recorded at or after `since`; the frames' first bytes, in the order handed out. */
function drain(ring: ResendRing, since = Number.NEGATIVE_INFINITY): number[] {
  const out: number[] = [];
  ring.drainSince(since, (f) => {
    out.push(f[0]!);
    return true;
  });
  return out;
}

describe('ResendRing', () => {
  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new ResendRing(bad)).toThrow(RangeError);
    }
    expect(new ResendRing(1).size).toBe(0);
  });

  it('hands out what it recorded, oldest first, then forgets it', () => {
    const ring = new ResendRing(8);
    for (let i = 1; i <= 5; i++) ring.record(frame(i), i * 10);
    expect(ring.size).toBe(5);
    expect(drain(ring)).toEqual([1, 2, 3, 4, 5]);
    expect(ring.size).toBe(0);
    expect(drain(ring)).toEqual([]);
  });

  it('hands out only frames recorded at or after `since`, and still forgets the older ones', () => {
    const ring = new ResendRing(8);
    for (let i = 1; i <= 6; i++) ring.record(frame(i), i * 10);
    // 30 is inclusive: the frame recorded exactly then goes too.
    expect(drain(ring, 30)).toEqual([3, 4, 5, 6]);
    expect(ring.size).toBe(0);
    expect(drain(ring)).toEqual([]);
  });

  it('keeps only the newest `capacity` frames once it wraps, still oldest first', () => {
    const ring = new ResendRing(4);
    for (let i = 1; i <= 10; i++) ring.record(frame(i), i);
    expect(ring.size).toBe(4);
    expect(drain(ring)).toEqual([7, 8, 9, 10]);
  });

  it('filters by age correctly across the wrap point', () => {
    const ring = new ResendRing(4);
    // Slots after the wrap hold 5, 6 (at the start of the arrays) and 3, 4 (at the end).
    for (let i = 1; i <= 6; i++) ring.record(frame(i), i * 100);
    expect(drain(ring, 450)).toEqual([5, 6]);
  });

  it('counts only the frames `send` accepted, but offers every recent one', () => {
    const ring = new ResendRing(8);
    for (let i = 1; i <= 6; i++) ring.record(frame(i), i);
    const offered: number[] = [];
    const accepted = ring.drainSince(0, (f) => {
      offered.push(f[0]!);
      return f[0]! % 2 === 0; // the relay takes every other one
    });
    expect(offered).toEqual([1, 2, 3, 4, 5, 6]);
    expect(accepted).toBe(3);
    expect(ring.size).toBe(0);
  });

  it('hands out the very frame objects it was given (copies keep their sequence numbers)', () => {
    const ring = new ResendRing(2);
    const a = frame(1);
    ring.record(a, 0);
    const seen: Uint8Array[] = [];
    ring.drainSince(0, (f) => seen.push(f) > 0);
    expect(seen[0]).toBe(a);
  });

  it('clear() forgets everything and recording starts afresh', () => {
    const ring = new ResendRing(3);
    for (let i = 1; i <= 5; i++) ring.record(frame(i), i);
    ring.clear();
    expect(ring.size).toBe(0);
    expect(drain(ring)).toEqual([]);
    ring.record(frame(42), 1);
    ring.record(frame(43), 2);
    expect(drain(ring)).toEqual([42, 43]);
  });

  it('after a drain, a fresh run wraps correctly again', () => {
    const ring = new ResendRing(3);
    for (let i = 1; i <= 2; i++) ring.record(frame(i), i);
    expect(drain(ring)).toEqual([1, 2]);
    for (let i = 11; i <= 15; i++) ring.record(frame(i), i);
    expect(drain(ring)).toEqual([13, 14, 15]);
  });

  it('hands what it pushes out (count or bytes) to onForget with its owner and mark, never what it drains or clears', () => {
    const forgot: [number, number, number][] = [];
    const ring = new ResendRing(3, 10, (f, owner, mark) => forgot.push([f[0]!, owner, mark]));
    // Past the capacity: frame 1 is pushed out by frame 4.
    for (let i = 1; i <= 4; i++) ring.record(frame(i), i, 7, i * 100);
    expect(forgot).toEqual([[1, 7, 100]]);
    // A 9-byte frame takes frame 2's slot, and the byte budget (10) pushes out 3.
    ring.record(new Uint8Array(9).fill(50), 5, 8, 999);
    expect(forgot).toEqual([
      [1, 7, 100],
      [2, 7, 200],
      [3, 7, 300],
    ]);
    expect(ring.size).toBe(2);
    // The budget pushes out 4, then the 9-byte frame; a record without owner
    // and mark has 0 for both.
    ring.record(frame(60), 6);
    ring.record(frame(61), 7);
    ring.record(frame(62), 8);
    expect(forgot.slice(3)).toEqual([
      [4, 7, 400],
      [50, 8, 999],
    ]);
    expect(drain(ring)).toEqual([60, 61, 62]);
    ring.record(frame(70), 9);
    ring.clear();
    expect(forgot).toHaveLength(5);
  });
});
