// RelayUplink / RelayPath: one FORWARD per frame to the peer the path is bound
// to, only while the uplink has an open client under its buffered cap. Over a
// real relay on loopback, plus a fake client for the cap and the encoding.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { FrameType } from '../../../src/protocol/frames.js';
import type { RelayClient } from '../../../src/relay/client.js';
import { RelayUplink } from '../../../src/services/relay-uplink.js';
import { pair, sameBytes, startRelay, type TestRelay } from '../../integration/relay/helpers.js';

/** What of a RelayClient the uplink uses, scripted. */
class FakeClient {
  isOpen = true;
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  sendForward(frame: Uint8Array): void {
    this.sent.push(frame);
  }
  asClient(): RelayClient {
    return this as unknown as RelayClient;
  }
}

const peerKey = (fill: number) => new Uint8Array(32).fill(fill);

describe('RelayUplink (fake client)', () => {
  it('is not writable and sends nothing before a client is in use', () => {
    const uplink = new RelayUplink();
    const path = uplink.pathTo(peerKey(1));
    expect(uplink.client).toBeNull();
    expect(uplink.writable).toBe(false);
    expect(path.writable).toBe(false);
    expect(path.send(new Uint8Array([1, 2, 3]))).toBe(false);
  });

  it('sends one FORWARD per frame, the same bytes encodeFrame makes, to the path’s peer', () => {
    const uplink = new RelayUplink();
    const client = new FakeClient();
    const alice = uplink.pathTo(peerKey(0xaa));
    const bob = uplink.pathTo(peerKey(0xbb));
    uplink.use(client.asClient());
    const payload = new Uint8Array([9, 8, 7, 6]);
    expect(alice.send(payload)).toBe(true);
    expect(bob.send(payload)).toBe(true);
    expect(client.sent).toHaveLength(2);
    expect(Buffer.from(client.sent[0]!)).toEqual(
      Buffer.from(encodeFrame({ type: FrameType.FORWARD, key: peerKey(0xaa), payload })),
    );
    const toBob = decodeFrame(client.sent[1]!);
    expect(toBob).toMatchObject({ type: FrameType.FORWARD });
    if (toBob.type !== FrameType.FORWARD) throw new Error('not a FORWARD');
    expect(sameBytes(toBob.key, peerKey(0xbb))).toBe(true);
    expect(sameBytes(toBob.payload, payload)).toBe(true);
  });

  it('binds the peer key when the path is made: the caller may reuse its key buffer', () => {
    const uplink = new RelayUplink();
    const client = new FakeClient();
    uplink.use(client.asClient());
    const key = peerKey(0x11);
    const path = uplink.pathTo(key);
    key.fill(0x22);
    path.send(new Uint8Array([1]));
    const frame = decodeFrame(client.sent[0]!);
    if (frame.type !== FrameType.FORWARD) throw new Error('not a FORWARD');
    expect(sameBytes(frame.key, peerKey(0x11))).toBe(true);
  });

  it('is writable only while the client is open and at or under the buffered cap', () => {
    const uplink = new RelayUplink({ maxBufferedBytes: 1000 });
    const client = new FakeClient();
    const path = uplink.pathTo(peerKey(1));
    uplink.use(client.asClient());
    expect(path.writable).toBe(true);

    client.bufferedAmount = 1000; // at the cap: still takes a frame
    expect(path.writable).toBe(true);
    expect(path.send(new Uint8Array([1]))).toBe(true);

    client.bufferedAmount = 1001; // over it: drops
    expect(path.writable).toBe(false);
    expect(path.send(new Uint8Array([2]))).toBe(false);

    client.bufferedAmount = 0;
    client.isOpen = false; // closing: drops without calling sendForward (which would throw)
    expect(path.writable).toBe(false);
    expect(path.send(new Uint8Array([3]))).toBe(false);
    expect(client.sent).toHaveLength(1);
  });

  it('a path made before use() follows whichever client is current', () => {
    const uplink = new RelayUplink();
    const path = uplink.pathTo(peerKey(1));
    const first = new FakeClient();
    const second = new FakeClient();
    uplink.use(first.asClient());
    path.send(new Uint8Array([1]));
    uplink.use(second.asClient());
    path.send(new Uint8Array([2]));
    expect(first.sent).toHaveLength(1);
    expect(second.sent).toHaveLength(1);
  });

  it('release() of a replaced client does nothing; of the current one, forgets it', () => {
    const uplink = new RelayUplink();
    const path = uplink.pathTo(peerKey(1));
    const old = new FakeClient();
    const current = new FakeClient();
    uplink.use(old.asClient());
    uplink.use(current.asClient());
    uplink.release(old.asClient()); // the old connection's close arrives late
    expect(uplink.client).toBe(current.asClient());
    expect(path.send(new Uint8Array([1]))).toBe(true);
    expect(current.sent).toHaveLength(1);

    uplink.release(current.asClient());
    expect(uplink.client).toBeNull();
    expect(path.writable).toBe(false);
    expect(path.send(new Uint8Array([2]))).toBe(false);
    expect(current.sent).toHaveLength(1);
  });
});

describe('RelayUplink (real relay on loopback)', () => {
  let relay: TestRelay;
  const clients: RelayClient[] = [];

  beforeAll(async () => {
    await sodiumReady();
    relay = await startRelay();
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.terminate();
  });
  afterAll(async () => {
    await relay.server.close();
  });

  it('delivers each frame to the paired peer as a FORWARD from us, intact and in order', async () => {
    const { a, b } = await pair(relay.url);
    clients.push(a, b);
    const uplink = new RelayUplink();
    const path = uplink.pathTo(b.key);
    uplink.use(a);
    expect(path.writable).toBe(true);

    const received: { from: Uint8Array; payload: Uint8Array }[] = [];
    const all = new Promise<void>((resolve) => {
      b.onForward((from, payload) => {
        // The client's parts are views into its receive buffer: copy them.
        received.push({ from: from.slice(), payload: payload.slice() });
        if (received.length === 3) resolve();
      });
    });
    const frames = [new Uint8Array([1]), new Uint8Array(1400).fill(2), new Uint8Array([3, 3, 3])];
    for (const frame of frames) expect(path.send(frame)).toBe(true);
    await all;
    for (let i = 0; i < frames.length; i++) {
      expect(sameBytes(received[i]!.from, a.key)).toBe(true);
      expect(sameBytes(received[i]!.payload, frames[i]!)).toBe(true);
    }
  });

  it('stops being writable when its client closes, and then drops instead of throwing', async () => {
    const { a, b } = await pair(relay.url);
    clients.push(a, b);
    const uplink = new RelayUplink();
    const path = uplink.pathTo(b.key);
    uplink.use(a);
    await a.close();
    expect(a.isOpen).toBe(false);
    expect(path.writable).toBe(false);
    expect(path.send(new Uint8Array([1]))).toBe(false);
  });

  it('after a reconnect, frames go on the new connection even if the old one is released late', async () => {
    const { a, b } = await pair(relay.url);
    clients.push(a, b);
    const uplink = new RelayUplink();
    const path = uplink.pathTo(b.key);
    uplink.use(a);
    // A second connection for the same peers replaces the first.
    const again = await pair(relay.url);
    clients.push(again.a, again.b);
    const toNew = uplink.pathTo(again.b.key);
    uplink.use(again.a);
    uplink.release(a);
    expect(uplink.client).toBe(again.a);
    const arrived = again.b.next('forward', { timeoutMs: 5_000 });
    expect(toNew.send(new Uint8Array([7]))).toBe(true);
    expect(sameBytes((await arrived).payload, new Uint8Array([7]))).toBe(true);
    // The old connection closing now must not take the new one's place either.
    await a.close();
    uplink.release(a);
    expect(path.writable).toBe(true);
    expect(uplink.client).toBe(again.a);
  });
});
