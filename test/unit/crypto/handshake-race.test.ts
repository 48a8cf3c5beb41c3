// Property: whatever the relay does with handshake and sealed frames — delay
// (any interleaving of the two directions), replay any earlier frame, or a
// peer restarting or retrying at any moment — once the relay just delivers,
// both peers settle on the same current session, with no failure-driven
// recovery needed (docs/protocol.md §8).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { SLOT_DEFAULTS } from '../../../src/crypto/session-slots.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { type Clock, FakeRelay, PeerCrypto } from './two-nodes.js';

let ids: [Identity, Identity];
beforeAll(async () => {
  await sodiumReady();
  ids = [await generateIdentity(), await generateIdentity()];
});

type Op =
  | { op: 'deliver'; from: 0 | 1 }
  | { op: 'drop'; from: 0 | 1 }
  | { op: 'replay'; from: 0 | 1; index: number }
  | { op: 'start'; who: 0 | 1 }
  | { op: 'restart'; who: 0 | 1 }
  | { op: 'data'; who: 0 | 1 }
  | { op: 'tick'; ms: number };

const side = fc.constantFrom<0 | 1>(0, 1);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: side.map((from): Op => ({ op: 'deliver', from })) },
  { weight: 1, arbitrary: side.map((from): Op => ({ op: 'drop', from })) },
  {
    weight: 2,
    arbitrary: fc.tuple(side, fc.nat()).map(([from, index]): Op => ({ op: 'replay', from, index })),
  },
  { weight: 2, arbitrary: side.map((who): Op => ({ op: 'start', who })) },
  { weight: 1, arbitrary: side.map((who): Op => ({ op: 'restart', who })) },
  { weight: 2, arbitrary: side.map((who): Op => ({ op: 'data', who })) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 8_000 }))
      .map((ms): Op => ({ op: 'tick', ms })),
  },
);

function run(ops: Op[], swap: boolean) {
  const clock: Clock = { now: 1_000 };
  const [x, y] = swap ? [ids[1], ids[0]] : [ids[0], ids[1]];
  const peers: [PeerCrypto, PeerCrypto] = [
    new PeerCrypto(x, y.publicKey, clock),
    new PeerCrypto(y, x.publicKey, clock),
  ];
  const relay = new FakeRelay(peers);
  // Both start at once, as two nodes paired by the relay do.
  relay.send(0, peers[0].start());
  relay.send(1, peers[1].start());
  const payload = new Uint8Array(60);
  for (const step of ops) {
    switch (step.op) {
      case 'deliver':
        relay.deliver(step.from);
        break;
      case 'drop':
        relay.queues[step.from].shift();
        break;
      case 'replay':
        relay.replay(step.from, step.index);
        break;
      case 'start':
        relay.send(step.who, peers[step.who].start());
        break;
      case 'restart':
        peers[step.who].restart();
        relay.send(step.who, peers[step.who].start());
        break;
      case 'data':
        relay.send(step.who, peers[step.who].sealData(payload));
        break;
      case 'tick':
        clock.now += step.ms;
        break;
    }
  }
  // From here on the relay only delivers. Once a second each peer retries (a
  // new INIT) while it has no current session or an INIT is unanswered, as the
  // peer's handshake timer does, and otherwise sends one control message under
  // current, as the relay-path probe does.
  for (let round = 0; round < 12; round++) {
    relay.flush();
    const settled =
      peers.every((p) => p.slots.current && !p.handshaker.isPending) &&
      sameSession(peers[0], peers[1]);
    if (settled) break;
    clock.now += 1_000;
    for (const who of [0, 1] as const) {
      const p = peers[who];
      if (!p.slots.current || p.handshaker.isPending) relay.send(who, p.start());
      else relay.send(who, p.slots.sealKeepalive());
    }
  }
  return { peers, relay, clock };
}

function sameSession(a: PeerCrypto, b: PeerCrypto): boolean {
  const sa = a.slots.current?.sessionId;
  const sb = b.slots.current?.sessionId;
  return !!sa && !!sb && Buffer.from(sa).equals(Buffer.from(sb));
}

describe('two peers under a replaying, reordering, dropping relay', () => {
  it('always settle on one shared session, which carries data both ways', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.boolean(), (ops, swap) => {
        const { peers, relay, clock } = run(ops, swap);
        expect(sameSession(peers[0], peers[1])).toBe(true);
        // Past any race window: data sealed under current opens under current.
        clock.now += SLOT_DEFAULTS.raceWindowMs + 1;
        for (const who of [0, 1] as const) {
          relay.send(who, peers[who].sealData(new Uint8Array([who, 1, 2, 3])));
          const opened = relay.deliver(who);
          expect(opened?.slot).toBe('current');
        }
      }),
      { numRuns: 600 },
    );
  });
});
