// The fault-injection proxy itself, on plain TCP so every byte is visible.
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FaultProxy } from '../../src/testing/fault-proxy.js';
import { closedPort, leakCheckedCleanups, sleep } from './direct/helpers.js';

const HOST = '127.0.0.1';
const cleanups = leakCheckedCleanups();

/** A peer's endpoint: records what it receives on each accepted socket. */
interface Endpoint {
  server: Server;
  port: number;
  accepted: Socket[];
  received: string[];
  next(): Promise<Socket>;
}

async function endpoint(): Promise<Endpoint> {
  const waiters: ((socket: Socket) => void)[] = [];
  const ep: Endpoint = {
    server: net.createServer((socket) => {
      const index = ep.accepted.push(socket) - 1;
      ep.received[index] = '';
      socket.on('data', (chunk) => {
        ep.received[index] += chunk.toString();
      });
      socket.on('error', () => {});
      waiters.shift()?.(socket);
    }),
    port: 0,
    accepted: [],
    received: [],
    next: () => new Promise((resolve) => waiters.push(resolve)),
  };
  await new Promise<void>((resolve) => ep.server.listen(0, HOST, resolve));
  ep.port = (ep.server.address() as AddressInfo).port;
  cleanups.push(async () => {
    for (const socket of ep.accepted) socket.destroy();
    await new Promise<void>((resolve) => ep.server.close(() => resolve()));
  });
  return ep;
}

async function connect(port: number): Promise<Socket> {
  const socket = net.connect({ host: HOST, port });
  socket.setNoDelay(true);
  socket.on('error', () => {});
  cleanups.push(() => {
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code));
    socket.on('close', () => resolve(undefined));
  });
}

function collect(socket: Socket): { text: string; ended: boolean; error?: string } {
  const state: { text: string; ended: boolean; error?: string } = { text: '', ended: false };
  socket.on('data', (chunk) => {
    state.text += chunk.toString();
  });
  socket.on('end', () => {
    state.ended = true;
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    state.error = error.code;
  });
  return state;
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  expect(check()).toBe(true);
}

async function setup(): Promise<{ a: Endpoint; b: Endpoint; proxy: FaultProxy }> {
  const a = await endpoint();
  const b = await endpoint();
  const proxy = await FaultProxy.start({ a: a.port, b: b.port });
  cleanups.push(() => proxy.close());
  return { a, b, proxy };
}

describe('FaultProxy', () => {
  it('pass: forwards both ways and counts bytes per direction', async () => {
    const { a, b, proxy } = await setup();
    const fromA = await connect(proxy.toB); // A dials B
    const atB = await b.next();
    const atA = collect(fromA);
    fromA.write('hello');
    atB.write('world!');
    await until(() => b.received[0] === 'hello' && atA.text === 'world!');
    const fromB = await connect(proxy.toA); // B dials A
    await a.next();
    fromB.write('xyz');
    await until(() => a.received[0] === 'xyz');
    expect(proxy.stats()).toMatchObject({
      bytes: { aToB: 5, bToA: 6 + 3 },
      dropped: { aToB: 0, bToA: 0 },
      connections: { aToB: 1, bToA: 1 },
    });
  });

  it('refuse: new connections in that direction get ECONNREFUSED until pass', async () => {
    const { b, proxy } = await setup();
    const existing = await connect(proxy.toB);
    await b.next();
    const port = proxy.toB;
    await proxy.set('aToB', { kind: 'refuse' });
    expect(await connectError(port)).toBe('ECONNREFUSED');
    existing.write('still');
    await until(() => b.received[0] === 'still');
    await proxy.set('aToB', { kind: 'pass' });
    expect(proxy.toB).toBe(port);
    await connect(proxy.toB);
    await until(() => b.accepted.length === 2);
  });

  it('reset: connections dialled in that direction are reset, now and on accept', async () => {
    const { a, b, proxy } = await setup();
    const fromA = await connect(proxy.toB);
    const atB = await b.next();
    const fromB = await connect(proxy.toA);
    await a.next();
    const clientSide = collect(fromA);
    const serverSide = collect(atB);
    await proxy.set('aToB', { kind: 'reset' });
    await until(() => clientSide.error === 'ECONNRESET' && serverSide.error === 'ECONNRESET');
    expect(await connectError(proxy.toB)).toBe('ECONNRESET');
    // The connection B dialled is untouched.
    fromB.write('ok');
    await until(() => a.received[0] === 'ok');
    expect(proxy.stats().resets).toBeGreaterThanOrEqual(2);
  });

  it('blackhole: one direction silently eaten, the other flows, TCP stays up', async () => {
    const { b, proxy } = await setup();
    const fromA = await connect(proxy.toB);
    const atB = await b.next();
    const atA = collect(fromA);
    const bSees = collect(atB);
    await proxy.set('aToB', { kind: 'blackhole' });
    fromA.write('lost');
    atB.write('back');
    await until(() => atA.text === 'back');
    await until(() => proxy.stats().dropped.aToB === 4);
    fromA.end(); // not even the FIN gets through
    await sleep(100);
    expect(bSees.text).toBe('');
    expect(bSees.ended).toBe(false);
    expect(atB.destroyed).toBe(false);
  });

  it('blackhole on a new connection: accepted, nothing delivered', async () => {
    const { b, proxy } = await setup();
    await proxy.set('aToB', { kind: 'blackhole' });
    const fromA = await connect(proxy.toB);
    fromA.write('hello?');
    await until(() => proxy.stats().dropped.aToB === 6);
    expect(b.received.join('')).toBe('');
  });

  it('delay: holds every chunk, keeps order, also across a switch back to pass', async () => {
    const { b, proxy } = await setup();
    const fromA = await connect(proxy.toB);
    await b.next();
    await proxy.set('aToB', { kind: 'delay', ms: 300 });
    fromA.write('1');
    await sleep(5);
    fromA.write('2');
    await sleep(50);
    expect(b.received[0]).toBe('');
    await proxy.set('aToB', { kind: 'pass' });
    fromA.write('3'); // must not overtake the delayed chunks
    await until(() => b.received[0] === '123');
  });

  it('stall: holds every chunk until the mode changes, then releases them in order', async () => {
    const { b, proxy } = await setup();
    const fromA = await connect(proxy.toB);
    const atB = await b.next();
    const atA = collect(fromA);
    await proxy.set('aToB', { kind: 'stall' });
    fromA.write('1');
    await sleep(5);
    fromA.write('2');
    atB.write('back'); // the other direction flows
    await until(() => atA.text === 'back');
    await sleep(100);
    expect(b.received[0]).toBe('');
    expect(proxy.stats().dropped.aToB).toBe(0);
    await proxy.set('aToB', { kind: 'pass' });
    fromA.write('3'); // must not overtake the held chunks
    await until(() => b.received[0] === '123');
  });

  it('drop: discards chunks with the given probability (seeded)', async () => {
    const { b, proxy } = await setup();
    const fromA = await connect(proxy.toB);
    await b.next();
    await proxy.set('aToB', { kind: 'drop', probability: 1 });
    fromA.write('x');
    await until(() => proxy.stats().dropped.aToB === 1);
    await proxy.set('aToB', { kind: 'drop', probability: 0.5, seed: 7 });
    for (let i = 0; i < 40; i++) {
      fromA.write('y');
      await sleep(3); // separate chunks
    }
    await until(() => {
      const s = proxy.stats();
      return s.dropped.aToB + s.bytes.aToB === 41;
    });
    const { dropped, bytes } = proxy.stats();
    expect(dropped.aToB).toBeGreaterThan(1);
    expect(bytes.aToB).toBeGreaterThan(0);
    expect(b.received[0]).toBe('y'.repeat(bytes.aToB));
  });

  it('a closed listener behind the proxy shows as a reset to the dialler', async () => {
    const proxy = await FaultProxy.start({ b: await closedPort() });
    cleanups.push(() => proxy.close());
    expect(await connectError(proxy.toB)).toBe('ECONNRESET');
  });

  it('close() ends every connection and frees every handle', async () => {
    const { b, proxy } = await setup();
    const fromA = await connect(proxy.toB);
    const atA = collect(fromA);
    await b.next();
    await proxy.set('bToA', { kind: 'delay', ms: 10_000 });
    await proxy.close();
    await until(() => fromA.destroyed || atA.ended || atA.error !== undefined);
    expect(proxy.openConnections).toBe(0);
  });
});
