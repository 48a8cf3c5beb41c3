// Direct-link proof (docs/protocol.md §11): on a freshly opened direct link,
// before any DATA, each side proves it holds the end-to-end session, so a TLS
// endpoint that is not the session's peer cannot take over the traffic.
//
//   1. dialer → listener  REHANDSHAKE_CHALLENGE(sessionId, nD)
//   2. listener checks sessionId, picks nL:
//      listener → dialer  REHANDSHAKE_RESPONSE(nL, macL)
//         macL = HMAC(kP, LABEL_LISTENER | sessionId | nD | nL)
//   3. dialer verifies macL:
//      dialer → listener  REHANDSHAKE_CONFIRM(macD)
//         macD = HMAC(kP, LABEL_DIALER | sessionId | nD | nL)
//   4. listener verifies macD. Both now trust the link for this session.
//
//   HMAC = crypto_auth (HMAC-SHA-512-256); kP = the session's proofKey
//   (crypto_kdf of the handshake's key material, docs §5); verification is
//   crypto_auth_verify (constant time). Every failure is HMAC_MISMATCH.
//
//   Attempt id (docs/protocol.md §12): both sides know nD and nL after step 2,
//      attemptId = BLAKE2b-128(LABEL_ATTEMPT | sessionId | nD | nL)
//   It names this upgrade attempt; MIGRATE carries it, so a marker from an
//   older attempt (late, or delayed by the relay) is recognised and ignored.
//
// Pure step functions: frames in, frames out; the direct-link service owns
// sockets and timeouts.

import {
  ATTEMPT_ID_BYTES,
  type FrameOf,
  FrameType,
  MAC_BYTES,
  NONCE_BYTES,
  SESSION_ID_BYTES,
} from '../protocol/frames.js';
import { Reason } from '../reasons.js';
import { RehandshakeError } from './errors.js';
import { requireSodium } from './sodium.js';

export const REHANDSHAKE_FAILURE = Reason.HMAC_MISMATCH;
const ascii = (text: string) => new TextEncoder().encode(text);
export const LABEL_LISTENER = ascii('switchback/v2 rehandshake listener');
export const LABEL_DIALER = ascii('switchback/v2 rehandshake dialer');
export const LABEL_ATTEMPT = ascii('switchback/v2 migrate attempt');

/** MIGRATE's attempt id before any proof completed (nothing to bind to): a
 * receiver that waits for a marker of a real attempt never matches it. */
export const NO_ATTEMPT = new Uint8Array(ATTEMPT_ID_BYTES);

export type ChallengeFrame = FrameOf<typeof FrameType.REHANDSHAKE_CHALLENGE>;
export type ResponseFrame = FrameOf<typeof FrameType.REHANDSHAKE_RESPONSE>;
export type ConfirmFrame = FrameOf<typeof FrameType.REHANDSHAKE_CONFIRM>;

/** What the proof needs from a session (a Session satisfies it). */
export interface ProofSession {
  readonly sessionId: Uint8Array;
  readonly proofKey: Uint8Array;
}

export interface DialerProofState {
  readonly session: ProofSession;
  readonly dialerNonce: Uint8Array;
}

export interface ListenerProofState {
  readonly session: ProofSession;
  readonly dialerNonce: Uint8Array;
  readonly listenerNonce: Uint8Array;
}

function proofMessage(label: Uint8Array, sessionId: Uint8Array, nD: Uint8Array, nL: Uint8Array) {
  const out = new Uint8Array(label.length + SESSION_ID_BYTES + 2 * NONCE_BYTES);
  out.set(label, 0);
  out.set(sessionId, label.length);
  out.set(nD, label.length + SESSION_ID_BYTES);
  out.set(nL, label.length + SESSION_ID_BYTES + NONCE_BYTES);
  return out;
}

function verify(mac: Uint8Array, message: Uint8Array, key: Uint8Array, what: string): void {
  const sodium = requireSodium();
  let ok = false;
  try {
    ok = mac?.length === MAC_BYTES && sodium.crypto_auth_verify(mac, message, key);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new RehandshakeError(`${what} does not prove the session (wrong key or tampered)`);
  }
}

/** Step 1 (dialer): the CHALLENGE to send and the state to keep. */
export function startProof(session: ProofSession): {
  frame: ChallengeFrame;
  state: DialerProofState;
} {
  const dialerNonce = requireSodium().randombytes_buf(NONCE_BYTES);
  return {
    frame: {
      type: FrameType.REHANDSHAKE_CHALLENGE,
      sessionId: session.sessionId.slice(),
      nonce: dialerNonce,
    },
    state: { session, dialerNonce },
  };
}

/** Step 2 (listener): check the CHALLENGE names our session; answer it. */
export function answerChallenge(
  session: ProofSession,
  challenge: ChallengeFrame,
): { frame: ResponseFrame; state: ListenerProofState } {
  const sodium = requireSodium();
  if (
    challenge.sessionId?.length !== SESSION_ID_BYTES ||
    challenge.nonce?.length !== NONCE_BYTES ||
    !sodium.memcmp(challenge.sessionId, session.sessionId)
  ) {
    throw new RehandshakeError('REHANDSHAKE_CHALLENGE names another session');
  }
  const listenerNonce = sodium.randombytes_buf(NONCE_BYTES);
  const dialerNonce = challenge.nonce.slice();
  const mac = sodium.crypto_auth(
    proofMessage(LABEL_LISTENER, session.sessionId, dialerNonce, listenerNonce),
    session.proofKey,
  );
  return {
    frame: { type: FrameType.REHANDSHAKE_RESPONSE, nonce: listenerNonce, mac },
    state: { session, dialerNonce, listenerNonce },
  };
}

/** Step 3 (dialer): verify the RESPONSE; the CONFIRM to send. After this the
 * dialer trusts the link. */
export function checkResponse(state: DialerProofState, response: ResponseFrame): ConfirmFrame {
  const sodium = requireSodium();
  if (response.nonce?.length !== NONCE_BYTES) {
    throw new RehandshakeError('REHANDSHAKE_RESPONSE nonce has the wrong length');
  }
  const { session, dialerNonce } = state;
  verify(
    response.mac,
    proofMessage(LABEL_LISTENER, session.sessionId, dialerNonce, response.nonce),
    session.proofKey,
    'REHANDSHAKE_RESPONSE',
  );
  const mac = sodium.crypto_auth(
    proofMessage(LABEL_DIALER, session.sessionId, dialerNonce, response.nonce),
    session.proofKey,
  );
  return { type: FrameType.REHANDSHAKE_CONFIRM, mac };
}

/** Step 4 (listener): verify the CONFIRM. After this the listener trusts the
 * link. */
export function checkConfirm(state: ListenerProofState, confirm: ConfirmFrame): void {
  const { session, dialerNonce, listenerNonce } = state;
  verify(
    confirm.mac,
    proofMessage(LABEL_DIALER, session.sessionId, dialerNonce, listenerNonce),
    session.proofKey,
    'REHANDSHAKE_CONFIRM',
  );
}

/** The attempt id both sides derive from one proof exchange (§12). */
export function attemptIdOf(
  sessionId: Uint8Array,
  dialerNonce: Uint8Array,
  listenerNonce: Uint8Array,
): Uint8Array {
  return requireSodium().crypto_generichash(
    ATTEMPT_ID_BYTES,
    proofMessage(LABEL_ATTEMPT, sessionId, dialerNonce, listenerNonce),
    null,
  );
}

/** The dialer's attempt id, once the RESPONSE verified (after step 3). */
export function dialerAttemptId(state: DialerProofState, response: ResponseFrame): Uint8Array {
  return attemptIdOf(state.session.sessionId, state.dialerNonce, response.nonce);
}

/** The listener's attempt id (known from step 2; trust it after step 4). */
export function listenerAttemptId(state: ListenerProofState): Uint8Array {
  return attemptIdOf(state.session.sessionId, state.dialerNonce, state.listenerNonce);
}

/** True when a MIGRATE's attempt id is the expected one (constant time). */
export function sameAttempt(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.length === ATTEMPT_ID_BYTES && b.length === ATTEMPT_ID_BYTES && requireSodium().memcmp(a, b)
  );
}
