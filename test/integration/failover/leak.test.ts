/**
 * Closing a cluster that went through upgrade, blackhole, fallback, retry
 * and recovery leaves no socket, server or timer behind.
 */
import { describe, expect, it } from 'vitest';
import { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';
import { sleep, startStream } from './numbered-stream.js';

const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'TLSWrap'];

function resources(): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(WATCHED.map((k) => [k, 0]));
  for (const kind of process.getActiveResourcesInfo()) if (kind in counts) counts[kind]!++;
  return counts;
}

describe('failover: no leaks', () => {
  it('closes every socket, server and timer after a failover cycle', async () => {
    const before = resources();
    const cluster = await LoopbackCluster.start({
      relayProxyForB: true,
      timings: {
        heartbeatIntervalMs: 50,
        suspectIntervalMs: 200,
        deadIntervalMs: 500,
        connectTimeoutMs: 500,
        retry: { baseMs: 200, capMs: 400, jitter: 0.2 },
      },
    });
    try {
      await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
      const stream = startStream(cluster, { everyMs: 2 });
      await cluster.cut();
      await cluster.waitFor('a', (p) => p.state === 'usingRelay');
      await sleep(600); // a retry or two into the blackhole
      await cluster.restore();
      await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy', 10_000);
      await stream.stop();
      expect(resources().TCPServerWrap).toBeGreaterThan(before.TCPServerWrap!);
    } finally {
      await cluster.close();
    }
    // Closed sockets and cleared timers leave the list on the next turns.
    let after = resources();
    for (let i = 0; i < 50 && WATCHED.some((k) => after[k]! > before[k]!); i++) {
      await sleep(20);
      after = resources();
    }
    for (const kind of WATCHED) expect(after[kind], kind).toBeLessThanOrEqual(before[kind]!);
  });
});
