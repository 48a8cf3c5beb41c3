// A relay cluster as operators run it: Debian's nats-server and three
// `switchback relay --cluster` processes on loopback. Peers on different
// relays pair and exchange numbered frames; a node moving to another relay
// is routed there at once; a relay killed with SIGKILL is forgotten within
// the expiry; NATS killed and restarted, cross-relay traffic comes back.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { PeerGoneReason } from '../../../src/protocol/frames.js';
import { CloseCode } from '../../../src/relay/close-codes.js';
import { type NatsServer, startNats } from '../../support/nats-server.js';
import {
  killRelays,
  numberedStream,
  type Peer,
  pairAcross,
  peerOn,
  type RelayProcess,
  startRelayProcess,
  waitFor,
} from './cluster-helpers.js';
import { sameBytes } from './helpers.js';

let nats: NatsServer;
const peers: Peer[] = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.client.terminate();
  await killRelays();
  await nats?.kill();
});
afterAll(async () => {
  await nats?.kill();
});

async function peer(relay: RelayProcess, identity?: Peer['identity']): Promise<Peer> {
  const p = await peerOn(relay.url, identity);
  peers.push(p);
  return p;
}

/** Three relays that have all heard each other. */
async function cluster(): Promise<[RelayProcess, RelayProcess, RelayProcess]> {
  nats = await startNats();
  const relays = await Promise.all(
    ['r1', 'r2', 'r3'].map((name) => startRelayProcess(name, nats.url)),
  );
  for (const relay of relays) {
    await waitFor(
      `${relay.name} to hear the others`,
      async () => (await relay.metric('switchback_relay_cluster_relays')) === 2,
    );
  }
  return relays as [RelayProcess, RelayProcess, RelayProcess];
}

describe('relay cluster (nats-server and three relay processes)', () => {
  it('pairs peers on different relays with ESTABLISHED as on one relay, and forwards numbered frames both ways exactly once, in order', async () => {
    const [r1, r2, r3] = await cluster();
    const a = await peer(r1);
    const b = await peer(r2);
    const c = await peer(r3);
    const [atA, atB] = await pairAcross(a, b, [40_001, 40_002]);
    expect(sameBytes(atA.peer, b.identity.publicKey)).toBe(true);
    expect(atA.observed).toEqual(b.client.observed);
    expect(atA.listenPort).toBe(40_002);
    expect(sameBytes(atB.peer, a.identity.publicKey)).toBe(true);
    expect(atB.observed).toEqual(a.client.observed);
    expect(atB.listenPort).toBe(40_001);
    await pairAcross(a, c);

    // a↔b through r1 and r2, a↔c through r1 and r3, all at once, both ways.
    const results = await Promise.all([
      numberedStream(a, b, 1, 2_000),
      numberedStream(b, a, 2, 2_000),
      numberedStream(a, c, 3, 2_000),
      numberedStream(c, a, 4, 2_000),
    ]);
    for (const result of results) {
      expect(result).toEqual({ received: 2_000, lost: 0, duplicated: 0, reordered: 0, corrupt: 0 });
    }

    expect(await r1.metric('switchback_relay_cluster_frames_sent_total')).toBeGreaterThanOrEqual(
      4_000,
    );
    expect(
      await r1.metric('switchback_relay_cluster_frames_received_total'),
    ).toBeGreaterThanOrEqual(4_000);
    expect(await r1.metric('switchback_relay_cluster_bytes_sent_total')).toBeGreaterThan(
      4_000 * 1_400,
    );
    expect(await r2.metric('switchback_relay_cluster_presence_entries')).toBe(2); // a and c
    expect(await r1.metric('switchback_relay_cluster_pairs')).toBe(2);
    expect(await r1.metric('switchback_relay_drops_total')).toBe(0);
    expect((await r1.healthz()).text).toMatch(
      /^ok\ncluster up as r1 via .*: 2 other relays, 2 remote peers\n$/,
    );
  });

  it('refuses FORWARD to a peer on another relay that did not ask for the sender (NOTICE, counted)', async () => {
    const [r1, r2] = await cluster();
    const a = await peer(r1);
    const b = await peer(r2);
    a.client.connectPeer(b.identity.publicKey, 0); // b never asks for a
    await waitFor(
      'b known on r1',
      async () => (await r1.metric('switchback_relay_cluster_presence_entries')) >= 1,
    );
    const notice = a.client.next('notice', { timeoutMs: 5_000 });
    let got = 0;
    b.client.on('forward', () => got++);
    a.client.forward(b.identity.publicKey, new Uint8Array([1, 2, 3]));
    expect((await notice).message).toContain('not paired');
    expect(await r1.metric('switchback_relay_drops_total', 'reason="not_paired"')).toBe(1);
    expect(got).toBe(0);
  });

  it('routes a node that registers again on another relay there at once: the old connection is replaced (4010), its partner told, the pair formed again', async () => {
    const [r1, r2, r3] = await cluster();
    const a = await peer(r1);
    const b = await peer(r2);
    await pairAcross(a, b);
    expect((await numberedStream(a, b, 1, 200)).lost).toBe(0);

    // a's node reconnects to r3 with the same key while its r1 connection is still open.
    const gone = b.client.next('peer-gone', { timeoutMs: 5_000 });
    const start = performance.now();
    const moved = await peer(r3, a.identity);
    const closed = await a.client.closed;
    expect(closed.code).toBe(CloseCode.REPLACED);
    expect((await gone).reason).toBe(PeerGoneReason.REPLACED);
    const [atMoved, atB] = await pairAcross(moved, b, [7_443, 0]);
    const ms = performance.now() - start;
    expect(atB.observed).toEqual(moved.client.observed);
    expect(atB.listenPort).toBe(7_443);
    expect(sameBytes(atMoved.peer, b.identity.publicKey)).toBe(true);
    // "At once": without waiting for any presence expiry (2 s).
    expect(ms).toBeLessThan(2_000);
    console.log(`moved node paired again via r3 in ${ms.toFixed(0)} ms`);

    const results = await Promise.all([
      numberedStream(moved, b, 2, 1_000),
      numberedStream(b, moved, 3, 1_000),
    ]);
    for (const result of results)
      expect(result.lost + result.duplicated + result.reordered).toBe(0);
    // Nothing for the moved key goes through r1 any more.
    expect(await r1.metric('switchback_relay_authenticated_peers')).toBe(0);
    expect(await r3.metric('switchback_relay_cluster_pairs')).toBe(1);
    expect(await r1.metric('switchback_relay_cluster_pairs')).toBe(0);
  });

  it('forgets a relay killed with SIGKILL within 3 s: its peers leave presence and their partners get PEER_GONE', async () => {
    const [r1, r2, r3] = await cluster();
    const a = await peer(r1);
    const c = await peer(r3);
    await pairAcross(a, c);
    expect(await r1.metric('switchback_relay_cluster_presence_entries')).toBe(1);

    const gone = a.client.next('peer-gone', { timeoutMs: 5_000 });
    const start = performance.now();
    await r3.kill('SIGKILL');
    const event = await gone;
    const ms = performance.now() - start;
    expect(sameBytes(event.peer, c.identity.publicKey)).toBe(true);
    expect(event.reason).toBe(PeerGoneReason.DISCONNECTED);
    expect(ms).toBeLessThan(3_000);
    console.log(`relay killed → partner told PEER_GONE in ${ms.toFixed(0)} ms`);
    expect(await r1.metric('switchback_relay_cluster_presence_entries')).toBe(0);
    await r2.logged(/^relay r3 forgotten: no heartbeat for 2000 ms/);
    expect(await r2.metric('switchback_relay_cluster_relays')).toBe(1);
    expect(
      await r2.metric('switchback_relay_cluster_relays_forgotten_total', 'cause="expired"'),
    ).toBe(1);
  });

  it('forgets a relay that stops cleanly at once (BYE)', async () => {
    const [r1, , r3] = await cluster();
    const a = await peer(r1);
    const c = await peer(r3);
    await pairAcross(a, c);
    const gone = a.client.next('peer-gone', { timeoutMs: 5_000 });
    await r3.kill('SIGTERM');
    await gone;
    await r1.logged(/^relay r3 forgotten: it said goodbye/);
    expect(await r1.metric('switchback_relay_cluster_relays_forgotten_total', 'cause="bye"')).toBe(
      1,
    );
  });

  it('keeps serving local peers while NATS is down (logs, /healthz, metrics say so) and resumes cross-relay traffic by itself within 10 s of NATS returning', async () => {
    const [r1, r2] = await cluster();
    const a = await peer(r1);
    const b = await peer(r2);
    const local = await peer(r1);
    await pairAcross(a, b);
    await pairAcross(a, local);
    expect((await numberedStream(a, b, 1, 200)).lost).toBe(0);

    await nats.kill();
    await r1.logged(/^cluster down: lost nats/);
    expect(await r1.metric('switchback_relay_cluster_up')).toBe(0);
    const health = await r1.healthz();
    expect(health.status).toBe(200);
    expect(health.text).toMatch(/^degraded\ncluster down since .*serving local peers only\n$/);
    // Local forwarding carries on, and loses nothing.
    expect(await numberedStream(a, local, 2, 500)).toMatchObject({
      lost: 0,
      duplicated: 0,
      reordered: 0,
    });
    // Cross-relay frames are dropped and counted meanwhile (no queue grows).
    await waitFor('a frame dropped for the cluster', async () => {
      a.client.forward(b.identity.publicKey, new Uint8Array(10));
      return (
        (await r1.metric('switchback_relay_drops_total', 'reason="cluster_down"')) +
          (await r1.metric('switchback_relay_drops_total', 'reason="not_paired"')) >
        0
      );
    });

    nats = await nats.restart();
    const back = performance.now();
    // The pair forms again by itself: nobody sends CONNECT again.
    let arrived = 0;
    const counting = () => arrived++;
    b.client.on('forward', counting);
    const ms = await waitFor(
      'a frame across relays after NATS returned',
      () => {
        if (a.client.isOpen) a.client.forward(b.identity.publicKey, new Uint8Array(10));
        return arrived > 0;
      },
      10_000,
    );
    b.client.off('forward', counting);
    console.log(`nats back → first cross-relay frame in ${ms.toFixed(0)} ms`);
    expect(performance.now() - back).toBeLessThan(10_000);
    expect(await r1.metric('switchback_relay_cluster_up')).toBe(1);
    expect((await r1.healthz()).text).toMatch(/^ok\n/);
    await r1.logged(/^cluster up: connected to nats/);
    expect(await numberedStream(b, a, 3, 500)).toMatchObject({
      lost: 0,
      duplicated: 0,
      reordered: 0,
    });
  });

  it('drops frames (cluster_backlog) when NATS stops reading, keeps forwarding local pairs, and recovers', async () => {
    const [r1, r2] = await cluster();
    const a = await peer(r1);
    const b = await peer(r2);
    const local = await peer(r1);
    await pairAcross(a, b);
    await pairAcross(a, local);

    nats.pause();
    try {
      // 16 MiB towards a NATS that reads nothing: twice the in-flight bound.
      const big = new Uint8Array(1_400);
      for (let i = 0; i < 12_000; i++) a.client.forward(b.identity.publicKey, big);
      await waitFor(
        'backlog drops',
        async () =>
          (await r1.metric('switchback_relay_drops_total', 'reason="cluster_backlog"')) > 0,
      );
      expect(await r1.metric('switchback_relay_cluster_in_flight_bytes')).toBeLessThanOrEqual(
        8 * 1024 * 1024,
      );
      // The local pair is not held up by the stalled cluster.
      expect(await numberedStream(local, a, 5, 300, 64, 5_000)).toMatchObject({ lost: 0 });
    } finally {
      nats.resume();
    }
    let arrived = 0;
    b.client.on('forward', () => arrived++);
    await waitFor('cross-relay frames again', () => {
      a.client.forward(b.identity.publicKey, new Uint8Array(10));
      return arrived > 0;
    });
  });
});
