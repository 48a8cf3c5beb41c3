// Session slots (docs/protocol.md §8): a new session waits in next until the
// initiator's first frame under it, the current one carries traffic both ways
// until then, and a replayed INIT — seconds or hours later, or after the
// responder restarted — changes nothing a user can see.
import { beforeAll, describe, expect, it } from 'vitest';
import { compareKeys, generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { SessionSlots } from '../../../src/crypto/session-slots.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { SealedKind } from '../../../src/protocol/frames.js';
import { handshakePair } from './pair.js';
import { type Clock, FakeRelay, PeerCrypto } from './two-nodes.js';

let alice: Identity;
let bob: Identity;
beforeAll(async () => {
  await sodiumReady();
  alice = await generateIdentity();
  bob = await generateIdentity();
});

const frame = (n: number) => new Uint8Array([n, 0xee, 0xee, 0xee]);
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

/** a (index 0) initiates, b (index 1) responds; returns the INIT bytes a sent. */
function establish(relay: FakeRelay): Uint8Array {
  const init = relay.peers[0].start();
  relay.send(0, init);
  relay.flush();
  return init;
}

function setUp(clock: Clock = { now: 0 }) {
  const a = new PeerCrypto(alice, bob.publicKey, clock);
  const b = new PeerCrypto(bob, alice.publicKey, clock);
  return { a, b, relay: new FakeRelay([a, b]), clock };
}

/** Data from each side arrives under the session both hold as current. */
function expectTrafficBothWays(relay: FakeRelay, n: number): void {
  const [a, b] = relay.peers;
  relay.send(0, a.sealData(frame(n)));
  expect(relay.deliver(0)?.slot).toBe('current');
  relay.send(1, b.sealData(frame(n + 1)));
  expect(relay.deliver(1)?.slot).toBe('current');
  expect(hex(a.slots.current?.sessionId)).toBe(hex(b.slots.current?.sessionId));
}

describe('promotion', () => {
  it('responder holds the session in next until the keepalive arrives; then both share it', () => {
    const { a, b, relay } = setUp();
    relay.send(0, a.start());
    relay.deliver(0); // INIT → b answers: next, not current
    expect(b.slots.next).not.toBeNull();
    expect(b.slots.current).toBeNull();
    expect(codeOf(() => b.slots.sealEthernet(frame(0)))).toBe('NO_SESSION');
    relay.deliver(1); // RESP → a: current at once, keepalive queued
    expect(a.slots.current?.capabilities).toBe(0);
    expect(relay.queues[0]).toHaveLength(1);
    const opened = relay.deliver(0); // keepalive → b promotes
    expect(opened).toMatchObject({ slot: 'next', promoted: true });
    expect(opened?.message).toEqual({ kind: SealedKind.KEEPALIVE, nextTag: null });
    expect(b.slots.next).toBeNull();
    expect(b.slots.stats.promoted).toBe(1);
    expectTrafficBothWays(relay, 1);
  });

  it('a rekey by handshake: the current session carries traffic both ways until promotion', () => {
    const clock = { now: 0 };
    const { a, b, relay } = setUp(clock);
    establish(relay);
    clock.now += 1_000;
    const old = b.slots.current!;
    relay.send(0, a.start()); // a new handshake while traffic flows
    relay.deliver(0);
    // b: new session in next; b still seals under the old one, and a opens it.
    relay.send(1, b.sealData(frame(1)));
    relay.deliver(1); // RESP → a switches (current = new, previous = old)
    expect(relay.deliver(1)).toMatchObject({ slot: 'previous' }); // b's frame, old session
    expect(b.slots.current).toBe(old);
    // a's keepalive and data under the new session promote it at b.
    expect(relay.deliver(0)).toMatchObject({ slot: 'next', promoted: true });
    expect(b.slots.previous).toBe(old);
    expect(a.received.length + b.received.length).toBe(1);
    expectTrafficBothWays(relay, 2);
    expect(Object.keys(a.refused).length + Object.keys(b.refused).length).toBe(0);
  });

  it('keeps the previous session only for its grace period', () => {
    const clock = { now: 0 };
    const { a, b, relay } = setUp(clock);
    establish(relay);
    relay.send(1, b.sealData(frame(1))); // sealed under the first session
    const late = relay.queues[1].pop()!;
    clock.now += 1_000;
    relay.send(0, a.start());
    relay.flush(); // new session, promoted at b
    clock.now += 10_001;
    const { opened } = a.receive(late);
    expect(opened).toBeUndefined();
    expect(a.refused.UNKNOWN_SESSION).toBe(1);
    expect(a.slots.stats.previousExpired).toBe(1);
  });
});

describe('a replayed INIT changes nothing', () => {
  it('seconds later: refused as INIT_REPLAYED, current untouched, traffic flows', () => {
    const clock = { now: 0 };
    const { b, relay } = setUp(clock);
    const init = establish(relay);
    const current = b.slots.current;
    clock.now += 5_000;
    relay.hand(0, init);
    expect(b.refused.INIT_REPLAYED).toBe(1);
    expect(b.slots.current).toBe(current);
    expect(b.slots.next).toBeNull();
    expectTrafficBothWays(relay, 1);
  });

  it('hours later, and many times over: refused, and at most 50 a second are even verified', () => {
    const clock = { now: 0 };
    const { b, relay } = setUp(clock);
    const init = establish(relay);
    clock.now += 3 * 3600_000;
    for (let i = 0; i < 200; i++) relay.hand(0, init.slice());
    expect(b.refused.INIT_REPLAYED).toBe(50); // the budget: 50 verified...
    expect(b.refused.INIT_RATE_LIMITED).toBe(150); // ...the rest dropped unverified
    expect(b.slots.stats.installedResponded).toBe(1);
    expectTrafficBothWays(relay, 1);
  });

  it('after the responder restarted: the replay only fills next, which nothing promotes', () => {
    const clock = { now: 0 };
    const { a, b, relay } = setUp(clock);
    const oldInit = establish(relay);
    clock.now += 2_000;
    b.restart(); // b forgets everything, then handshakes again
    relay.send(1, b.start());
    relay.flush();
    expectTrafficBothWays(relay, 1);
    const current = b.slots.current;
    clock.now += 1_000;
    relay.hand(0, oldInit); // b no longer knows the old timestamp: accepted...
    expect(b.slots.next).not.toBeNull(); // ...into next only
    relay.flush(); // its RESP reaches a, which has no INIT pending
    expect(a.refused.HANDSHAKE_STATE).toBe(1);
    expect(b.slots.current).toBe(current);
    expectTrafficBothWays(relay, 3);
    relay.hand(0, oldInit); // and once more: now it is a replay
    expect(b.refused.INIT_REPLAYED).toBe(1);
    expectTrafficBothWays(relay, 5);
  });

  it('replayed while the restarted responder waits for its own RESP (either key order)', async () => {
    for (const [first, second] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const clock = { now: 0 };
      const a = new PeerCrypto(first, second.publicKey, clock);
      const b = new PeerCrypto(second, first.publicKey, clock);
      const relay = new FakeRelay([a, b]);
      const oldInit = establish(relay);
      clock.now += 2_000;
      b.restart();
      relay.send(1, b.start()); // b's INIT is on its way to a...
      relay.hand(0, oldInit); // ...when the relay replays a's old INIT to b
      relay.flush();
      expectTrafficBothWays(relay, 1);
      expect(b.handshaker.isPending).toBe(false);
    }
  });

  it('an initiator whose wall clock stepped back an hour still gets through after a restart', () => {
    const clock = { now: 0 };
    const { a, relay } = setUp(clock);
    establish(relay);
    clock.now += 1_000;
    const wall = a.wallMs;
    a.wallMs = () => wall() - 3600_000;
    a.restart(); // the timestamp store survives; the clock went back
    relay.send(0, a.start());
    relay.flush();
    expect(relay.peers[1].refused.INIT_REPLAYED).toBeUndefined();
    expectTrafficBothWays(relay, 1);
  });
});

describe('refusals', () => {
  it('a frame of no session we hold is UNKNOWN_SESSION, counted; slots unchanged', async () => {
    const other = await handshakePair();
    const slots = new SessionSlots();
    const { session } = slots.installInitiated(other.aliceKeys);
    const stranger = new SessionSlots();
    stranger.installInitiated((await handshakePair()).bobKeys);
    const strangerFrame = stranger.sealEthernet(frame(1));
    expect(codeOf(() => slots.open(strangerFrame))).toBe('UNKNOWN_SESSION');
    expect(slots.stats.unknownSession).toBe(1);
    expect(slots.current).toBe(session);
    expect(codeOf(() => slots.open(new Uint8Array([2, 0x20, 1])))).toBe('TRUNCATED');
  });

  it('replayed keepalives and data are REPLAY; they promote nothing twice', () => {
    const { a, relay } = setUp();
    establish(relay);
    for (const bytes of relay.sent[0]) relay.hand(0, bytes.slice());
    expect(relay.peers[1].refused.REPLAY).toBe(1); // the keepalive
    expect(relay.peers[1].refused.INIT_REPLAYED).toBe(1);
    expect(a.slots.stats.installedInitiated).toBe(1);
  });
});

describe('two handshakes in a race (§8.2)', () => {
  function racers() {
    const [small, large] =
      compareKeys(alice.publicKey, bob.publicKey) < 0 ? [alice, bob] : [bob, alice];
    const clock = { now: 0 };
    const s = new PeerCrypto(small, large.publicKey, clock);
    const l = new PeerCrypto(large, small.publicKey, clock);
    return { s, l, relay: new FakeRelay([s, l]) };
  }

  it("both complete their own handshake: both settle on the smaller key's", () => {
    const { s, l, relay } = racers();
    relay.send(0, s.start());
    relay.send(1, l.start());
    const initL = relay.queues[1].shift()!; // delayed by the relay
    relay.deliver(0); // INIT_S at l: pending, but s wins → answered, next; l stays pending
    expect(l.slots.next).not.toBeNull();
    expect(l.handshaker.isPending).toBe(true);
    relay.deliver(1); // RESP_S → s: current, keepalive
    relay.hand(1, initL); // INIT_L at s, no longer pending: answered → next at s
    expect(s.slots.next).not.toBeNull();
    const keepaliveS = relay.queues[0].shift()!;
    relay.deliver(0); // RESP_L → l completes its own: current; keeps s's rival in next
    relay.hand(0, keepaliveS); // s's keepalive: l promotes s's session
    relay.flush(); // l's keepalive names s's session as l's next: s keeps its own
    expect(s.slots.stats.promotionsRefused).toBe(1);
    expect(s.slots.current?.role).toBe('initiator');
    expect(hex(s.slots.current?.sessionId)).toBe(hex(l.slots.current?.sessionId));
    expectTrafficBothWays(relay, 1);
  });

  it("the larger side completes first: it still comes to the smaller key's session", () => {
    const { s, l, relay } = racers();
    relay.send(1, l.start());
    relay.deliver(1); // INIT_L at idle s: answered, next
    const respL = relay.queues[0].shift()!; // delayed
    relay.send(0, s.start()); // s has no current yet: initiates too
    relay.deliver(0); // INIT_S at l: pending, s wins → answered, next
    relay.hand(0, respL); // l completes its own; keeps s's rival in next
    relay.flush(); // s completes, drops l's (it loses); l promotes s's on its keepalive
    expect(hex(s.slots.current?.sessionId)).toBe(hex(l.slots.current?.sessionId));
    expect(s.slots.current?.role).toBe('initiator');
    expectTrafficBothWays(relay, 1);
  });
});
