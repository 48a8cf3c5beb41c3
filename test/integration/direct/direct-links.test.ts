// DirectLinks: one peer's registry of direct links and their proof inboxes,
// over real DirectLinks (mutual TLS 1.3 on loopback). Our side adopts the
// link it dialled; the test drives the far end.
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { type Frame, FrameType } from '../../../src/protocol/frames.js';
import { dialDirect } from '../../../src/services/dial.js';
import { type DirectLink, LinkCloseCode } from '../../../src/services/direct-link.js';
import { DirectLinks } from '../../../src/services/direct-links.js';
import { DirectListener } from '../../../src/services/direct-listener.js';
import { LinkClosedError } from '../../../src/services/errors.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import { leakCheckedCleanups, makeNode, sleep, type TestNode } from './helpers.js';

const HOST = '127.0.0.1';
const cleanups = leakCheckedCleanups();

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  expect(check()).toBe(true);
}

/** Our node and the peer's, with a listener on the peer's side. */
async function nodes() {
  const ours = await makeNode();
  const theirs = await makeNode();
  const listener = await DirectListener.open({
    host: HOST,
    port: 0,
    credentials: theirs.credentials,
    authorised: [ours.key],
  });
  cleanups.push(() => listener.close());
  return { ours, theirs, listener };
}

/** A new link from us to them: [our end, their end]. */
async function link(
  ours: TestNode,
  theirs: TestNode,
  listener: DirectListener,
): Promise<[DirectLink, DirectLink]> {
  const accepted = new Promise<DirectLink>((resolve) => {
    const off = listener.onLink(ours.key, (far) => {
      off();
      resolve(far);
    });
  });
  const near = await dialDirect({
    host: HOST,
    port: listener.port,
    credentials: ours.credentials,
    expectedPeer: theirs.key,
  });
  const far = await accepted;
  cleanups.push(async () => {
    near.terminate();
    far.terminate();
    await Promise.all([near.closed, far.closed]);
  });
  return [near, far];
}

function registry() {
  const counters = new PeerCounters();
  const data: Uint8Array[] = [];
  const pongs: number[] = [];
  const logs: string[] = [];
  const links = new DirectLinks({
    name: 'bob',
    counters,
    onData: (bytes) => data.push(new Uint8Array(bytes)),
    onPong: (id) => pongs.push(id),
    log: (message) => logs.push(message),
  });
  return { links, counters, data, pongs, logs };
}

/** Messages the far end receives, collected. */
function collect(far: DirectLink): Uint8Array[] {
  const got: Uint8Array[] = [];
  far.onMessage((bytes) => got.push(new Uint8Array(bytes)));
  return got;
}

const challenge = (n: number): Frame => ({
  type: FrameType.REHANDSHAKE_CHALLENGE,
  sessionId: new Uint8Array(16).fill(n),
  nonce: new Uint8Array(32).fill(n),
});
const response = (n: number): Frame => ({
  type: FrameType.REHANDSHAKE_RESPONSE,
  nonce: new Uint8Array(32).fill(n),
  mac: new Uint8Array(32).fill(n),
});
const confirm = (n: number): Frame => ({
  type: FrameType.REHANDSHAKE_CONFIRM,
  mac: new Uint8Array(32).fill(n),
});
/** A frame with its byte fields as plain arrays (decoded fields are Buffers). */
function plain(frame: Frame): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(frame).map(([k, v]) => [k, v instanceof Uint8Array ? [...v] : v]),
  );
}

const dataFrame = (n: number) =>
  encodeFrame({
    type: FrameType.DATA,
    tag: 0,
    epoch: 0,
    counter: BigInt(n),
    ciphertext: new Uint8Array(17).fill(n),
  });

describe('DirectLinks', () => {
  it('adopt makes a link active: its id finds it, and sends go on it', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    expect(t.links.writable).toBe(false);
    expect(t.links.send(new Uint8Array([1]))).toBe(false);

    const id = t.links.adopt(near);
    expect(id).toBe('bob#1');
    expect(t.links.get(id)).toBe(near);
    expect(t.links.writable).toBe(true);
    const got = collect(far);
    expect(t.links.send(new Uint8Array([1, 2, 3]))).toBe(true);
    await until(() => got.length === 1);
    expect(got[0]).toEqual(new Uint8Array([1, 2, 3]));
    expect(t.logs).toContain('direct link open');
  });

  it('the newest adopted link is the active one', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near1, far1] = await link(ours, theirs, listener);
    const [near2, far2] = await link(ours, theirs, listener);
    const t = registry();
    const id1 = t.links.adopt(near1);
    const id2 = t.links.adopt(near2);
    expect(id2).not.toBe(id1);
    const got1 = collect(far1);
    const got2 = collect(far2);
    t.links.send(new Uint8Array([7]));
    await until(() => got2.length === 1);
    expect(got1).toHaveLength(0);
    // The older one is still reachable by id (its proof may still be running).
    expect(t.links.get(id1)).toBe(near1);
    expect(t.links.sendRaw(id1, confirm(1))).toBe(true);
    await until(() => got1.length === 1);
    expect(plain(decodeFrame(got1[0]!))).toEqual(plain(confirm(1)));
  });

  it('settled(serial, mark): the active open link only, and only once its socket took that far', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near1, far1] = await link(ours, theirs, listener);
    const [near2, far2] = await link(ours, theirs, listener);
    const t = registry();
    expect(t.links.activeSerial).toBe(0);
    expect(t.links.activeSentBytes).toBe(0);
    expect(t.links.settled(0, 0)).toBe(false); // no link: nothing is ours to judge
    t.links.adopt(near1);
    const serial1 = t.links.activeSerial;
    expect(serial1).toBeGreaterThan(0);
    collect(far1);
    for (let i = 0; i < 20; i++) t.links.send(new Uint8Array(60_000).fill(i));
    const end1 = t.links.activeSentBytes;
    expect(end1).toBe(20 * 60_000);
    await until(() => t.links.settled(serial1, end1));
    // Never past what was sent: settledBytes is sent less what is still queued.
    expect(t.links.settled(serial1, end1 + 1)).toBe(false);
    expect(t.links.settled(serial1 + 1, 0)).toBe(false); // a serial it never had
    // A newer link takes over: marks of the older one are not judged any more.
    t.links.adopt(near2);
    const serial2 = t.links.activeSerial;
    expect(serial2).not.toBe(serial1);
    expect(t.links.activeSentBytes).toBe(0);
    expect(t.links.settled(serial1, 0)).toBe(false);
    collect(far2);
    t.links.send(new Uint8Array(10));
    await until(() => t.links.settled(serial2, 10));
    // Once the active link closes, none of its marks settle.
    near2.terminate();
    await near2.closed;
    expect(t.links.activeSerial).toBe(0);
    expect(t.links.settled(serial2, 0)).toBe(false);
  });

  it('hands DATA frames to onData, whichever adopted link they come by', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near1, far1] = await link(ours, theirs, listener);
    const [near2, far2] = await link(ours, theirs, listener);
    const t = registry();
    t.links.adopt(near1);
    t.links.adopt(near2);
    far1.send(dataFrame(1));
    far2.send(dataFrame(2));
    await until(() => t.data.length === 2);
    const counters = t.data.map((bytes) => {
      const frame = decodeFrame(bytes);
      return frame.type === FrameType.DATA ? frame.counter : -1n;
    });
    expect(counters.sort()).toEqual([1n, 2n]);
    expect(t.counters.drops).toEqual({});
  });

  it('queues proof frames that arrive before the proof reads, and hands them out in order', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    far.send(encodeFrame(challenge(1)));
    far.send(encodeFrame(response(2)));
    far.send(encodeFrame(confirm(3)));
    far.send(dataFrame(9)); // a DATA frame between them is not a proof frame
    await until(() => t.data.length === 1);
    const signal = new AbortController().signal;
    expect(plain(await t.links.nextProofFrame(id, signal))).toEqual(plain(challenge(1)));
    expect(plain(await t.links.nextProofFrame(id, signal))).toEqual(plain(response(2)));
    expect(plain(await t.links.nextProofFrame(id, signal))).toEqual(plain(confirm(3)));
  });

  it('a proof waiting for its next frame gets it when it arrives', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    const next = t.links.nextProofFrame(id, new AbortController().signal);
    await sleep(20);
    far.send(encodeFrame(response(5)));
    expect(plain(await next)).toEqual(plain(response(5)));
  });

  it('keeps at most 8 proof frames for a proof that is not reading', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    for (let i = 1; i <= 10; i++) far.send(encodeFrame(confirm(i)));
    far.send(dataFrame(0)); // a marker: everything before it has been read
    await until(() => t.data.length === 1);
    const signal = new AbortController().signal;
    const kept: number[] = [];
    for (let i = 0; i < 8; i++) {
      const frame = await t.links.nextProofFrame(id, signal);
      if (frame.type === FrameType.REHANDSHAKE_CONFIRM) kept.push(frame.mac[0]!);
    }
    expect(kept).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Nothing more queued: the next read waits (then aborts).
    const controller = new AbortController();
    const waiting = t.links.nextProofFrame(id, controller.signal);
    controller.abort(new Error('done'));
    await expect(waiting).rejects.toThrow('done');
  });

  it('nextProofFrame rejects with LinkClosedError when the link closes under it', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    const waiting = t.links.nextProofFrame(id, new AbortController().signal);
    far.close(LinkCloseCode.NORMAL, 'bye');
    await expect(waiting).rejects.toBeInstanceOf(LinkClosedError);
    await expect(waiting).rejects.toMatchObject({ code: 'CLOSED' });
    // The link is forgotten: its id finds nothing, sends have nowhere to go.
    expect(t.links.get(id)).toBeUndefined();
    expect(t.links.writable).toBe(false);
    expect(t.links.send(new Uint8Array([1]))).toBe(false);
    expect(t.links.sendRaw(id, confirm(1))).toBe(false);
    await expect(t.links.nextProofFrame(id, new AbortController().signal)).rejects.toBeInstanceOf(
      LinkClosedError,
    );
  });

  it('nextProofFrame for an id it never had rejects with LinkClosedError', async () => {
    const t = registry();
    await expect(
      t.links.nextProofFrame('bob#99', new AbortController().signal),
    ).rejects.toBeInstanceOf(LinkClosedError);
  });

  it('an aborted proof read rejects with the signal’s reason and leaves later frames queued', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    const controller = new AbortController();
    const waiting = t.links.nextProofFrame(id, controller.signal);
    const reason = new Error('step stopped');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // The aborted reader does not swallow the next frame.
    far.send(encodeFrame(challenge(4)));
    far.send(dataFrame(0));
    await until(() => t.data.length === 1);
    expect(plain(await t.links.nextProofFrame(id, new AbortController().signal))).toEqual(
      plain(challenge(4)),
    );
  });

  it('drop closes the link with its code, forgets it at once, and fails its proof', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    const waiting = t.links.nextProofFrame(id, new AbortController().signal);
    t.links.drop(id, LinkCloseCode.FALLBACK, 'FELL_BACK');
    expect(t.links.get(id)).toBeUndefined();
    expect(t.links.writable).toBe(false);
    await expect(waiting).rejects.toBeInstanceOf(LinkClosedError);
    expect(await far.closed).toMatchObject({ code: LinkCloseCode.FALLBACK, byPeer: true });
    // Dropping again (a late event for a forgotten id) does nothing.
    expect(() => t.links.drop(id, LinkCloseCode.FALLBACK, 'again')).not.toThrow();
  });

  it('dropping the older link leaves the newer one active', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near1] = await link(ours, theirs, listener);
    const [near2, far2] = await link(ours, theirs, listener);
    const t = registry();
    const id1 = t.links.adopt(near1);
    t.links.adopt(near2);
    t.links.drop(id1, LinkCloseCode.DUPLICATE, 'duplicate');
    expect(t.links.writable).toBe(true);
    const got = collect(far2);
    t.links.send(new Uint8Array([5]));
    await until(() => got.length === 1);
  });

  it('dropAll closes and forgets every link', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near1, far1] = await link(ours, theirs, listener);
    const [near2, far2] = await link(ours, theirs, listener);
    const t = registry();
    const ids = [t.links.adopt(near1), t.links.adopt(near2)];
    t.links.dropAll(LinkCloseCode.GOING_AWAY, 'SHUTDOWN');
    for (const id of ids) expect(t.links.get(id)).toBeUndefined();
    const closes = await Promise.all([far1.closed, far2.closed]);
    for (const close of closes) expect(close.code).toBe(LinkCloseCode.GOING_AWAY);
  });

  it('counts frames that do not belong on a direct link, and malformed proof frames', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near, far] = await link(ours, theirs, listener);
    const t = registry();
    const id = t.links.adopt(near);
    far.send(encodeFrame({ type: FrameType.CONNECT, peer: new Uint8Array(32), listenPort: 1 }));
    far.send(new Uint8Array([0xff]));
    // A CONFIRM whose MAC is cut short: decoded, refused, counted under its code.
    far.send(encodeFrame(confirm(1)).subarray(0, 10));
    far.send(dataFrame(0));
    await until(() => t.data.length === 1);
    // A one-byte message has no header (the codec's TRUNCATED, like the cut
    // CONFIRM); a well-formed relay frame does not belong here.
    expect(t.counters.drops).toEqual({ UNEXPECTED_DIRECT_FRAME: 1, TRUNCATED: 2 });
    // None of it reached the proof inbox, and the link is still in use.
    const controller = new AbortController();
    const waiting = t.links.nextProofFrame(id, controller.signal);
    controller.abort(new Error('empty'));
    await expect(waiting).rejects.toThrow('empty');
    expect(t.links.writable).toBe(true);
  });

  it('ping puts its id on the active link; the pong comes back to onPong', async () => {
    const { ours, theirs, listener } = await nodes();
    const [near] = await link(ours, theirs, listener);
    const t = registry();
    expect(t.links.ping(1)).toBe(false);
    t.links.adopt(near);
    expect(t.links.ping(0xdeadbeef)).toBe(true);
    expect(t.links.ping(2)).toBe(true);
    await until(() => t.pongs.length === 2);
    expect(t.pongs).toEqual([0xdeadbeef, 2]);
  });
});
