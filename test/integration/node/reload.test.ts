import { describe, expect, it } from 'vitest';
import { encodeKey, generateIdentity } from '../../../src/crypto/identity.js';
import { useLoopbackCluster } from '../../support/loopback.js';

describe('reloading the peer list', () => {
  const startCluster = useLoopbackCluster();

  it('adds and removes peers without disturbing a peer that did not change', async () => {
    const cluster = await startCluster();
    const a = cluster.nodes.a;
    const before = await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const unchanged = a.config.peers[0]!;
    const stranger = await generateIdentity();
    const newcomer = {
      name: 'c',
      publicKey: stranger.publicKey,
      publicKeyText: encodeKey(stranger.publicKey),
    };

    expect(a.updatePeers([unchanged, newcomer])).toEqual({ added: ['c'], removed: [] });
    let peers = a.status().peers;
    expect(peers.map((p) => p.name)).toEqual(['b', 'c']);
    expect(peers[1]).toMatchObject({ state: 'usingRelay', paired: false });
    // b kept its path, its session and its history.
    expect(peers[0]).toMatchObject({
      state: 'usingDirect.healthy',
      transitions: before.transitions,
      lastHandshake: before.lastHandshake,
    });

    expect(a.updatePeers([unchanged])).toEqual({ added: [], removed: ['c'] });
    peers = a.status().peers;
    expect(peers.map((p) => p.name)).toEqual(['b']);
    expect(peers[0]!.transitions).toBe(before.transitions);
    expect(a.listener.isAuthorised(stranger.publicKey)).toBe(false);
  });
});
