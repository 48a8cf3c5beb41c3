import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  REPLAY_WINDOW_SIZE,
  ReplayVerdict,
  ReplayWindow,
} from '../../../src/crypto/replay-window.js';

/** Reference model: a set of everything accepted plus the same window rule. */
function model() {
  const seen = new Set<number>();
  let top = -1;
  return {
    offer(n: number): ReplayVerdict {
      if (n <= top && top - n >= REPLAY_WINDOW_SIZE) return ReplayVerdict.STALE;
      if (seen.has(n)) return ReplayVerdict.REPLAY;
      seen.add(n);
      top = Math.max(top, n);
      return ReplayVerdict.OK;
    },
  };
}

function offer(window: ReplayWindow, n: number): ReplayVerdict {
  const verdict = window.check(n);
  if (verdict === ReplayVerdict.OK) window.accept(n);
  return verdict;
}

describe('replay window', () => {
  it('is at least 2048 wide', () => {
    expect(REPLAY_WINDOW_SIZE).toBeGreaterThanOrEqual(2048);
  });

  it('accepts each counter once, in any order inside the window', () => {
    const window = new ReplayWindow();
    const order = [5, 3, 4, 0, 1, 2, 100, 50, 99];
    for (const n of order) expect(offer(window, n)).toBe(ReplayVerdict.OK);
    for (const n of order) expect(offer(window, n)).toBe(ReplayVerdict.REPLAY);
    expect(window.highest).toBe(100);
  });

  it('refuses counters behind the window as STALE, accepts the window edge', () => {
    const window = new ReplayWindow();
    offer(window, 10_000);
    expect(offer(window, 10_000 - REPLAY_WINDOW_SIZE)).toBe(ReplayVerdict.STALE);
    expect(offer(window, 10_000 - REPLAY_WINDOW_SIZE + 1)).toBe(ReplayVerdict.OK);
  });

  it('forgets old bits when it slides far (a big jump clears the ring)', () => {
    const window = new ReplayWindow();
    offer(window, 7);
    offer(window, 7 + 1_000_000);
    expect(offer(window, 7 + 1_000_000 - 32 * 128 + 1000)).toBe(ReplayVerdict.OK);
  });

  it('works for counters beyond 2^32', () => {
    const window = new ReplayWindow();
    const base = 2 ** 40 + 17;
    expect(offer(window, base)).toBe(ReplayVerdict.OK);
    expect(offer(window, base - 1)).toBe(ReplayVerdict.OK);
    expect(offer(window, base)).toBe(ReplayVerdict.REPLAY);
    expect(offer(window, Number.MAX_SAFE_INTEGER)).toBe(ReplayVerdict.OK);
    expect(offer(window, Number.MAX_SAFE_INTEGER)).toBe(ReplayVerdict.REPLAY);
  });

  it('agrees with a set-based model on random streams', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 20_000 }), { maxLength: 400 }),
        fc.array(fc.integer({ min: -3000, max: 3000 }), { maxLength: 400 }),
        (bases, jitters) => {
          const window = new ReplayWindow();
          const reference = model();
          let cursor = 0;
          bases.forEach((step, i) => {
            cursor += step % 50;
            const n = Math.max(0, cursor + (jitters[i] ?? 0));
            expect(offer(window, n)).toBe(reference.offer(n));
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
