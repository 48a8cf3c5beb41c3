/**
 * The inspector's HTTP routes and WebSocket over real sockets on loopback:
 * the token is required everywhere, the page and its assets are served
 * (from the daemon, nothing external), and the stream sends a snapshot and
 * then live transitions and status.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { attachInspector, type Inspector } from '../../../src/daemon/inspector/attach-inspector.js';
import type { InspectorMessage } from '../../../src/daemon/inspector/messages.js';
import { tokenMatches } from '../../../src/daemon/inspector/token.js';
import { type ChartObserver, createChartObserver } from './chart-observer.js';
import { type InspectedNode, serveInspector, TEST_TOKEN } from './helpers.js';

/** Collects a socket's messages; `next(type)` waits for the next one of that type. */
function messages(ws: WebSocket) {
  const queue: InspectorMessage[] = [];
  const order: string[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as InspectorMessage;
    order.push(message.type);
    queue.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  return {
    async next<T extends InspectorMessage['type']>(
      type: T,
      match: (m: Extract<InspectorMessage, { type: T }>) => boolean = () => true,
    ): Promise<Extract<InspectorMessage, { type: T }>> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const i = queue.findIndex(
          (m) => m.type === type && match(m as Extract<InspectorMessage, { type: T }>),
        );
        if (i >= 0) return queue.splice(i, 1)[0] as Extract<InspectorMessage, { type: T }>;
        if (Date.now() > deadline) throw new Error(`no ${type} message within 10 s`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100).unref();
        });
      }
    },
    /** Types of every message received, in order. */
    order,
  };
}

async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers });
  return new Promise<number>((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (error) => reject(error));
  });
}

describe('inspector on the control server', () => {
  let node: ChartObserver | undefined;
  let served: InspectedNode | undefined;
  const sockets: WebSocket[] = [];

  afterEach(async () => {
    for (const ws of sockets.splice(0)) {
      ws.on('error', () => {}); // terminate() of a refused socket reports an error
      ws.terminate();
    }
    await served?.close();
    node?.stop();
    served = undefined;
    node = undefined;
  });

  it('answers 401 to every route and the WebSocket without the right token', async () => {
    node = createChartObserver({ peers: ['beta'] });
    served = await serveInspector(node);
    const base = served.control.url;
    for (const path of [
      '/inspector',
      '/inspector/assets/inspector.js',
      '/inspector/assets/connection.svg',
      '/inspector/assets/nope.js',
    ]) {
      // From loopback, too: the inspector never trusts "local".
      expect((await fetch(`${base}${path}`)).status, path).toBe(401);
      expect((await fetch(`${base}${path}?token=wrong`)).status, path).toBe(401);
      expect((await fetch(`${base}${path}?token=${TEST_TOKEN}x`)).status, path).toBe(401);
      const bearer = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer nope' } });
      expect(bearer.status, path).toBe(401);
    }
    const ws = base.replace('http:', 'ws:');
    expect(await upgradeStatus(`${ws}/inspector/ws`)).toBe(401);
    expect(await upgradeStatus(`${ws}/inspector/ws?token=wrong`)).toBe(401);
    expect(await upgradeStatus(`${ws}/inspector/ws?token=${TEST_TOKEN}`)).toBe(101);
  });

  it('serves the page and every asset with the token, all from the daemon', async () => {
    node = createChartObserver({ peers: ['beta'] });
    served = await serveInspector(node);
    const page = await fetch(served.pageUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    // Every asset URL is local and carries the token; nothing from a CDN.
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(2);
    for (const ref of refs) {
      expect(ref).toMatch(/^\/inspector\/assets\/[\w.]+\?token=/);
      const asset = await fetch(`${served.control.url}${ref}`);
      expect(asset.status, ref).toBe(200);
    }
    expect(html).not.toMatch(/https?:\/\//);

    const svg = await fetch(
      `${served.control.url}/inspector/assets/connection.svg?token=${TEST_TOKEN}`,
    );
    expect(svg.headers.get('content-type')).toMatch(/image\/svg\+xml/);
    const text = await svg.text();
    for (const state of [
      'usingRelay',
      'attemptingDirect.dialing',
      'usingDirect.suspect',
      'fallingBack',
    ]) {
      expect(text).toContain(`data-state="${state}"`);
    }
    expect(text).toContain('data-transition="usingDirect.suspect-&gt;fallingBack"');

    // The cookie the page sets also opens the routes (the page's own requests).
    const cookie = page.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    const withCookie = await fetch(`${served.control.url}/inspector/assets/inspector.css`, {
      headers: { cookie: cookie.split(';')[0]! },
    });
    expect(withCookie.status).toBe(200);
    expect(
      (await fetch(`${served.control.url}/inspector/assets/nope.js?token=${TEST_TOKEN}`)).status,
    ).toBe(404);
  });

  it('streams a snapshot, then live transitions and periodic status', async () => {
    node = createChartObserver({ peers: ['beta'] });
    served = await serveInspector(node, { statusIntervalMs: 100 });
    const ws = new WebSocket(
      `${served.control.url.replace('http:', 'ws:')}/inspector/ws?token=${TEST_TOKEN}`,
    );
    sockets.push(ws);
    const stream = messages(ws);
    await once(ws, 'open');

    const snapshot = await stream.next('snapshot');
    expect(stream.order[0]).toBe('snapshot'); // the snapshot comes first
    expect(snapshot.status.peers.map((p) => p.name)).toEqual(['beta']);
    expect(snapshot.status.peers[0]!.state).toBe('usingRelay');
    expect(snapshot.transitions).toEqual([]);
    expect(served.inspector.clients()).toBe(1);

    node.start();
    const relayUp = await stream.next('transition', (m) => m.record.machine === 'relayLink');
    expect(relayUp.record).toMatchObject({
      peer: 'relay',
      from: 'connecting',
      to: 'authenticating',
    });
    const upgraded = await stream.next('transition', (m) => m.record.to === 'usingDirect.healthy');
    expect(upgraded.record).toMatchObject({
      peer: 'beta',
      machine: 'connection',
      from: 'attemptingDirect.migrating',
      reason: 'UPGRADED',
      transport: 'direct',
    });
    const status = await stream.next(
      'status',
      (m) => m.status.peers[0]!.state === 'usingDirect.healthy',
    );
    expect(status.status.peers[0]!.paths.direct.rttMs).not.toBeNull();

    node.peer('beta').cut();
    const suspect = await stream.next('transition', (m) => m.record.to === 'usingDirect.suspect');
    expect(suspect.record).toMatchObject({ reason: 'HEARTBEAT_MISSED', transport: 'both' });
    const fallingBack = await stream.next('transition', (m) => m.record.to === 'fallingBack');
    expect(fallingBack.record.reason).toBe('HEARTBEAT_TIMEOUT');

    // A page opened now gets the history in its snapshot.
    const late = new WebSocket(
      `${served.control.url.replace('http:', 'ws:')}/inspector/ws?token=${TEST_TOKEN}`,
    );
    sockets.push(late);
    const lateStream = messages(late);
    const lateSnapshot = await lateStream.next('snapshot');
    expect(lateSnapshot.transitions.map((r) => r.to)).toContain('usingDirect.suspect');
    expect(lateSnapshot.samples.length).toBeGreaterThan(0);
  });

  it('closes its sockets on close(), and ignores what a page sends', async () => {
    node = createChartObserver({ peers: ['beta'] });
    served = await serveInspector(node);
    const ws = new WebSocket(
      `${served.control.url.replace('http:', 'ws:')}/inspector/ws?token=${TEST_TOKEN}`,
    );
    sockets.push(ws);
    const stream = messages(ws);
    await stream.next('snapshot');
    ws.send('{"type":"anything"}');
    ws.send(Buffer.alloc(100, 0xff));
    await stream.next('status');
    const closed = once(ws, 'close');
    await served.inspector.close();
    await closed;
    expect(served.inspector.clients()).toBe(0);
  });
});

describe('inspector on a plain node:http server', () => {
  let server: Server | undefined;
  let inspector: Inspector | undefined;
  let node: ChartObserver | undefined;

  afterEach(async () => {
    await inspector?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    node?.stop();
  });

  it('mounts the same routes and refuses without the token', async () => {
    node = createChartObserver({ peers: ['beta'] });
    server = createServer();
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    inspector = await attachInspector(server, { observer: node, token: 's3cret' });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await fetch(`${base}/inspector`)).status).toBe(401);
    expect((await fetch(`${base}${inspector.pagePath}`)).status).toBe(200);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
    expect(await upgradeStatus(`${base.replace('http:', 'ws:')}/inspector/ws?token=nope`)).toBe(
      401,
    );
    expect(await upgradeStatus(`${base.replace('http:', 'ws:')}/inspector/ws?token=s3cret`)).toBe(
      101,
    );
  });
});

describe('tokenMatches', () => {
  it('accepts only the exact token, and never an empty one', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abc', 'abd')).toBe(false);
    expect(tokenMatches('abc', 'abcd')).toBe(false);
    expect(tokenMatches('abc', undefined)).toBe(false);
    expect(tokenMatches('', '')).toBe(false);
  });
});
