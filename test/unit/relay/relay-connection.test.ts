// The relay's FORWARD fast path (src/relay/relay-connection.ts), driven with
// fake sockets: what it reads of the header, what it refuses and how, that it
// hands the received bytes on without a copy, and that sends towards one
// receiver within a tick share one cork.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { generateIdentity, type Identity, signDetached } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { LOCAL_RELAY_CAPABILITIES } from '../../../src/protocol/capabilities.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { FORWARD_HEADER_BYTES, type Frame, FrameType } from '../../../src/protocol/frames.js';
import { authMessage } from '../../../src/relay/auth-message.js';
import { CloseCode } from '../../../src/relay/close-codes.js';
import { type RelayLimits, resolveLimits } from '../../../src/relay/limits.js';
import { RelayStats } from '../../../src/relay/metrics.js';
import { LocalPeerDirectory, PeerIdCache, peerIdOf } from '../../../src/relay/peer-directory.js';
import { type ConnectionContext, RelayConnection } from '../../../src/relay/relay-connection.js';
import { ReplayCache } from '../../../src/relay/replay-cache.js';

/** Just enough of a ws WebSocket for RelayConnection. */
class FakeWs extends EventEmitter {
  readyState = 1; // OPEN
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  closedWith: number | undefined;
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code: number): void {
    this.closedWith ??= code;
    this.readyState = 2; // CLOSING
  }
  terminate(): void {
    this.readyState = 3;
  }
  ping(): void {}
  /** A binary message from the client. */
  receive(bytes: Uint8Array): void {
    this.emit('message', Buffer.from(bytes), true);
  }
  frames(): Frame[] {
    return this.sent.map((bytes) => decodeFrame(bytes));
  }
}

class FakeSocket {
  remoteAddress = '127.0.0.1';
  remotePort = 40000;
  corked = 0;
  corks = 0;
  cork(): void {
    this.corked++;
    this.corks++;
  }
  uncork(): void {
    this.corked--;
  }
}

interface Client {
  ws: FakeWs;
  socket: FakeSocket;
  connection: RelayConnection;
  identity: Identity;
}

function context(limits: Partial<RelayLimits> = {}): ConnectionContext {
  return {
    limits: resolveLimits(limits),
    relayId: new Uint8Array(32).fill(7),
    directory: new LocalPeerDirectory(),
    stats: new RelayStats(),
    replays: new ReplayCache(64),
    log: pino({ level: 'silent' }),
  };
}

/** A connection walked through HELLO → CHALLENGE → AUTH → WELCOME. */
async function authenticated(ctx: ConnectionContext): Promise<Client> {
  const identity = await generateIdentity();
  const ws = new FakeWs();
  const socket = new FakeSocket();
  const connection = new RelayConnection(
    ws as unknown as WebSocket,
    socket as unknown as Socket,
    ctx,
  );
  ws.receive(
    encodeFrame({
      type: FrameType.HELLO,
      key: identity.publicKey,
      capabilities: LOCAL_RELAY_CAPABILITIES,
    }),
  );
  const challenge = ws.frames()[0]!;
  if (challenge.type !== FrameType.CHALLENGE) throw new Error('no challenge');
  const message = authMessage(
    ctx.relayId,
    challenge.nonce,
    identity.publicKey,
    LOCAL_RELAY_CAPABILITIES,
    challenge.capabilities,
  );
  ws.receive(
    encodeFrame({ type: FrameType.AUTH, signature: signDetached(identity.secretKey, message) }),
  );
  expect(connection.authenticated).toBe(true);
  ws.sent.length = 0;
  return { ws, socket, connection, identity };
}

async function pair(ctx: ConnectionContext): Promise<[Client, Client]> {
  const a = await authenticated(ctx);
  const b = await authenticated(ctx);
  a.ws.receive(encodeFrame({ type: FrameType.CONNECT, peer: b.identity.publicKey, listenPort: 0 }));
  b.ws.receive(encodeFrame({ type: FrameType.CONNECT, peer: a.identity.publicKey, listenPort: 0 }));
  a.ws.sent.length = 0;
  b.ws.sent.length = 0;
  return [a, b];
}

function forward(to: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeFrame({ type: FrameType.FORWARD, key: to, payload });
}

/** FORWARD frames a client was sent (PEER_GONE and the like left out). */
const forwards = (client: Client) => client.ws.sent.filter((f) => f[1] === FrameType.FORWARD);

const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));

beforeAll(async () => {
  await sodiumReady();
});

describe('RelayConnection FORWARD fast path', () => {
  it('hands the received bytes on with the source key written in place', async () => {
    const ctx = context();
    const [a, b] = await pair(ctx);
    const payload = new Uint8Array(1400).map((_, i) => i & 0xff);
    const sent: Buffer[] = [];
    a.ws.on('message', (data: Buffer) => sent.push(data));
    a.ws.receive(forward(b.identity.publicKey, payload));

    expect(b.ws.sent).toHaveLength(1);
    // The very buffer ws gave the relay: no copy on the way through.
    expect(b.ws.sent[0]).toBe(sent[0]);
    const frame = decodeFrame(b.ws.sent[0]!);
    expect(frame.type).toBe(FrameType.FORWARD);
    if (frame.type !== FrameType.FORWARD) return;
    expect(Buffer.from(frame.key).equals(Buffer.from(a.identity.publicKey))).toBe(true);
    expect(Buffer.from(frame.payload).equals(Buffer.from(payload))).toBe(true);
    expect(ctx.stats.framesForwarded).toBe(1);
    expect(ctx.stats.bytesForwarded).toBe(FORWARD_HEADER_BYTES + payload.length);
  });

  it('corks the receiver once per tick, however many frames the tick carries', async () => {
    const ctx = context();
    const [a, b] = await pair(ctx);
    for (let i = 0; i < 50; i++) a.ws.receive(forward(b.identity.publicKey, new Uint8Array(100)));
    expect(b.ws.sent).toHaveLength(50);
    expect(b.socket.corks).toBe(1);
    expect(b.socket.corked).toBe(1);
    await tick();
    expect(b.socket.corked).toBe(0);
    b.ws.sent.length = 0;
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(100)));
    expect(b.socket.corks).toBe(2);
    await tick();
    expect(b.socket.corked).toBe(0);
    // The sender's own socket was never corked: it received nothing.
    expect(a.socket.corks).toBe(0);
  });

  it('follows a change of destination (the per-connection id cache is per key)', async () => {
    const ctx = context();
    const [a, b] = await pair(ctx);
    const c = await authenticated(ctx);
    a.ws.receive(
      encodeFrame({ type: FrameType.CONNECT, peer: c.identity.publicKey, listenPort: 0 }),
    );
    c.ws.receive(
      encodeFrame({ type: FrameType.CONNECT, peer: a.identity.publicKey, listenPort: 0 }),
    );
    a.ws.sent.length = 0;
    c.ws.sent.length = 0;
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array([1])));
    a.ws.receive(forward(c.identity.publicKey, new Uint8Array([2])));
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array([3])));
    const payloads = (client: Client) =>
      client.ws.frames().map((f) => (f.type === FrameType.FORWARD ? [...f.payload] : []));
    expect(payloads(b)).toEqual([[1], [3]]);
    expect(payloads(c)).toEqual([[2]]);
  });

  it('refuses a truncated FORWARD with 4000, counted, and the pair on other connections goes on', async () => {
    const ctx = context();
    const [a, b] = await pair(ctx);
    const [c, d] = await pair(ctx);
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(10)).subarray(0, 20));
    expect(a.ws.closedWith).toBe(CloseCode.BAD_FRAME);
    expect(ctx.stats.refusals.get('bad_frame')).toBe(1);
    expect(forwards(b)).toHaveLength(0);
    c.ws.receive(forward(d.identity.publicKey, new Uint8Array(10)));
    expect(d.ws.sent).toHaveLength(1);
  });

  it('answers a FORWARD to an unknown destination with NOTICE not-paired, counted, and stays open', async () => {
    const ctx = context();
    const [a, b] = await pair(ctx);
    const stranger = (await generateIdentity()).publicKey;
    a.ws.receive(forward(stranger, new Uint8Array(10)));
    const [notice] = a.ws.frames();
    expect(notice?.type).toBe(FrameType.NOTICE);
    if (notice?.type === FrameType.NOTICE) expect(notice.message).toContain(peerIdOf(stranger));
    expect(ctx.stats.drops.get('not_paired')).toBe(1);
    expect(a.ws.closedWith).toBeUndefined();
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(10)));
    expect(b.ws.sent).toHaveLength(1);
  });

  it('refuses an oversized message with 4001 before reading it', async () => {
    const ctx = context({ maxFrameBytes: 200, burstBytes: 1_000 });
    const [a, b] = await pair(ctx);
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(200 - FORWARD_HEADER_BYTES)));
    expect(b.ws.sent).toHaveLength(1);
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(201 - FORWARD_HEADER_BYTES)));
    expect(a.ws.closedWith).toBe(CloseCode.FRAME_TOO_LARGE);
    expect(ctx.stats.refusals.get('frame_too_large')).toBe(1);
    expect(forwards(b)).toHaveLength(1);
  });

  it('refuses a FORWARD to oneself (4007), of another version (4014) and junk types (4000)', async () => {
    const ctx = context();
    const self = await authenticated(ctx);
    self.ws.receive(forward(self.identity.publicKey, new Uint8Array(10)));
    expect(self.ws.closedWith).toBe(CloseCode.SELF_CONNECT);

    const other = await authenticated(ctx);
    const v1 = forward(self.identity.publicKey, new Uint8Array(10));
    v1[0] = 1;
    other.ws.receive(v1);
    expect(other.ws.closedWith).toBe(CloseCode.VERSION_MISMATCH);

    const junk = await authenticated(ctx);
    const unknownType = forward(self.identity.publicKey, new Uint8Array(10));
    unknownType[1] = 0x7f;
    junk.ws.receive(unknownType);
    expect(junk.ws.closedWith).toBe(CloseCode.BAD_FRAME);
    expect(ctx.stats.refusals.get('bad_frame')).toBe(1);
  });

  it('still refuses a FORWARD before WELCOME (4003)', async () => {
    const ctx = context();
    const ws = new FakeWs();
    new RelayConnection(ws as unknown as WebSocket, new FakeSocket() as unknown as Socket, ctx);
    ws.receive(forward(new Uint8Array(32).fill(1), new Uint8Array(10)));
    expect(ws.closedWith).toBe(CloseCode.NOT_AUTHENTICATED);
  });

  it('applies the frame and byte token buckets to FORWARDs', async () => {
    const frames = context({ burstFrames: 8, framesPerSecond: 1 });
    const [a, b] = await pair(frames); // HELLO, AUTH and CONNECT spent 3 of 8
    for (let i = 0; i < 5; i++) a.ws.receive(forward(b.identity.publicKey, new Uint8Array(10)));
    expect(b.ws.sent).toHaveLength(5);
    expect(a.ws.closedWith).toBeUndefined();
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(10)));
    expect(a.ws.closedWith).toBe(CloseCode.RATE_LIMITED);
    expect(forwards(b)).toHaveLength(5);

    const bytes = context({ maxFrameBytes: 2_000, burstBytes: 5_000, bytesPerSecond: 1 });
    const [c, d] = await pair(bytes);
    // 140 bytes of HELLO, AUTH and CONNECT, then 1434 per FORWARD: the fourth is over.
    for (let i = 0; i < 4; i++) c.ws.receive(forward(d.identity.publicKey, new Uint8Array(1_400)));
    expect(c.ws.closedWith).toBe(CloseCode.RATE_LIMITED);
    expect(forwards(d)).toHaveLength(3);
    expect(bytes.stats.refusals.get('rate_limited')).toBe(1);
  });

  it('drops (and counts) frames for a receiver whose send buffer is full', async () => {
    const ctx = context({ maxSendBufferBytes: 1_000 });
    const [a, b] = await pair(ctx);
    b.ws.bufferedAmount = 990;
    a.ws.receive(forward(b.identity.publicKey, new Uint8Array(100)));
    expect(b.ws.sent).toHaveLength(0);
    expect(ctx.stats.drops.get('receiver_buffer_full')).toBe(1);
    expect(a.ws.closedWith).toBeUndefined();
  });
});

describe('PeerIdCache', () => {
  it('gives peerIdOf for each key, also when the viewed bytes change after the call', () => {
    const cache = new PeerIdCache();
    const frame = new Uint8Array(64).fill(3);
    const view = frame.subarray(2, 34);
    const first = peerIdOf(view);
    expect(cache.idOf(view)).toBe(first);
    expect(cache.idOf(view)).toBe(first);
    frame.fill(4, 2, 34); // the relay rewrites the key in place after the lookup
    expect(cache.idOf(view)).toBe(peerIdOf(view));
    expect(cache.idOf(view)).not.toBe(first);
    expect(cache.idOf(new Uint8Array(31))).toBe(peerIdOf(new Uint8Array(31)));
  });
});
