import { describe, expect, it } from 'vitest';
import { PeerGoneReason } from '../../../../src/protocol/frames.js';
import { newer, Presence } from '../../../../src/relay/cluster/presence.js';
import { peerIdOf } from '../../../../src/relay/peer-directory.js';

const key = (n: number) => new Uint8Array(32).fill(n);
const id = (n: number) => peerIdOf(key(n));

/** A Presence on a hand-driven clock, with every hook call recorded. */
function presence(self = 'r1') {
  const clock = { wall: 1_000_000, mono: 0 };
  const log: string[] = [];
  const p = new Presence(
    self,
    {
      claimed: (peer, claim) =>
        log.push(`claimed ${peer.slice(0, 2)} ${claim.relay.name}@${claim.stamp}`),
      released: (peer, claim, reason) =>
        log.push(
          `released ${peer.slice(0, 2)} ${claim.relay.name} ${reason === PeerGoneReason.REPLACED ? 'replaced' : 'gone'}`,
        ),
      localSuperseded: (peer, by) => {
        log.push(`superseded ${peer.slice(0, 2)} by ${by.relay.name}`);
        p.unregisterLocal(peer);
      },
      localWins: (peer) => log.push(`wins ${peer.slice(0, 2)}`),
      relayJoined: (relay) => log.push(`joined ${relay.name}`),
      relayForgotten: (relay, cause, peers) =>
        log.push(`forgotten ${relay.name} ${cause} ${peers}`),
      requestSync: (relay) => log.push(`sync? ${relay.name}`),
    },
    { presenceExpiryMs: 2_000, syncRetryMs: 1_000 },
    { wallMs: () => clock.wall, monoMs: () => clock.mono },
  );
  return { p, log, clock };
}

const short = (n: number) => id(n).slice(0, 2);

describe('Presence', () => {
  it('learns a relay from its heartbeat, asks for its full presence, and applies the SYNC', () => {
    const { p, log } = presence();
    p.heartbeat('r2', 'aa', 5);
    expect(log).toEqual(['joined r2', 'sync? r2']);
    p.sync('r2', 'aa', 5, 0, false, [{ key: key(1), stamp: 10 }]);
    expect(p.claimOf(id(1))).toBeUndefined(); // applied only with the last chunk
    p.sync('r2', 'aa', 5, 1, true, [{ key: key(2), stamp: 11 }]);
    expect(p.claimOf(id(1))?.relay.name).toBe('r2');
    expect(p.claimOf(id(2))?.stamp).toBe(11);
    expect(p.size).toBe(2);
    // In order now: the next heartbeat asks for nothing.
    log.length = 0;
    p.heartbeat('r2', 'aa', 5);
    p.add('r2', 'aa', 6, key(3), 12);
    p.heartbeat('r2', 'aa', 6);
    expect(log).toEqual([`claimed ${short(3)} r2@12`]);
  });

  it('sees a missed delta in the sequence and asks again (not more often than syncRetryMs)', () => {
    const { p, log, clock } = presence();
    p.heartbeat('r2', 'aa', 0);
    p.sync('r2', 'aa', 0, 0, true, []);
    log.length = 0;
    clock.mono += 1_000;
    p.add('r2', 'aa', 1, key(1), 10);
    p.add('r2', 'aa', 3, key(3), 10); // 2 went missing
    expect(log).toEqual([`claimed ${short(1)} r2@10`, `claimed ${short(3)} r2@10`, 'sync? r2']);
    log.length = 0;
    p.heartbeat('r2', 'aa', 3);
    expect(log).toEqual([]); // asked 0 ms ago
    clock.mono += 1_000;
    p.heartbeat('r2', 'aa', 3);
    expect(log).toEqual(['sync? r2']);
    // The SYNC replaces the set: what it does not list is gone.
    log.length = 0;
    p.sync('r2', 'aa', 3, 0, true, [
      { key: key(2), stamp: 10 },
      { key: key(3), stamp: 10 },
    ]);
    expect(log).toEqual([`released ${short(1)} r2 gone`, `claimed ${short(2)} r2@10`]);
  });

  it('forgets a silent relay after the expiry, releasing its keys, and not before', () => {
    const { p, log, clock } = presence();
    p.add('r2', 'aa', 1, key(1), 10);
    log.length = 0;
    clock.mono += 1_999;
    p.sweep();
    expect(p.relayCount).toBe(1);
    clock.mono += 2;
    p.sweep();
    expect(log).toEqual([`released ${short(1)} r2 gone`, 'forgotten r2 expired 1']);
    expect(p.size).toBe(0);
    expect(p.relayCount).toBe(0);
  });

  it('forgets a relay that restarted (new instance) or said goodbye', () => {
    const { p, log } = presence();
    p.add('r2', 'aa', 1, key(1), 10);
    p.add('r3', 'cc', 1, key(3), 10);
    log.length = 0;
    p.heartbeat('r2', 'bb', 0);
    expect(log.slice(0, 3)).toEqual([
      `released ${short(1)} r2 gone`,
      'forgotten r2 restarted 1',
      'joined r2',
    ]);
    p.bye('r3', 'zz'); // not its instance: ignored
    expect(p.claimOf(id(3))).toBeDefined();
    p.bye('r3', 'cc');
    expect(p.claimOf(id(3))).toBeUndefined();
  });

  it('keeps the newest registration of a key: larger stamp, then larger relay name', () => {
    const { p, log } = presence();
    p.add('r2', 'aa', 1, key(1), 10);
    p.add('r3', 'cc', 1, key(1), 9); // older: ignored
    expect(p.claimOf(id(1))?.relay.name).toBe('r2');
    p.add('r3', 'cc', 2, key(1), 10); // same stamp, r3 > r2
    expect(p.claimOf(id(1))?.relay.name).toBe('r3');
    expect(log).toContain(`released ${short(1)} r2 replaced`);
    // A REMOVE of the superseded registration changes nothing.
    p.remove('r2', 'aa', 2, key(1), 10, PeerGoneReason.DISCONNECTED);
    expect(p.claimOf(id(1))?.relay.name).toBe('r3');
    p.remove('r3', 'cc', 3, key(1), 10, PeerGoneReason.DISCONNECTED);
    expect(p.claimOf(id(1))).toBeUndefined();
    expect(newer(10, 'b', 10, 'a')).toBe(true);
    expect(newer(9, 'z', 10, 'a')).toBe(false);
  });

  it('stamps a local registration above every one it knows, whatever the wall clock says', () => {
    const { p, log, clock } = presence();
    clock.wall = 500; // behind the other relay's clock
    p.add('r2', 'aa', 1, key(1), 10_000);
    const stamp = p.registerLocal(id(1), key(1));
    expect(stamp).toBe(10_001);
    expect(log).toContain(`released ${short(1)} r2 replaced`);
    expect(p.claimOf(id(1))).toBeUndefined();
    // r2's late announcement of the old registration loses to ours.
    log.length = 0;
    p.add('r2', 'aa', 2, key(1), 10_000);
    expect(log).toEqual([`wins ${short(1)}`]);
    // A newer one elsewhere (the node moved) supersedes ours.
    p.add('r2', 'aa', 3, key(1), 10_002);
    expect(log).toContain(`superseded ${short(1)} by r2`);
    expect(p.localStamp(id(1))).toBeUndefined();
    expect(p.claimOf(id(1))?.stamp).toBe(10_002);
  });

  it('takes a hint only from a relay it has heard', () => {
    const { p } = presence();
    expect(p.hint('r2', 'aa', key(1), 5)).toBeUndefined();
    p.heartbeat('r2', 'aa', 0);
    expect(p.hint('r2', 'aa', key(1), 5)?.relay.name).toBe('r2');
    expect(p.hint('r2', 'other', key(2), 5)).toBeUndefined();
  });

  it('starts over when a SYNC chunk is missing', () => {
    const { p, log } = presence();
    p.heartbeat('r2', 'aa', 0);
    log.length = 0;
    p.sync('r2', 'aa', 0, 1, true, [{ key: key(1), stamp: 1 }]);
    expect(p.claimOf(id(1))).toBeUndefined();
    expect(log).toEqual(['sync? r2']);
  });
});
