/**
 * The relay link drops while the peers use their direct path: they stay
 * direct, traffic keeps flowing, and the relay link comes back by itself.
 * Then the whole relay server restarts on the same port: same outcome. And
 * b's relay link blackholed: no socket says anything, b's pings go
 * unanswered, b declares the link dead (RELAY_DEAD) and is back once the
 * blackhole ends.
 */

import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayLinkReason } from '../../../src/machines/relay-link.js';
import { defaultRelayLinkTimings } from '../../../src/machines/relay-link-timings.js';
import { RelayServer } from '../../../src/relay/server.js';
import { useLoopbackCluster } from '../../support/loopback.js';
import { sleep, startStream } from './numbered-stream.js';

describe('failover: relay reconnect while on the direct path', () => {
  const startCluster = useLoopbackCluster();
  let relay2: RelayServer | undefined;
  afterEach(async () => {
    await relay2?.close();
    relay2 = undefined;
  });

  it("b's relay connection is reset: both stay direct, nothing lost, relay link back", async () => {
    const cluster = await startCluster({ relayProxyForB: true });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const before = { a: cluster.status('a'), b: cluster.status('b') };
    const stream = startStream(cluster);
    await sleep(100);
    await cluster.relayProxy!.set('both', { kind: 'reset' });
    const deadline = Date.now() + 5_000;
    while (
      !cluster.nodes.b.status().relay.state.startsWith('reconnecting') &&
      Date.now() < deadline
    )
      await sleep(5);
    expect(cluster.nodes.b.status().relay.state).toMatch(/^reconnecting/);
    await cluster.relayProxy!.set('both', { kind: 'pass' });
    while (
      cluster.nodes.b.status().relay.state !== 'connected.steady' &&
      Date.now() < deadline + 10_000
    )
      await sleep(20);
    await sleep(200);
    const tally = await stream.stop();

    expect(cluster.nodes.b.status().relay.state).toBe('connected.steady');
    for (const name of ['a', 'b'] as const) {
      const now = cluster.status(name);
      expect(now.path).toBe('direct');
      expect(now.fallbacks).toBe(before[name].fallbacks);
    }
    expect(tally.lost(stream.sent)).toBe(0);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
  });

  it('the relay server restarts on the same port: both stay direct, nothing lost', async () => {
    const cluster = await startCluster();
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const before = { a: cluster.status('a'), b: cluster.status('b') };
    const port = Number(new URL(cluster.relayUrl).port);
    const stream = startStream(cluster);
    await sleep(100);
    await cluster.relay!.close();
    await sleep(100);
    relay2 = new RelayServer({
      listen: { host: '127.0.0.1', port },
      logger: pino({ level: 'silent' }),
    });
    await relay2.start();
    const deadline = Date.now() + 15_000;
    while (
      (cluster.nodes.a.status().relay.state !== 'connected.steady' ||
        cluster.nodes.b.status().relay.state !== 'connected.steady') &&
      Date.now() < deadline
    )
      await sleep(20);
    await sleep(200);
    const tally = await stream.stop();

    expect(cluster.nodes.a.status().relay.state).toBe('connected.steady');
    for (const name of ['a', 'b'] as const) {
      const now = cluster.status(name);
      expect(now.path).toBe('direct');
      expect(now.fallbacks).toBe(before[name].fallbacks);
    }
    expect(tally.lost(stream.sent)).toBe(0);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
  }, 30_000);

  it("b's relay link blackholed: declared dead within deadAfter, back within 5 s of the end, direct untouched", async () => {
    const cluster = await startCluster({ relayProxyForB: true });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const before = { a: cluster.status('a'), b: cluster.status('b') };
    const b = cluster.nodes.b;
    const reconnectsBefore = b.status().relayLink.reconnects;
    // At least one pong before the cut (pings go every pingInterval).
    while (b.status().relayLink.lastPongAt === null) await sleep(20);
    const stream = startStream(cluster);
    await sleep(100);
    const cutAt = Date.now();
    await cluster.relayProxy!.set('both', { kind: 'blackhole' });
    const { deadAfterMs, pingIntervalMs } = defaultRelayLinkTimings;
    const relayRecord = (since: number, reason?: string, to = 'reconnecting') =>
      b
        .recentTransitions()
        .find(
          (t) =>
            t.peer === 'relay' &&
            t.at >= since &&
            t.to.startsWith(to) &&
            (reason === undefined || t.reason === reason),
        );
    while (!relayRecord(cutAt) && Date.now() < cutAt + deadAfterMs + 3_000) await sleep(10);
    const dead = relayRecord(cutAt);
    const lastPongAt = b.status().relayLink.lastPongAt ?? 0;
    await sleep(1_000);
    const restoredAt = Date.now();
    await cluster.relayProxy!.set('both', { kind: 'pass' });
    while (!relayRecord(restoredAt, undefined, 'connected') && Date.now() < restoredAt + 10_000)
      await sleep(10);
    const back = relayRecord(restoredAt, undefined, 'connected');
    await sleep(200);
    const tally = await stream.stop();

    expect(dead?.reason).toBe(RelayLinkReason.RELAY_DEAD);
    // Declared dead deadAfter after the last pong (not at the next ping tick
    // after that), which came at most one ping interval before the cut.
    expect(lastPongAt).toBeLessThanOrEqual(cutAt + 50);
    expect(lastPongAt).toBeGreaterThanOrEqual(cutAt - pingIntervalMs - 50);
    expect(dead!.at - lastPongAt).toBeGreaterThanOrEqual(deadAfterMs - 20);
    expect(dead!.at - lastPongAt).toBeLessThanOrEqual(deadAfterMs + 300);
    expect(back, 'relay link connected again').toBeDefined();
    expect(back!.at - restoredAt).toBeLessThanOrEqual(5_000);
    expect(b.status().relayLink.reconnects).toBeGreaterThan(reconnectsBefore);
    for (const name of ['a', 'b'] as const) {
      const now = cluster.status(name);
      expect(now.path).toBe('direct');
      expect(now.fallbacks).toBe(before[name].fallbacks);
    }
    expect(tally.lost(stream.sent)).toBe(0);
  }, 30_000);
});
