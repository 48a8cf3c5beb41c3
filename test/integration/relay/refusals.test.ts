// Every kind of bad input gets its own close code, is counted, and leaves the
// relay serving a healthy pair that was connected all along.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, signDetached } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { FrameType, PROTOCOL_VERSION } from '../../../src/protocol/frames.js';
import { authMessage } from '../../../src/relay/auth-message.js';
import type { RelayClient } from '../../../src/relay/client.js';
import { CLOSE_INFO, CloseCode, type CloseKind } from '../../../src/relay/close-codes.js';
import type { RelayLimits } from '../../../src/relay/limits.js';
import { assertForwards, pair, RawSocket, startRelay, type TestRelay } from './helpers.js';

let relay: TestRelay | undefined;
let healthy: { a: RelayClient; b: RelayClient } | undefined;
const raws: RawSocket[] = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  for (const raw of raws.splice(0)) raw.close();
  healthy?.a.terminate();
  healthy?.b.terminate();
  await relay?.server.close();
  relay = undefined;
});

async function setUp(limits: Partial<RelayLimits> = {}) {
  relay = await startRelay(limits);
  healthy = await pair(relay.url);
  return relay;
}

async function rawSocket(): Promise<RawSocket> {
  const raw = await RawSocket.open(relay!.url);
  raws.push(raw);
  return raw;
}

/** The socket was closed with `kind`'s code and reason, it was counted, and the pair still works. */
async function expectRefused(raw: RawSocket, kind: CloseKind): Promise<void> {
  const closed = await raw.closeInfo();
  expect(closed).toEqual({ code: CloseCode[kind], reason: CLOSE_INFO[kind].reason });
  expect(relay!.server.stats.refusals.get(CLOSE_INFO[kind].metric)).toBe(1);
  await assertForwards(healthy!.a, healthy!.b);
  expect(healthy!.a.isOpen && healthy!.b.isOpen).toBe(true);
}

describe('relay refusals', () => {
  it('junk bytes → BAD_FRAME', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.sendBytes(randomBytes(57).fill(0xee, 0, 2));
    await expectRefused(raw, 'BAD_FRAME');
  });

  it('a text message → BAD_FRAME', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.sendBytes('hello relay');
    await expectRefused(raw, 'BAD_FRAME');
  });

  it('a truncated frame of a known type → BAD_FRAME', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.sendBytes(new Uint8Array([PROTOCOL_VERSION, FrameType.HELLO, 1, 2, 3]));
    await expectRefused(raw, 'BAD_FRAME');
  });

  it("a v1 node's HELLO → VERSION_MISMATCH, whose reason names the relay's version", async () => {
    await setUp();
    const raw = await rawSocket();
    // Exactly what a version 1 node sends first: 01 01 key(32).
    raw.sendBytes(new Uint8Array([1, FrameType.HELLO, ...(await generateIdentity()).publicKey]));
    await expectRefused(raw, 'VERSION_MISMATCH');
    expect(CLOSE_INFO.VERSION_MISMATCH.reason).toBe(
      'relay speaks switchback protocol v2; upgrade the node',
    );
    expect(CloseCode.VERSION_MISMATCH).toBe(4014);
  });

  it('a frame of a later version → VERSION_MISMATCH', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.sendBytes(new Uint8Array([3, FrameType.HELLO, ...new Uint8Array(36)]));
    await expectRefused(raw, 'VERSION_MISMATCH');
  });

  it('an AUTH over other capabilities than were announced → BAD_SIGNATURE', async () => {
    await setUp();
    const raw = await rawSocket();
    const identity = await generateIdentity();
    raw.send({ type: FrameType.HELLO, key: identity.publicKey, capabilities: 0 });
    const challenge = await raw.nextFrame();
    if (challenge.type !== FrameType.CHALLENGE) throw new Error('expected CHALLENGE');
    const signature = signDetached(
      identity.secretKey,
      authMessage(
        challenge.relayId,
        challenge.nonce,
        identity.publicKey,
        1,
        challenge.capabilities,
      ),
    );
    raw.send({ type: FrameType.AUTH, signature });
    await expectRefused(raw, 'BAD_SIGNATURE');
  });

  it('an oversized frame → FRAME_TOO_LARGE', async () => {
    await setUp({ maxFrameBytes: 4096 });
    const raw = await rawSocket();
    raw.sendBytes(new Uint8Array(5000));
    await expectRefused(raw, 'FRAME_TOO_LARGE');
  });

  it('a frame the relay never accepts from a client → INVALID_MESSAGE', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.send({ type: FrameType.WELCOME, observed: { family: 4, host: '127.0.0.1', port: 1 } });
    await expectRefused(raw, 'INVALID_MESSAGE');
  });

  it('CONNECT before auth → NOT_AUTHENTICATED', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.send({ type: FrameType.CONNECT, peer: healthy!.a.key, listenPort: 0 });
    await expectRefused(raw, 'NOT_AUTHENTICATED');
  });

  it('FORWARD after HELLO but before WELCOME → NOT_AUTHENTICATED', async () => {
    await setUp();
    const raw = await rawSocket();
    raw.send({ type: FrameType.HELLO, key: (await generateIdentity()).publicKey, capabilities: 0 });
    await raw.nextFrame();
    raw.send({ type: FrameType.FORWARD, key: healthy!.a.key, payload: new Uint8Array(8) });
    await expectRefused(raw, 'NOT_AUTHENTICATED');
  });

  it('AUTH signed by another key → BAD_SIGNATURE', async () => {
    await setUp();
    const raw = await rawSocket();
    const claimed = await generateIdentity();
    const forger = await generateIdentity();
    raw.send({ type: FrameType.HELLO, key: claimed.publicKey, capabilities: 0 });
    const challenge = await raw.nextFrame();
    if (challenge.type !== FrameType.CHALLENGE) throw new Error('expected CHALLENGE');
    const signature = signDetached(
      forger.secretKey,
      authMessage(challenge.relayId, challenge.nonce, claimed.publicKey, 0, challenge.capabilities),
    );
    raw.send({ type: FrameType.AUTH, signature });
    await expectRefused(raw, 'BAD_SIGNATURE');
    expect(relay!.server.directory.peerCount).toBe(2);
  });

  it('an AUTH for another relay → BAD_SIGNATURE', async () => {
    await setUp();
    const raw = await rawSocket();
    const identity = await generateIdentity();
    raw.send({ type: FrameType.HELLO, key: identity.publicKey, capabilities: 0 });
    const challenge = await raw.nextFrame();
    if (challenge.type !== FrameType.CHALLENGE) throw new Error('expected CHALLENGE');
    const otherRelay = new Uint8Array(32).fill(7);
    const signature = signDetached(
      identity.secretKey,
      authMessage(otherRelay, challenge.nonce, identity.publicKey, 0, challenge.capabilities),
    );
    raw.send({ type: FrameType.AUTH, signature });
    await expectRefused(raw, 'BAD_SIGNATURE');
  });

  it('a captured AUTH replayed on a new connection → AUTH_REPLAYED', async () => {
    await setUp();
    const identity = await generateIdentity();
    const first = await rawSocket();
    const captured = await first.authenticate(identity);
    const replay = await rawSocket();
    replay.send({ type: FrameType.HELLO, key: identity.publicKey, capabilities: 0 });
    await replay.nextFrame();
    replay.send({ type: FrameType.AUTH, signature: captured });
    await expectRefused(replay, 'AUTH_REPLAYED');
    // The genuine connection is untouched.
    expect(first.ws.readyState).toBe(first.ws.OPEN);
  });

  it('a second AUTH after WELCOME → AUTH_REPLAYED', async () => {
    await setUp();
    const raw = await rawSocket();
    const signature = await raw.authenticate(await generateIdentity());
    raw.send({ type: FrameType.AUTH, signature });
    await expectRefused(raw, 'AUTH_REPLAYED');
  });

  it('silence after connecting → AUTH_TIMEOUT', async () => {
    await setUp({ authTimeoutMs: 150 });
    const raw = await rawSocket();
    await expectRefused(raw, 'AUTH_TIMEOUT');
  });

  it('HELLO but no AUTH → AUTH_TIMEOUT', async () => {
    await setUp({ authTimeoutMs: 150 });
    const raw = await rawSocket();
    raw.send({ type: FrameType.HELLO, key: (await generateIdentity()).publicKey, capabilities: 0 });
    await expectRefused(raw, 'AUTH_TIMEOUT');
  });

  it('CONNECT naming itself → SELF_CONNECT', async () => {
    await setUp();
    const raw = await rawSocket();
    const identity = await generateIdentity();
    await raw.authenticate(identity);
    raw.send({ type: FrameType.CONNECT, peer: identity.publicKey, listenPort: 0 });
    await expectRefused(raw, 'SELF_CONNECT');
  });

  it('FORWARD to itself → SELF_CONNECT', async () => {
    await setUp();
    const raw = await rawSocket();
    const identity = await generateIdentity();
    await raw.authenticate(identity);
    raw.send({ type: FrameType.FORWARD, key: identity.publicKey, payload: new Uint8Array(4) });
    await expectRefused(raw, 'SELF_CONNECT');
  });

  it('more frames than its bucket allows → RATE_LIMITED', async () => {
    await setUp({ framesPerSecond: 5, burstFrames: 20 });
    const raw = await rawSocket();
    const identity = await generateIdentity();
    await raw.authenticate(identity);
    for (let i = 0; i < 60; i++) {
      raw.send({ type: FrameType.FORWARD, key: healthy!.a.key, payload: new Uint8Array(4) });
    }
    await expectRefused(raw, 'RATE_LIMITED');
  });

  it('more bytes than its bucket allows → RATE_LIMITED', async () => {
    await setUp({ bytesPerSecond: 10_000, burstBytes: 70_000 });
    const raw = await rawSocket();
    await raw.authenticate(await generateIdentity());
    for (let i = 0; i < 10; i++) {
      raw.send({ type: FrameType.FORWARD, key: healthy!.a.key, payload: new Uint8Array(10_000) });
    }
    await expectRefused(raw, 'RATE_LIMITED');
  });

  it('one connection over maxConnections → TOO_MANY_CONNECTIONS', async () => {
    await setUp({ maxConnections: 3 });
    await rawSocket();
    const over = await rawSocket();
    await expectRefused(over, 'TOO_MANY_CONNECTIONS');
  });

  it('CONNECT to more peers than allowed → TOO_MANY_PEERS', async () => {
    await setUp({ maxPeersPerConnection: 3 });
    const raw = await rawSocket();
    await raw.authenticate(await generateIdentity());
    for (let i = 0; i < 4; i++) {
      raw.send({ type: FrameType.CONNECT, peer: randomBytes(32), listenPort: 0 });
    }
    await expectRefused(raw, 'TOO_MANY_PEERS');
  });

  it('no pong to keepalive pings → connection destroyed and counted', async () => {
    await setUp({ keepaliveIntervalMs: 200 });
    const mute = await RawSocket.open(relay!.url, { autoPong: false });
    raws.push(mute);
    await mute.authenticate(await generateIdentity());
    const closed = await mute.closeInfo();
    expect(closed.code).toBe(1006); // destroyed, no close frame: the peer was presumed dead
    expect(relay!.server.stats.refusals.get('keepalive_timeout')).toBe(1);
    // The healthy pair answers pings (ws does by default) and stays.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await assertForwards(healthy!.a, healthy!.b);
    expect(relay!.server.directory.peerCount).toBe(2);
  });

  it('closing the relay → SHUTTING_DOWN to every client', async () => {
    await setUp();
    const raw = await rawSocket();
    await raw.authenticate(await generateIdentity());
    const closing = relay!.server.close();
    const [closed, a] = await Promise.all([raw.closeInfo(), healthy!.a.closed]);
    await closing;
    expect(closed.code).toBe(CloseCode.SHUTTING_DOWN);
    expect(a.code).toBe(CloseCode.SHUTTING_DOWN);
    // a, b and raw: one count each.
    expect(relay!.server.stats.refusals.get('shutting_down')).toBe(3);
  });
});
