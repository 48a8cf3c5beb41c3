import { beforeAll, describe, expect, it } from 'vitest';
import { RehandshakeError } from '../../../src/crypto/errors.js';
import {
  answerChallenge,
  checkConfirm,
  checkResponse,
  startProof,
} from '../../../src/crypto/rehandshake.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { decodeFrame, encodeFrame } from '../../../src/protocol/codec.js';
import type { Frame } from '../../../src/protocol/frames.js';
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
