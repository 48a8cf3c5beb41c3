// Shared set-up for the relay integration tests: a relay on an ephemeral
// loopback port, authenticated clients, and raw ws sockets for sending the
// relay things a well-behaved client never would.
import { once } from 'node:events';
import WebSocket from 'ws';
import { generateIdentity, type Identity, signDetached } from '../../../src/crypto/identity.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { type Frame, FrameType } from '../../../src/protocol/frames.js';
import { authMessage } from '../../../src/relay/auth-message.js';
import { RelayClient } from '../../../src/relay/client.js';
import type { RelayLimits } from '../../../src/relay/limits.js';
import { type RelayAddress, RelayServer } from '../../../src/relay/server.js';

export interface TestRelay {
  server: RelayServer;
  address: RelayAddress;
  url: string;
}

export async function startRelay(
  limits: Partial<RelayLimits> = {},
  extra: { metrics?: boolean } = {},
): Promise<TestRelay> {
  const server = new RelayServer({
    listen: { host: '127.0.0.1', port: 0 },
    metrics: extra.metrics ? { host: '127.0.0.1', port: 0 } : undefined,
    limits,
  });
  const address = await server.start();
  return { server, address, url: address.url };
}

/** Two authenticated clients paired with each other (both sent CONNECT). */
export async function pair(
  url: string,
  ports: [number, number] = [0, 0],
): Promise<{ a: RelayClient; b: RelayClient; ids: [Identity, Identity] }> {
  const ids: [Identity, Identity] = [await generateIdentity(), await generateIdentity()];
  const a = await RelayClient.connect(url, ids[0], { timeoutMs: 5_000 });
  const b = await RelayClient.connect(url, ids[1], { timeoutMs: 5_000 });
  const established = Promise.all([
    a.next('established', { timeoutMs: 5_000 }),
    b.next('established', { timeoutMs: 5_000 }),
  ]);
  a.connectPeer(ids[1].publicKey, ports[0]);
  b.connectPeer(ids[0].publicKey, ports[1]);
  await established;
  return { a, b, ids };
}

/** Sends one payload each way and checks it arrives intact from the right key. */
export async function assertForwards(a: RelayClient, b: RelayClient): Promise<void> {
  const toB = new Uint8Array([1, 2, 3, 4]);
  const toA = new Uint8Array([5, 6, 7]);
  const atB = b.next('forward', { timeoutMs: 5_000 });
  a.forward(b.key, toB);
  const gotB = await atB;
  if (!sameBytes(gotB.payload, toB) || !sameBytes(gotB.from, a.key)) {
    throw new Error('payload a→b did not arrive intact');
  }
  const atA = a.next('forward', { timeoutMs: 5_000 });
  b.forward(a.key, toA);
  const gotA = await atA;
  if (!sameBytes(gotA.payload, toA) || !sameBytes(gotA.from, b.key)) {
    throw new Error('payload b→a did not arrive intact');
  }
}

export function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return Buffer.from(x).equals(Buffer.from(y));
}

/** A raw ws socket to the relay with its frames queued for `nextFrame`. */
export class RawSocket {
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly frames: Frame[] = [];
  private waiter?: () => void;

  private constructor(readonly ws: WebSocket) {
    ws.on('error', () => {});
    ws.on('message', (data) => {
      this.frames.push(decodeFrame(data as Buffer));
      this.waiter?.();
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      });
    });
  }

  static async open(url: string, options: WebSocket.ClientOptions = {}): Promise<RawSocket> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
    const raw = new RawSocket(ws);
    await once(ws, 'open');
    return raw;
  }

  send(frame: Frame): void {
    this.ws.send(encodeFrame(frame));
  }

  sendBytes(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  async nextFrame(timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('socket closed');
      if (Date.now() > deadline) throw new Error('no frame in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.frames.shift()!;
  }

  /** HELLO → CHALLENGE → AUTH → WELCOME by hand; returns the signature it sent. */
  async authenticate(identity: Identity): Promise<Uint8Array> {
    this.send({ type: FrameType.HELLO, key: identity.publicKey, capabilities: 0 });
    const challenge = await this.nextFrame();
    if (challenge.type !== FrameType.CHALLENGE) throw new Error('expected CHALLENGE');
    const signature = signDetached(
      identity.secretKey,
      authMessage(
        challenge.relayId,
        challenge.nonce,
        identity.publicKey,
        0,
        challenge.capabilities,
      ),
    );
    this.send({ type: FrameType.AUTH, signature });
    const welcome = await this.nextFrame();
    if (welcome.type !== FrameType.WELCOME) throw new Error('expected WELCOME');
    return signature;
  }

  /** Waits for the close, bounded; never hangs a test. */
  async closeInfo(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs);
    try {
      return await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.ws.terminate();
  }
}
