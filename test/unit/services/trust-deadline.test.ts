// TrustDeadline: the heartbeat's trust deadline on a fake clock.
import { describe, expect, it } from 'vitest';
import { type TrustClock, TrustDeadline } from '../../../src/services/trust-deadline.js';

/** A clock whose timers fire only when advance() passes their time. */
function fakeClock() {
  let now = 1_000;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: TrustClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(1, ms), fn });
      return id;
    },
    clearTimeout: (id) => {
      timers.delete(id as number);
    },
  };
  return {
    clock,
    /** Timers armed so far, ever (how often the deadline re-armed). */
    get armed() {
      return nextId - 1;
    },
    get pending() {
      return timers.size;
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of timers)
          if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry;
        if (!first) break;
        timers.delete(first[0]);
        now = first[1].at;
        first[1].fn();
      }
      now = end;
    },
  };
}

function deadline(silenceMs = 600) {
  const t = fakeClock();
  const events: string[] = [];
  const trust = new TrustDeadline(
    silenceMs,
    {
      silent: () => events.push(`silent@${t.clock.now()}`),
      alive: () => events.push(`alive@${t.clock.now()}`),
    },
    t.clock,
  );
  return { t, trust, events };
}

describe('TrustDeadline', () => {
  it('says silent exactly silenceMs after the last proof, once', () => {
    const { t, trust, events } = deadline(600);
    t.advance(200);
    trust.proved(); // 1200
    t.advance(200);
    trust.proved(); // 1400
    t.advance(1_999);
    expect(events).toEqual(['silent@2000']);
    expect(trust.trusted).toBe(false);
    expect(t.pending).toBe(0); // nothing armed while silent
  });

  it('proofs renew the deadline without arming a timer each', () => {
    const { t, trust, events } = deadline(600);
    for (let i = 0; i < 50; i++) {
      t.advance(200);
      trust.proved();
    }
    expect(events).toEqual([]);
    expect(trust.trusted).toBe(true);
    // 10 s of proofs every 200 ms: a re-arm only when the timer finds the
    // deadline moved, at least 600 − 200 ms apart — half the 50 of one per proof.
    expect(t.armed).toBeLessThanOrEqual(10_000 / (600 - 200) + 1);
    expect(t.armed).toBeLessThan(50);
    expect(t.pending).toBe(1);
  });

  it('the first proof after silent says alive, and the deadline runs again', () => {
    const { t, trust, events } = deadline(600);
    t.advance(700); // silent at 1600
    trust.proved(); // 1700
    trust.proved(); // no second alive
    t.advance(600); // silent again at 2300
    expect(events).toEqual(['silent@1600', 'alive@1700', 'silent@2300']);
  });

  it('askProof: the next proof says alive, and no silent comes meanwhile', () => {
    const { t, trust, events } = deadline(600);
    t.advance(100);
    trust.askProof();
    expect(trust.trusted).toBe(false);
    t.advance(5_000);
    expect(events).toEqual([]);
    trust.proved();
    expect(events).toEqual(['alive@6100']);
  });

  it('a proof with an earlier timestamp moves the deadline to it', () => {
    const { t, trust, events } = deadline(600);
    t.advance(500);
    trust.proved(1_400); // measured when it arrived, handled a little later
    t.advance(500); // 2000 = 1400 + 600
    expect(events).toEqual(['silent@2000']);
  });

  it('stop: nothing more, whatever comes', () => {
    const { t, trust, events } = deadline(600);
    trust.stop();
    t.advance(5_000);
    trust.askProof();
    trust.proved();
    expect(events).toEqual([]);
    expect(t.pending).toBe(0);
  });

  it('pace: a longer silence stretches the deadline; a shorter one with grace counts from now', () => {
    const { t, trust, events } = deadline(600);
    trust.pace(3_000); // quiet: last proof at 1000
    t.advance(2_900); // 3900: past 600, within 3 000
    expect(events).toEqual([]);
    trust.pace(600, 600); // woken at 3900, the last proof 2.9 s ago
    t.advance(599);
    expect(events).toEqual([]);
    t.advance(1); // 4500 = wake + 600
    expect(events).toEqual(['silent@4500']);
  });

  it('pace: a shorter silence without grace fires at once when the last proof is older', () => {
    const { t, trust, events } = deadline(3_000);
    t.advance(1_000); // 2000
    trust.pace(600);
    t.advance(1); // the re-armed timer, not the 3 s one
    expect(events).toEqual(['silent@2001']);
    trust.proved();
    expect(events).toEqual(['silent@2001', 'alive@2001']);
    t.advance(600);
    expect(events.at(-1)).toBe('silent@2601'); // armed with the new silence
  });
});
