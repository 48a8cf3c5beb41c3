import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InOrderReceiver, type Timers } from '../../../src/services/in-order-receiver.js';

/** Timers the test fires by hand. */
function manualTimers() {
  const pending = new Map<number, () => void>();
  let nextId = 1;
  const timers: Timers = {
    setTimeout(callback) {
      const id = nextId++;
      pending.set(id, callback);
      return id;
    },
    clearTimeout(handle) {
      pending.delete(handle as number);
    },
  };
  return {
    timers,
    get armed() {
      return pending.size;
    },
    fireAll() {
      const callbacks = [...pending.values()];
      pending.clear();
      for (const callback of callbacks) callback();
    },
  };
}

function receiver(options: { holdLimit?: number; firstSeq?: number } = {}) {
  const clock = manualTimers();
  const out: number[] = [];
  const r = new InOrderReceiver<string>({
    gapTimeoutMs: 100,
    holdLimit: options.holdLimit ?? 64,
    firstSeq: options.firstSeq,
    deliver: (_item, seq) => out.push(seq),
    timers: clock.timers,
  });
  return { r, out, clock };
}

describe('InOrderReceiver', () => {
  it('delivers an in-order stream at once', () => {
    const { r, out, clock } = receiver({ firstSeq: 0 });
    for (let i = 0; i < 5; i++) expect(r.push(i, `f${i}`)).toBe('delivered');
    expect(out).toEqual([0, 1, 2, 3, 4]);
    expect(clock.armed).toBe(0);
  });

  it('holds frames past a gap until the other path fills it (planned migration)', () => {
    const { r, out, clock } = receiver({ firstSeq: 0 });
    r.push(0, 'relay');
    // Frames 3..5 arrive on the new direct path before 1..2 left the relay.
    expect(r.push(3, 'direct')).toBe('held');
    expect(r.push(4, 'direct')).toBe('held');
    expect(out).toEqual([0]);
    expect(clock.armed).toBe(1);
    r.push(1, 'relay');
    expect(out).toEqual([0, 1]);
    r.push(2, 'relay');
    expect(out).toEqual([0, 1, 2, 3, 4]);
    expect(clock.armed).toBe(0);
    expect(r.counters.skipped).toBe(0);
  });

  it('skips a gap that outlives the timeout, and counts a frame that comes later as late', () => {
    const { r, out, clock } = receiver({ firstSeq: 0 });
    r.push(0, 'a');
    r.push(2, 'c');
    clock.fireAll();
    expect(out).toEqual([0, 2]);
    expect(r.counters).toMatchObject({ timeouts: 1, skipped: 1 });
    expect(r.push(1, 'b')).toBe('late');
    expect(r.counters.late).toBe(1);
  });

  it('counts a second copy (suspect: sent on both paths) as late and delivers it once', () => {
    const { r, out } = receiver({ firstSeq: 7 });
    r.push(7, 'direct');
    expect(r.push(7, 'relay')).toBe('late');
    expect(out).toEqual([7]);
  });

  it('never holds more than holdLimit frames', () => {
    const { r, out } = receiver({ firstSeq: 0, holdLimit: 4 });
    for (let seq = 2; seq < 8; seq++) r.push(seq, 'x');
    expect(r.holding).toBeLessThanOrEqual(4);
    expect(out).toEqual([2, 3, 4, 5, 6, 7]);
    expect(r.counters.overflows).toBe(1);
  });

  it('re-arms the timer for a second gap after the first fills', () => {
    const { r, out, clock } = receiver({ firstSeq: 0 });
    r.push(1, 'x');
    r.push(3, 'x');
    r.push(0, 'x');
    expect(out).toEqual([0, 1]);
    expect(clock.armed).toBe(1);
    clock.fireAll();
    expect(out).toEqual([0, 1, 3]);
  });

  it('releases any interleaving of two in-order paths in order, losing nothing', () => {
    // Property: split 0..n-1 into two increasing subsequences (two TCP paths),
    // interleave them arbitrarily: the output is exactly 0..n-1.
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 400 }),
        (onDirect, picks) => {
          const { r, out } = receiver({ firstSeq: 0, holdLimit: 1_000 });
          const relay: number[] = [];
          const direct: number[] = [];
          for (const [seq, d] of onDirect.entries()) (d ? direct : relay).push(seq);
          let p = 0;
          while (relay.length + direct.length > 0) {
            const takeDirect =
              direct.length > 0 && (relay.length === 0 || (picks[p++] ?? 0) % 2 === 0);
            r.push((takeDirect ? direct : relay).shift()!, 'x');
          }
          expect(out).toEqual(onDirect.map((_, seq) => seq));
          expect(r.counters.skipped).toBe(0);
        },
      ),
    );
  });
});
