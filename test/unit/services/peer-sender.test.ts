// PeerSender: path choice per route, seal, send, the resend ring and MIGRATE
// markers — with a real session pair (what was sent is opened by the far
// side) and fake relay / direct paths whose writability the test sets.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { InPlaceAead } from '../../../src/crypto/aead.js';
import { SEALED_POOL_SLOT_BYTES, sealedPool } from '../../../src/crypto/sealed-pool.js';
import type { Session } from '../../../src/crypto/session.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { readDataSequence } from '../../../src/protocol/codec.js';
import { SealedKind, type SealedMessage, Space } from '../../../src/protocol/frames.js';
import type { RelayClient } from '../../../src/relay/client.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import {
  MAX_SEALABLE_FRAME,
  PEER_SENDER_DEFAULTS,
  PeerSender,
} from '../../../src/services/peer-sender.js';
import { RelayUplink } from '../../../src/services/relay-uplink.js';
import { sessionPair } from '../crypto/pair.js';
import { ethernet, FakePath, numberOf } from './fake-paths.js';

beforeAll(async () => {
  await sodiumReady();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const timings = { ...defaultConnectionTimings, suspectIntervalMs: 600, heartbeatIntervalMs: 200 };
/** How far back resendRecentDirect reaches. */
const RESEND_WINDOW = timings.suspectIntervalMs + timings.heartbeatIntervalMs;

async function setup(options: { session?: boolean } = {}) {
  const { a, b } = await sessionPair();
  const relay = new FakePath();
  const direct = new FakePath();
  const counters = new PeerCounters();
  let session: Session | null = options.session === false ? null : a;
  const logs: { message: string; fields: object }[] = [];
  const sender = new PeerSender({
    relay,
    direct: direct.asDirect(),
    session: () => session,
    counters,
    timings,
    log: (message, fields) => logs.push({ message, fields }),
  });
  return {
    sender,
    relay,
    direct,
    counters,
    logs,
    a,
    /** The far side's session: opens what was sent. */
    b,
    setSession(s: Session | null) {
      session = s;
    },
  };
}

/** Opens each sealed frame at the far side: its sequence number and message. */
function opened(b: Session, frames: Uint8Array[]): { seq: number; message: SealedMessage }[] {
  return frames.map((bytes) => {
    const { seq, message } = b.open(bytes);
    return { seq, message };
  });
}

/** An upgrade attempt's id, as the re-handshake yields it. */
const ATTEMPT = new Uint8Array(16).fill(7);

/** The MIGRATE marker markTail seals for ATTEMPT. */
function migrate(lastSeq: bigint): SealedMessage {
  return { kind: SealedKind.MIGRATE, attemptId: ATTEMPT, lastSeq };
}

function numbers(b: Session, frames: Uint8Array[]): number[] {
  return opened(b, frames).map(({ message }) => {
    if (message.kind !== SealedKind.ETHERNET) throw new Error(`kind ${message.kind}`);
    return numberOf(message.frame);
  });
}

describe('PeerSender path choice', () => {
  it('drops (NO_SESSION) before the first handshake, sending nothing', async () => {
    const t = await setup({ session: false });
    expect(t.sender.send(ethernet(1))).toBe(false);
    expect(t.counters.drops).toEqual({ NO_SESSION: 1 });
    expect(t.relay.sent).toHaveLength(0);
    expect(t.direct.sent).toHaveLength(0);
  });

  it('route relay: on the relay only, even with a writable direct link', async () => {
    const t = await setup();
    expect(t.sender.route).toBe('relay');
    expect(t.sender.send(ethernet(1))).toBe(true);
    expect(t.sender.send(ethernet(2, 1400))).toBe(true);
    expect(t.direct.sent).toHaveLength(0);
    expect(numbers(t.b, t.relay.sent)).toEqual([1, 2]);
    expect(t.counters.paths.relay.framesSent).toBe(2);
    expect(t.counters.paths.relay.bytesSent).toBe(
      t.relay.sent[0]!.length + t.relay.sent[1]!.length,
    );
    expect(t.counters.paths.direct.framesSent).toBe(0);
  });

  it('route relay with the relay not writable: RELAY_UNAVAILABLE, the direct link is not used', async () => {
    const t = await setup();
    t.relay.writable = false;
    expect(t.sender.send(ethernet(1))).toBe(false);
    expect(t.counters.drops).toEqual({ RELAY_UNAVAILABLE: 1 });
    expect(t.direct.sent).toHaveLength(0);
  });

  it('route direct: on the direct link only while it is writable, else via the relay', async () => {
    const t = await setup();
    t.sender.routeVia('direct');
    expect(t.sender.route).toBe('direct');
    t.sender.send(ethernet(1));
    t.direct.writable = false; // full or closing
    t.sender.send(ethernet(2));
    t.direct.writable = true;
    t.sender.send(ethernet(3));
    expect(numbers(t.b, [t.direct.sent[0]!])).toEqual([1]);
    expect(numbers(t.b, t.relay.sent)).toEqual([2]);
    expect(numbers(t.b, [t.direct.sent[1]!])).toEqual([3]);
    expect(t.counters.paths.direct.framesSent).toBe(2);
    expect(t.counters.paths.relay.framesSent).toBe(1);
    expect(t.counters.drops).toEqual({});
  });

  it('route direct with neither path writable: NO_PATH', async () => {
    const t = await setup();
    t.sender.routeVia('direct');
    t.direct.writable = false;
    t.relay.writable = false;
    expect(t.sender.send(ethernet(1))).toBe(false);
    expect(t.counters.drops).toEqual({ NO_PATH: 1 });
  });

  it('route both: the same sealed frame on both paths; on whichever is writable; else NO_PATH', async () => {
    const t = await setup();
    t.sender.routeVia('both');
    t.sender.send(ethernet(1));
    expect(t.relay.sent).toHaveLength(1);
    expect(t.direct.sent).toHaveLength(1);
    expect(t.relay.sent[0]).toBe(t.direct.sent[0]); // one seal, one sequence number

    t.direct.writable = false;
    t.sender.send(ethernet(2));
    t.direct.writable = true;
    t.relay.writable = false;
    t.sender.send(ethernet(3));
    t.direct.writable = false;
    expect(t.sender.send(ethernet(4))).toBe(false);

    expect(numbers(t.b, t.relay.sent)).toEqual([1, 2]);
    // The far side's replay window refuses the second copy of frame 1.
    expect(() => t.b.open(t.direct.sent[0]!)).toThrow(expect.objectContaining({ code: 'REPLAY' }));
    expect(numbers(t.b, [t.direct.sent[1]!])).toEqual([3]);
    expect(t.counters.drops).toEqual({ NO_PATH: 1 });
  });

  it('burns no sequence number on a drop: the next sealed frame is continuous', async () => {
    const t = await setup();
    const sent: Uint8Array[] = [];
    const capture = () => {
      sent.push(...t.relay.sent.splice(0), ...t.direct.sent.splice(0));
    };
    t.sender.send(ethernet(0)); // seq 0
    t.relay.writable = false;
    for (let i = 0; i < 5; i++) t.sender.send(ethernet(100 + i)); // RELAY_UNAVAILABLE
    t.relay.writable = true;
    t.sender.send(ethernet(1)); // seq 1
    t.sender.routeVia('direct');
    t.direct.writable = false;
    t.relay.writable = false;
    t.sender.send(ethernet(200)); // NO_PATH
    t.sender.routeVia('both');
    t.sender.send(ethernet(201)); // NO_PATH
    t.relay.writable = true;
    t.sender.send(ethernet(2)); // seq 2
    capture();
    expect(sent.map(readDataSequence)).toEqual([0, 1, 2]);
    expect(t.a.nextSeq).toBe(3);
    expect(numbers(t.b, sent)).toEqual([0, 1, 2]);
    expect(t.counters.drops).toEqual({ RELAY_UNAVAILABLE: 5, NO_PATH: 2 });
  });

  it('a session that cannot seal: the drop is counted under its code, not thrown', async () => {
    const t = await setup();
    t.a.close();
    expect(t.sender.send(ethernet(1))).toBe(false);
    expect(t.counters.drops).toEqual({ SESSION_CLOSED: 1 });
    expect(t.relay.sent).toHaveLength(0);
  });

  it('sendBatch sends each frame in order and returns how many went', async () => {
    const t = await setup();
    const batch = [ethernet(1), ethernet(2), ethernet(3)];
    expect(t.sender.sendBatch(batch)).toBe(3);
    expect(numbers(t.b, t.relay.sent)).toEqual([1, 2, 3]);
    t.relay.writable = false;
    expect(t.sender.sendBatch(batch)).toBe(0);
    expect(t.counters.drops).toEqual({ RELAY_UNAVAILABLE: 3 });
    expect(t.sender.sendBatch([])).toBe(0);
  });
});

describe('PeerSender: frames are copied before it returns', () => {
  it('what it sent stays as it was when the caller overwrites its frames afterwards (a TAP reuses its read buffer)', async () => {
    const t = await setup();
    t.sender.routeVia('direct');
    // One buffer for the "read", as the TAP reader's slab: frames are views into it.
    const slab = new Uint8Array(8 * 200);
    const batch = (first: number, count: number) => {
      const frames: Uint8Array[] = [];
      for (let i = 0; i < count; i++) {
        const frame = slab.subarray(i * 200, i * 200 + 60);
        frame.set(ethernet(first + i));
        frames.push(frame);
      }
      return frames;
    };
    expect(t.sender.sendBatch(batch(1, 5))).toBe(5); // one BATCH
    slab.fill(0xee);
    expect(t.sender.sendBatch(batch(6, 1))).toBe(1); // a lone ETHERNET
    slab.fill(0xee);
    expect(t.sender.sendBatch(batch(7, 3))).toBe(3);
    slab.fill(0xee);
    const got: number[] = [];
    for (const { message } of opened(t.b, t.direct.sent)) {
      if (message.kind === SealedKind.BATCH) got.push(...message.frames.map(numberOf));
      else if (message.kind === SealedKind.ETHERNET) got.push(numberOf(message.frame));
    }
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('PeerSender control messages', () => {
  it('sendControl seals on the named path only when it is writable, burning no number otherwise', async () => {
    const t = await setup();
    const ping: SealedMessage = { kind: SealedKind.PING, id: 5, sentAt: 77n };
    t.direct.writable = false;
    expect(t.sender.sendControl('direct', ping)).toBe(false);
    expect(t.a.nextSequence(Space.CONTROL)).toBe(0);
    t.direct.writable = true;
    expect(t.sender.sendControl('direct', ping)).toBe(true);
    expect(t.relay.sent).toHaveLength(0);
    expect(opened(t.b, t.direct.sent)).toEqual([{ seq: 0, message: ping }]);
    expect(t.counters.paths.direct.framesSent).toBe(1);
    // A control message takes no data sequence number.
    expect(t.a.nextSeq).toBe(0);
  });

  it('sendControl without a session sends nothing', async () => {
    const t = await setup({ session: false });
    expect(t.sender.sendControl('relay', { kind: SealedKind.PING, id: 1, sentAt: 0n })).toBe(false);
    expect(t.relay.sent).toHaveLength(0);
  });

  it('markTail sends MIGRATE(last data sequence number sent on that path) on that path', async () => {
    const t = await setup();
    t.sender.send(ethernet(0)); // relay, data 0
    t.sender.send(ethernet(1)); // relay, data 1
    t.sender.routeVia('direct');
    t.sender.send(ethernet(2)); // direct, data 2
    t.sender.send(ethernet(3)); // direct, data 3
    t.sender.markTail('relay', ATTEMPT); // control 0 on the relay: MIGRATE(1)
    t.sender.markTail('direct', ATTEMPT); // control 1 on the direct link: MIGRATE(3)

    const onRelay = opened(t.b, t.relay.sent);
    expect(onRelay.at(-1)).toEqual({ seq: 0, message: migrate(1n) });
    const onDirect = opened(t.b, t.direct.sent);
    expect(onDirect.at(-1)).toEqual({ seq: 1, message: migrate(3n) });
  });

  it('markTail on a path that carried nothing yet still sends MIGRATE(0)', async () => {
    const t = await setup();
    t.sender.markTail('relay', ATTEMPT);
    expect(opened(t.b, t.relay.sent)).toEqual([{ seq: 0, message: migrate(0n) }]);
  });

  it('markTail on a path that is not writable sends nothing and burns no number', async () => {
    const t = await setup();
    t.sender.send(ethernet(0));
    t.relay.writable = false;
    t.sender.markTail('relay', ATTEMPT);
    t.direct.writable = false;
    t.sender.markTail('direct', ATTEMPT);
    expect(t.relay.sent).toHaveLength(1);
    expect(t.direct.sent).toHaveLength(0);
    expect(t.a.nextSeq).toBe(1);
    expect(t.a.nextSequence(Space.CONTROL)).toBe(0);
  });

  it('markRelayTail puts MIGRATE on the relay, or on the direct link when the relay is down', async () => {
    const t = await setup();
    t.sender.send(ethernet(0)); // relay, data 0
    t.sender.markRelayTail(ATTEMPT); // relay, control 0: MIGRATE(0)
    expect(t.direct.sent).toHaveLength(0);
    expect(opened(t.b, t.relay.sent).at(-1)).toEqual({ seq: 0, message: migrate(0n) });

    t.relay.writable = false;
    t.sender.markRelayTail(ATTEMPT); // direct, control 1
    expect(t.relay.sent).toHaveLength(2);
    expect(opened(t.b, t.direct.sent)).toEqual([{ seq: 1, message: migrate(0n) }]);

    t.direct.writable = false;
    t.sender.markRelayTail(ATTEMPT); // neither path: nothing, no number burnt
    expect(t.a.nextSequence(Space.CONTROL)).toBe(2);
  });

  it('a PONG is not data: MIGRATE still names the last data frame on that path', async () => {
    const t = await setup();
    t.sender.send(ethernet(0)); // relay, data 0
    t.sender.sendControl('relay', { kind: SealedKind.PONG, id: 1, sentAt: 0n }); // relay, control 0
    t.sender.markTail('relay', ATTEMPT);
    expect(opened(t.b, t.relay.sent).at(-1)?.message).toEqual(migrate(0n));
  });
});

describe('PeerSender resendRecentDirect', () => {
  it('resends via the relay exactly the frames that went direct only, as the same bytes', async () => {
    const clock = fakeClock();
    const t = await setup();
    t.sender.send(ethernet(1)); // relay only: not kept
    t.sender.routeVia('direct');
    t.sender.send(ethernet(2)); // direct only: kept
    t.sender.send(ethernet(3)); // direct only: kept
    t.sender.routeVia('both');
    t.sender.send(ethernet(4)); // both: already on the relay, not kept
    t.sender.routeVia('direct');
    t.direct.writable = false;
    t.sender.send(ethernet(5)); // fell back to the relay: not kept
    t.direct.writable = true;
    clock.advance(10);

    const directOnly = [t.direct.sent[0]!, t.direct.sent[1]!];
    const relayBefore = t.relay.sent.length;
    const relayFramesSent = t.counters.paths.relay.framesSent;
    const nextSeq = t.a.nextSeq;

    expect(t.sender.resendRecentDirect()).toBe(2);
    const resent = t.relay.sent.slice(relayBefore);
    expect(resent).toHaveLength(2);
    expect(resent[0]).toBe(directOnly[0]);
    expect(resent[1]).toBe(directOnly[1]);
    expect(numbers(t.b, resent)).toEqual([2, 3]);
    expect(t.counters.resentViaRelay).toBe(2);
    // Copies, not new frames: no sequence number, not counted as sent again.
    expect(t.a.nextSeq).toBe(nextSeq);
    expect(t.counters.paths.relay.framesSent).toBe(relayFramesSent);
    expect(t.logs.map((l) => l.message)).toContain('resent recent direct frames via the relay');
  });

  it('leaves the relay’s last sequence number alone: its MIGRATE still names the last real frame', async () => {
    fakeClock();
    const t = await setup();
    t.sender.send(ethernet(0)); // relay, seq 0
    t.sender.routeVia('direct');
    t.sender.send(ethernet(1)); // direct, seq 1
    t.sender.send(ethernet(2)); // direct, seq 2
    t.sender.resendRecentDirect(); // seq 1 and 2 go on the relay again
    t.sender.markTail('relay', ATTEMPT);
    t.sender.markTail('direct', ATTEMPT);
    const lastOnRelay = t.relay.sent.at(-1)!;
    const lastOnDirect = t.direct.sent.at(-1)!;
    expect(t.b.open(lastOnRelay).message).toEqual(migrate(0n));
    expect(t.b.open(lastOnDirect).message).toEqual(migrate(2n));
  });

  it('resends only recent frames (recorded within suspectInterval + heartbeatInterval)', async () => {
    const clock = fakeClock();
    const t = await setup();
    t.sender.routeVia('direct');
    t.sender.send(ethernet(1)); // at t0
    clock.advance(1);
    t.sender.send(ethernet(2)); // at t0 + 1
    clock.advance(RESEND_WINDOW - 1);
    t.sender.send(ethernet(3)); // at t0 + window
    clock.advance(1);
    // Now t0 + window + 1: frame 2 is exactly the window old (still resent), frame 1 a ms older.
    expect(t.sender.resendRecentDirect()).toBe(2);
    expect(numbers(t.b, t.relay.sent)).toEqual([2, 3]);
  });

  it('drains the ring: a second call resends nothing', async () => {
    fakeClock();
    const t = await setup();
    t.sender.routeVia('direct');
    t.sender.send(ethernet(1));
    expect(t.sender.resendRecentDirect()).toBe(1);
    expect(t.sender.resendRecentDirect()).toBe(0);
    expect(t.relay.sent).toHaveLength(1);
    expect(t.counters.resentViaRelay).toBe(1);
  });

  it('counts only what the relay took when it is not writable', async () => {
    fakeClock();
    const t = await setup();
    t.sender.routeVia('direct');
    t.sender.send(ethernet(1));
    t.relay.writable = false;
    expect(t.sender.resendRecentDirect()).toBe(0);
    expect(t.counters.resentViaRelay).toBe(0);
    expect(t.logs).toHaveLength(0);
  });
});

describe('PeerSender newSession', () => {
  it('forgets the ring and the last sequence numbers of the old session', async () => {
    fakeClock();
    const t = await setup();
    t.sender.send(ethernet(0)); // relay, seq 0
    t.sender.routeVia('direct');
    t.sender.send(ethernet(1)); // direct, seq 1
    t.sender.send(ethernet(2)); // direct, seq 2

    const { a: a2, b: b2 } = await sessionPair();
    t.setSession(a2);
    t.sender.newSession();
    expect(t.sender.route).toBe('direct'); // where frames go is the chart's, not the session's
    const relayBefore = t.relay.sent.length;
    // The old session's direct frames are not resent under the new one.
    expect(t.sender.resendRecentDirect()).toBe(0);
    // A new session's numbers start at 0, and so do its MIGRATE markers.
    t.sender.markTail('relay', ATTEMPT);
    t.sender.markTail('direct', ATTEMPT);
    const relayTail = t.relay.sent.slice(relayBefore);
    expect(relayTail).toHaveLength(1);
    expect(b2.open(relayTail[0]!)).toMatchObject({
      seq: 0,
      message: { kind: SealedKind.MIGRATE, lastSeq: 0n },
    });
    expect(b2.open(t.direct.sent.at(-1)!)).toMatchObject({
      seq: 1,
      message: { kind: SealedKind.MIGRATE, lastSeq: 0n },
    });
  });
});

/** performance.now() as the test sets it (the sender stamps the ring with it). */
function fakeClock(start = 10_000) {
  let now = start;
  vi.spyOn(performance, 'now').mockImplementation(() => now);
  return {
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('PeerSender: a frame too large for a FORWARD', () => {
  it('is dropped and counted before sealing, never thrown, no sequence number burnt', async () => {
    const { a } = await sessionPair();
    const uplink = new RelayUplink();
    const client = { isOpen: true, bufferedAmount: 0, sendForward() {} };
    uplink.use(client as unknown as RelayClient);
    const counters = new PeerCounters();
    const sender = new PeerSender({
      relay: uplink.pathTo(new Uint8Array(32).fill(1)),
      direct: new FakePath().asDirect(),
      session: () => a,
      counters,
      timings: defaultConnectionTimings,
    });
    let result: boolean | undefined;
    expect(() => {
      result = sender.send(new Uint8Array(MAX_SEALABLE_FRAME + 1));
    }).not.toThrow();
    expect(result).toBe(false);
    expect(counters.drops.TOO_LARGE).toBe(1);
    expect(a.nextSeq).toBe(0);
    // The largest that fits goes.
    expect(sender.send(new Uint8Array(MAX_SEALABLE_FRAME))).toBe(true);
  });
});

describe('PeerSender: large sealed buffers go back to the pool', () => {
  // Sealed, a 40 000-byte frame is above half a pool slot: staged in a slot.
  const BIG = 40_000;
  // Enough to overflow the ring's byte budget (a slot each) by a few hundred frames.
  const COUNT = Math.ceil(PEER_SENDER_DEFAULTS.resendRingBytes / SEALED_POOL_SLOT_BYTES) + 300;
  const pooled = (frames: Uint8Array[]) =>
    frames.every((f) => f.buffer.byteLength === SEALED_POOL_SLOT_BYTES);

  function sendBig(t: Awaited<ReturnType<typeof setup>>, count: number) {
    for (let i = 0; i < count; i++) expect(t.sender.send(ethernet(i, BIG))).toBe(true);
  }

  it('a direct-only frame the ring forgot and the socket took: its buffer seals a later frame', async () => {
    expect(InPlaceAead.load()).toBeDefined(); // the AEAD that stages in the pool
    const t = await setup();
    t.sender.routeVia('direct');
    t.direct.taken = Number.POSITIVE_INFINITY;
    const before = { ...sealedPool.counters };
    sendBig(t, COUNT);
    expect(pooled(t.direct.sent)).toBe(true);
    const released = sealedPool.counters.released - before.released;
    const reused = sealedPool.counters.reused - before.reused;
    // All but what the ring still holds (its byte budget counts a slot per frame).
    const kept = Math.floor(PEER_SENDER_DEFAULTS.resendRingBytes / SEALED_POOL_SLOT_BYTES);
    expect(released).toBe(COUNT - kept);
    expect(reused).toBeGreaterThanOrEqual(released - 1);
    // Far fewer buffers made than frames sealed.
    expect(sealedPool.counters.allocated - before.allocated).toBeLessThan(COUNT - 250);
    // Later frames were sealed in the buffers of earlier ones, and the far side
    // still opens the recent ones (what the ring still holds is untouched).
    const earlier = new Set(t.direct.sent.slice(0, -50).map((f) => f.buffer));
    expect(t.direct.sent.slice(-50).every((f) => earlier.has(f.buffer))).toBe(true);
    expect(numbers(t.b, t.direct.sent.slice(-3))).toEqual([COUNT - 3, COUNT - 2, COUNT - 1]);
    // The frames the ring still holds resend intact.
    const relayBefore = t.relay.sent.length;
    t.sender.resendRecentDirect();
    const resent = t.relay.sent.slice(relayBefore);
    expect(resent.length).toBeGreaterThan(100);
    // (the last three were opened above: the replay window would refuse them)
    expect(numbers(t.b, resent.slice(-5, -3))).toEqual([COUNT - 5, COUNT - 4]);
  });

  it('never for a frame the link refused, one resent via the relay, or one forgotten with its session', async () => {
    const t = await setup();
    t.sender.routeVia('direct');
    t.direct.taken = Number.POSITIVE_INFINITY;
    // Refused by the direct link: it goes via the relay instead (and is not in the ring).
    t.direct.writable = false;
    sendBig(t, 5);
    t.direct.writable = true;
    const before = sealedPool.counters.released;
    // Resent via the relay: the ring hands them on and forgets them.
    sendBig(t, 50);
    expect(t.sender.resendRecentDirect()).toBe(50);
    // Forgotten with the session.
    sendBig(t, 50);
    t.sender.newSession();
    expect(sealedPool.counters.released).toBe(before);
    // A fresh run after all that fills the ring anew before anything comes back.
    sendBig(t, 100);
    expect(sealedPool.counters.released).toBe(before);
  });

  it('not while the link’s socket still holds it', async () => {
    const t = await setup();
    t.sender.routeVia('direct');
    t.direct.taken = 0; // nothing written yet
    const before = sealedPool.counters.released;
    sendBig(t, COUNT);
    expect(pooled(t.direct.sent)).toBe(true);
    expect(sealedPool.counters.released).toBe(before);
    // Each frame kept its own buffer.
    expect(new Set(t.direct.sent.map((f) => f.buffer)).size).toBe(COUNT);
  });

  it('never for a frame that also went, or only went, on the relay', async () => {
    const t = await setup();
    t.direct.taken = Number.POSITIVE_INFINITY;
    const before = sealedPool.counters.released;
    t.sender.routeVia('both');
    sendBig(t, COUNT);
    t.sender.routeVia('relay');
    sendBig(t, 200);
    expect(pooled(t.relay.sent)).toBe(true);
    expect(sealedPool.counters.released).toBe(before);
  });
});
