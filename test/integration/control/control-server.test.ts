// The control API over real HTTP on 127.0.0.1:0, backed by an in-memory
// NodeObserver: routes, errors, auth, extension hooks and clean shutdown.
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ControlApiError,
  ControlClient,
  ControlUnreachableError,
} from '../../../src/cli/control-client.js';
import { type ControlServer, startControlServer } from '../../../src/daemon/control-server.js';
import { createLogger } from '../../../src/daemon/logger.js';
import { createNodeMetrics } from '../../../src/daemon/metrics.js';
import { SwitchbackError } from '../../../src/errors.js';
import { FakeObserver } from './fake-observer.js';

const TOKEN = 'test-token-0123456789';
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(observer = new FakeObserver(), extra: { signal?: AbortSignal } = {}) {
  const metrics = createNodeMetrics(observer);
  const logLines: string[] = [];
  const logger = createLogger({
    pretty: false,
    destination: { write: (l) => void logLines.push(l) },
  });
  const server = await startControlServer({
    host: '127.0.0.1',
    port: 0,
    observer,
    metrics: metrics.registry,
    token: TOKEN,
    logger,
    ...extra,
  });
  cleanups.push(
    () => metrics.close(),
    () => server.close(),
  );
  const client = new ControlClient({ host: '127.0.0.1', port: server.port });
  return { server, observer, client, logLines };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => { error: { code: string; message: string } } & Record<string, unknown>;
}

/** One request with full control of the headers (fetch will not set Host). */
function call(
  server: ControlServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, method, path, headers, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body,
            json: () => JSON.parse(body),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('control API routes', () => {
  it('serves /healthz, /status and /transitions as JSON', async () => {
    const { server, observer, client } = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    const health = await call(server, 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({ ok: true });

    const status = await client.status();
    expect(status).toEqual(observer.current);
    expect(status.peers.map((peer) => peer.name)).toEqual(['b', 'c']);

    observer.emit({
      peer: 'b',
      machine: 'connection',
      from: 'usingRelay',
      to: 'attemptingDirect.listening',
      event: 'PEER_ADDRESS',
      reason: 'PEER_ADDRESS',
      transport: 'relay',
    });
    const transitions = await client.transitions();
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ peer: 'b', to: 'attemptingDirect.listening' });

    const raw = await call(server, 'GET', '/status');
    expect(raw.headers['content-type']).toMatch(/^application\/json/);
  });

  it('serves Prometheus text on /metrics', async () => {
    const { server } = await start();
    const answer = await call(server, 'GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    expect(answer.body).toMatch(/^switchback_peer_path\{peer="b",path="direct"\} 1$/m);
  });

  it('pings a peer and passes count and timeout through', async () => {
    const { observer, client, server } = await start();
    const results = await client.ping('b', { count: 3, timeoutMs: 500 });
    expect(results).toHaveLength(3);
    expect(results[0]).toEqual({ peer: 'b', path: 'direct', rttMs: 0.42, error: null });
    expect(observer.pings).toEqual([{ peer: 'b', count: 3, timeoutMs: 500 }]);

    const defaults = await call(server, 'POST', '/ping?peer=c');
    expect(defaults.status).toBe(200);
    expect(observer.pings[1]).toEqual({ peer: 'c', count: 1, timeoutMs: 1000 });
  });

  it('answers an unknown peer with 404 UNKNOWN_PEER naming the known ones', async () => {
    const { client, observer } = await start();
    const error = await client.ping('zed', { count: 1, timeoutMs: 100 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ControlApiError);
    expect(error).toMatchObject({ status: 404, remoteCode: 'UNKNOWN_PEER' });
    expect((error as Error).message).toBe('no peer named "zed" (peers: b, c)');
    expect(observer.pings).toHaveLength(0);

    // Removed between the check and the ping (a reload): still 404, not 500.
    observer.ping = async () => {
      throw new SwitchbackError('UNKNOWN_PEER', 'gone');
    };
    await expect(client.ping('b', { count: 1, timeoutMs: 100 })).rejects.toMatchObject({
      status: 404,
      remoteCode: 'UNKNOWN_PEER',
    });
  });

  it('refuses bad ping parameters with 400', async () => {
    const { server } = await start();
    for (const query of ['', '?peer=b&count=0', '?peer=b&count=101', '?peer=b&timeoutMs=abc']) {
      const answer = await call(server, 'POST', `/ping${query}`);
      expect(answer.status).toBe(400);
      expect(answer.json().error.code).toBe('BAD_REQUEST');
    }
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    const { server } = await start();
    const missing = await call(server, 'GET', '/nope');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({
      error: { code: 'NOT_FOUND', message: 'no route /nope; try /status or /metrics' },
    });
    const wrong = await call(server, 'GET', '/ping?peer=b');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    expect(wrong.json().error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('turns a failing handler into a 500 JSON error and keeps serving', async () => {
    const { server, observer, logLines } = await start();
    observer.status = () => {
      throw new Error('status exploded');
    };
    const answer = await call(server, 'GET', '/status');
    expect(answer.status).toBe(500);
    expect(answer.json().error.code).toBe('INTERNAL');
    expect(logLines.some((line) => line.includes('status exploded'))).toBe(true);
    expect((await call(server, 'GET', '/healthz')).status).toBe(200);
  });
});

describe('control API access', () => {
  it('refuses to bind a non-loopback host unless allowRemote', async () => {
    const observer = new FakeObserver();
    const metrics = createNodeMetrics(observer);
    cleanups.push(() => metrics.close());
    const attempt = startControlServer({
      host: '0.0.0.0',
      port: 0,
      observer,
      metrics: metrics.registry,
      token: TOKEN,
      logger: createLogger({ level: 'silent', pretty: false }),
    });
    await expect(attempt).rejects.toMatchObject({ code: 'CONTROL_NOT_LOOPBACK' });
    await expect(attempt).rejects.toThrow(/0\.0\.0\.0 is not loopback.*allowRemote/);
  });

  it('names the address when it is taken', async () => {
    const { server } = await start();
    const observer = new FakeObserver();
    const metrics = createNodeMetrics(observer);
    cleanups.push(() => metrics.close());
    await expect(
      startControlServer({
        host: '127.0.0.1',
        port: server.port,
        observer,
        metrics: metrics.registry,
        token: TOKEN,
        logger: createLogger({ level: 'silent', pretty: false }),
      }),
    ).rejects.toMatchObject({ code: 'CONTROL_LISTEN_FAILED' });
  });

  it('needs the token when the Host header is not loopback (DNS rebinding)', async () => {
    const { server } = await start();
    const foreign = { host: `evil.example:${server.port}` };
    const refused = await call(server, 'GET', '/status', foreign);
    expect(refused.status).toBe(401);
    expect(refused.json().error.code).toBe('UNAUTHORIZED');
    expect(
      (await call(server, 'GET', '/status', { ...foreign, authorization: `Bearer ${TOKEN}` }))
        .status,
    ).toBe(200);
    expect((await call(server, 'GET', `/status?token=${TOKEN}`, foreign)).status).toBe(200);
    expect(
      (
        await call(server, 'GET', '/status', {
          ...foreign,
          cookie: `a=1; switchback_token=${TOKEN}`,
        })
      ).status,
    ).toBe(200);
    expect((await call(server, 'GET', '/status?token=wrong', foreign)).status).toBe(401);
    // /healthz is for supervisors: no token ever.
    expect((await call(server, 'GET', '/healthz', foreign)).status).toBe(200);
    expect(
      (await call(server, 'GET', '/status', { host: `localhost:${server.port}` })).status,
    ).toBe(200);
  });

  it('lets extensions add routes (token-only, prefix) and upgrade handlers', async () => {
    const { server } = await start();
    server.route(
      'GET',
      '/inspector/*',
      (_req, res, url) => server.sendJson(res, 200, { path: url.pathname }),
      { auth: 'token' },
    );
    expect((await call(server, 'GET', '/inspector')).status).toBe(401);
    const asset = await call(server, 'GET', `/inspector/app.js?token=${TOKEN}`);
    expect(asset.json()).toEqual({ path: '/inspector/app.js' });
    expect((await call(server, 'GET', '/inspectorx')).status).toBe(404);

    server.onUpgrade(
      '/inspector/ws',
      (_req, socket) => {
        socket.end(
          'HTTP/1.1 101 Switching Protocols\r\nupgrade: test\r\nconnection: upgrade\r\n\r\nhi',
        );
      },
      { auth: 'token' },
    );
    const upgrade = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(
            `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n`,
          );
        });
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
    expect(await upgrade(`/inspector/ws?token=${TOKEN}`)).toMatch(/^HTTP\/1\.1 101 .*hi$/s);
    expect(await upgrade('/inspector/ws')).toMatch(/^HTTP\/1\.1 401 /);
    expect(await upgrade('/other')).toMatch(/^HTTP\/1\.1 404 /);
  });
});

describe('control API lifecycle', () => {
  it('closes on abort, cutting idle keep-alive connections', async () => {
    const controller = new AbortController();
    const { server, client } = await start(new FakeObserver(), { signal: controller.signal });
    // A keep-alive socket that stays open after its request.
    const socket = connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const socketClosed = new Promise((resolve) => socket.once('close', resolve));

    controller.abort();
    await server.close(); // the same close the abort started
    await socketClosed;
    expect(server.server.listening).toBe(false);
    await expect(client.status()).rejects.toBeInstanceOf(ControlUnreachableError);
  });

  it('does not listen at all when the signal is already aborted', async () => {
    const observer = new FakeObserver();
    const metrics = createNodeMetrics(observer);
    cleanups.push(() => metrics.close());
    await expect(
      startControlServer({
        host: '127.0.0.1',
        port: 0,
        observer,
        metrics: metrics.registry,
        token: TOKEN,
        logger: createLogger({ level: 'silent', pretty: false }),
        signal: AbortSignal.abort(),
      }),
    ).rejects.toThrow();
  });
});
