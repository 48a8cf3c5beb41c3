// PeerSession: two of them, wired to each other through fake relays (queues
// the test delivers), run the real handshake; the retransmit timer and the
// decrypt-failure count run on fake timers.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import type { Session } from '../../../src/crypto/session.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { FrameType } from '../../../src/protocol/frames.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import { PEER_SESSION_DEFAULTS, PeerSession } from '../../../src/services/peer-session.js';
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
  sessions: Session[];
  /** Set false to make the relay refuse this side's frames. */
  relayUp: boolean;
  paired: boolean;
}

function side(identity: Identity, peerKey: Uint8Array): Side {
  const s = {
    counters: new PeerCounters(),
    outbox: [] as Uint8Array[],
    sessions: [] as Session[],
    relayUp: true,
    paired: true,
  } as Side;
  s.peer = new PeerSession({
    identity,
    peerKey,
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

/** Carry queued frames both ways until nothing is left in flight. */
function deliverAll(a: Side, b: Side): void {
  for (let round = 0; round < 10 && (a.outbox.length > 0 || b.outbox.length > 0); round++) {
    for (const bytes of a.outbox.splice(0)) b.peer.receive(bytes);
    for (const bytes of b.outbox.splice(0)) a.peer.receive(bytes);
  }
}

function typesOf(frames: Uint8Array[]): number[] {
  return frames.map((bytes) => decodeFrame(bytes).type);
}

/** The two sides share a working session: each opens what the other sealed. */
function expectShared(a: Side, b: Side): void {
  const sa = a.peer.current!;
  const sb = b.peer.current!;
  expect(sa).not.toBeNull();
  expect(sb).not.toBeNull();
  expect(sb.open(sa.sealEthernet(ethernet(1))).seq).toBe(sa.nextSeq - 1);
  expect(sa.open(sb.sealEthernet(ethernet(2))).seq).toBe(sb.nextSeq - 1);
}

describe('PeerSession handshake', () => {
  it('both sides starting at once end with one shared session each, reported once', async () => {
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
    a.peer.close();
    b.peer.close();
  });

  it('one side starting: the other answers with a RESP, and both get the session', async () => {
    const { a, b } = await pairOfSides();
    a.peer.start();
    for (const bytes of a.outbox.splice(0)) b.peer.receive(bytes);
    expect(typesOf(b.outbox)).toEqual([FrameType.HANDSHAKE_RESP]);
    expect(b.sessions).toHaveLength(1);
    expect(a.sessions).toHaveLength(0);
    for (const bytes of b.outbox.splice(0)) a.peer.receive(bytes);
    expect(a.sessions).toHaveLength(1);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it('a peer that restarts and sends a new INIT gets a new session; the old one is closed', async () => {
    const { a, b, alice, bob } = await pairOfSides();
    a.peer.start();
    deliverAll(a, b);
    const before = a.peer.current!;
    // Bob restarts: a fresh PeerSession with the same identity, and a new INIT.
    b.peer.close();
    const b2 = side(bob, alice.publicKey);
    b2.peer.start();
    deliverAll(a, b2);
    expect(a.sessions).toHaveLength(2);
    expect(a.peer.current).not.toBe(before);
    expect(() => before.sealEthernet(ethernet(0))).toThrow(
      expect.objectContaining({ code: 'SESSION_CLOSED' }),
    );
    expectShared(a, b2);
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
    for (let i = 0; i < PEER_SESSION_DEFAULTS.rehandshakeAfterFailures; i++) a.peer.decryptFailed();
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

describe('PeerSession decrypt failures', () => {
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

  it(`${N} in a row start a new handshake`, async () => {
    const { a, b } = await established();
    expect(N).toBe(8);
    for (let i = 0; i < N - 1; i++) a.peer.decryptFailed();
    expect(a.outbox).toHaveLength(0);
    a.peer.decryptFailed();
    expect(typesOf(a.outbox)).toEqual([FrameType.HANDSHAKE_INIT]);
    // And it completes: a second session for both.
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(2);
    expect(b.sessions).toHaveLength(2);
    expectShared(a, b);
    a.peer.close();
    b.peer.close();
  });

  it('a frame that opens in between resets the count', async () => {
    const { a, b } = await established();
    for (let i = 0; i < N - 1; i++) a.peer.decryptFailed();
    a.peer.opened();
    for (let i = 0; i < N - 1; i++) a.peer.decryptFailed();
    expect(a.outbox).toHaveLength(0);
    a.peer.decryptFailed();
    expect(a.outbox).toHaveLength(1);
    a.peer.close();
    b.peer.close();
  });

  it('further failures while that handshake is pending do not send more INITs before its timer', async () => {
    const { a, b } = await established();
    for (let i = 0; i < N * 3; i++) a.peer.decryptFailed();
    expect(a.outbox).toHaveLength(1);
    vi.advanceTimersByTime(1000); // the retransmit timer, not the failures, sends the next
    expect(a.outbox).toHaveLength(2);
    a.peer.close();
    b.peer.close();
  });

  it('a new session resets the count', async () => {
    const { a, b } = await established();
    for (let i = 0; i < N; i++) a.peer.decryptFailed();
    deliverAll(a, b);
    expect(a.sessions).toHaveLength(2);
    for (let i = 0; i < N - 1; i++) a.peer.decryptFailed();
    expect(a.outbox).toHaveLength(0);
    a.peer.close();
    b.peer.close();
  });
});
