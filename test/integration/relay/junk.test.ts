// Random bytes, and random bytes dressed as frames, from many connections:
// each gets a refusal code (or a CHALLENGE, when the bytes happen to be a
// valid HELLO), nothing escapes, and a healthy pair keeps forwarding.
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { FrameType, PROTOCOL_VERSION } from '../../../src/protocol/frames.js';
import type { RelayClient } from '../../../src/relay/client.js';
import { CloseCode } from '../../../src/relay/close-codes.js';
import { assertForwards, pair, RawSocket, startRelay, type TestRelay } from './helpers.js';

const ATTEMPTS = 150;
const TYPES = Object.values(FrameType);
// What junk may legitimately earn before authentication.
const EXPECTED = new Set<number>([
  CloseCode.BAD_FRAME,
  CloseCode.INVALID_MESSAGE,
  CloseCode.NOT_AUTHENTICATED,
  // Random bytes whose second byte is a frame type behind another version
  // byte look like another protocol version's frame.
  CloseCode.VERSION_MISMATCH,
]);

let relay: TestRelay;
let healthy: { a: RelayClient; b: RelayClient };

beforeAll(async () => {
  await sodiumReady();
  relay = await startRelay({ authTimeoutMs: 30_000 });
  healthy = await pair(relay.url);
});
afterAll(async () => {
  healthy.a.terminate();
  healthy.b.terminate();
  await relay.server.close();
});

function junk(): Uint8Array {
  const bytes = randomBytes(randomInt(0, 160));
  // Half the time a plausible header, so the decoder's deeper checks are reached.
  if (bytes.length >= 2 && randomInt(2) === 0) {
    bytes[0] = PROTOCOL_VERSION;
    bytes[1] = TYPES[randomInt(TYPES.length)]!;
  }
  return bytes;
}

it(`refuses ${ATTEMPTS} junk frames one by one, and keeps serving`, async () => {
  const codes = new Map<number, number>();
  let answered = 0;
  for (let i = 0; i < ATTEMPTS; i++) {
    const raw = await RawSocket.open(relay.url);
    const bytes = junk();
    raw.sendBytes(bytes);
    const outcome = await Promise.race([
      raw.closeInfo(),
      raw.nextFrame().then(() => undefined),
    ]).catch(() => undefined);
    if (outcome) {
      expect(EXPECTED, `code ${outcome.code} for ${Buffer.from(bytes).toString('hex')}`).toContain(
        outcome.code,
      );
      codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
    } else {
      answered++; // a well-formed HELLO: the relay sent CHALLENGE
    }
    raw.close();
  }
  expect(codes.get(CloseCode.BAD_FRAME)).toBeGreaterThan(0);
  expect([...codes.values()].reduce((x, y) => x + y, 0) + answered).toBe(ATTEMPTS);
  await assertForwards(healthy.a, healthy.b);
});
