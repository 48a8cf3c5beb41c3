// Property (issue 14, docs/protocol.md §9): with data and control in their own
// counter spaces, any interleaving of data and control messages across both
// paths — each path in order by itself, either path ahead, some frames sent on
// both — releases every data frame once, in order, and never holds one back
// for a control message: a data frame leaves the receiver as soon as every
// data frame before it has arrived. Checked twice: on the session and the
// in-order release alone, and through the data plane's real receive side
// (two PeerSessions that shook hands, PeerReceiver).
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { SessionError } from '../../../src/crypto/errors.js';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { errorCode } from '../../../src/errors.js';
import { peekFrameType } from '../../../src/protocol/codec.js';
import { FrameType, SealedKind, type SealedMessage, Space } from '../../../src/protocol/frames.js';
import { InOrderReceiver, type Timers } from '../../../src/services/in-order-receiver.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import type { PathName } from '../../../src/services/peer-ports.js';
import { PeerReceiver } from '../../../src/services/peer-receiver.js';
import { PeerSession } from '../../../src/services/peer-session.js';
import { sessionPair } from '../crypto/pair.js';
import { ethernet, numberOf } from './fake-paths.js';

beforeAll(async () => {
  await sodiumReady();
});

/** Timers that never fire: no gap may be skipped by a timeout, so any wait shows. */
const frozen: Timers = { setTimeout: () => 0, clearTimeout: () => {}, now: () => 0 };

const control: fc.Arbitrary<SealedMessage> = fc.oneof(
  fc.nat({ max: 0xffff }).map((id): SealedMessage => ({ kind: SealedKind.PING, id, sentAt: 1n })),
  fc.nat({ max: 0xffff }).map((id): SealedMessage => ({ kind: SealedKind.PONG, id, sentAt: 2n })),
  fc.constant<SealedMessage>({
    kind: SealedKind.MIGRATE,
    attemptId: new Uint8Array(16),
    lastSeq: 0n,
  }),
  fc.constant<SealedMessage>({ kind: SealedKind.KEEPALIVE, nextTag: null }),
);

interface Sent {
  isData: boolean;
  /** Which paths carry it: 1 relay, 2 direct, 3 both (suspect). */
  paths: 1 | 2 | 3;
  control?: SealedMessage;
}

const sent: fc.Arbitrary<Sent> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom<1 | 2 | 3>(1, 2, 3).map((paths) => ({ isData: true, paths })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom<1 | 2 | 3>(1, 2, 3), control)
      .map(([paths, message]) => ({ isData: false, paths, control: message })),
  },
);

describe('counter spaces: data never waits for control', () => {
  it('releases data in order, once, as soon as its data predecessors arrived', async () => {
    const { a, b } = await sessionPair();
    await fc.assert(
      fc.asyncProperty(
        fc.array(sent, { minLength: 1, maxLength: 60 }),
        fc.array(fc.boolean(), { maxLength: 200 }),
        async (messages, schedule) => {
          const delivered: number[] = [];
          const receiver = new InOrderReceiver<number>({
            gapTimeoutMs: 1e9,
            holdLimit: 10_000,
            firstSeq: b.highestReceived + 1,
            timers: frozen,
            deliver: (payload) => delivered.push(payload),
          });
          // The sender seals in order; each path is a FIFO (TCP).
          const base = a.nextSeq;
          const paths: [Uint8Array[], Uint8Array[]] = [[], []];
          let dataCount = 0;
          for (const m of messages) {
            const bytes = m.isData
              ? a.sealEthernet(new Uint8Array([dataCount++ & 0xff, 0, 0, 0]))
              : a.seal(m.control!);
            if (m.paths & 1) paths[0].push(bytes);
            if (m.paths & 2) paths[1].push(bytes);
          }
          // Any interleaving of the two paths.
          const arrived = new Set<number>();
          let step = 0;
          let controls = 0;
          while (paths[0].length || paths[1].length) {
            const pick =
              paths[0].length === 0 ? 1 : paths[1].length === 0 ? 0 : schedule[step++] ? 1 : 0;
            const bytes = paths[pick].shift()!;
            let opened: ReturnType<typeof b.open>;
            try {
              opened = b.open(bytes);
            } catch (error) {
              // Only the second copy of a frame sent on both paths is refused.
              expect(error).toBeInstanceOf(SessionError);
              expect((error as SessionError).code).toBe('REPLAY');
              continue;
            }
            if (opened.space === Space.CONTROL) {
              controls++;
              continue; // handled on arrival; never enters the data ordering
            }
            arrived.add(opened.seq);
            receiver.push(opened.seq, opened.seq - base);
            // No wait on control: everything up to the first missing DATA seq is out.
            let prefix = 0;
            while (arrived.has(base + prefix)) prefix++;
            expect(delivered.length).toBe(prefix);
          }
          expect(delivered).toEqual(Array.from({ length: dataCount }, (_, i) => i));
          expect(controls).toBe(messages.filter((m) => !m.isData).length);
          expect(receiver.counters.skipped).toBe(0);
          receiver.close();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('through PeerSession and PeerReceiver: data in order, at once; control handled on arrival', async () => {
    const alice = await generateIdentity();
    const bob = await generateIdentity();
    await fc.assert(
      fc.asyncProperty(
        fc.array(sent, { minLength: 1, maxLength: 60 }),
        fc.array(fc.boolean(), { maxLength: 200 }),
        async (messages, schedule) => {
          // A fresh session per run: its data sequence starts at 0, as the receiver expects.
          const { a, b } = shookHands(alice, bob);
          const counters = new PeerCounters();
          const released: number[] = [];
          const replies: { path: PathName; kind: number }[] = [];
          let pongs = 0;
          let markers = 0;
          const receiver = new PeerReceiver({
            open: (bytes) => b.open(bytes),
            counters,
            // Never skip a gap by timeout: any wait for control would show.
            gapTimeoutMs: 1e9,
            reply: (path, message) => replies.push({ path, kind: message.kind }),
            onPong: () => pongs++,
            onPeerMigrated: () => markers++,
          });
          receiver.onFrames((frames) => released.push(...frames.map(numberOf)));
          const sealer = a.current!;
          const paths: [Uint8Array[], Uint8Array[]] = [[], []];
          let dataCount = 0;
          const numbered = new Map<Uint8Array, number>();
          for (const m of messages) {
            const bytes = m.isData
              ? sealer.sealEthernet(ethernet(dataCount))
              : sealer.seal(m.control!);
            if (m.isData) numbered.set(bytes, dataCount++);
            if (m.paths & 1) paths[0].push(bytes);
            if (m.paths & 2) paths[1].push(bytes);
          }
          const arrivedData = new Set<number>();
          let step = 0;
          while (paths[0].length || paths[1].length) {
            const pick =
              paths[0].length === 0 ? 1 : paths[1].length === 0 ? 0 : schedule[step++] ? 1 : 0;
            const bytes = paths[pick].shift()!;
            receiver.receive(bytes, pick === 0 ? 'relay' : 'direct');
            const n = numbered.get(bytes);
            if (n !== undefined) arrivedData.add(n);
            // No wait on control: every data frame up to the first missing one is out.
            let prefix = 0;
            while (arrivedData.has(prefix)) prefix++;
            expect(released).toEqual(Array.from({ length: prefix }, (_, i) => i));
          }
          expect(released).toEqual(Array.from({ length: dataCount }, (_, i) => i));
          const sentControl = messages.filter((m) => !m.isData);
          expect(replies).toHaveLength(
            sentControl.filter((m) => m.control!.kind === SealedKind.PING).length,
          );
          expect(pongs).toBe(sentControl.filter((m) => m.control!.kind === SealedKind.PONG).length);
          expect(markers).toBe(
            sentControl.filter((m) => m.control!.kind === SealedKind.MIGRATE).length,
          );
          // The only refusals are the second copies of frames sent on both paths.
          const both = messages.filter((m) => m.paths === 3).length;
          expect(counters.drops).toEqual(both > 0 ? { REPLAY: both } : {});
          expect(receiver.ordering.skipped).toBe(0);
          receiver.close();
          a.close();
          b.close();
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** Two PeerSessions that completed a real handshake (INIT, RESP, keepalive). */
function shookHands(alice: Identity, bob: Identity): { a: PeerSession; b: PeerSession } {
  const wires: [Uint8Array[], Uint8Array[]] = [[], []];
  const make = (id: Identity, peer: Uint8Array, out: Uint8Array[]) =>
    new PeerSession({
      identity: id,
      peerKey: peer,
      counters: new PeerCounters(),
      sendViaRelay: (bytes) => out.push(bytes) > 0,
      paired: () => true,
      onSession: () => {},
    });
  const a = make(alice, bob.publicKey, wires[0]);
  const b = make(bob, alice.publicKey, wires[1]);
  a.start();
  for (let round = 0; round < 5; round++) {
    for (const [from, to] of [
      [wires[0], b],
      [wires[1], a],
    ] as const) {
      for (const bytes of from.splice(0)) {
        const type = peekFrameType(bytes);
        if (type === FrameType.HANDSHAKE_INIT || type === FrameType.HANDSHAKE_RESP)
          to.receive(bytes);
        else {
          try {
            to.open(bytes);
          } catch (error) {
            throw new Error(`handshake frame refused: ${errorCode(error)}`);
          }
        }
      }
    }
  }
  if (!a.current || !b.current || a.current.tag !== b.current.tag) {
    throw new Error('the two sessions did not shake hands');
  }
  return { a, b };
}
