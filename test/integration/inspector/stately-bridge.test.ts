/**
 * `--inspect stately`: the node's XState inspection events reach a WebSocket
 * client of the bridge on loopback, in @statelyai/inspect's format (what the
 * hosted Stately inspector reads), and the bridge asks for its token.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createLogger } from '../../../src/daemon/logger.js';
import { type StatelyBridge, startStatelyBridge } from '../../../src/daemon/stately-bridge.js';
import { type ChartObserver, createChartObserver } from './chart-observer.js';

interface StatelyEvent {
  type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  sessionId: string;
  name?: string;
  definition?: string;
  event?: { type: string };
  snapshot?: { value?: unknown; context?: { reason?: string } };
}

describe('stately bridge', () => {
  let node: ChartObserver | undefined;
  let bridge: StatelyBridge | undefined;
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const ws of sockets.splice(0)) {
      ws.on('error', () => {}); // terminate() of a refused socket reports an error
      ws.terminate();
    }
    await bridge?.close();
    node?.stop();
  });

  it("delivers the live actors' inspection events to a WebSocket client on loopback", async () => {
    node = createChartObserver({ peers: ['beta'] });
    bridge = await startStatelyBridge({
      observer: node,
      logger: createLogger({ level: 'silent' }),
    });
    expect(bridge.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(bridge.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/\?token=/);

    const client = new WebSocket(bridge.wsUrl);
    sockets.push(client);
    const received: StatelyEvent[] = [];
    client.on('message', (data) => received.push(JSON.parse(data.toString()) as StatelyEvent));
    await once(client, 'open');

    // The relay tells beta where its peer is; the chart upgrades to direct.
    node.start();
    const deadline = Date.now() + 10_000;
    const reached = (value: string) =>
      received.some(
        (e) =>
          e.type === '@xstate.snapshot' &&
          JSON.stringify(e.snapshot?.value) === JSON.stringify({ usingDirect: value }),
      );
    while (!reached('healthy') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(reached('healthy')).toBe(true);
    const events = received.filter((e) => e.type === '@xstate.event').map((e) => e.event?.type);
    expect(events).toContain('PEER_ADDRESS');
    expect(events).toContain('xstate.done.actor.dial');
    // The invoked services show up as their own actors too.
    const actors = received.filter((e) => e.type === '@xstate.actor');
    expect(actors.length).toBeGreaterThan(1);
    const upgraded = received.find(
      (e) => e.type === '@xstate.snapshot' && e.snapshot?.context?.reason === 'UPGRADED',
    );
    expect(upgraded).toBeDefined();
  });

  it('replays recent events to a late viewer, and needs its token', async () => {
    node = createChartObserver({ peers: ['beta'] });
    bridge = await startStatelyBridge({
      observer: node,
      token: 'bridge-token',
      logger: createLogger({ level: 'silent' }),
    });
    node.start();
    // Wait until the bridge has relayed something, then connect late.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const late = new WebSocket(bridge.wsUrl);
    sockets.push(late);
    const [first] = (await once(late, 'message')) as [Buffer];
    expect(JSON.parse(first.toString()).type).toMatch(/^@xstate\./);

    const base = bridge.url.replace(/\/\?token=.*$/, '');
    expect((await fetch(`${base}/`)).status).toBe(401);
    const page = await fetch(bridge.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<iframe id="inspector"');
    const refused = new WebSocket(`${base.replace('http:', 'ws:')}/?token=wrong`);
    sockets.push(refused);
    const [, res] = (await once(refused, 'unexpected-response')) as [
      unknown,
      { statusCode: number },
    ];
    expect(res.statusCode).toBe(401);
  });

  it('refuses a non-loopback address with a typed error', async () => {
    node = createChartObserver({ peers: ['beta'] });
    await expect(
      startStatelyBridge({
        observer: node,
        host: '0.0.0.0',
        logger: createLogger({ level: 'silent' }),
      }),
    ).rejects.toMatchObject({ code: 'STATELY_NOT_LOOPBACK' });
    bridge = undefined;
  });
});
