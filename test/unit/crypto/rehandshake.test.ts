import { beforeAll, describe, expect, it } from 'vitest';
import { RehandshakeError } from '../../../src/crypto/errors.js';
import {
  answerChallenge,
  attemptIdOf,
  checkConfirm,
  checkResponse,
  dialerAttemptId,
  listenerAttemptId,
  NO_ATTEMPT,
  sameAttempt,
  startProof,
} from '../../../src/crypto/rehandshake.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import { type Frame, SealedKind, Space } from '../../../src/protocol/frames.js';
import { Reason } from '../../../src/reasons.js';
import { sessionPair } from './pair.js';

beforeAll(async () => {
  await sodiumReady();
});

const wire = <T extends Frame>(frame: T): T => decodeFrame(encodeFrame(frame)) as T;

describe('direct-link re-handshake', () => {
  it.each([
    ['a dials b', 'a'],
    ['b dials a', 'b'],
  ])('proves the session both ways when %s', async (_name, dialerName) => {
    const { a, b } = await sessionPair();
    const [dialer, listener] = dialerName === 'a' ? [a, b] : [b, a];
    const start = startProof(dialer);
    const answer = answerChallenge(listener, wire(start.frame));
    const confirm = checkResponse(start.state, wire(answer.frame));
    expect(() => checkConfirm(answer.state, wire(confirm))).not.toThrow();
  });

  it('fails with HMAC_MISMATCH when the listener holds another session', async () => {
    const one = await sessionPair();
    const two = await sessionPair();
    const start = startProof(one.a);
    // Same session id, wrong key: an impostor who saw the id on the wire.
    const impostor = { sessionId: one.b.sessionId, proofKey: two.b.proofKey };
    const answer = answerChallenge(impostor, start.frame);
    let error: unknown;
    try {
      checkResponse(start.state, answer.frame);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RehandshakeError);
    expect(error).toMatchObject({ code: Reason.HMAC_MISMATCH });
  });

  it('fails with HMAC_MISMATCH when the dialer holds the wrong key', async () => {
    const one = await sessionPair();
    const two = await sessionPair();
    const impostor = { sessionId: one.a.sessionId, proofKey: two.a.proofKey };
    const start = startProof(impostor);
    const answer = answerChallenge(one.b, start.frame);
    // The impostor cannot check the response either...
    expect(() => checkResponse(start.state, answer.frame)).toThrow(
      expect.objectContaining({ code: 'HMAC_MISMATCH' }),
    );
    // ...and a CONFIRM it makes up does not convince the listener.
    expect(() => checkConfirm(answer.state, { type: 0x32, mac: new Uint8Array(32) })).toThrow(
      expect.objectContaining({ code: 'HMAC_MISMATCH' }),
    );
  });

  it('refuses a challenge for another session id', async () => {
    const one = await sessionPair();
    const two = await sessionPair();
    expect(() => answerChallenge(two.b, startProof(one.a).frame)).toThrow(
      expect.objectContaining({ code: 'HMAC_MISMATCH' }),
    );
  });

  it('a reflected RESPONSE (listener MAC used as CONFIRM) is refused: role labels differ', async () => {
    const { a, b } = await sessionPair();
    const start = startProof(a);
    const answer = answerChallenge(b, start.frame);
    expect(() => checkConfirm(answer.state, { type: 0x32, mac: answer.frame.mac })).toThrow(
      expect.objectContaining({ code: 'HMAC_MISMATCH' }),
    );
  });

  it('a response replayed into a new challenge is refused', async () => {
    const { a, b } = await sessionPair();
    const first = startProof(a);
    const answer = answerChallenge(b, first.frame);
    const second = startProof(a);
    expect(() => checkResponse(second.state, answer.frame)).toThrow(
      expect.objectContaining({ code: 'HMAC_MISMATCH' }),
    );
  });
});

describe('MIGRATE attempt ids (docs/protocol.md §12)', () => {
  it('both sides derive the same id from one proof exchange, as the doc writes it', async () => {
    const sodium = await sodiumReady();
    const { a, b } = await sessionPair();
    const start = startProof(a);
    const answer = answerChallenge(b, wire(start.frame));
    const response = wire(answer.frame);
    checkResponse(start.state, response);
    const atDialer = dialerAttemptId(start.state, response);
    const atListener = listenerAttemptId(answer.state);
    expect(atDialer).toEqual(atListener);
    expect(atDialer).toHaveLength(16);
    expect(sameAttempt(atDialer, atListener)).toBe(true);
    const label = new TextEncoder().encode('switchback/v2 migrate attempt');
    expect(atDialer).toEqual(
      sodium.crypto_generichash(
        16,
        new Uint8Array([...label, ...a.sessionId, ...start.state.dialerNonce, ...response.nonce]),
        null,
      ),
    );
    expect(attemptIdOf(a.sessionId, start.state.dialerNonce, response.nonce)).toEqual(atDialer);
  });

  it('every attempt has its own id, never NO_ATTEMPT; a marker of another attempt does not match', async () => {
    const { a, b } = await sessionPair();
    const ids = Array.from({ length: 5 }, () => {
      const start = startProof(a);
      const answer = answerChallenge(b, start.frame);
      return dialerAttemptId(start.state, answer.frame);
    });
    expect(new Set(ids.map((id) => Buffer.from(id).toString('hex'))).size).toBe(5);
    for (const id of ids) expect(sameAttempt(id, NO_ATTEMPT)).toBe(false);
    expect(sameAttempt(ids[0]!, ids[1]!)).toBe(false);
    // Carried sealed in MIGRATE, in the control space.
    const marker = b.open(a.seal({ kind: SealedKind.MIGRATE, attemptId: ids[3]!, lastSeq: 9n }));
    expect(marker.space).toBe(Space.CONTROL);
    const message = marker.message as { attemptId: Uint8Array; lastSeq: bigint };
    expect(sameAttempt(message.attemptId, ids[3]!)).toBe(true);
    expect(sameAttempt(message.attemptId, ids[2]!)).toBe(false);
    expect(message.lastSeq).toBe(9n);
  });
});
