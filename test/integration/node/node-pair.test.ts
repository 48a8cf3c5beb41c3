import { describe, expect, it } from 'vitest';
import type { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';
import {
  frameSeq,
  macOf,
  numberedFrame,
  StreamTally,
} from '../../../src/testing/numbered-traffic.js';
import { useLoopbackCluster } from '../../support/loopback.js';

const MAC_A = macOf(0xa);
const MAC_B = macOf(0xb);

/** Send `count` numbered frames from a's host to b's host and count what arrives. */
async function stream(cluster: LoopbackCluster, count: number) {
  const tally = new StreamTally();
  const off = cluster.hosts.b.onFrames((frames) => {
    for (const frame of frames) {
      const seq = frameSeq(frame);
      if (seq !== undefined) tally.add(seq);
    }
  });
  for (let seq = 0; seq < count; seq++) {
    cluster.hosts.a.write(numberedFrame(MAC_A, MAC_B, seq));
    if (seq % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const deadline = Date.now() + 5_000;
  while (tally.received < count && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  off();
  return tally;
}

describe('two nodes and a relay on loopback', () => {
  const startCluster = useLoopbackCluster();

  it('upgrades to the direct path and carries frames without loss', async () => {
    const cluster = await startCluster();
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const tally = await stream(cluster, 300);
    expect(tally.lost(300)).toBe(0);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
    const a = cluster.status('a');
    expect(a.path).toBe('direct');
    expect(a.reason).toBe('UPGRADED');
    // All of it went direct: DATA frames there (a BATCH carries several of
    // the memory device's frames), and at least the frames' bytes.
    expect(a.paths.direct.framesSent).toBeGreaterThan(0);
    expect(a.paths.direct.bytesSent).toBeGreaterThanOrEqual(
      300 * numberedFrame(MAC_A, MAC_B, 0).length,
    );
  });

  it('falls back to the relay when the direct path is blackholed, and comes back when it returns', async () => {
    const cluster = await startCluster({
      timings: { retry: { baseMs: 200, capMs: 1_000, jitter: 0.2 } },
    });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    await cluster.cut();
    const fellBack = await cluster.waitFor('a', (p) => p.state === 'usingRelay');
    expect(fellBack.reason).toBe('HEARTBEAT_TIMEOUT');
    expect(fellBack.path).toBe('relay');
    const onRelay = await stream(cluster, 100);
    expect(onRelay.lost(100)).toBe(0);
    await cluster.restore();
    const back = await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    expect(back.fallbacks).toBeGreaterThanOrEqual(1);
    expect(back.upgrades).toBeGreaterThanOrEqual(2);
  });
});
