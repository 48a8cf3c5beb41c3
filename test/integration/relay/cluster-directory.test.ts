// The cluster directory in-process, against a real nats-server: relays as
// RelayServer objects (so the test can ask their directory directly), peers
// as real relay clients over loopback.
import { createServer } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { PeerGoneReason } from '../../../src/protocol/frames.js';
import type { ClusterDirectory } from '../../../src/relay/cluster/cluster-directory.js';
import type { ClusterAuth } from '../../../src/relay/cluster/cluster-options.js';
import { peerIdOf } from '../../../src/relay/peer-directory.js';
import { RelayServer } from '../../../src/relay/server.js';
import { type NatsServer, startNats } from '../../support/nats-server.js';
import { numberedStream, type Peer, pairAcross, peerOn, waitFor } from './cluster-helpers.js';
import { sameBytes } from './helpers.js';

let nats: NatsServer | undefined;
const relays: RelayServer[] = [];
const peers: Peer[] = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.client.terminate();
  await Promise.all(relays.splice(0).map((relay) => relay.close()));
  await nats?.kill();
  nats = undefined;
});

async function relay(name: string, url: string, auth?: ClusterAuth) {
  const server = new RelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: { host: '127.0.0.1', port: 0 },
    cluster: { servers: [url], name, auth },
  });
  relays.push(server);
  const address = await server.start();
  return { server, address, directory: server.directory as ClusterDirectory };
}

async function peer(url: string): Promise<Peer> {
  const p = await peerOn(url);
  peers.push(p);
  return p;
}

async function heardEachOther(...directories: ClusterDirectory[]) {
  await waitFor('relays to hear each other', () =>
    directories.every((d) => d.presence.relayCount === directories.length - 1),
  );
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('cluster directory', () => {
  it('answers locate at once for local and known remote keys, and asks the cluster for an unknown one', async () => {
    nats = await startNats();
    const r1 = await relay('r1', nats.url);
    const r2 = await relay('r2', nats.url);
    await heardEachOther(r1.directory, r2.directory);
    const a = await peer(r1.address.url);
    const b = await peer(r2.address.url);
    const aId = peerIdOf(a.identity.publicKey);
    const bId = peerIdOf(b.identity.publicKey);
    const local = r1.directory.locate(aId);
    expect(local).not.toBeInstanceOf(Promise);
    expect(local).toMatchObject({ kind: 'local' });
    await waitFor('b in r1 presence', () => r1.directory.presence.claimOf(bId) !== undefined);
    expect(r1.directory.locate(bId)).toEqual({ kind: 'remote', relay: 'r2' });
    const stranger = peerIdOf((await generateIdentity()).publicKey);
    const asked = r1.directory.locate(stranger);
    expect(asked).toBeInstanceOf(Promise);
    expect(await asked).toEqual({ kind: 'unknown' });
  });

  it('finds a key through LOCATE that presence has not brought yet', async () => {
    nats = await startNats();
    const r1 = await relay('r1', nats.url);
    const r2 = await relay('r2', nats.url);
    await heardEachOther(r1.directory, r2.directory);
    const b = await peer(r2.address.url);
    const bId = peerIdOf(b.identity.publicKey);
    await waitFor('b in r1 presence', () => r1.directory.presence.claimOf(bId) !== undefined);
    // Make r1 forget b (as if its ADD had been lost), then ask.
    const claim = r1.directory.presence.claimOf(bId)!;
    r1.directory.presence.remove(
      'r2',
      claim.relay.instance,
      claim.relay.seq + 1,
      b.identity.publicKey,
      claim.stamp,
      PeerGoneReason.DISCONNECTED,
    );
    expect(r1.directory.presence.claimOf(bId)).toBeUndefined();
    expect(await r1.directory.locate(bId)).toEqual({ kind: 'remote', relay: 'r2' });
  });

  it('pairs once each way, again on a repeated CONNECT (with the new port), and when one side asked before the other existed', async () => {
    nats = await startNats();
    const r1 = await relay('r1', nats.url);
    const r2 = await relay('r2', nats.url);
    await heardEachOther(r1.directory, r2.directory);
    const a = await peer(r1.address.url);
    const bIdentity = await generateIdentity();
    // a asks for b before b is anywhere.
    a.client.connectPeer(bIdentity.publicKey, 1_111);
    const b = await peerOn(r2.address.url, bIdentity);
    peers.push(b);
    const counts = { a: 0, b: 0 };
    a.client.on('established', () => counts.a++);
    b.client.on('established', () => counts.b++);
    const atA = a.client.next('established', { timeoutMs: 5_000 });
    b.client.connectPeer(a.identity.publicKey, 2_222);
    expect((await atA).listenPort).toBe(2_222);
    await waitFor('b established', () => counts.b === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(counts).toEqual({ a: 1, b: 1 });
    expect(r1.server.directory.pairCount).toBe(1);

    // A repeated CONNECT tells both sides again, as on one relay.
    const again = b.client.next('established', { timeoutMs: 5_000 });
    a.client.connectPeer(bIdentity.publicKey, 3_333);
    expect((await again).listenPort).toBe(3_333);
    await waitFor('a established again', () => counts.a === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(counts).toEqual({ a: 2, b: 2 });

    // A partner leaving: PEER_GONE(DISCONNECTED) on the other relay.
    const gone = a.client.next('peer-gone', { timeoutMs: 5_000 });
    b.client.terminate();
    const event = await gone;
    expect(sameBytes(event.peer, bIdentity.publicKey)).toBe(true);
    expect(event.reason).toBe(PeerGoneReason.DISCONNECTED);
    expect(r1.server.directory.pairCount).toBe(0);
  });

  it('starts while NATS is down (serving local peers, /healthz degraded) and joins the cluster when NATS comes', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    const started = performance.now();
    const r1 = await relay('r1', url);
    const r2 = await relay('r2', url);
    expect(performance.now() - started).toBeLessThan(10_000);
    const health = await fetch(`${r1.address.metricsUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toMatch(/^degraded\ncluster down since .*cannot reach/);
    // Local peers are served meanwhile.
    const x = await peer(r1.address.url);
    const y = await peer(r1.address.url);
    await pairAcross(x, y);
    expect((await numberedStream(x, y, 1, 100)).lost).toBe(0);

    nats = await startNats({ port });
    await heardEachOther(r1.directory, r2.directory);
    const a = await peer(r1.address.url);
    const b = await peer(r2.address.url);
    await pairAcross(a, b);
    expect(await numberedStream(a, b, 2, 300)).toMatchObject({
      lost: 0,
      duplicated: 0,
      reordered: 0,
    });
    expect(await (await fetch(`${r1.address.metricsUrl}/healthz`)).text()).toMatch(/^ok\n/);
  });

  it('authenticates to NATS with a token or a user and password, and fails fast on wrong ones', async () => {
    nats = await startNats({ token: 'tok-3n' });
    const good = await relay('r1', nats.url, { kind: 'token', token: 'tok-3n' });
    expect(good.directory.backplane.up).toBe(true);
    const bad = new RelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      cluster: { servers: [nats.url], name: 'r2', auth: { kind: 'token', token: 'wrong' } },
    });
    relays.push(bad);
    await expect(bad.start()).rejects.toMatchObject({ code: 'AUTH_REFUSED' });
    await nats.kill();

    nats = await startNats({ user: 'relay', password: 'pa55' });
    const user = await relay('r3', nats.url, { kind: 'user', user: 'relay', password: 'pa55' });
    expect(user.directory.backplane.up).toBe(true);
    const wrong = new RelayServer({
      listen: { host: '127.0.0.1', port: 0 },
      cluster: {
        servers: [nats.url],
        name: 'r4',
        auth: { kind: 'user', user: 'relay', password: 'no' },
      },
    });
    relays.push(wrong);
    await expect(wrong.start()).rejects.toMatchObject({ code: 'AUTH_REFUSED' });
  });

  it('counts undecodable cluster messages and carries on', async () => {
    nats = await startNats();
    const r1 = await relay('r1', nats.url);
    const r2 = await relay('r2', nats.url);
    await heardEachOther(r1.directory, r2.directory);
    const { connect } = await import('@nats-io/transport-node');
    const rogue = await connect({ servers: nats.url });
    rogue.publish('switchback.cluster.presence', new Uint8Array([1, 2, 3]));
    rogue.publish('switchback.relay.r1.fwd.AAAA', new Uint8Array([9]));
    await rogue.flush();
    await rogue.close();
    await waitFor('counted', () => r1.directory.counters.invalidMessages === 1);
    await waitFor('bad frame counted', () => r1.server.stats.drops.get('cluster_bad_frame') === 1);
    const a = await peer(r1.address.url);
    const b = await peer(r2.address.url);
    await pairAcross(a, b);
    expect((await numberedStream(a, b, 1, 100)).lost).toBe(0);
  });
});
