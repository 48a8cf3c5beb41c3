/**
 * What status and metrics say is what happened, on a real node pair:
 * - one real fallback followed by failed retries counts one fallback; the
 *   failed attempts are counted apart, by reason, and the fallback's reason
 *   and time stay visible beside the next retry;
 * - while on the relay and idle, the relay's RTT is measured and current, and
 *   a path that stopped answering shows no old figure.
 */
import { describe, expect, it } from 'vitest';
import { createNodeMetrics } from '../../../src/daemon/metrics.js';
import type { ConnectionTimings } from '../../../src/machines/connection-timings.js';
import { useLoopbackCluster } from '../../support/loopback.js';

const timings: Partial<ConnectionTimings> = {
  heartbeatIntervalMs: 50, // relay probes every 250 ms
  suspectIntervalMs: 200,
  deadIntervalMs: 600,
  connectTimeoutMs: 800,
  dialDelayMs: 50,
  retry: { baseMs: 200, capMs: 400, jitter: 0 },
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('status tells the truth', () => {
  const startCluster = useLoopbackCluster();

  it('counts one fallback for a dead path, and the failed retries apart by reason', async () => {
    const cluster = await startCluster({ timings });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const metrics = createNodeMetrics(cluster.nodes.a);
    try {
      await cluster.cut({ kind: 'blackhole' });
      const fell = await cluster.waitFor('a', (p) => p.fallbacks === 1, 5_000);
      expect(fell.lastFallback?.reason).toBe('HEARTBEAT_TIMEOUT');
      // The path stays down; retries are refused from now on.
      await cluster.cut({ kind: 'refuse' });
      const after = await cluster.waitFor(
        'a',
        (p) => (p.failedAttempts.DIAL_REFUSED ?? 0) >= 2,
        10_000,
      );
      expect(after.fallbacks).toBe(1);
      expect(after.lastFallback).toEqual(fell.lastFallback);
      expect(after.path).toBe('relay');

      // Waiting on the relay: the next attempt is announced, in the future.
      const waiting = await cluster.waitFor('a', (p) => p.state === 'usingRelay', 5_000);
      expect(waiting.nextAttemptAt).not.toBeNull();
      expect(waiting.nextAttemptAt!).toBeGreaterThan(waiting.since);

      const text = await metrics.registry.metrics();
      expect(text).toMatch(/^switchback_peer_fallbacks_total\{peer="b"\} 1$/m);
      expect(text).toMatch(
        /^switchback_peer_failed_attempts_total\{peer="b",reason="DIAL_REFUSED"\} [2-9]\d*$/m,
      );
    } finally {
      metrics.close();
    }
  });

  it('keeps the relay RTT current while idle on the relay; a silent path shows no figure', async () => {
    const cluster = await startCluster({
      timings: { ...timings, retry: { baseMs: 60_000, capMs: 60_000, jitter: 0 } },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.cut({ kind: 'blackhole' });
    await cluster.waitFor('a', (p) => p.state === 'usingRelay', 5_000);
    // Idle: no frames at all. Two readings a second apart are both fresh.
    await sleep(1_000);
    const first = cluster.status('a');
    await sleep(1_000);
    const second = cluster.status('a');
    for (const reading of [first, second]) {
      expect(reading.paths.relay.rttMs).not.toBeNull();
      expect(reading.paths.relay.stale).toBe(false);
      expect(reading.paths.relay.measuredAgoMs!).toBeLessThan(1_000);
    }
    // Probes kept being answered between the readings.
    expect(second.paths.relay.framesReceived).toBeGreaterThan(first.paths.relay.framesReceived);
    // The direct path has not answered since the cut: stale, no old RTT shown.
    expect(second.paths.direct.stale).toBe(true);
    expect(second.paths.direct.rttMs).toBeNull();
    expect(second.paths.direct.loss).toBeNull();
  });
});
