// dialDirect + DirectListener + DirectLink over real TLS 1.3 on loopback.
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type DialOptions, dialDirect as dial } from '../../../src/services/dial.js';
import { type DirectLink, LinkCloseCode } from '../../../src/services/direct-link.js';
import { DirectListener } from '../../../src/services/direct-listener.js';
import { FaultProxy } from '../../../src/testing/fault-proxy.js';
import { closedPort, leakCheckedCleanups, makeNode, sleep, type TestNode } from './helpers.js';

const HOST = '127.0.0.1';
const cleanups = leakCheckedCleanups();

async function listen(node: TestNode, authorised: TestNode[]): Promise<DirectListener> {
  const listener = await DirectListener.open({
    host: HOST,
    port: 0,
    credentials: node.credentials,
    authorised: authorised.map((n) => n.key),
  });
  cleanups.push(() => listener.close());
  return listener;
}

/** dialDirect, with the link cut after the test whatever happens. */
async function dialDirect(options: DialOptions): Promise<DirectLink> {
  const link = await dial(options);
  cleanups.push(async () => {
    link.terminate();
    await link.closed;
  });
  return link;
}

function nextLink(listener: DirectListener, peer: TestNode): Promise<DirectLink> {
  return new Promise((resolve) => {
    const off = listener.onLink(peer.key, (link) => {
      off();
      cleanups.push(async () => {
        link.terminate();
        await link.closed;
      });
      resolve(link);
    });
  });
}

/** `dialer` dials a new listener of `server`'s: both ends of one authenticated link. */
async function linkBetween(dialer: TestNode, server: TestNode, dial: Partial<DialOptions> = {}) {
  const listener = await listen(server, [dialer]);
  const accepted = nextLink(listener, dialer);
  const out = await dialDirect({
    host: HOST,
    port: listener.port,
    credentials: dialer.credentials,
    expectedPeer: server.key,
    ...dial,
  });
  return { listener, out, inn: await accepted };
}

/** Two new nodes, a dialling b. */
async function linkedPair(dial: Partial<DialOptions> = {}) {
  const a = await makeNode();
  const b = await makeNode();
  return { a, b, ...(await linkBetween(a, b, dial)) };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await sleep(10);
  expect(check()).toBe(true);
}

function nextMessage(link: DirectLink): Promise<Uint8Array> {
  return new Promise((resolve) => link.onMessage(resolve));
}

describe('direct link over mutual TLS 1.3', () => {
  it('links A→B and B→A, each end authenticated as the pinned peer', async () => {
    const a = await makeNode();
    const b = await makeNode();
    for (const [dialer, server] of [
      [a, b],
      [b, a],
    ] as const) {
      const { listener, out, inn } = await linkBetween(dialer, server);
      expect(out.initiator).toBe(true);
      expect(inn.initiator).toBe(false);
      expect(out.peerKey).toEqual(server.key);
      expect(inn.peerKey).toEqual(dialer.key);
      expect(out.remoteAddress).toBe(HOST);
      expect(out.remotePort).toBe(listener.port);

      const toServer = nextMessage(inn);
      expect(out.send(new Uint8Array([1, 2, 3]))).toBe(true);
      expect(new Uint8Array(await toServer)).toEqual(new Uint8Array([1, 2, 3]));
      const toDialer = nextMessage(out);
      expect(inn.send(new Uint8Array([9, 8]))).toBe(true);
      expect(new Uint8Array(await toDialer)).toEqual(new Uint8Array([9, 8]));

      out.close(LinkCloseCode.FALLBACK, 'test');
      const [mine, theirs] = await Promise.all([out.closed, inn.closed]);
      expect(mine).toMatchObject({ code: LinkCloseCode.FALLBACK, byPeer: false, cause: 'CLOSED' });
      expect(theirs).toMatchObject({
        code: LinkCloseCode.FALLBACK,
        reason: 'test',
        byPeer: true,
        cause: 'PEER_CLOSED',
      });
      expect(out.send(new Uint8Array([1]))).toBe(false);
      await listener.close();
    }
  });

  it('reports a dead socket as CLOSED, not PEER_CLOSED', async () => {
    const { out, inn } = await linkedPair();
    out.terminate();
    expect(await inn.closed).toMatchObject({
      code: LinkCloseCode.ABNORMAL,
      byPeer: false,
      cause: 'CLOSED',
    });
  });

  it('dialler: a server with another key → CERT_MISMATCH', async () => {
    const a = await makeNode();
    const b = await makeNode();
    const impostor = await makeNode();
    const listener = await listen(impostor, [a]);
    await expect(
      dialDirect({
        host: HOST,
        port: listener.port,
        credentials: a.credentials,
        expectedPeer: b.key,
      }),
    ).rejects.toMatchObject({ code: 'CERT_MISMATCH', name: 'CertMismatchError' });
    expect(listener.accepted).toBe(0);
  });

  it('listener: an unknown client key → refused, counted, dialler sees CERT_MISMATCH', async () => {
    const a = await makeNode();
    const b = await makeNode();
    const stranger = await makeNode();
    const refused: string[] = [];
    const listener = await DirectListener.open({
      host: HOST,
      port: 0,
      credentials: b.credentials,
      authorised: [a.key],
      onRefused: (reason) => refused.push(reason),
    });
    cleanups.push(() => listener.close());
    let claimed = 0;
    listener.onLink(stranger.key, () => claimed++);
    await expect(
      dialDirect({
        host: HOST,
        port: listener.port,
        credentials: stranger.credentials,
        expectedPeer: b.key,
      }),
    ).rejects.toMatchObject({ code: 'CERT_MISMATCH' });
    expect(listener.refusals().unknown_key).toBe(1);
    expect(refused).toEqual(['unknown_key']);
    expect(claimed).toBe(0);
    expect(listener.accepted).toBe(0);
  });

  it('listener: a client without a certificate is refused (no_certificate)', async () => {
    const b = await makeNode();
    const listener = await listen(b, []);
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`wss://${HOST}:${listener.port}/`, { rejectUnauthorized: false });
      ws.on('unexpected-response', (_req, res) => {
        res.resume();
        ws.terminate();
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => reject(new Error('accepted a client without a certificate')));
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
    expect(listener.refusals().no_certificate).toBe(1);
  });

  it('listener: TLS below 1.3 and plain HTTP are refused and counted', async () => {
    const b = await makeNode();
    const listener = await listen(b, []);
    const err = await new Promise<Error>((resolve) => {
      const socket = tls.connect({
        host: HOST,
        port: listener.port,
        maxVersion: 'TLSv1.2',
        rejectUnauthorized: false,
      });
      socket.on('error', resolve);
      socket.on('secureConnect', () => socket.destroy());
    });
    expect(err).toBeInstanceOf(Error);
    const code = await new Promise<number>((resolve) => {
      const socket = tls.connect(
        { host: HOST, port: listener.port, ...b.credentials, rejectUnauthorized: false },
        () => {
          socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
        },
      );
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk;
      });
      socket.on('close', () => resolve(Number(data.split(' ')[1])));
      socket.on('error', () => {});
    });
    expect(code).toBe(426);
    await sleep(10);
    expect(listener.refusals()).toMatchObject({ tls_error: 1, not_websocket: 1 });
  });

  it('follows the authorised set at runtime', async () => {
    const a = await makeNode();
    const b = await makeNode();
    const listener = await listen(b, []);
    const dial = () =>
      dialDirect({
        host: HOST,
        port: listener.port,
        credentials: a.credentials,
        expectedPeer: b.key,
      });
    await expect(dial()).rejects.toMatchObject({ code: 'CERT_MISMATCH' });
    listener.authorise(a.key);
    expect(listener.isAuthorised(a.key)).toBe(true);
    const accepted = nextLink(listener, a);
    const link = await dial();
    const inn = await accepted;
    listener.revoke(a.key);
    expect(await link.closed).toMatchObject({ byPeer: true });
    expect(inn.isOpen).toBe(false);
    await expect(dial()).rejects.toMatchObject({ code: 'CERT_MISMATCH' });
    expect(listener.refusals().unknown_key).toBe(2);
  });

  it('closed port → DIAL_REFUSED', async () => {
    const a = await makeNode();
    const b = await makeNode();
    await expect(
      dialDirect({
        host: HOST,
        port: await closedPort(),
        credentials: a.credentials,
        expectedPeer: b.key,
      }),
    ).rejects.toMatchObject({ code: 'DIAL_REFUSED', name: 'DialRefusedError' });
  });

  it('blackholed path → DIAL_TIMEOUT, and the socket is gone afterwards', async () => {
    const a = await makeNode();
    const b = await makeNode();
    const listener = await listen(b, [a]);
    const proxy = await FaultProxy.start({ b: listener.port });
    cleanups.push(() => proxy.close());
    await proxy.set('aToB', { kind: 'blackhole' });
    await expect(
      dialDirect({
        host: HOST,
        port: proxy.toB,
        credentials: a.credentials,
        expectedPeer: b.key,
        timeoutMs: 300,
      }),
    ).rejects.toMatchObject({ code: 'DIAL_TIMEOUT' });
    expect(proxy.stats().dropped.aToB).toBeGreaterThan(0);
    expect(listener.accepted).toBe(0);
    await until(() => proxy.openDiallers === 0); // the dialler closed its socket
  });

  it('abort cancels a dial in flight with the signal reason', async () => {
    const a = await makeNode();
    const b = await makeNode();
    const listener = await listen(b, [a]);
    const proxy = await FaultProxy.start({ b: listener.port });
    cleanups.push(() => proxy.close());
    await proxy.set('aToB', { kind: 'blackhole' });
    const controller = new AbortController();
    const dialling = dialDirect({
      host: HOST,
      port: proxy.toB,
      credentials: a.credentials,
      expectedPeer: b.key,
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    await sleep(50);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(dialling).rejects.toBe(reason);
    // Already aborted: rejects without touching the network.
    await expect(
      dialDirect({
        host: HOST,
        port: proxy.toB,
        credentials: a.credentials,
        expectedPeer: b.key,
        signal: controller.signal,
      }),
    ).rejects.toBe(reason);
    await until(() => proxy.openDiallers === 0);
    expect(proxy.stats().connections.aToB).toBe(1);
  });

  it('send() drops above the buffered cap; nothing is lost before a handler is set', async () => {
    const { out, inn } = await linkedPair({ maxBufferedBytes: 256 * 1024 }); // no message handler yet: the socket stays paused
    let sent = 0;
    let refusedAt = -1;
    for (let i = 0; i < 2000; i++) {
      const message = new Uint8Array(60_000); // send() keeps a reference: never reuse
      message[0] = i & 0xff;
      if (!out.send(message)) {
        refusedAt = i;
        break;
      }
      sent++;
      if (i % 16 === 15) await sleep(1); // let the kernel buffers fill
    }
    expect(refusedAt).toBeGreaterThan(0);
    expect(out.counters).toMatchObject({ sent, dropped: 1 });
    let received = 0;
    let inOrder = true;
    const all = new Promise<void>((resolve) => {
      inn.onMessage((data) => {
        if (data[0] !== (received & 0xff)) inOrder = false;
        received++;
        if (received === sent) resolve();
      });
    });
    await all;
    expect(inOrder).toBe(true);
    expect(inn.counters.received).toBe(sent);
  });

  it('settledBytes: a buffer sent before it may be reused at once — the far side still gets what was sent, both ways', async () => {
    const { out, inn } = await linkedPair({ maxBufferedBytes: 64 << 20 }); // above all 600 messages: none refused
    const COUNT = 600;
    const SIZE = 40_000;
    const message = (i: number) => new Uint8Array(SIZE).fill((i * 7 + 1) & 0xff);
    /** Send COUNT messages from `from` to `to`, scribbling over each buffer
     * (what a pool reusing it would do) as soon as settledBytes passes it. */
    async function run(from: DirectLink, to: DirectLink) {
      let received = 0;
      let intact = true;
      const all = new Promise<void>((resolve) => {
        to.onMessage((data) => {
          if (Buffer.compare(data, message(received)) !== 0) intact = false;
          received++;
          if (received === COUNT) resolve();
        });
      });
      const pending: { end: number; bytes: Uint8Array }[] = [];
      let reused = 0;
      let heldBack = false;
      const start = from.sentBytes;
      for (let i = 0; i < COUNT; i++) {
        const bytes = message(i);
        // The listener's end has the default 4 MiB cap: wait below it.
        while (!from.writable) await sleep(1);
        expect(from.send(bytes)).toBe(true);
        pending.push({ end: from.sentBytes, bytes });
        expect(from.settledBytes).toBeLessThanOrEqual(from.sentBytes);
        if (from.settledBytes < from.sentBytes) heldBack = true;
        while (pending.length > 0 && pending[0]!.end <= from.settledBytes) {
          const done = pending.shift() as { bytes: Uint8Array };
          for (let j = 0; j < SIZE; j++) done.bytes[j] = ~done.bytes[j]! & 0xff;
          reused++;
        }
        if (i % 50 === 49) await sleep(1);
      }
      await all;
      expect(intact).toBe(true);
      expect(heldBack).toBe(true); // the queue did hold messages back
      expect(reused).toBeGreaterThan(0);
      expect(from.sentBytes - start).toBe(COUNT * SIZE);
      await until(() => from.settledBytes === from.sentBytes);
    }
    await run(out, inn);
    await run(inn, out);
  });

  it('keeps an unclaimed link for a later onLink, and closes it after the TTL', async () => {
    const a = await makeNode();
    const b = await makeNode();
    const listener = await DirectListener.open({
      host: HOST,
      port: 0,
      credentials: b.credentials,
      authorised: [a.key],
      unclaimedTtlMs: 200,
    });
    cleanups.push(() => listener.close());
    const first = await dialDirect({
      host: HOST,
      port: listener.port,
      credentials: a.credentials,
      expectedPeer: b.key,
    });
    await sleep(20);
    const claimed = await nextLink(listener, a);
    expect(claimed.peerKey).toEqual(a.key);
    expect(claimed.isOpen).toBe(true);
    claimed.close();
    await first.closed;

    const second = await dialDirect({
      host: HOST,
      port: listener.port,
      credentials: a.credentials,
      expectedPeer: b.key,
    });
    expect(await second.closed).toMatchObject({ code: LinkCloseCode.UNCLAIMED, byPeer: true });
  });

  it('close() of the listener closes its links and frees the port', async () => {
    const { a, b, listener, out } = await linkedPair();
    expect(listener.openLinks).toBe(1);
    await listener.close();
    expect(await out.closed).toMatchObject({ code: LinkCloseCode.LISTENER_CLOSED, byPeer: true });
    await expect(
      dialDirect({
        host: HOST,
        port: listener.port,
        credentials: a.credentials,
        expectedPeer: b.key,
      }),
    ).rejects.toMatchObject({ code: 'DIAL_REFUSED' });
  });

  it('a bind failure is LISTEN_FAILED', async () => {
    const b = await makeNode();
    const listener = await listen(b, []);
    await expect(
      DirectListener.open({ host: HOST, port: listener.port, credentials: b.credentials }),
    ).rejects.toMatchObject({ code: 'LISTEN_FAILED' });
  });
});
