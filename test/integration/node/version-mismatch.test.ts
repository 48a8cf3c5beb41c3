// A v2 node meeting a v1 peer (docs/protocol.md §13): the v1 peer's frames
// are refused and counted, and the node says why in one line, once.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameType } from '../../../src/protocol/frames.js';
import { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';

describe('a peer of protocol version 1', () => {
  let cluster: LoopbackCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  it('is refused with one line naming both versions; the v2 session is untouched', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    cluster = await LoopbackCluster.start({ logger });
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const atB = cluster.nodes.b.peer('a')!;
    const handshakeBefore = atB.lastHandshake;
    // A version 1 HANDSHAKE_INIT, as a v1 peer sends it on ESTABLISHED.
    const v1Init = new Uint8Array([1, FrameType.HANDSHAKE_INIT, ...new Uint8Array(128).fill(7)]);
    for (let i = 0; i < 3; i++) atB.onRelayFrame(v1Init.slice());
    expect(atB.drops.BAD_VERSION).toBe(3);
    expect(atB.lastHandshake).toBe(handshakeBefore);
    const said = lines.filter((line) =>
      line.includes('peer speaks switchback protocol v1, this node speaks v2; upgrade the peer'),
    );
    expect(said).toHaveLength(1);
    expect(cluster.nodes.b.peer('a')!.transport).toBe('direct');
  });
});
