/**
 * Planned migrations under a continuous numbered stream lose, duplicate and
 * reorder nothing: relay → direct (the upgrade) and direct → relay (a
 * QUALITY fallback caused by a slow direct path).
 */
import { describe, expect, it } from 'vitest';
import { useLoopbackCluster } from '../../support/loopback.js';
import { sleep, startStream } from './numbered-stream.js';

describe('failover: planned migration under a numbered stream', () => {
  const startCluster = useLoopbackCluster();

  it('relay → direct: 0 lost, 0 duplicated, 0 reordered', async () => {
    const cluster = await startCluster();
    const link = cluster.nodes.a.peer('b')!;
    // Start as soon as the session exists: the stream begins on the relay.
    const deadline = Date.now() + 10_000;
    while (!link.session() && Date.now() < deadline) await sleep(1);
    const stream = startStream(cluster);
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    await sleep(200);
    const tally = await stream.stop();
    const b = cluster.status('b');
    expect(b.paths.relay.framesReceived).toBeGreaterThan(0);
    expect(b.paths.direct.framesReceived).toBeGreaterThan(0);
    expect(tally.lost(stream.sent)).toBe(0);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
  });

  it('direct → relay on QUALITY (slow direct path): 0 lost, 0 duplicated, 0 reordered', async () => {
    const cluster = await startCluster({
      timings: { heartbeatIntervalMs: 50, retry: { baseMs: 30_000, capMs: 30_000, jitter: 0 } },
      quality: { windowMs: 400, minSamples: 2 },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const stream = startStream(cluster);
    await sleep(100);
    await cluster.cut({ kind: 'delay', ms: 40 });
    const a = await cluster.waitFor('a', (p) => p.state === 'usingRelay', 10_000);
    await sleep(300);
    const tally = await stream.stop();
    // Whichever node judges first leaves on QUALITY and closes the link on
    // purpose; the other records PEER_CLOSED. Both are on the relay.
    const b = cluster.status('b');
    expect([a.reason, b.reason]).toContain('QUALITY');
    expect([a.reason, b.reason].every((r) => r === 'QUALITY' || r === 'PEER_CLOSED')).toBe(true);
    expect(b.paths.relay.framesReceived).toBeGreaterThan(0);
    expect(tally.lost(stream.sent)).toBe(0);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
  });
});
