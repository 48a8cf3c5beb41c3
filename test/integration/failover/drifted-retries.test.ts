import { describe, expect, it } from 'vitest';
import { useLoopbackCluster } from '../../support/loopback.js';

/**
 * Each peer retries the direct path on its own jittered backoff, so after a
 * long outage their schedules drift apart. An attempt needs both sides (the
 * re-handshake proves the session both ways), so a peer that dials must pull
 * the other into its attempt: PEER_DIALLED.
 */
describe('peers whose retry schedules have drifted apart', () => {
  const startCluster = useLoopbackCluster();

  it('still meet on the direct path as soon as one of them retries', async () => {
    const cluster = await startCluster({
      timings: { connectTimeoutMs: 1_000 },
      nodeTimings: {
        // a retries quickly; b would not retry for a minute on its own (its
        // quick re-probes after the dead path are over, as after a long outage).
        a: { retry: { baseMs: 300, capMs: 300, jitter: 0 } },
        b: { retry: { baseMs: 60_000, capMs: 60_000, jitter: 0 }, reprobes: 0 },
      },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');

    await cluster.cut();
    await cluster.waitFor('b', (p) => p.state === 'usingRelay' && p.fallbacks === 1);
    await cluster.restore();

    const b = await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy', 10_000);
    const joined = cluster.nodes.b
      .recentTransitions()
      .filter((t) => t.peer === 'a' && t.reason === 'PEER_DIALLED');
    expect(joined.length).toBeGreaterThanOrEqual(1);
    expect(b.upgrades).toBe(2);
    expect((await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy')).path).toBe(
      'direct',
    );
  });
});
