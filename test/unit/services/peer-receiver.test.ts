// PeerReceiver: open, dispatch by sealed kind, release in order across two
// paths — with a real session pair: the far side seals, the receiver opens.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SessionError } from '../../../src/crypto/errors.js';
import { NO_ATTEMPT } from '../../../src/crypto/rehandshake.js';
import type { Session } from '../../../src/crypto/session.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { readSessionTag } from '../../../src/protocol/codec.js';
import { SealedKind, type SealedMessage } from '../../../src/protocol/frames.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import type { PathName } from '../../../src/services/peer-ports.js';
import { type OpenedFrame, PeerReceiver } from '../../../src/services/peer-receiver.js';
import { sessionPair } from '../crypto/pair.js';
import { ethernet, numberOf } from './fake-paths.js';

beforeAll(async () => {
  await sodiumReady();
});
afterEach(() => {
  vi.useRealTimers();
});

async function setup(options: { session?: boolean; gapTimeoutMs?: number } = {}) {
  const { a, b } = await sessionPair();
  const counters = new PeerCounters();
  /** Our live sessions, as the slots hold them; the tag picks one. */
  let sessions: Session[] = options.session === false ? [] : [b];
  const calls = {
    /** Each listener call: the numbers of the frames in its batch. */
    batches: [] as number[][],
    replies: [] as { path: PathName; message: SealedMessage }[],
    pongs: [] as { path: PathName; id: number }[],
    migrated: [] as Uint8Array[],
    opened: 0,
  };
  const open = (bytes: Uint8Array): OpenedFrame => {
    if (sessions.length === 0) throw new SessionError('NO_SESSION', 'no session yet');
    const tag = readSessionTag(bytes);
    const session = sessions.find((s) => s.tag === tag);
    if (!session) throw new SessionError('UNKNOWN_SESSION', `no session with tag ${tag}`);
    const opened = session.open(bytes);
    calls.opened++;
    return { ...opened, session };
  };
  const receiver = new PeerReceiver({
    open,
    counters,
    gapTimeoutMs: options.gapTimeoutMs ?? 10_000,
    reply: (path, message) => calls.replies.push({ path, message }),
    onPong: (path, id) => calls.pongs.push({ path, id }),
    onPeerMigrated: (attemptId) => calls.migrated.push(attemptId),
  });
  receiver.onFrames((frames) => calls.batches.push(frames.map(numberOf)));
  return {
    receiver,
    counters,
    calls,
    /** The peer's sending session. */
    peer: a,
    /** Our session for `peer`. */
    ours: b,
    setSessions(s: Session[]) {
      sessions = s;
    },
  };
}

/** The peer seals `count` Ethernet frames numbered from `from` (sequence numbers in order). */
function sealFrames(peer: Session, count: number, from = 0): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => peer.sealEthernet(ethernet(from + i)));
}

describe('PeerReceiver ordering', () => {
  it('releases frames from one path as they come, one batch per frame', async () => {
    const t = await setup();
    for (const bytes of sealFrames(t.peer, 3)) t.receiver.receive(bytes, 'relay');
    expect(t.calls.batches).toEqual([[0], [1], [2]]);
    expect(t.calls.opened).toBe(3);
    expect(t.counters.paths.relay.framesReceived).toBe(3);
  });

  it('holds what arrives ahead of a gap, then releases the run as ONE batch when it fills', async () => {
    const t = await setup();
    const frames = sealFrames(t.peer, 6);
    t.receiver.receive(frames[0]!, 'relay');
    // The direct path overtakes: 2, 3, 4 wait for 1, still on the relay.
    t.receiver.receive(frames[2]!, 'direct');
    t.receiver.receive(frames[3]!, 'direct');
    t.receiver.receive(frames[4]!, 'direct');
    expect(t.calls.batches).toEqual([[0]]);
    t.receiver.receive(frames[1]!, 'relay');
    expect(t.calls.batches).toEqual([[0], [1, 2, 3, 4]]);
    t.receiver.receive(frames[5]!, 'direct');
    expect(t.calls.batches).toEqual([[0], [1, 2, 3, 4], [5]]);
    expect(t.counters.paths.relay.framesReceived).toBe(2);
    expect(t.counters.paths.direct.framesReceived).toBe(4);
    expect(t.receiver.ordering.skipped).toBe(0);
  });

  it('hands the frames’ own bytes on, intact, even after they were held', async () => {
    const t = await setup();
    const payloads = [ethernet(0, 100), ethernet(1, 1400), ethernet(2, 60)];
    payloads[1]!.fill(0xab, 4);
    const sealed = payloads.map((p) => t.peer.sealEthernet(p));
    const got: Uint8Array[] = [];
    t.receiver.onFrames((frames) => got.push(...frames));
    t.receiver.receive(sealed[2]!, 'direct');
    t.receiver.receive(sealed[1]!, 'direct');
    t.receiver.receive(sealed[0]!, 'relay');
    expect(got.map((f) => Buffer.from(f))).toEqual(payloads.map((p) => Buffer.from(p)));
  });

  it('gives every listener the same batch, reuses the array, and stops calling one that left', async () => {
    const t = await setup();
    const arrays: (readonly Uint8Array[])[] = [];
    const off = t.receiver.onFrames((frames) => arrays.push(frames));
    const frames = sealFrames(t.peer, 3);
    t.receiver.receive(frames[0]!, 'relay');
    t.receiver.receive(frames[1]!, 'relay');
    expect(arrays).toHaveLength(2);
    // Listeners read the batch during the call: it is emptied and used again.
    expect(arrays[0]).toBe(arrays[1]);
    expect(arrays[0]).toHaveLength(0);
    off();
    t.receiver.receive(frames[2]!, 'relay');
    expect(arrays).toHaveLength(2);
    expect(t.calls.batches).toEqual([[0], [1], [2]]);
  });

  it('skips a gap that outlives gapTimeoutMs, and counts it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const t = await setup({ gapTimeoutMs: 250 });
    const frames = sealFrames(t.peer, 4);
    t.receiver.receive(frames[0]!, 'relay');
    t.receiver.receive(frames[2]!, 'direct'); // 1 lost with a dead path
    t.receiver.receive(frames[3]!, 'direct');
    vi.advanceTimersByTime(249);
    expect(t.calls.batches).toEqual([[0]]);
    vi.advanceTimersByTime(1);
    expect(t.calls.batches).toEqual([[0], [2, 3]]);
    expect(t.receiver.ordering.skipped).toBe(1);
    // The lost frame, arriving after all, is late: not delivered out of order.
    t.receiver.receive(frames[1]!, 'relay');
    expect(t.calls.batches).toHaveLength(2);
    expect(t.receiver.ordering.late).toBe(1);
  });
});

describe('PeerReceiver control messages', () => {
  it('answers a PING with a PONG on the path it came by, and leaves no gap behind it', async () => {
    const t = await setup();
    const f0 = t.peer.sealEthernet(ethernet(0));
    const ping = t.peer.seal({ kind: SealedKind.PING, id: 42, sentAt: 1234n });
    const f2 = t.peer.sealEthernet(ethernet(2));
    t.receiver.receive(f0, 'relay');
    t.receiver.receive(ping, 'direct');
    t.receiver.receive(f2, 'relay');
    expect(t.calls.replies).toEqual([
      { path: 'direct', message: { kind: SealedKind.PONG, id: 42, sentAt: 1234n } },
    ]);
    // Frame 2 was not held for the PING's sequence number.
    expect(t.calls.batches).toEqual([[0], [2]]);
    expect(t.counters.paths.direct.framesReceived).toBe(1);
  });

  it('handles a control message on arrival even when it comes ahead of a gap', async () => {
    const t = await setup();
    const f0 = t.peer.sealEthernet(ethernet(0));
    const ping = t.peer.seal({ kind: SealedKind.PING, id: 1, sentAt: 0n });
    const f2 = t.peer.sealEthernet(ethernet(2));
    t.receiver.receive(ping, 'relay'); // seq 1 before seq 0
    expect(t.calls.replies).toHaveLength(1);
    expect(t.calls.batches).toEqual([]);
    t.receiver.receive(f2, 'relay'); // held behind 0
    t.receiver.receive(f0, 'direct'); // fills the gap: 0, (ping), 2 in one run
    expect(t.calls.batches).toEqual([[0, 2]]);
  });

  it('reports a PONG with its path and id', async () => {
    const t = await setup();
    t.receiver.receive(t.peer.seal({ kind: SealedKind.PONG, id: 7, sentAt: 0n }), 'relay');
    t.receiver.receive(t.peer.seal({ kind: SealedKind.PONG, id: 8, sentAt: 0n }), 'direct');
    expect(t.calls.pongs).toEqual([
      { path: 'relay', id: 7 },
      { path: 'direct', id: 8 },
    ]);
    expect(t.calls.replies).toHaveLength(0);
  });

  it('reports a MIGRATE marker with its attempt id on either path, and it leaves no gap', async () => {
    const t = await setup();
    const attempt = new Uint8Array(16).fill(5);
    // Normally the relay's last frame; on the direct link when the relay was down.
    t.receiver.receive(
      t.peer.seal({ kind: SealedKind.MIGRATE, attemptId: attempt, lastSeq: 0n }),
      'relay',
    );
    expect(t.calls.migrated).toEqual([attempt]);
    t.receiver.receive(
      t.peer.seal({ kind: SealedKind.MIGRATE, attemptId: NO_ATTEMPT, lastSeq: 0n }),
      'direct',
    );
    expect(t.calls.migrated).toEqual([attempt, NO_ATTEMPT]);
    // Both used their sequence numbers: the next frame is released at once.
    t.receiver.receive(t.peer.sealEthernet(ethernet(2)), 'direct');
    expect(t.calls.batches).toEqual([[2]]);
    expect(t.calls.replies).toHaveLength(0);
  });

  it('a CLOSE message takes its sequence number and delivers nothing', async () => {
    const t = await setup();
    t.receiver.receive(t.peer.seal({ kind: SealedKind.CLOSE, reason: 1 }), 'direct');
    t.receiver.receive(t.peer.sealEthernet(ethernet(1)), 'direct');
    expect(t.calls.batches).toEqual([[1]]);
    expect(t.calls.replies).toHaveLength(0);
  });
});

describe('PeerReceiver refusals', () => {
  it('drops (NO_SESSION) before the first handshake', async () => {
    const t = await setup({ session: false });
    t.receiver.receive(t.peer.sealEthernet(ethernet(0)), 'relay');
    expect(t.counters.drops).toEqual({ NO_SESSION: 1 });
    expect(t.calls.opened).toBe(0);
    expect(t.calls.batches).toEqual([]);
  });

  it('counts the second copy of a frame as REPLAY and delivers it once', async () => {
    const t = await setup();
    const [f0] = sealFrames(t.peer, 1);
    t.receiver.receive(f0!, 'relay');
    t.receiver.receive(f0!, 'direct'); // the copy sent on both paths while suspect
    expect(t.counters.drops).toEqual({ REPLAY: 1 });
    expect(t.calls.batches).toEqual([[0]]);
    expect(t.calls.opened).toBe(1);
    expect(t.counters.paths.direct.framesReceived).toBe(0);
  });

  it('counts a frame that fails to authenticate (DECRYPT_FAILED) or names no session of ours (UNKNOWN_SESSION)', async () => {
    const t = await setup();
    const f0 = t.peer.sealEthernet(ethernet(0));
    const tampered = f0.slice();
    tampered[tampered.length - 1]! ^= 1;
    t.receiver.receive(tampered, 'relay');
    // A frame sealed under another session (the peer restarted unseen) names
    // a session tag we do not hold: refused before any decryption.
    const { a: stranger } = await sessionPair();
    t.receiver.receive(stranger.sealEthernet(ethernet(1)), 'direct');
    expect(t.counters.drops).toEqual({ DECRYPT_FAILED: 1, UNKNOWN_SESSION: 1 });
    expect(t.calls.opened).toBe(0);
    expect(t.calls.batches).toEqual([]);
    // The genuine frame 0 still opens: the forgery did not move the replay window.
    t.receiver.receive(f0, 'relay');
    expect(t.calls.opened).toBe(1);
    expect(t.calls.batches).toEqual([[0]]);
  });

  it("counts a malformed frame under its code (the codec's)", async () => {
    const t = await setup();
    const truncated = t.peer.sealEthernet(ethernet(0)).subarray(0, 10);
    expect(() => t.receiver.receive(truncated, 'relay')).not.toThrow();
    expect(t.counters.drops).toEqual({ TRUNCATED: 1 });
  });
});

describe('PeerReceiver per-session ordering', () => {
  it("a new session is ordered from sequence 0 on its own; the old one's late frames keep their order", async () => {
    const t = await setup();
    const old = sealFrames(t.peer, 3);
    t.receiver.receive(old[0]!, 'relay');
    t.receiver.receive(old[2]!, 'direct'); // held behind 1, still on the relay
    const { a: peer2, b: ours2 } = await sessionPair();
    t.setSessions([ours2, t.ours]); // ours2 current, the old one previous
    t.receiver.newSession();
    const fresh = sealFrames(peer2, 2, 100);
    t.receiver.receive(fresh[1]!, 'direct'); // new session: held behind its own 0
    t.receiver.receive(fresh[0]!, 'relay');
    expect(t.calls.batches).toEqual([[0], [100, 101]]);
    // The old session's frame 1 arrives late: released with the 2 it held.
    t.receiver.receive(old[1]!, 'relay');
    expect(t.calls.batches).toEqual([[0], [100, 101], [1, 2]]);
    expect(t.receiver.ordering.skipped).toBe(0);
  });

  it('a session that is gone has its held frames dropped; the counts carry on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const t = await setup({ gapTimeoutMs: 250 });
    const old = sealFrames(t.peer, 4);
    t.receiver.receive(old[0]!, 'relay');
    t.receiver.receive(old[2]!, 'direct'); // 1 lost
    vi.advanceTimersByTime(250);
    expect(t.receiver.ordering.skipped).toBe(1);
    t.receiver.receive(old[3]!, 'relay');
    const { a: peer2, b: ours2 } = await sessionPair();
    t.ours.close(); // the slots wiped it
    t.setSessions([ours2]);
    t.receiver.newSession();
    for (const bytes of sealFrames(peer2, 2, 100)) t.receiver.receive(bytes, 'relay');
    expect(t.calls.batches).toEqual([[0], [2], [3], [100], [101]]);
    // The ordering of the gone session left, its counts did not.
    expect(t.receiver.ordering.skipped).toBe(1);
    expect(t.receiver.ordering.delivered).toBe(5);
    expect(vi.getTimerCount()).toBe(0);
  });
});
