import { describe, expect, it } from 'vitest';
import {
  defaultQualityPolicy,
  PathStats,
  QualityJudge,
} from '../../../src/services/path-quality.js';

/** A path answering every probe after `rtt` ms, or never when rtt is null. */
function probe(stats: PathStats, count: number, rtt: number | null, start = 0, every = 100) {
  for (let i = 0; i < count; i++) {
    const at = start + i * every;
    const id = start + i;
    stats.probeSent(id, at);
    if (rtt !== null) stats.pongReceived(id, at + rtt);
  }
}

describe('PathStats', () => {
  it('smooths RTT like TCP and measures jitter', () => {
    const stats = new PathStats();
    stats.probeSent(1, 0);
    expect(stats.pongReceived(1, 40)).toBe(40);
    expect(stats.srttMs).toBe(40);
    expect(stats.rttvarMs).toBe(20);
    stats.probeSent(2, 100);
    stats.pongReceived(2, 180);
    expect(stats.srttMs).toBe(45); // 7/8·40 + 1/8·80
    expect(stats.rttvarMs).toBe(25); // 3/4·20 + 1/4·40
  });

  it('ignores a pong for a probe it never sent (a forged or replayed pong proves nothing)', () => {
    const stats = new PathStats();
    expect(stats.pongReceived(99, 10)).toBeUndefined();
    expect(stats.samples).toBe(0);
  });

  it('counts unanswered probes as lost once they time out', () => {
    const stats = new PathStats({ probeTimeoutMs: 500, lossWindow: 10 });
    probe(stats, 5, 10);
    probe(stats, 5, null, 1_000);
    stats.expire(1_000 + 4 * 100 + 499);
    expect(stats.loss).toBeCloseTo(4 / 9);
    stats.expire(2_000);
    expect(stats.loss).toBeCloseTo(5 / 10);
  });
});

describe('QualityJudge', () => {
  const policy = { ...defaultQualityPolicy, windowMs: 1_000, minSamples: 3 };

  it('never judges before both paths have enough samples', () => {
    const direct = new PathStats();
    const relay = new PathStats();
    probe(direct, 2, 500);
    probe(relay, 10, 10);
    expect(new QualityJudge(policy).worse(direct, relay)).toBe(false);
  });

  it('calls direct poor only after it stayed worse than the relay for the whole window', () => {
    const direct = new PathStats();
    const relay = new PathStats();
    probe(direct, 10, 200);
    probe(relay, 10, 20);
    const judge = new QualityJudge(policy);
    expect(judge.update(0, direct, relay)).toBe(false);
    expect(judge.update(999, direct, relay)).toBe(false);
    expect(judge.update(1_000, direct, relay)).toBe(true);
  });

  it('restarts the window when the direct path recovers in between (hysteresis)', () => {
    const slow = new PathStats();
    const fast = new PathStats();
    const relay = new PathStats();
    probe(slow, 10, 200);
    probe(fast, 10, 5);
    probe(relay, 10, 20);
    const judge = new QualityJudge(policy);
    judge.update(0, slow, relay);
    expect(judge.update(600, fast, relay)).toBe(false);
    expect(judge.update(1_200, slow, relay)).toBe(false);
    expect(judge.update(2_200, slow, relay)).toBe(true);
  });

  it('calls a lossy direct path poor even when its RTT is fine', () => {
    const direct = new PathStats({ probeTimeoutMs: 100, lossWindow: 10 });
    const relay = new PathStats();
    probe(direct, 6, 5);
    probe(direct, 4, null, 1_000);
    direct.expire(5_000);
    probe(relay, 10, 20);
    expect(new QualityJudge(policy).worse(direct, relay)).toBe(true);
  });
});
