/**
 * Exponential backoff with jitter and a cap, kept pure so the charts stay pure:
 * the random state lives in the machine's context (a 32-bit xorshift seed),
 * not in Math.random, so a chart replays identically from the same input.
 *
 *   delay(attempt) = min(cap, base · 2^attempt) · (1 - jitter · u),  u ∈ [0, 1)
 *
 * "Full jitter" would spread retries over [0, d); we keep at least
 * (1 - jitter) of the delay so a flapping path cannot retry in a tight loop.
 */
export interface BackoffPolicy {
  /** First retry delay in ms. */
  baseMs: number;
  /** No retry waits longer than this. */
  capMs: number;
  /** Fraction of the delay removed at random, 0..1. */
  jitter: number;
}

export interface BackoffStep {
  delayMs: number;
  /** The next seed to store; never 0. */
  seed: number;
}

export function nextBackoff(policy: BackoffPolicy, attempt: number, seed: number): BackoffStep {
  const exponential = policy.baseMs * 2 ** Math.min(attempt, 30);
  const capped = Math.min(policy.capMs, exponential);
  const next = xorshift32(seed);
  const u = next / 0x1_0000_0000;
  return { delayMs: Math.round(capped * (1 - policy.jitter * u)), seed: next };
}

/**
 * A delay drawn uniformly from [0, maxMs], from the same seeded generator:
 * the relay-link chart's switch to the next relay, spread so that the
 * nodes of a dead relay do not all arrive at the next one at once.
 */
export function uniformDelay(maxMs: number, seed: number): BackoffStep {
  const next = xorshift32(seed);
  return { delayMs: Math.round(Math.max(0, maxMs) * (next / 0x1_0000_0000)), seed: next };
}

/** Marsaglia's xorshift32: enough to decorrelate peers, not for cryptography. */
export function xorshift32(seed: number): number {
  let x = seed >>> 0 || 0x9e3779b9;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}
