// The dial tie-break (establishDirect) between two real nodes on loopback:
// real listeners, real dials, real TLS; faults from closed ports and the proxy.
import { describe, expect, it } from 'vitest';
import { dialDirect, establishDirect } from '../../../src/services/dial.js';
import { type DirectLink, LinkCloseCode } from '../../../src/services/direct-link.js';
import { DirectListener } from '../../../src/services/direct-listener.js';
import { FaultProxy } from '../../../src/testing/fault-proxy.js';
import { closedPort, leakCheckedCleanups, orderedPair, sleep, type TestNode } from './helpers.js';

const HOST = '127.0.0.1';
const cleanups = leakCheckedCleanups();

interface Side {
  node: TestNode;
  listener: DirectListener;
  /** Every link this side's dial produced, to check what happened to it. */
  dialled: DirectLink[];
  /** Every link this side's listener handed to establishDirect. */
  inbound: DirectLink[];
}

async function side(node: TestNode, peer: TestNode): Promise<Side> {
  const listener = await DirectListener.open({
    host: HOST,
    port: 0,
    credentials: node.credentials,
    authorised: [peer.key],
  });
  cleanups.push(() => listener.close());
  return { node, listener, dialled: [], inbound: [] };
}

async function twoSides(): Promise<[Side, Side]> {
  const [small, large] = await orderedPair();
  return [await side(small, large), await side(large, small)];
}

function cut(link: DirectLink): void {
  cleanups.push(async () => {
    link.terminate();
    await link.closed;
  });
}

interface RunOptions {
  port: number; // where this side dials
  dialDelayMs?: number;
  timeoutMs?: number;
  dialTimeoutMs?: number;
  beforeDial?: () => Promise<void>;
  signal?: AbortSignal;
}

function establish(me: Side, peer: Side, options: RunOptions): Promise<DirectLink> {
  const result = establishDirect({
    localKey: me.node.key,
    peerKey: peer.node.key,
    inbound: (handler) =>
      me.listener.onLink(peer.node.key, (link) => {
        me.inbound.push(link);
        cut(link);
        handler(link);
      }),
    dial: async (signal) => {
      await options.beforeDial?.();
      const link = await dialDirect({
        host: HOST,
        port: options.port,
        credentials: me.node.credentials,
        expectedPeer: peer.node.key,
        timeoutMs: options.dialTimeoutMs ?? 2000,
        signal,
      });
      me.dialled.push(link);
      cut(link);
      return link;
    },
    dialDelayMs: options.dialDelayMs ?? 300,
    timeoutMs: options.timeoutMs ?? 5000,
    signal: options.signal,
  });
  result.then(cut, () => {});
  return result;
}

/** The two links are the two ends of one connection: bytes cross both ways. */
async function expectSameConnection(x: DirectLink, y: DirectLink): Promise<void> {
  expect(x.initiator).not.toBe(y.initiator);
  const atY = new Promise<Uint8Array>((resolve) => y.onMessage(resolve));
  x.send(new Uint8Array([7]));
  expect([...(await atY)]).toEqual([7]);
  const atX = new Promise<Uint8Array>((resolve) => x.onMessage(resolve));
  y.send(new Uint8Array([8]));
  expect([...(await atX)]).toEqual([8]);
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('establishDirect', () => {
  it('the smaller key dials; the larger takes that link without dialling', async () => {
    const [s, l] = await twoSides();
    const [sLink, lLink] = await Promise.all([
      establish(s, l, { port: l.listener.port }),
      establish(l, s, { port: s.listener.port, dialDelayMs: 2000 }),
    ]);
    expect(sLink.initiator).toBe(true);
    expect(lLink.initiator).toBe(false);
    expect(l.dialled).toHaveLength(0);
    expect(s.listener.accepted).toBe(0);
    await expectSameConnection(sLink, lLink);
  });

  it('simultaneous open: the link the smaller key initiated survives on both sides', async () => {
    const [s, l] = await twoSides();
    const [sLink, lLink] = await Promise.all([
      // S dials only once L's link has reached it, so both links open.
      establish(s, l, {
        port: l.listener.port,
        beforeDial: () => until(() => s.listener.accepted === 1, "L's link at S"),
      }),
      establish(l, s, { port: s.listener.port, dialDelayMs: 0 }),
    ]);
    expect(s.listener.accepted).toBe(1);
    expect(l.listener.accepted).toBe(1);
    expect(sLink).toBe(s.dialled[0]);
    expect(lLink).toBe(l.inbound[0]);
    await expectSameConnection(sLink, lLink);
    // L's link closed, as a DUPLICATE, at both of its ends.
    const loserAtL = l.dialled[0] as DirectLink;
    const loserAtS = s.inbound[0] as DirectLink;
    expect((await loserAtL.closed).code).toBe(LinkCloseCode.DUPLICATE);
    expect((await loserAtS.closed).code).toBe(LinkCloseCode.DUPLICATE);
    expect(sLink.isOpen && lLink.isOpen).toBe(true);
  });

  it('racing dials (both at once, 5 rounds) always agree on one link', async () => {
    for (let round = 0; round < 5; round++) {
      const [s, l] = await twoSides();
      const [sLink, lLink] = await Promise.all([
        establish(s, l, { port: l.listener.port }),
        establish(l, s, { port: s.listener.port, dialDelayMs: 0 }),
      ]);
      expect(sLink.initiator).toBe(true);
      await expectSameConnection(sLink, lLink);
      await s.listener.close();
      await l.listener.close();
    }
  });

  it('smaller key cannot reach the larger: the larger dials after the delay', async () => {
    const [s, l] = await twoSides();
    const [sLink, lLink] = await Promise.all([
      establish(s, l, { port: await closedPort() }),
      establish(l, s, { port: s.listener.port, dialDelayMs: 200 }),
    ]);
    expect(sLink.initiator).toBe(false);
    expect(lLink.initiator).toBe(true);
    expect(lLink).toBe(l.dialled[0]);
    await expectSameConnection(sLink, lLink);
  });

  it("smaller key's dial hangs: it holds the larger key's link, then selects it", async () => {
    const [s, l] = await twoSides();
    const proxy = await FaultProxy.start({ b: l.listener.port });
    cleanups.push(() => proxy.close());
    await proxy.set('aToB', { kind: 'blackhole' });
    const [sLink, lLink] = await Promise.all([
      establish(s, l, { port: proxy.toB, dialTimeoutMs: 600 }),
      establish(l, s, { port: s.listener.port, dialDelayMs: 50 }),
    ]);
    expect(s.dialled).toHaveLength(0);
    expect(sLink.initiator).toBe(false);
    expect(lLink.initiator).toBe(true);
    await expectSameConnection(sLink, lLink);
  });

  it('takes a link that arrived before the attempt started', async () => {
    const [s, l] = await twoSides();
    const early = establish(s, l, { port: l.listener.port });
    await until(() => l.listener.accepted === 1, "S's link at L");
    const lLink = await establish(l, s, { port: s.listener.port, dialDelayMs: 5000 });
    const sLink = await early;
    expect(l.dialled).toHaveLength(0);
    await expectSameConnection(sLink, lLink);
  });

  it('neither side reachable: both reject with DIAL_REFUSED by the deadline', async () => {
    const [s, l] = await twoSides();
    const results = await Promise.allSettled([
      establish(s, l, { port: await closedPort(), timeoutMs: 400 }),
      establish(l, s, { port: await closedPort(), dialDelayMs: 50, timeoutMs: 400 }),
    ]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'DIAL_REFUSED' });
    }
  });

  it('no dial answer and no inbound link: DIAL_TIMEOUT', async () => {
    const [s, l] = await twoSides();
    await expect(
      establish(l, s, { port: s.listener.port, dialDelayMs: 5000, timeoutMs: 200 }),
    ).rejects.toMatchObject({ code: 'DIAL_TIMEOUT' });
  });

  it('abort during the delay or during a dial rejects with the reason and closes all', async () => {
    const [s, l] = await twoSides();
    const waiting = new AbortController();
    const lWaiting = establish(l, s, {
      port: s.listener.port,
      dialDelayMs: 5000,
      signal: waiting.signal,
    });
    const proxy = await FaultProxy.start({ b: l.listener.port });
    cleanups.push(() => proxy.close());
    await proxy.set('aToB', { kind: 'blackhole' });
    const dialling = new AbortController();
    const sDialling = establish(s, l, {
      port: proxy.toB,
      dialTimeoutMs: 10_000,
      timeoutMs: 10_000,
      signal: dialling.signal,
    });
    await sleep(50);
    waiting.abort(new Error('stop waiting'));
    dialling.abort(new Error('stop dialling'));
    await expect(lWaiting).rejects.toThrow('stop waiting');
    await expect(sDialling).rejects.toThrow('stop dialling');
    await expect(establish(s, l, { port: proxy.toB, signal: dialling.signal })).rejects.toThrow(
      'stop dialling',
    );
    expect(s.dialled).toHaveLength(0);
  });

  it('refuses to tie-break with itself', async () => {
    const [s] = await twoSides();
    await expect(establish(s, s, { port: s.listener.port })).rejects.toBeInstanceOf(TypeError);
  });
});
