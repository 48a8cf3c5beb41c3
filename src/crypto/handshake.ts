// End-to-end handshake (docs/protocol.md §5), carried inside FORWARD through
// the relay, which can read it but not forge or complete it:
//
//   1. I → R  HANDSHAKE_INIT(I, eI, sigI)   sigI = Sign_I(LABEL_INIT | I | R | eI)
//   2. R checks I is the expected peer and sigI; picks eR;
//      R → I  HANDSHAKE_RESP(R, eR, sigR)   sigR = Sign_R(LABEL_RESP | I | R | eI | eR | sigI)
//      R derives the session keys now.
//   3. I checks R is the expected peer and sigR (binding it to I's own INIT),
//      then derives the same keys.
//   Keys: h   = BLAKE2b-256(LABEL_TRANSCRIPT | I | R | eI | eR)
//         dh  = X25519(e_own_secret, e_peer)          (all-zero result refused)
//         prk = BLAKE2b-256(message = dh, key = h)
//         k_I→R = KDF(prk, 1), k_R→I = KDF(prk, 2), proofKey = KDF(prk, 3)
//           (crypto_kdf_derive_from_key, context "sbsessn1")
//         sessionId = BLAKE2b-128(LABEL_SESSION_ID | h)
//   Simultaneous INITs: the INIT from the numerically smaller identity key
//   (bytewise, unsigned) wins; the larger side drops its own pending INIT and
//   answers the other's, the smaller side ignores the INIT it receives.
import type { HandshakeInit, HandshakeResp } from '../protocol/frames.js';
import { FrameType, KEY_BYTES, SIGNATURE_BYTES } from '../protocol/frames.js';
import { HandshakeError } from './errors.js';
import { compareKeys, type Identity, keysEqual, signDetached, verifyDetached } from './identity.js';
import { requireSodium } from './sodium.js';

const ascii = (text: string) => new TextEncoder().encode(text);
export const LABEL_INIT = ascii('switchback/v1 handshake-init');
export const LABEL_RESP = ascii('switchback/v1 handshake-resp');
export const LABEL_TRANSCRIPT = ascii('switchback/v1 transcript');
export const LABEL_SESSION_ID = ascii('switchback/v1 session-id');
/** crypto_kdf context (8 bytes) for the session keys. */
export const KDF_CONTEXT_SESSION = 'sbsessn1';
export const KDF_ID_INITIATOR_TO_RESPONDER = 1;
export const KDF_ID_RESPONDER_TO_INITIATOR = 2;
export const KDF_ID_PROOF = 3;

export type HandshakeRole = 'initiator' | 'responder';

/** What a completed handshake gives one side: everything Session needs. */
export interface SessionKeys {
  role: HandshakeRole;
  /** 16 bytes, the same on both sides, unique per handshake. */
  sessionId: Uint8Array;
  /** Key for frames we send (epoch 0). */
  sendKey: Uint8Array;
  /** Key for frames we receive (epoch 0). */
  recvKey: Uint8Array;
  /** Key of the direct-link proof (src/crypto/rehandshake.ts). */
  proofKey: Uint8Array;
  localIdentity: Uint8Array;
  peerIdentity: Uint8Array;
}

/** The initiator's state between sending INIT and receiving RESP. */
export interface PendingInit {
  readonly init: HandshakeInit;
  readonly local: Identity;
  readonly expectedPeer: Uint8Array;
  readonly ephemeralSecret: Uint8Array;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function checkShapes(frame: HandshakeInit | HandshakeResp, name: string): void {
  if (
    frame.identity?.length !== KEY_BYTES ||
    frame.ephemeral?.length !== KEY_BYTES ||
    frame.signature?.length !== SIGNATURE_BYTES
  ) {
    throw new HandshakeError('KEY_FORMAT', `${name} has fields of the wrong length`);
  }
}

function checkPeer(frame: HandshakeInit | HandshakeResp, expectedPeer: Uint8Array, name: string) {
  if (!keysEqual(frame.identity, expectedPeer)) {
    throw new HandshakeError(
      'PEER_MISMATCH',
      `${name} comes from an identity we did not expect (refused)`,
    );
  }
}

/** Step 1: the initiator's INIT and the state to keep until RESP arrives. */
export function initiateHandshake(local: Identity, expectedPeer: Uint8Array): PendingInit {
  const sodium = requireSodium();
  if (expectedPeer.length !== KEY_BYTES) {
    throw new HandshakeError('KEY_FORMAT', `peer key must be ${KEY_BYTES} bytes`);
  }
  const eph = sodium.crypto_box_keypair();
  const toSign = concat([LABEL_INIT, local.publicKey, expectedPeer, eph.publicKey]);
  const init: HandshakeInit = {
    type: FrameType.HANDSHAKE_INIT,
    identity: local.publicKey.slice(),
    ephemeral: eph.publicKey,
    signature: signDetached(local.secretKey, toSign),
  };
  return { init, local, expectedPeer: expectedPeer.slice(), ephemeralSecret: eph.privateKey };
}

/** Step 2: the responder checks INIT, answers RESP and has its keys. */
export function respondToHandshake(
  local: Identity,
  expectedPeer: Uint8Array,
  init: HandshakeInit,
): { resp: HandshakeResp; keys: SessionKeys } {
  const sodium = requireSodium();
  checkShapes(init, 'HANDSHAKE_INIT');
  checkPeer(init, expectedPeer, 'HANDSHAKE_INIT');
  const signed = concat([LABEL_INIT, init.identity, local.publicKey, init.ephemeral]);
  if (!verifyDetached(init.identity, signed, init.signature)) {
    throw new HandshakeError(
      'BAD_SIGNATURE',
      'HANDSHAKE_INIT signature does not verify (forged, or addressed to another identity)',
    );
  }
  const eph = sodium.crypto_box_keypair();
  const respSigned = concat([
    LABEL_RESP,
    init.identity,
    local.publicKey,
    init.ephemeral,
    eph.publicKey,
    init.signature,
  ]);
  const resp: HandshakeResp = {
    type: FrameType.HANDSHAKE_RESP,
    identity: local.publicKey.slice(),
    ephemeral: eph.publicKey,
    signature: signDetached(local.secretKey, respSigned),
  };
  const keys = deriveKeys(
    'responder',
    init.identity,
    local.publicKey,
    init.ephemeral,
    eph.publicKey,
    eph.privateKey,
    init.ephemeral,
  );
  sodium.memzero(eph.privateKey);
  return { resp, keys };
}

/** Step 3: the initiator checks RESP against its pending INIT. */
export function completeHandshake(pending: PendingInit, resp: HandshakeResp): SessionKeys {
  requireSodium();
  checkShapes(resp, 'HANDSHAKE_RESP');
  checkPeer(resp, pending.expectedPeer, 'HANDSHAKE_RESP');
  const { init } = pending;
  const signed = concat([
    LABEL_RESP,
    init.identity,
    resp.identity,
    init.ephemeral,
    resp.ephemeral,
    init.signature,
  ]);
  if (!verifyDetached(resp.identity, signed, resp.signature)) {
    throw new HandshakeError(
      'BAD_SIGNATURE',
      'HANDSHAKE_RESP signature does not verify (forged, or answers another INIT)',
    );
  }
  const keys = deriveKeys(
    'initiator',
    init.identity,
    resp.identity,
    init.ephemeral,
    resp.ephemeral,
    pending.ephemeralSecret,
    resp.ephemeral,
  );
  return keys;
}

/** Forget a pending INIT's ephemeral secret (after completion or abandon). */
export function discardPending(pending: PendingInit): void {
  requireSodium().memzero(pending.ephemeralSecret);
}

function deriveKeys(
  role: HandshakeRole,
  initiator: Uint8Array,
  responder: Uint8Array,
  eI: Uint8Array,
  eR: Uint8Array,
  ownEphemeralSecret: Uint8Array,
  peerEphemeral: Uint8Array,
): SessionKeys {
  const sodium = requireSodium();
  const h = sodium.crypto_generichash(
    32,
    concat([LABEL_TRANSCRIPT, initiator, responder, eI, eR]),
    null,
  );
  let dh: Uint8Array;
  try {
    dh = sodium.crypto_scalarmult(ownEphemeralSecret, peerEphemeral);
  } catch (cause) {
    throw new HandshakeError('BAD_KEY', 'peer ephemeral key is not usable for X25519', { cause });
  }
  if (sodium.is_zero(dh)) {
    throw new HandshakeError('BAD_KEY', 'peer ephemeral key is a low-order point');
  }
  const prk = sodium.crypto_generichash(32, dh, h);
  const i2r = sodium.crypto_kdf_derive_from_key(
    32,
    KDF_ID_INITIATOR_TO_RESPONDER,
    KDF_CONTEXT_SESSION,
    prk,
  );
  const r2i = sodium.crypto_kdf_derive_from_key(
    32,
    KDF_ID_RESPONDER_TO_INITIATOR,
    KDF_CONTEXT_SESSION,
    prk,
  );
  const proofKey = sodium.crypto_kdf_derive_from_key(32, KDF_ID_PROOF, KDF_CONTEXT_SESSION, prk);
  const sessionId = sodium.crypto_generichash(16, concat([LABEL_SESSION_ID, h]), null);
  sodium.memzero(dh);
  sodium.memzero(prk);
  const local = role === 'initiator' ? initiator : responder;
  const peer = role === 'initiator' ? responder : initiator;
  return {
    role,
    sessionId,
    sendKey: role === 'initiator' ? i2r : r2i,
    recvKey: role === 'initiator' ? r2i : i2r,
    proofKey,
    localIdentity: local.slice(),
    peerIdentity: peer.slice(),
  };
}

/** Who wins when both sides sent an INIT: the smaller identity key's INIT. */
export function initWins(initiatorKey: Uint8Array, otherKey: Uint8Array): boolean {
  return compareKeys(initiatorKey, otherKey) < 0;
}

/** What to do with a handshake frame (the result of Handshaker.receive). */
export interface HandshakeStep {
  /** Frame to send back to the peer, if any. */
  reply?: HandshakeResp;
  /** Set when this step completed a handshake. */
  keys?: SessionKeys;
  /** True when the frame was ignored on purpose (lost tie-break race). */
  ignored?: boolean;
}

/**
 * One peer's handshake driver: holds at most one pending INIT and applies the
 * tie-break. Pure: no I/O, no timers (the caller retries start() on its own
 * schedule; each start() uses a fresh ephemeral key).
 */
export class Handshaker {
  private pending: PendingInit | undefined;

  constructor(
    private readonly local: Identity,
    private readonly expectedPeer: Uint8Array,
  ) {}

  /** True while an INIT of ours awaits its RESP. */
  get isPending(): boolean {
    return this.pending !== undefined;
  }

  /** Step 1 (again, if called again: the old pending INIT is dropped). */
  start(): HandshakeInit {
    this.cancel();
    this.pending = initiateHandshake(this.local, this.expectedPeer);
    return this.pending.init;
  }

  cancel(): void {
    if (this.pending) discardPending(this.pending);
    this.pending = undefined;
  }

  /** Steps 2 and 3. Throws HandshakeError on a refused frame; the pending
   * INIT survives a refused frame (a forged RESP cannot cancel it). */
  receive(frame: HandshakeInit | HandshakeResp): HandshakeStep {
    if (frame.type === FrameType.HANDSHAKE_INIT) {
      if (this.pending && initWins(this.local.publicKey, frame.identity)) {
        // Both initiated; ours wins. Validate theirs anyway so a wrong peer is
        // still reported, then ignore it: they will answer our INIT.
        checkShapes(frame, 'HANDSHAKE_INIT');
        checkPeer(frame, this.expectedPeer, 'HANDSHAKE_INIT');
        return { ignored: true };
      }
      const { resp, keys } = respondToHandshake(this.local, this.expectedPeer, frame);
      this.cancel(); // theirs wins (or we had none): our INIT is void
      return { reply: resp, keys };
    }
    if (frame.type === FrameType.HANDSHAKE_RESP) {
      if (!this.pending) {
        throw new HandshakeError('HANDSHAKE_STATE', 'HANDSHAKE_RESP with no INIT of ours pending');
      }
      const keys = completeHandshake(this.pending, frame);
      this.cancel();
      return { keys };
    }
    throw new HandshakeError('HANDSHAKE_STATE', 'not a handshake frame');
  }
}
