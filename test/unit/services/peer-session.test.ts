// PeerSession: two of them, wired to each other through fake relays (queues
// the test delivers), run the real handshake and session slots
// (docs/protocol.md §6, §8); the retransmit timer, the INIT guard and the
// failure count run on fake timers.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import type { Session } from '../../../src/crypto/session.js';
import type { SlotOpened } from '../../../src/crypto/session-slots.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { errorCode } from '../../../src/errors.js';
import { Capability } from '../../../src/protocol/capabilities.js';
import { decodeFrame, encodeFrame, peekFrameType } from '../../../src/protocol/codec.js';
import { FrameType, SealedKind } from '../../../src/protocol/frames.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import { PEER_SESSION_DEFAULTS, PeerSession } from '../../../src/services/peer-session.js';
import { sessionPair } from '../crypto/pair.js';
import { ethernet } from './fake-paths.js';

beforeAll(async () => {
  await sodiumReady();
});
afterEach(() => {
  vi.useRealTimers();
});

interface Side {
  peer: PeerSession;
  counters: PeerCounters;
  /** What this side sent towards the other, not yet delivered. */
  outbox: Uint8Array[];
  /** Each session that became current, in order. */
  sessions: Session[];
  /** Refusals of sealed frames, by code (the receive side counts them so). */
  refused: Record<string, number>;
  /** Set false to make the relay refuse this side's frames. */
  relayUp: boolean;
  paired: boolean;
}

function side(identity: Identity, peerKey: Uint8Array, capabilities?: number): Side {
  const s = {
    counters: new PeerCounters(),
    outbox: [] as Uint8Array[],
    sessions: [] as Session[],
    refused: {} as Record<string, number>,
    relayUp: true,
    paired: true,
  } as Side;
  s.peer = new PeerSession({
    identity,
    peerKey,
    capabilities,
    counters: s.counters,
    sendViaRelay: (bytes) => {
      if (!s.relayUp) return false;
      s.outbox.push(bytes);
      return true;
    },
    paired: () => s.paired,
    onSession: (session) => s.sessions.push(session),
    now: () => Date.now(), // faked with the timers
  });
  return s;
}

async function pairOfSides() {
  const alice = await generateIdentity();
  const bob = await generateIdentity();
  const a = side(alice, bob.publicKey);
  const b = side(bob, alice.publicKey);
  return { a, b, alice, bob };
}

/** Hand one frame to `to` as the peer link would: handshakes to receive(),
 * sealed frames to open() (a refusal counted by code). */
function deliver(to: Side, bytes: Uint8Array): SlotOpened | undefined {
  const type = peekFrameType(bytes);
  if (type === FrameType.HANDSHAKE_INIT || type === FrameType.HANDSHAKE_RESP) {
    to.peer.receive(bytes);
    return undefined;
  }
  try {
    return to.peer.open(bytes);
  } catch (error) {
    const code = errorCode(error) ?? 'UNKNOWN';
    to.refused[code] = (to.refused[code] ?? 0) + 1;
    return undefined;
  }
}

/** Carry queued frames both ways until nothing is left in flight. */
function deliverAll(a: Side, b: Side): void {
  for (let round = 0; round < 10 && (a.outbox.length > 0 || b.outbox.length > 0); round++) {
    for (const bytes of a.outbox.splice(0)) deliver(b, bytes);
    for (const bytes of b.outbox.splice(0)) deliver(a, bytes);
  }
}

function typesOf(frames: Uint8Array[]): number[] {
  return frames.map((bytes) => peekFrameType(bytes));
}

/** The two sides share a working session: each opens what the other sealed. */
function expectShared(a: Side, b: Side): void {
  const sa = a.peer.current!;
  const sb = b.peer.current!;
  expect(sa).not.toBeNull();
  expect(sb).not.toBeNull();
  expect(sa.tag).toBe(sb.tag);
  expect(b.peer.open(sa.sealEthernet(ethernet(1))).slot).toBe('current');
  expect(a.peer.open(sb.sealEthernet(ethernet(2))).slot).toBe('current');
}

/** A sealed frame of a session neither side holds (a peer that restarted
 * unseen, or a relay replaying an old session's frame). */
async function strangerFrames(n: number): Promise<Uint8Array[]> {
  const { a: stranger } = await sessionPair();
  return Array.from({ length: n }, (_, i) => stranger.sealEthernet(ethernet(i)));
}

describe('PeerSession handshake', () => {
  it('both sides starting at once end with one shared session each, reported once', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    expect(a.peer.current).toBeNull();
    a.peer.start();
    b.peer.start();
    expect(typesOf(a.outbox)).toEqual([FrameType.HANDSHAKE_INIT]);
    expect(typesOf(b.outbox)).toEqual([FrameType.HANDSHAKE_INIT]);
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(1);
    expect(b.sessions).toHaveLength(1);
    expect(a.sessions[0]).toBe(a.peer.current);
    expect(b.sessions[0]).toBe(b.peer.current);
    expect(a.peer.lastHandshake).not.toBeNull();
    expect(b.peer.lastHandshake).not.toBeNull();
    expectShared(a, b);
    expect(a.counters.drops).toEqual({});
    expect(b.counters.drops).toEqual({});
    // The loser's own INIT was void once the winner's session was promoted.
    vi.advanceTimersByTime(120_000);
    expect(a.outbox).toHaveLength(0);
    expect(b.outbox).toHaveLength(0);
    a.peer.close();
    b.peer.close();
  });

  it('one side starting: RESP, then the keepalive under the new session promotes it at the responder', async () => {
    const { a, b } = await pairOfSides();
    a.peer.start();
    for (const bytes of a.outbox.splice(0)) deliver(b, bytes);
    expect(typesOf(b.outbox)).toEqual([FrameType.HANDSHAKE_RESP]);
    // The responder holds it in next: nothing seals under it yet.
    expect(b.sessions).toHaveLength(0);
    expect(b.peer.holdsNext).toBe(true);
    for (const bytes of b.outbox.splice(0)) deliver(a, bytes);
    expect(a.sessions).toHaveLength(1);
    expect(a.sessions[0]!.role).toBe('initiator');
    // 7. current at once, and a sealed KEEPALIVE on the relay right away.
    expect(typesOf(a.outbox)).toEqual([FrameType.CONTROL]);
    const keepalive = deliver(b, a.outbox.shift()!)!;
    expect(keepalive.message.kind).toBe(SealedKind.KEEPALIVE);
    expect(keepalive.promoted).toBe(true);
    expect(b.sessions).toHaveLength(1);
    expect(b.peer.holdsNext).toBe(false);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it('exposes the negotiated capabilities: both must advertise a flag, unknown flags are ignored', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    const unknown = 1 << 20;
    const a = side(
      alice,
      bob.publicKey,
      Capability.BATCHED_DATA | Capability.OFFLOAD_SUPERFRAMES | unknown,
    );
    const b = side(bob, alice.publicKey, Capability.BATCHED_DATA | unknown);
    a.peer.start();
    deliverAll(a, b);
    expect(a.peer.current!.capabilities).toBe(Capability.BATCHED_DATA);
    expect(b.peer.current!.capabilities).toBe(Capability.BATCHED_DATA);
    expect(a.peer.current!.peerCapabilities).toBe(Capability.BATCHED_DATA | unknown);
    // By default a node advertises nothing (no feature is built yet): the baseline.
    const { a: plain, b: other } = await pairOfSides();
    plain.peer.start();
    deliverAll(plain, other);
    expect(plain.peer.current!.capabilities).toBe(0);
    for (const s of [a, b, plain, other]) s.peer.close();
  });

  it('a peer that restarts and sends a new INIT gets a new session; the old one only opens late frames', async () => {
    vi.useFakeTimers();
    const { a, b, alice, bob } = await pairOfSides();
    a.peer.start();
    deliverAll(a, b);
    const before = a.peer.current!;
    const late = b.peer.current!.sealEthernet(ethernet(9)); // sealed before the restart
    // Bob restarts: a fresh PeerSession with the same identity, and a new INIT.
    b.peer.close();
    vi.advanceTimersByTime(25);
    const b2 = side(bob, alice.publicKey);
    b2.peer.start();
    deliverAll(a, b2);
    expect(a.sessions).toHaveLength(2);
    expect(a.peer.current).not.toBe(before);
    expectShared(a, b2);
    // A frame of the old session still in flight opens under previous.
    expect(a.peer.open(late).slot).toBe('previous');
    a.peer.close();
    b2.peer.close();
  });

  it('counts garbage and misplaced frames instead of throwing', async () => {
    const { a, b } = await pairOfSides();
    a.peer.start();
    const garbage = [new Uint8Array(0), new Uint8Array([1]), new Uint8Array(200).fill(0xee)];
    for (const bytes of garbage) expect(() => b.peer.receive(bytes)).not.toThrow();
    // A well-formed frame of a kind that does not belong to the handshake.
    const data = encodeFrame({
      type: FrameType.DATA,
      tag: 0,
      epoch: 0,
      counter: 0n,
      ciphertext: new Uint8Array(17),
    });
    expect(() => b.peer.receive(data)).not.toThrow();
    expect(b.counters.drops.UNEXPECTED_RELAY_FRAME).toBe(1);
    let total = 0;
    for (const count of Object.values(b.counters.drops)) total += count;
    expect(total).toBe(garbage.length + 1);
    // None of it spoiled the handshake in progress.
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(1);
    expect(b.sessions).toHaveLength(1);
    a.peer.close();
    b.peer.close();
  });

  it('counts a RESP that answers no INIT of ours (HANDSHAKE_STATE)', async () => {
    const { a, b } = await pairOfSides();
    a.peer.start();
    for (const bytes of a.outbox.splice(0)) b.peer.receive(bytes);
    const resp = b.outbox[0]!;
    // Replayed to alice a second time, after it completed her handshake.
    a.peer.receive(resp);
    expect(a.sessions).toHaveLength(1);
    expect(() => a.peer.receive(resp)).not.toThrow();
    expect(a.counters.drops).toEqual({ HANDSHAKE_STATE: 1 });
    expect(a.sessions).toHaveLength(1);
    a.peer.close();
    b.peer.close();
  });

  it('refuses an INIT from an identity other than the configured peer, and counts it', async () => {
    const { a, b, bob } = await pairOfSides();
    const mallory = side(await generateIdentity(), bob.publicKey);
    mallory.peer.start();
    for (const bytes of mallory.outbox.splice(0)) b.peer.receive(bytes);
    expect(b.sessions).toHaveLength(0);
    expect(b.outbox).toHaveLength(0);
    expect(b.counters.drops).toEqual({ PEER_MISMATCH: 1 });
    mallory.peer.close();
    a.peer.close();
    b.peer.close();
  });

  it('counts an INIT the relay would not take as RELAY_UNAVAILABLE', async () => {
    vi.useFakeTimers();
    const { a } = await pairOfSides();
    a.relayUp = false;
    a.peer.start();
    expect(a.counters.drops).toEqual({ RELAY_UNAVAILABLE: 1 });
    a.peer.close();
  });
});

describe('PeerSession and a replaying relay', () => {
  it('an INIT replayed at once, seconds or hours later is refused and changes nothing', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    a.peer.start();
    const init = a.outbox[0]!.slice();
    deliverAll(a, b);
    const current = b.peer.current!;
    b.peer.receive(init); // at once: not newer than the one accepted
    vi.advanceTimersByTime(5_000);
    b.peer.receive(init);
    vi.advanceTimersByTime(3 * 3_600_000);
    b.peer.receive(init);
    expect(b.counters.drops).toEqual({ INIT_REPLAYED: 3 });
    expect(b.outbox).toHaveLength(0); // no RESP
    expect(b.peer.current).toBe(current);
    expect(b.peer.holdsNext).toBe(false);
    expect(b.sessions).toHaveLength(1);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it('a flood of INITs costs at most 50 signature checks a second (INIT_RATE_LIMITED), the rest changes nothing', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    a.peer.start();
    const init = a.outbox[0]!.slice();
    deliverAll(a, b);
    for (let i = 0; i < 200; i++) b.peer.receive(init);
    expect(b.counters.drops.INIT_RATE_LIMITED).toBeGreaterThanOrEqual(150);
    expect(b.counters.drops.INIT_REPLAYED).toBeLessThanOrEqual(50);
    expect(b.sessions).toHaveLength(1);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it('a second real INIT within 20 ms is INIT_TOO_SOON; the retry after it goes through', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    a.peer.start();
    deliverAll(a, b);
    a.peer.start(); // a new handshake at once (a newer timestamp)
    for (const bytes of a.outbox.splice(0)) deliver(b, bytes);
    expect(b.counters.drops).toEqual({ INIT_TOO_SOON: 1 });
    vi.advanceTimersByTime(1_000); // a's retransmit timer
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(2);
    expect(b.sessions).toHaveLength(2);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it('after the responder restarted, an old INIT replayed waits in next for ever; current carries on', async () => {
    vi.useFakeTimers();
    const { a, b, alice, bob } = await pairOfSides();
    a.peer.start();
    const oldInit = a.outbox[0]!.slice();
    deliverAll(a, b);
    // Bob restarts, and the two make a new session.
    b.peer.close();
    vi.advanceTimersByTime(60_000);
    const b2 = side(bob, alice.publicKey);
    b2.peer.start();
    deliverAll(a, b2);
    const current = b2.peer.current!;
    expectShared(a, b2);
    // The relay replays alice's INIT from before the restart.
    b2.peer.receive(oldInit);
    // Accepted (bob's guard is new) and held in next, which nobody can
    // promote: its RESP answers no INIT of alice's.
    expect(b2.peer.holdsNext).toBe(true);
    for (const bytes of b2.outbox.splice(0)) deliver(a, bytes);
    expect(a.counters.drops).toEqual({ HANDSHAKE_STATE: 1 });
    expect(b2.peer.current).toBe(current);
    expectShared(a, b2);
    expect(b2.sessions).toHaveLength(1);
    expect(a.sessions).toHaveLength(2);
    a.peer.close();
    b2.peer.close();
  });

  it('a re-handshake under two-way traffic: every frame opens, nothing counts as a failure, no loop', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    a.peer.start();
    deliverAll(a, b);
    vi.advanceTimersByTime(25);
    // Both keep sending while a new handshake runs; each side's frames stay
    // in flight across the other's switch.
    const inFlight: [Uint8Array[], Uint8Array[]] = [[], []];
    const send = () => {
      inFlight[0].push(a.peer.current!.sealEthernet(ethernet(1)));
      inFlight[1].push(b.peer.current!.sealEthernet(ethernet(2)));
    };
    send();
    a.peer.start();
    send();
    for (const bytes of a.outbox.splice(0)) deliver(b, bytes); // INIT → b: next
    send();
    for (const bytes of b.outbox.splice(0)) deliver(a, bytes); // RESP → a: current
    send(); // a seals under the new session, b still under the old
    const keepalive = a.outbox.splice(0);
    send();
    for (const bytes of inFlight[0].splice(0)) expect(deliver(b, bytes)).toBeDefined();
    for (const bytes of keepalive) deliver(b, bytes);
    send();
    for (const bytes of inFlight[0].splice(0)) expect(deliver(b, bytes)).toBeDefined();
    for (const bytes of inFlight[1].splice(0)) expect(deliver(a, bytes)).toBeDefined();
    expect(a.refused).toEqual({});
    expect(b.refused).toEqual({});
    expect(a.sessions).toHaveLength(2);
    expect(b.sessions).toHaveLength(2);
    // No handshake started by failures on either side.
    vi.advanceTimersByTime(120_000);
    expect(a.outbox).toHaveLength(0);
    expect(b.outbox).toHaveLength(0);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });
});

describe('PeerSession retransmit timer', () => {
  it('re-sends INIT on a doubling, capped backoff while paired and pending', async () => {
    vi.useFakeTimers();
    const { a } = await pairOfSides();
    a.peer.start(); // the INIT is lost: nothing comes back
    const expected = [1, 2, 4, 8, 16, 30, 30].map((s) => s * 1000);
    expect(PEER_SESSION_DEFAULTS.handshakeRetryBaseMs).toBe(1000);
    expect(PEER_SESSION_DEFAULTS.handshakeRetryCapMs).toBe(30_000);
    let sent = 1;
    for (const delay of expected) {
      vi.advanceTimersByTime(delay - 1);
      expect(a.outbox).toHaveLength(sent);
      vi.advanceTimersByTime(1);
      expect(a.outbox).toHaveLength(++sent);
    }
    // Each retransmission is a fresh INIT (a new ephemeral key), not the same bytes.
    const ephemerals = a.outbox.map((bytes) => {
      const frame = decodeFrame(bytes);
      if (frame.type !== FrameType.HANDSHAKE_INIT) throw new Error('not an INIT');
      return Buffer.from(frame.ephemeral).toString('hex');
    });
    expect(new Set(ephemerals).size).toBe(ephemerals.length);
    a.peer.close();
  });

  it('stops once a session exists', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    a.peer.start();
    vi.advanceTimersByTime(1000); // one retransmission
    expect(a.outbox).toHaveLength(2);
    a.outbox.shift(); // the first INIT was lost
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(1);
    vi.advanceTimersByTime(120_000);
    expect(a.outbox).toHaveLength(0);
    expect(b.outbox).toHaveLength(0);
    a.peer.close();
    b.peer.close();
  });

  it('a later session after a retry backoff starts the backoff again from the base', async () => {
    vi.useFakeTimers();
    const { a, b } = await pairOfSides();
    a.peer.start();
    vi.advanceTimersByTime(1000 + 2000 + 4000); // three retransmissions, next in 8 s
    a.outbox.splice(0, 3);
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(1);
    // Trouble later: eight failures start a new handshake, retried after 1 s again.
    vi.advanceTimersByTime(25);
    for (const bytes of await strangerFrames(PEER_SESSION_DEFAULTS.rehandshakeAfterFailures))
      deliver(a, bytes);
    expect(a.outbox).toHaveLength(1);
    vi.advanceTimersByTime(1000);
    expect(a.outbox).toHaveLength(2);
    a.peer.close();
    b.peer.close();
  });

  it('does not retransmit while not paired', async () => {
    vi.useFakeTimers();
    const { a } = await pairOfSides();
    a.paired = false;
    a.peer.start();
    vi.advanceTimersByTime(120_000);
    expect(a.outbox).toHaveLength(1);
    a.peer.close();
  });

  it('stops retransmitting when the relay no longer pairs us, mid-backoff', async () => {
    vi.useFakeTimers();
    const { a } = await pairOfSides();
    a.peer.start();
    vi.advanceTimersByTime(1000);
    expect(a.outbox).toHaveLength(2);
    a.paired = false;
    vi.advanceTimersByTime(120_000);
    expect(a.outbox).toHaveLength(2);
    a.peer.close();
  });

  it('close() stops the timer, and start() afterwards sends nothing', async () => {
    vi.useFakeTimers();
    const { a } = await pairOfSides();
    a.peer.start();
    a.peer.close();
    vi.advanceTimersByTime(120_000);
    a.peer.start();
    expect(a.outbox).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('PeerSession failures: frames no slot opens', () => {
  async function established() {
    vi.useFakeTimers();
    const t = await pairOfSides();
    t.a.peer.start();
    deliverAll(t.a, t.b);
    expect(t.a.sessions).toHaveLength(1);
    // The responder takes one INIT per peer per 20 ms (INIT_TOO_SOON).
    vi.advanceTimersByTime(25);
    return t;
  }
  const N = PEER_SESSION_DEFAULTS.rehandshakeAfterFailures;
  /** `n` frames that no slot of `s` opens: of an unknown session, or sealed
   * by `tamperedFrom` under the shared one and then tampered with. */
  async function fail(s: Side, n: number, tamperedFrom?: Side) {
    if (!tamperedFrom) {
      for (const bytes of await strangerFrames(n)) deliver(s, bytes);
      return;
    }
    const peer = tamperedFrom;
    for (let i = 0; i < n; i++) {
      const bytes = peer.peer.current!.sealEthernet(ethernet(i));
      bytes[bytes.length - 1]! ^= 1;
      deliver(s, bytes);
    }
  }

  it(`${N} in a row (UNKNOWN_SESSION) start a new handshake, which completes`, async () => {
    const { a, b } = await established();
    expect(N).toBe(8);
    await fail(a, N - 1);
    expect(a.outbox).toHaveLength(0);
    await fail(a, 1);
    expect(a.refused).toEqual({ UNKNOWN_SESSION: N });
    expect(typesOf(a.outbox)).toEqual([FrameType.HANDSHAKE_INIT]);
    // And it completes: a second session for both.
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(2);
    expect(b.sessions).toHaveLength(2);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it(`${N} in a row that fail to authenticate (DECRYPT_FAILED) count the same`, async () => {
    const { a, b } = await established();
    await fail(a, N, b);
    expect(a.refused).toEqual({ DECRYPT_FAILED: N });
    expect(typesOf(a.outbox)).toEqual([FrameType.HANDSHAKE_INIT]);
    a.peer.close();
    b.peer.close();
  });

  it('replays and stale frames are no failures: the sides still share the session', async () => {
    const { a, b } = await established();
    const frame = b.peer.current!.sealEthernet(ethernet(0));
    deliver(a, frame);
    for (let i = 0; i < N * 2; i++) deliver(a, frame);
    expect(a.refused).toEqual({ REPLAY: N * 2 });
    expect(a.outbox).toHaveLength(0);
    a.peer.close();
    b.peer.close();
  });

  it('a frame that opens in between resets the count', async () => {
    const { a, b } = await established();
    await fail(a, N - 1);
    deliver(a, b.peer.current!.sealEthernet(ethernet(0)));
    await fail(a, N - 1);
    expect(a.outbox).toHaveLength(0);
    await fail(a, 1);
    expect(a.outbox).toHaveLength(1);
    a.peer.close();
    b.peer.close();
  });

  it('further failures while that handshake is pending do not send more INITs before its timer', async () => {
    const { a, b } = await established();
    await fail(a, N * 3);
    expect(a.outbox).toHaveLength(1);
    vi.advanceTimersByTime(1000); // the retransmit timer, not the failures, sends the next
    expect(a.outbox).toHaveLength(2);
    a.peer.close();
    b.peer.close();
  });

  it('a new session resets the count', async () => {
    const { a, b } = await established();
    await fail(a, N);
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(2);
    await fail(a, N - 1);
    expect(a.outbox).toHaveLength(0);
    a.peer.close();
    b.peer.close();
  });
});
