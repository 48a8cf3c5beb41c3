// PeerProbes: pings per path and what they measured.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SealedKind, type SealedMessage } from '../../../src/protocol/frames.js';
import { defaultQualityPolicy } from '../../../src/services/path-quality.js';
import { PeerProbes } from '../../../src/services/peer-probes.js';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

function probes(options: { direct?: boolean; relay?: boolean } = {}) {
  const direct: number[] = [];
  const relay: SealedMessage[] = [];
  const p = new PeerProbes({
    quality: defaultQualityPolicy,
    pingDirect: (id) => {
      if (options.direct === false) return false;
      direct.push(id);
      return true;
    },
    sendViaRelay: (message) => {
      if (options.relay === false) return false;
      relay.push(message);
      return true;
    },
  });
  return { p, direct, relay };
}

function clockAt(start: number) {
  let now = start;
  vi.spyOn(performance, 'now').mockImplementation(() => now);
  return {
    advance(ms: number) {
      now += ms;
    },
  };
}

describe('PeerProbes', () => {
  it('probes the direct link with a WebSocket ping and the relay with a sealed PING', () => {
    clockAt(1000.4);
    const { p, direct, relay } = probes();
    const d = p.send('direct');
    const r = p.send('relay');
    expect(d).toBeDefined();
    expect(r).toBeDefined();
    expect(d).not.toBe(r);
    expect(direct).toEqual([d]);
    // sentAt in µs of the sender's monotonic clock.
    expect(relay).toEqual([{ kind: SealedKind.PING, id: r, sentAt: 1_000_400n }]);
    expect(p.stats.direct.sent).toBe(1);
    expect(p.stats.relay.sent).toBe(1);
  });

  it('a probe that could not go returns undefined and is not recorded', () => {
    const { p } = probes({ direct: false, relay: false });
    expect(p.send('direct')).toBeUndefined();
    expect(p.send('relay')).toBeUndefined();
    expect(p.stats.direct.sent).toBe(0);
    expect(p.stats.relay.sent).toBe(0);
  });

  it('an answer reports the RTT on its path to every handler, once', () => {
    const clock = clockAt(0);
    const { p } = probes();
    const seen: [string, number, number][] = [];
    p.onPong((path, id, rtt) => seen.push([path, id, rtt]));
    const id = p.send('relay')!;
    clock.advance(25);
    p.answered('relay', id);
    p.answered('relay', id); // a duplicate answer measures nothing
    expect(seen).toEqual([['relay', id, 25]]);
    expect(p.stats.relay.srttMs).toBe(25);
    expect(p.stats.direct.srttMs).toBeUndefined();
  });

  it('ignores an answer to a probe it never sent (or sent on the other path)', () => {
    const { p } = probes();
    const seen: number[] = [];
    p.onPong((_path, id) => seen.push(id));
    const id = p.send('direct')!;
    p.answered('relay', id);
    p.answered('direct', id + 1000);
    expect(seen).toEqual([]);
  });

  it('a handler that unsubscribed is not called', () => {
    const { p } = probes();
    const seen: number[] = [];
    const off = p.onPong((_path, id) => seen.push(id));
    off();
    p.answered('direct', p.send('direct')!);
    expect(seen).toEqual([]);
  });

  it('resetDirect forgets what the old link measured, and only that', () => {
    const clock = clockAt(0);
    const { p } = probes();
    const d = p.send('direct')!;
    const r = p.send('relay')!;
    clock.advance(10);
    p.answered('direct', d);
    p.answered('relay', r);
    const relayStats = p.stats.relay;
    p.resetDirect();
    expect(p.stats.direct.srttMs).toBeUndefined();
    expect(p.stats.direct.sent).toBe(0);
    expect(p.stats.relay).toBe(relayStats);
    expect(p.stats.relay.srttMs).toBe(10);
  });

  it('ping() resolves with the RTT of its own answer', async () => {
    const { p, direct } = probes();
    const pending = p.ping('direct', 5_000);
    const id = direct[0]!;
    p.answered('relay', id); // same id, other path: not the answer
    p.answered('direct', id);
    const rtt = await pending;
    expect(typeof rtt).toBe('number');
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it('ping() resolves null when no answer comes in time, and null at once if it cannot send', async () => {
    vi.useFakeTimers();
    const { p } = probes();
    const pending = p.ping('relay', 2_000);
    vi.advanceTimersByTime(2_000);
    await expect(pending).resolves.toBeNull();
    // Its handler is gone: a late answer reaches nobody and throws nothing.
    p.answered('relay', 1);
    expect(vi.getTimerCount()).toBe(0);

    const { p: down } = probes({ relay: false });
    await expect(down.ping('relay', 2_000)).resolves.toBeNull();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('PeerProbes: two-way proof of the direct path', () => {
  /** Probes whose direct pings record (id, echo). */
  function echoing() {
    const pings: [number, number][] = [];
    const p = new PeerProbes({
      quality: defaultQualityPolicy,
      pingDirect: (id, echo) => {
        pings.push([id, echo]);
        return true;
      },
      sendViaRelay: () => true,
    });
    const proofs: number[] = [];
    p.onDirectProof((at) => proofs.push(at));
    return { p, pings, proofs };
  }

  it('a direct pong is proof, and the next ping echoes its id', () => {
    const clock = clockAt(100);
    const { p, pings, proofs } = echoing();
    const first = p.send('direct')!;
    clock.advance(2);
    p.answered('direct', first);
    expect(proofs).toEqual([102]);
    const second = p.send('direct')!;
    expect(pings).toEqual([
      [first, 0],
      [second, first],
    ]);
  });

  it('a relay pong or an unknown pong is no proof of the direct path', () => {
    clockAt(100);
    const { p, proofs } = echoing();
    const r = p.send('relay')!;
    p.answered('relay', r);
    p.answered('direct', 999);
    expect(proofs).toEqual([]);
  });

  it("the peer's ping proves the path when it echoes one of its pings we answered, once per echo", () => {
    const clock = clockAt(500);
    const { p, proofs } = echoing();
    p.peerPinged(7, 0); // first ping: nothing to echo yet
    expect(proofs).toEqual([]);
    expect(p.rodeAlongAt).toBe(Number.NEGATIVE_INFINITY);
    clock.advance(200);
    p.peerPinged(8, 7); // our pong to 7 reached the peer
    expect(proofs).toEqual([700]);
    expect(p.rodeAlongAt).toBe(700);
    clock.advance(200);
    p.peerPinged(9, 7); // the same echo again: our pong to 8 never arrived
    expect(proofs).toEqual([700]);
    clock.advance(200);
    p.peerPinged(10, 42); // an echo of a ping we never saw proves nothing
    expect(proofs).toEqual([700]);
    clock.advance(200);
    p.peerPinged(11, 10);
    expect(proofs).toEqual([700, 1300]);
  });

  it('a new direct link forgets echoes and ride-along of the old one', () => {
    const clock = clockAt(0);
    const { p, pings, proofs } = echoing();
    const id = p.send('direct')!;
    p.answered('direct', id);
    p.peerPinged(5, 0);
    p.resetDirect();
    clock.advance(10);
    p.peerPinged(6, 5); // 5 came on the old link
    expect(proofs).toEqual([0]);
    expect(p.rodeAlongAt).toBe(Number.NEGATIVE_INFINITY);
    p.send('direct');
    expect(pings.at(-1)?.[1]).toBe(0);
  });
});
