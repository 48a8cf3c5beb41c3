import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { L2Switch, LOCAL_PORT } from '../../../src/tap/l2-switch.js';

const BROADCAST = 'ff:ff:ff:ff:ff:ff';
const MULTICAST = '01:00:5e:00:00:fb';

function mac(n: number): string {
  return `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

function eth(dst: string, src: string, size = 60): Uint8Array {
  const frame = new Uint8Array(size);
  frame.set(
    dst.split(':').map((h) => Number.parseInt(h, 16)),
    0,
  );
  frame.set(
    src.split(':').map((h) => Number.parseInt(h, 16)),
    6,
  );
  frame[12] = 0x08;
  return frame;
}

function withPeers(
  peers: string[],
  options: ConstructorParameters<typeof L2Switch>[0] = {},
): L2Switch {
  const sw = new L2Switch(options);
  for (const p of peers) sw.addPeer(p);
  return sw;
}

describe('L2Switch', () => {
  it('floods unknown unicast from the local device to every peer, then unicasts once learned', () => {
    const sw = withPeers(['p1', 'p2', 'p3']);
    expect(sw.forward(eth(mac(2), mac(1)), LOCAL_PORT)).toEqual(['p1', 'p2', 'p3']);
    expect(sw.counters.flooded).toBe(1);
    // The reply teaches the switch where mac(2) lives.
    expect(sw.forward(eth(mac(1), mac(2)), 'p2')).toEqual([LOCAL_PORT]);
    expect(sw.lookup(mac(2))).toBe('p2');
    expect(sw.lookup(mac(1))).toBe(LOCAL_PORT);
    expect(sw.forward(eth(mac(2), mac(1)), LOCAL_PORT)).toEqual(['p2']);
    expect(sw.counters.unicast).toBe(2);
    expect(sw.counters.learned).toBe(2);
  });

  it('floods broadcast and multicast to all peers but never back to the sender', () => {
    const sw = withPeers(['p1', 'p2']);
    expect(sw.forward(eth(BROADCAST, mac(1)), LOCAL_PORT)).toEqual(['p1', 'p2']);
    expect(sw.forward(eth(MULTICAST, mac(1)), LOCAL_PORT)).toEqual(['p1', 'p2']);
    // From a peer (split horizon, the default): only to the local device.
    expect(sw.forward(eth(BROADCAST, mac(9)), 'p1')).toEqual([LOCAL_PORT]);
  });

  it('as a hub (forwardBetweenPeers) floods to every port except the sender and unicasts peer to peer', () => {
    const sw = withPeers(['p1', 'p2', 'p3'], { forwardBetweenPeers: true });
    expect(sw.forward(eth(BROADCAST, mac(10)), 'p1')).toEqual([LOCAL_PORT, 'p2', 'p3']);
    expect(sw.forward(eth(BROADCAST, mac(20)), 'p2')).toEqual([LOCAL_PORT, 'p1', 'p3']);
    expect(sw.forward(eth(mac(10), mac(20)), 'p2')).toEqual(['p1']);
  });

  it('in a full mesh drops peer-to-peer unicast (split horizon) and counts it', () => {
    const sw = withPeers(['p1', 'p2']);
    sw.forward(eth(BROADCAST, mac(10)), 'p1');
    expect(sw.forward(eth(mac(10), mac(20)), 'p2')).toEqual([]);
    expect(sw.counters.dropped.splitHorizon).toBe(1);
  });

  it('drops and counts bad frames by reason', () => {
    const sw = withPeers(['p1']);
    expect(sw.forward(new Uint8Array(13), LOCAL_PORT)).toEqual([]);
    expect(sw.forward(eth(mac(1), MULTICAST), 'p1')).toEqual([]);
    expect(sw.forward(eth(mac(1), mac(2)), 'nobody')).toEqual([]);
    sw.forward(eth(BROADCAST, mac(5)), 'p1');
    expect(sw.forward(eth(mac(5), mac(6)), 'p1')).toEqual([]); // destination is behind the sender
    const lonely = new L2Switch();
    expect(lonely.forward(eth(BROADCAST, mac(1)), LOCAL_PORT)).toEqual([]);
    expect(sw.counters.dropped).toMatchObject({
      tooShort: 1,
      sourceMulticast: 1,
      unknownPort: 1,
      sameport: 1,
    });
    expect(lonely.counters.dropped.noDestination).toBe(1);
    // A multicast source is never learned.
    expect(sw.lookup(MULTICAST)).toBeUndefined();
  });

  it('follows a MAC that moves to another peer', () => {
    const sw = withPeers(['p1', 'p2']);
    sw.forward(eth(BROADCAST, mac(7)), 'p1');
    sw.forward(eth(BROADCAST, mac(7)), 'p2');
    expect(sw.lookup(mac(7))).toBe('p2');
    expect(sw.counters.moved).toBe(1);
    expect(sw.forward(eth(mac(7), mac(1)), LOCAL_PORT)).toEqual(['p2']);
  });

  it('ages entries out, then floods again', () => {
    let now = 1_000;
    const sw = withPeers(['p1', 'p2'], { ageingMs: 100, now: () => now });
    sw.forward(eth(BROADCAST, mac(7)), 'p1');
    now += 99;
    expect(sw.forward(eth(mac(7), mac(1)), LOCAL_PORT)).toEqual(['p1']);
    now += 100;
    expect(sw.forward(eth(mac(7), mac(1)), LOCAL_PORT)).toEqual(['p1', 'p2']);
    expect(sw.counters.aged).toBe(1);
  });

  it('sweep() forgets aged entries and keeps fresh ones', () => {
    let now = 0;
    const sw = withPeers(['p1'], { ageingMs: 100, now: () => now });
    sw.forward(eth(BROADCAST, mac(1)), 'p1');
    now = 50;
    sw.forward(eth(BROADCAST, mac(2)), 'p1');
    now = 120;
    expect(sw.sweep()).toBe(1);
    expect(sw.size).toBe(1);
    expect(sw.lookup(mac(2))).toBe('p1');
  });

  it('bounds the table, evicting the least recently seen MAC', () => {
    let now = 0;
    const sw = withPeers(['p1'], { maxEntries: 3, now: () => now });
    for (let i = 1; i <= 3; i++) {
      now++;
      sw.forward(eth(BROADCAST, mac(i)), 'p1');
    }
    now++;
    sw.forward(eth(BROADCAST, mac(1)), 'p1'); // mac(1) is fresh again; mac(2) is now the oldest
    now++;
    sw.forward(eth(BROADCAST, mac(4)), 'p1');
    expect(sw.size).toBe(3);
    expect(sw.counters.evicted).toBe(1);
    expect(sw.lookup(mac(2))).toBeUndefined();
    expect(sw.lookup(mac(1))).toBe('p1');
    expect(sw.lookup(mac(4))).toBe('p1');
  });

  it('forgets the MACs behind a removed peer', () => {
    const sw = withPeers(['p1', 'p2']);
    sw.forward(eth(BROADCAST, mac(7)), 'p1');
    sw.removePeer('p1');
    expect(sw.peers).toEqual(['p2']);
    expect(sw.lookup(mac(7))).toBeUndefined();
    expect(sw.forward(eth(mac(7), mac(1)), LOCAL_PORT)).toEqual(['p2']);
    expect(() => sw.addPeer(LOCAL_PORT)).toThrow(RangeError);
  });

  it('never sends a frame back where it came from, never twice to a port, never to an unknown port', () => {
    const peers = ['p1', 'p2', 'p3', 'p4'];
    const ports = [LOCAL_PORT, ...peers];
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(
          fc.record({
            from: fc.constantFrom(...ports),
            src: fc.integer({ min: 0, max: 7 }),
            dst: fc.oneof(fc.integer({ min: 0, max: 7 }), fc.constant(-1)),
          }),
          { maxLength: 60 },
        ),
        (hub, steps) => {
          const sw = withPeers(peers, { forwardBetweenPeers: hub, maxEntries: 5 });
          for (const step of steps) {
            const out = sw.forward(
              eth(step.dst < 0 ? BROADCAST : mac(step.dst), mac(step.src)),
              step.from,
            );
            expect(out).not.toContain(step.from);
            expect(new Set(out).size).toBe(out.length);
            for (const port of out) expect(ports).toContain(port);
            if (!hub && step.from !== LOCAL_PORT)
              expect(out.every((p) => p === LOCAL_PORT)).toBe(true);
          }
          expect(sw.size).toBeLessThanOrEqual(5);
        },
      ),
    );
  });
});

describe('L2Switch with a virtio-net header in front (offloaded TAP)', () => {
  /** eth() behind a 10-byte header whose bytes look like a group MAC, so a
   * switch reading at offset 0 would get every answer wrong. */
  function withHeader(frame: Uint8Array): Uint8Array {
    const out = new Uint8Array(10 + frame.length).fill(0xff, 0, 10);
    out.set(frame, 10);
    return out;
  }

  it('reads the MACs after the header: learns, unicasts, floods as without it', () => {
    const sw = withPeers(['p1', 'p2'], { headerBytes: 10 });
    expect(sw.forward(withHeader(eth(mac(2), mac(1))), LOCAL_PORT)).toEqual(['p1', 'p2']);
    expect(sw.forward(withHeader(eth(mac(1), mac(2))), 'p2')).toEqual([LOCAL_PORT]);
    expect(sw.lookup(mac(1))).toBe(LOCAL_PORT);
    expect(sw.lookup(mac(2))).toBe('p2');
    expect(sw.forward(withHeader(eth(mac(2), mac(1))), LOCAL_PORT)).toEqual(['p2']);
    expect(sw.counters.dropped.sourceMulticast).toBe(0);
    expect(sw.counters.unicast).toBe(2);
  });

  it('a frame shorter than header + Ethernet header is tooShort', () => {
    const sw = withPeers(['p1'], { headerBytes: 10 });
    expect(sw.forward(new Uint8Array(23), LOCAL_PORT)).toEqual([]);
    expect(sw.counters.dropped.tooShort).toBe(1);
    expect(sw.forward(withHeader(eth(BROADCAST, mac(1), 14)), LOCAL_PORT)).toEqual(['p1']);
  });

  it('the same bytes without headerBytes are read at offset 0 (the header as MACs)', () => {
    const sw = withPeers(['p1']);
    expect(sw.forward(withHeader(eth(mac(2), mac(1))), LOCAL_PORT)).toEqual([]);
    expect(sw.counters.dropped.sourceMulticast).toBe(1);
  });
});
