// The relay's happy paths over real ws on loopback: authentication, pairing,
// forwarding both ways, partners leaving and being replaced, metrics.
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { encodeForward, forwardHeader } from '../../../src/protocol/codec.js';
import { PeerGoneReason } from '../../../src/protocol/frames.js';
import { RelayClient } from '../../../src/relay/client.js';
import { CloseCode, NoticeCode } from '../../../src/relay/close-codes.js';
import { RelayServer } from '../../../src/relay/server.js';
import {
  assertForwards,
  pair,
  RawSocket,
  sameBytes,
  startRelay,
  type TestRelay,
} from './helpers.js';

let relay: TestRelay;
const clients: RelayClient[] = [];

beforeAll(async () => {
  await sodiumReady();
});
beforeEach(async () => {
  relay = await startRelay({}, { metrics: true });
});
afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await relay.server.close();
});

async function paired(ports?: [number, number]) {
  const p = await pair(relay.url, ports);
  clients.push(p.a, p.b);
  return p;
}

describe('relay', () => {
  it('authenticates a client and tells it the address it connects from', async () => {
    const identity = await generateIdentity();
    const client = await RelayClient.connect(relay.url, identity);
    clients.push(client);
    expect(client.observed.family).toBe(4);
    expect(client.observed.host).toBe('127.0.0.1');
    expect(client.observed.port).toBeGreaterThan(0);
    expect(sameBytes(client.relayId, relay.server.relayId)).toBe(true);
    expect(relay.server.directory.peerCount).toBe(1);
  });

  it('sends ESTABLISHED with the partner key, observed address and listen port', async () => {
    const ids = [await generateIdentity(), await generateIdentity()] as const;
    const a = await RelayClient.connect(relay.url, ids[0]);
    const b = await RelayClient.connect(relay.url, ids[1]);
    clients.push(a, b);
    const atA = a.next('established', { timeoutMs: 5_000 });
    const atB = b.next('established', { timeoutMs: 5_000 });
    a.connectPeer(ids[1].publicKey, 40_001);
    // Nothing until both sides asked.
    expect(relay.server.directory.pairCount).toBe(0);
    b.connectPeer(ids[0].publicKey, 40_002);
    const [ea, eb] = await Promise.all([atA, atB]);
    expect(sameBytes(ea.peer, ids[1].publicKey)).toBe(true);
    expect(ea.observed).toEqual(b.observed);
    expect(ea.listenPort).toBe(40_002);
    expect(sameBytes(eb.peer, ids[0].publicKey)).toBe(true);
    expect(eb.observed).toEqual(a.observed);
    expect(eb.observed.host).toBe('127.0.0.1');
    expect(eb.listenPort).toBe(40_001);
    expect(relay.server.directory.pairCount).toBe(1);
  });

  it('delivers a burst of FORWARDs sent in one tick whole and in order, the sockets corked only for that tick', async () => {
    const { a, b } = await paired();
    const header = forwardHeader(b.key);
    const count = 500;
    const seen: number[] = [];
    const all = new Promise<void>((resolve) => {
      b.onForward((from, payload) => {
        expect(sameBytes(from, a.key)).toBe(true);
        seen.push(new DataView(payload.buffer, payload.byteOffset).getUint32(0));
        if (seen.length === count) resolve();
      });
    });
    for (let i = 0; i < count; i++) {
      const payload = new Uint8Array(1400);
      new DataView(payload.buffer).setUint32(0, i);
      a.sendForward(encodeForward(header, payload));
    }
    const socket = (a as unknown as { ws: { _socket: import('node:net').Socket } }).ws._socket;
    expect(socket.writableCorked).toBe(1); // the whole burst waits for the end of this tick
    await new Promise((resolve) => process.nextTick(resolve));
    expect(socket.writableCorked).toBe(0);
    await all;
    expect(seen).toEqual([...Array(count).keys()]);
    expect(relay.server.stats.framesForwarded).toBe(count);
  });

  it('forwards payloads both ways between a pair, byte for byte', async () => {
    const { a, b } = await paired();
    await assertForwards(a, b);
    const big = new Uint8Array(1400).map((_, i) => i & 0xff);
    const got = b.next('forward', { timeoutMs: 5_000 });
    a.forward(b.key, big);
    expect(sameBytes((await got).payload, big)).toBe(true);
    expect(relay.server.stats.framesForwarded).toBe(3);
  });

  it('answers FORWARD to an unpaired key with NOTICE and forwards nothing', async () => {
    const { a, b } = await paired();
    const stranger = await RelayClient.connect(relay.url, await generateIdentity());
    clients.push(stranger);
    let strangerGot = 0;
    stranger.on('forward', () => strangerGot++);
    const notice = a.next('notice', { timeoutMs: 5_000 });
    a.forward(stranger.key, new Uint8Array([9]));
    expect((await notice).code).toBe(NoticeCode.NOT_PAIRED);
    // Half-paired (only a asked) is still not paired.
    a.connectPeer(stranger.key, 0);
    const notice2 = a.next('notice', { timeoutMs: 5_000 });
    a.forward(stranger.key, new Uint8Array([9]));
    await notice2;
    await assertForwards(a, b);
    expect(strangerGot).toBe(0);
    expect(relay.server.stats.drops.get('not_paired')).toBe(2);
    expect(a.isOpen).toBe(true);
  });

  it('tells partners PEER_GONE when a peer leaves, and pairs again when it returns', async () => {
    const { a, b, ids } = await paired([1000, 2000]);
    const gone = a.next('peer-gone', { timeoutMs: 5_000 });
    await b.close();
    const event = await gone;
    expect(sameBytes(event.peer, ids[1].publicKey)).toBe(true);
    expect(event.reason).toBe(PeerGoneReason.DISCONNECTED);
    expect(relay.server.directory.pairCount).toBe(0);

    // b comes back and asks again; a's earlier CONNECT still stands.
    const b2 = await RelayClient.connect(relay.url, ids[1]);
    clients.push(b2);
    const again = a.next('established', { timeoutMs: 5_000 });
    const againB = b2.next('established', { timeoutMs: 5_000 });
    b2.connectPeer(ids[0].publicKey, 2001);
    expect((await again).listenPort).toBe(2001);
    expect((await againB).listenPort).toBe(1000);
    await assertForwards(a, b2);
  });

  it('reports established, forward, peer-gone and close through events()', async () => {
    const ids = [await generateIdentity(), await generateIdentity()] as const;
    const a = await RelayClient.connect(relay.url, ids[0]);
    const b = await RelayClient.connect(relay.url, ids[1]);
    clients.push(a, b);
    const seen: string[] = [];
    const done = (async () => {
      for await (const event of a.events({ signal: AbortSignal.timeout(10_000) })) {
        seen.push(event.type);
        if (event.type === 'established') b.forward(ids[0].publicKey, new Uint8Array([1]));
        if (event.type === 'forward') void b.close();
        if (event.type === 'peer-gone') void a.close();
      }
    })();
    a.connectPeer(ids[1].publicKey, 0);
    b.connectPeer(ids[0].publicKey, 0);
    await done;
    expect(seen).toEqual(['established', 'forward', 'peer-gone', 'close']);
  });

  it('replaces an older connection with the same key, closing it with REPLACED', async () => {
    const { a, b, ids } = await paired();
    const gone = a.next('peer-gone', { timeoutMs: 5_000 });
    const b2 = await RelayClient.connect(relay.url, ids[1]);
    clients.push(b2);
    const closed = await b.closed;
    expect(closed.code).toBe(CloseCode.REPLACED);
    expect(closed.reason).toBe('replaced by a newer connection');
    expect((await gone).reason).toBe(PeerGoneReason.REPLACED);
    expect(relay.server.stats.refusals.get('replaced')).toBe(1);
    const established = a.next('established', { timeoutMs: 5_000 });
    b2.connectPeer(ids[0].publicKey, 0);
    await established;
    await assertForwards(a, b2);
    expect(relay.server.directory.peerCount).toBe(2);
  });

  it('serves /healthz and counts everything on /metrics', async () => {
    const { a, b } = await paired();
    await assertForwards(a, b);
    const base = relay.address.metricsUrl!;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^switchback_relay_connections 2$/m);
    expect(text).toMatch(/^switchback_relay_authenticated_peers 2$/m);
    expect(text).toMatch(/^switchback_relay_pairs 1$/m);
    expect(text).toMatch(/^switchback_relay_frames_forwarded_total 2$/m);
    expect(text).toMatch(/^switchback_relay_bytes_forwarded_total \d+$/m);
    // Counters stay monotonic across scrapes.
    await assertForwards(a, b);
    const again = await (await fetch(`${base}/metrics`)).text();
    expect(again).toMatch(/^switchback_relay_frames_forwarded_total 4$/m);
    expect((await fetch(`${base}/nope`)).status).toBe(404);

    // Refusals and drops show up by reason.
    const junk = await RawSocket.open(relay.url);
    junk.sendBytes(new Uint8Array([0xff, 0xff, 0xff]));
    expect((await junk.closeInfo()).code).toBe(CloseCode.BAD_FRAME);
    const notice = a.next('notice', { timeoutMs: 5_000 });
    a.forward(new Uint8Array(32).fill(1), new Uint8Array(1));
    await notice;
    const counted = await (await fetch(`${base}/metrics`)).text();
    expect(counted).toMatch(/^switchback_relay_refusals_total\{reason="bad_frame"\} 1$/m);
    expect(counted).toMatch(/^switchback_relay_drops_total\{reason="not_paired"\} 1$/m);
    expect(counted).toMatch(/^switchback_relay_connections_accepted_total 3$/m);
  });

  it('sees IPv6 clients with their IPv6 address', async () => {
    const v6 = new RelayServer({ listen: { host: '::1', port: 0 } });
    const { url } = await v6.start();
    try {
      expect(url).toMatch(/^ws:\/\/\[::1\]:\d+$/);
      const client = await RelayClient.connect(url, await generateIdentity());
      clients.push(client);
      expect(client.observed).toMatchObject({ family: 6, host: '::1' });
    } finally {
      await v6.close();
    }
  });
});
