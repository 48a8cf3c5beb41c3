/**
 * A token bucket: `capacity` tokens, refilled continuously at `ratePerSecond`.
 * `take(n)` spends n tokens if there are that many. Time comes from an
 * injectable monotonic clock so tests can drive it without sleeping.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    private readonly now: () => number = monotonicMs,
  ) {
    this.tokens = capacity;
    this.last = now();
  }

  /** Spends `n` tokens and returns true, or returns false and spends nothing.
   * `now` lets a caller with several buckets read the clock once for all. */
  take(n = 1, now = this.now()): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Tokens available now (refilled up to the present). */
  available(): number {
    this.refill(this.now());
    return this.tokens;
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.last = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }
}

export function monotonicMs(): number {
  return performance.now();
}
