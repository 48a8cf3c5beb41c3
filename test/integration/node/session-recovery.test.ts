import { describe, expect, it } from 'vitest';
import { initiateHandshake } from '../../../src/crypto/handshake.js';
import { encodeFrame } from '../../../src/protocol/codec.js';
import {
  frameSeq,
  macOf,
  numberedFrame,
  StreamTally,
} from '../../../src/testing/numbered-traffic.js';
import { useLoopbackCluster } from '../../support/loopback.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The relay cannot read or forge frames, but it can replay an old
 * HANDSHAKE_INIT. The responder then switches to a session the initiator
 * never completes, and the two no longer share keys. Frames that keep
 * failing to decrypt start a fresh handshake, so traffic recovers on its own.
 */
describe('a session the two sides no longer share', () => {
  const startCluster = useLoopbackCluster();

  it('is replaced by a fresh handshake, and traffic flows again', async () => {
    const cluster = await startCluster();
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const atB = cluster.nodes.b.peer('a')!;
    const handshakeBefore = atB.lastHandshake;

    // What a replayed INIT from a does to b: b answers it and moves to keys a never gets.
    const stale = initiateHandshake(cluster.identities.a, cluster.identities.b.publicKey);
    atB.onRelayFrame(encodeFrame(stale.init));
    expect(atB.lastHandshake).not.toBe(handshakeBefore);

    const tally = new StreamTally();
    const off = cluster.hosts.b.onFrames((frames) => {
      for (const frame of frames) {
        const seq = frameSeq(frame);
        if (seq !== undefined) tally.add(seq);
      }
    });
    let sent = 0;
    for (; sent < 400; sent++) {
      cluster.hosts.a.write(numberedFrame(macOf(0xa), macOf(0xb), sent));
      await sleep(5);
    }
    await sleep(300);
    off();

    // v2: the tag names the session, so a's frames are UNKNOWN_SESSION at b.
    expect((atB.drops.DECRYPT_FAILED ?? 0) + (atB.drops.UNKNOWN_SESSION ?? 0)).toBeGreaterThan(0);
    // Recovered: the last frames arrived, under a session both sides share.
    for (let seq = sent - 50; seq < sent; seq++) expect(tally.has(seq)).toBe(true);
    expect(tally.lost(sent)).toBeLessThan(sent / 2);
  });
});
