import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeKey, generateIdentity } from '../../../src/crypto/identity.js';
import { RelayServer } from '../../../src/relay/server.js';
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

describe('reloading the relay list', () => {
  const startCluster = useLoopbackCluster();
  let other: RelayServer | undefined;
  afterEach(async () => {
    await other?.close();
    other = undefined;
  });

  it('stays on its relay while the list still has it; moves to the new first one when not', async () => {
    const cluster = await startCluster();
    const a = cluster.nodes.a;
    const before = await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
    const connections = a.relayActor.getSnapshot().context.connections;
    other = new RelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      logger: pino({ level: 'silent' }),
    });
    const { url: otherUrl } = await other.start();

    // Still listed (now second): the link stays where it is.
    a.updateRelays([otherUrl, cluster.relayUrl]);
    expect(a.status().relay).toMatchObject({ url: cluster.relayUrl, index: 1, switches: 0 });
    expect(a.status().relay.state).toBe('connected.steady');
    expect(a.relayActor.getSnapshot().context.connections).toBe(connections);

    // Gone from the list: the link moves to the new first relay.
    a.updateRelays([otherUrl]);
    const deadline = Date.now() + 10_000;
    while (a.status().relay.state !== 'connected.steady' || a.status().relay.url !== otherUrl) {
      if (Date.now() > deadline) throw new Error(`not on ${otherUrl}: ${a.status().relay.state}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(a.status().relay).toMatchObject({
      url: otherUrl,
      switches: 1,
      lastSwitch: { from: cluster.relayUrl, to: otherUrl, reason: 'RELAYS_CHANGED' },
    });
    expect(other.stats.authenticated).toBe(1);
    // The peer on the direct path noticed nothing.
    expect(cluster.status('a')).toMatchObject({
      state: 'usingDirect.healthy',
      transitions: before.transitions,
      lastHandshake: before.lastHandshake,
    });
  });
});
