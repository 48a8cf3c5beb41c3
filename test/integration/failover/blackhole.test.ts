/**
 * The direct path goes silent under continuous load: the chart falls back to
 * the relay and frames keep flowing through it. Asymmetric variant: one
 * direction only must settle on the relay, not flap, with a growing backoff.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionTimings } from '../../../src/machines/connection-timings.js';
import { stateString } from '../../../src/machines/state-value.js';
import { useLoopbackCluster } from '../../support/loopback.js';
import { sleep, startStream } from './numbered-stream.js';

const fast: Partial<ConnectionTimings> = {
  heartbeatIntervalMs: 50,
  suspectIntervalMs: 200,
  deadIntervalMs: 600,
  connectTimeoutMs: 500,
  dialDelayMs: 50,
  migrationTimeoutMs: 500,
};

describe('failover: blackholed direct path', () => {
  const startCluster = useLoopbackCluster();

  it('falls back under load: frames keep flowing via the relay, none lost or reordered', async () => {
    const cluster = await startCluster({
      timings: { ...fast, retry: { baseMs: 10_000, capMs: 10_000, jitter: 0 } },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const link = cluster.nodes.a.peer('b')!;
    const chart = cluster.nodes.a.chart('b')!;
    const stream = startStream(cluster);
    // The sequence number being sent when a's frames start going on both paths.
    let firstOnBoth: number | undefined;
    const sub = chart.subscribe((s) => {
      if (s.context.transport !== 'direct' && firstOnBoth === undefined) firstOnBoth = stream.sent;
    });
    await sleep(200);
    const relayBefore = cluster.status('b').paths.relay.framesReceived;
    const cutAt = stream.sent;
    await cluster.cut();
    const fellBack = await cluster.waitFor('a', (p) => p.state === 'usingRelay', 5_000);
    await sleep(300);
    const tally = await stream.stop();
    sub.unsubscribe();

    expect(fellBack.reason).toBe('HEARTBEAT_TIMEOUT');
    expect(fellBack.path).toBe('relay');
    expect(firstOnBoth).toBeGreaterThan(cutAt);
    // Frames keep flowing via the relay.
    expect(cluster.status('b').paths.relay.framesReceived - relayBefore).toBeGreaterThan(300);
    // From `suspect` on, every frame goes on both paths and arrives.
    for (let seq = firstOnBoth!; seq < stream.sent; seq++)
      expect(tally.has(seq), `frame ${seq}`).toBe(true);
    // Frames written onto the dead direct path before `suspect` are resent
    // via the relay on entering it (PeerCounters.resentViaRelay): none is lost.
    expect(link.counters.resentViaRelay).toBeGreaterThan(0);
    expect(tally.lost(stream.sent)).toBe(0);
    expect(tally.reordered).toBe(0);
    expect(tally.duplicated).toBe(0);
  });

  it('a path that died while idle: the first frames wake the heartbeat, turn it suspect within suspectInterval, none lost', async () => {
    const cluster = await startCluster({
      timings: {
        ...fast,
        retry: { baseMs: 10_000, capMs: 10_000, jitter: 0 },
        // Quiet soon, and a quiet deadline far longer than the busy one, so
        // only the wake can make a fall back come quickly.
        idleAfterMs: 300,
        idleHeartbeatIntervalMs: 250,
        idleSuspectIntervalMs: 4_000,
      },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const link = cluster.nodes.a.peer('b')!;
    const chart = cluster.nodes.a.chart('b')!;
    const deadline = Date.now() + 5_000;
    while (!link.activity.sleeping && Date.now() < deadline) await sleep(20);
    expect(link.activity.sleeping).toBe(true); // quiet: nothing moved for idleAfterMs
    await cluster.cut();
    await sleep(600); // well past the busy deadline (200 ms), within the quiet one
    expect(cluster.status('a').state).toBe('usingDirect.healthy');

    let suspectAfterMs: number | undefined;
    const startedAt = performance.now();
    const sub = chart.subscribe((s) => {
      if (suspectAfterMs === undefined && stateString(s.value) !== 'usingDirect.healthy')
        suspectAfterMs = performance.now() - startedAt;
    });
    const stream = startStream(cluster);
    const fellBack = await cluster.waitFor('a', (p) => p.state === 'usingRelay', 5_000);
    await sleep(300);
    const tally = await stream.stop();
    sub.unsubscribe();

    expect(fellBack.reason).toBe('HEARTBEAT_TIMEOUT');
    // Woken by the first frame: suspect one busy deadline after it, where the
    // quiet deadline had ≥ 3.4 s left.
    expect(suspectAfterMs!).toBeLessThan(2_000);
    expect(link.counters.resentViaRelay).toBeGreaterThan(0);
    expect(tally.lost(stream.sent)).toBe(0);
    expect(tally.reordered).toBe(0);
    expect(tally.duplicated).toBe(0);
  });

  it('asymmetric blackhole (a → b only) settles on the relay without flapping; backoff grows', async () => {
    const cluster = await startCluster({
      timings: {
        ...fast,
        stableAfterMs: 30_000,
        retry: { baseMs: 200, capMs: 1_600, jitter: 0.2 },
        // Two quick re-probes after the dead path, then the backoff this test watches grow.
        reprobes: 2,
      },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const chart = cluster.nodes.a.chart('b')!;
    const upgradesBefore = { a: cluster.status('a').upgrades, b: cluster.status('b').upgrades };
    const states: string[] = [];
    const delays: number[] = [];
    const sub = chart.subscribe((s) => {
      const state = stateString(s.value);
      if (state !== states.at(-1)) {
        states.push(state);
        if (state === 'usingRelay') delays.push(s.context.retryDelayMs);
      }
    });
    const stream = startStream(cluster, { everyMs: 5 });
    await cluster.cut({ kind: 'blackhole' }, 'aToB');
    await sleep(6_000); // bounded observation window
    const tally = await stream.stop();
    sub.unsubscribe();

    const a = cluster.status('a');
    const b = cluster.status('b');
    // It left the direct path and never came back to it: no flapping.
    expect(a.path).toBe('relay');
    expect(b.path).toBe('relay');
    expect(a.upgrades).toBe(upgradesBefore.a);
    expect(b.upgrades).toBe(upgradesBefore.b);
    expect(states.filter((s) => s.startsWith('usingDirect')).length).toBeLessThanOrEqual(2);
    // Retries are few and spaced out by a growing backoff.
    const attempts = states.filter((s) => s === 'attemptingDirect.listening').length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(8);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(delays.at(-1)!).toBeGreaterThan(delays[1]!);
    // Traffic kept flowing through the relay once it fell back.
    expect(tally.received).toBeGreaterThan(stream.sent / 2);
    expect(tally.duplicated).toBe(0);
  }, 20_000);
});
