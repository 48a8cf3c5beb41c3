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
 * A valid HANDSHAKE_INIT that the initiator never completes — what a relay
 * replaying an old INIT to a responder that restarted since achieves (its
 * guard no longer knows the old timestamp). Protocol v1 switched the
 * responder to keys the initiator never got, and traffic only came back after
 * eight failed frames and a new handshake. In v2 the responder holds the
 * session in *next*, which nothing ever promotes: the current session keeps
 * carrying traffic, nothing is lost, no frame fails (docs/protocol.md §8).
 */
describe('a handshake the initiator never completes', () => {
  const startCluster = useLoopbackCluster();

  it('changes nothing a user can see: no frame lost, none fails to open', async () => {
    const cluster = await startCluster();
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const atA = cluster.nodes.a.peer('b')!;
    const atB = cluster.nodes.b.peer('a')!;
    const handshakeBefore = atB.lastHandshake;
    const current = atB.session();

    const tally = new StreamTally();
    const off = cluster.hosts.b.onFrames((frames) => {
      for (const frame of frames) {
        const seq = frameSeq(frame);
        if (seq !== undefined) tally.add(seq);
      }
    });
    let sent = 0;
    for (; sent < 400; sent++) {
      if (sent === 100) {
        // In the middle of the stream: b answers it, and holds it as next.
        const stale = initiateHandshake(cluster.identities.a, cluster.identities.b.publicKey);
        atB.onRelayFrame(encodeFrame(stale.init));
        expect(atB.sessions.holdsNext).toBe(true);
      }
      cluster.hosts.a.write(numberedFrame(macOf(0xa), macOf(0xb), sent));
      await sleep(5);
    }
    await sleep(300);
    off();

    expect(atB.lastHandshake).toBe(handshakeBefore);
    expect(atB.session()).toBe(current);
    expect(tally.lost(sent)).toBe(0);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
    expect(atB.drops.UNKNOWN_SESSION ?? 0).toBe(0);
    expect(atB.drops.DECRYPT_FAILED ?? 0).toBe(0);
    // b's RESP answered no INIT of a's: refused there, and counted.
    await cluster.waitFor('a', (p) => (p.drops.HANDSHAKE_STATE ?? 0) === 1);
    expect(atA.session()!.tag).toBe(current!.tag);
  });
});
