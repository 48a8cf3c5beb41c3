import { describe, expect, it } from 'vitest';
import { INIT_GUARD_DEFAULTS, InitGuard } from '../../../src/crypto/init-guard.js';
import { tai64n } from '../../../src/crypto/timestamp.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('InitGuard (docs/protocol.md §6.4)', () => {
  it("uses wireguard-go's figures", () => {
    expect(INIT_GUARD_DEFAULTS).toEqual({ minIntervalMs: 20, perSecond: 50, burst: 50 });
  });

  it('verifies at most 50 INITs at once, then 50 a second', () => {
    let now = 0;
    const guard = new InitGuard({ now: () => now });
    let admitted = 0;
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      if (codeOf(() => guard.admit()) === 'INIT_RATE_LIMITED') refused++;
      else admitted++;
    }
    expect([admitted, refused]).toEqual([50, 150]);
    now += 100; // 0.1 s: 5 more
    admitted = 0;
    for (let i = 0; i < 20; i++) if (!codeOf(() => guard.admit())) admitted++;
    expect(admitted).toBe(5);
  });

  it('refuses a timestamp not newer than the greatest accepted (INIT_REPLAYED)', () => {
    let now = 0;
    const guard = new InitGuard({ now: () => now });
    guard.accept(tai64n(10_000));
    now += 1_000;
    expect(codeOf(() => guard.check(tai64n(10_000)))).toBe('INIT_REPLAYED');
    expect(codeOf(() => guard.check(tai64n(5_000)))).toBe('INIT_REPLAYED');
    expect(codeOf(() => guard.check(tai64n(11_000)))).toBeUndefined();
    // A refusal moves nothing.
    expect(guard.greatest).toEqual(tai64n(10_000));
  });

  it('refuses a newer INIT within 20 ms of the last accepted one (INIT_TOO_SOON)', () => {
    let now = 0;
    const guard = new InitGuard({ now: () => now });
    guard.accept(tai64n(10_000));
    now += 19;
    expect(codeOf(() => guard.check(tai64n(20_000)))).toBe('INIT_TOO_SOON');
    now += 1;
    expect(codeOf(() => guard.check(tai64n(20_000)))).toBeUndefined();
  });
});
