import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../src/relay/token-bucket.js';

describe('TokenBucket', () => {
  it('starts full and spends only what it has', () => {
    const now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    expect(bucket.take(5)).toBe(true);
    expect(bucket.take(1)).toBe(false);
    expect(bucket.available()).toBe(0);
  });

  it('refills at its rate, never past its capacity', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    bucket.take(5);
    now = 200; // 10/s for 0.2 s
    expect(bucket.available()).toBeCloseTo(2);
    now = 10_000;
    expect(bucket.available()).toBe(5);
  });

  it('refuses a request larger than its capacity without spending anything', () => {
    let now = 0;
    const bucket = new TokenBucket(1_000, 100, () => now);
    expect(bucket.take(101)).toBe(false);
    expect(bucket.available()).toBe(100);
    now = -5; // a clock that steps back changes nothing
    expect(bucket.available()).toBe(100);
  });
});
