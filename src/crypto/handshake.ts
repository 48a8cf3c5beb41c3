// End-to-end handshake, protocol version 2 (docs/protocol.md §6), carried
// inside FORWARD through the relay, which can read it but not forge, complete
// or usefully replay it:
//
//   1. I → R  HANDSHAKE_INIT(I, eI, tsI, capsI, sigI)
//             sigI = Sign_I(LABEL_INIT | I | R | eI | tsI | capsI)
//             tsI: TAI64N from I's TimestampClock, greater than any earlier INIT of I
//   2. R checks the shape and that I is the expected peer;
//   3. R takes one INIT from I's budget (InitGuard.admit: INIT_RATE_LIMITED);
//   4. R verifies sigI (BAD_SIGNATURE);
//   5. R checks tsI is newer than the greatest accepted from I (INIT_REPLAYED)
//      and ≥ 20 ms after the last accepted INIT of I (INIT_TOO_SOON);
//   6. R picks eR, remembers tsI, derives the session and answers
//      R → I  HANDSHAKE_RESP(R, eR, capsR, sigR)
//             sigR = Sign_R(LABEL_RESP | I | R | eI | eR | capsR | sigI)
//      R holds the new session in its *next* slot (SessionSlots, §8).
//   7. I checks R is the expected peer and sigR (binding it to I's own INIT),
//      derives the same session, makes it *current* and at once sends a sealed
//      KEEPALIVE under it, which promotes it at R.
//   Keys: h   = BLAKE2b-256(LABEL_TRANSCRIPT | I | R | eI | eR | tsI | capsI | capsR)
//         dh  = X25519(e_own_secret, e_peer)          (all-zero result refused)
//         prk = BLAKE2b-256(message = dh, key = h)
//         k_I→R = KDF(prk, 1), k_R→I = KDF(prk, 2), proofKey = KDF(prk, 3)
//           (crypto_kdf_derive_from_key, context "sbsessn2")
//         sessionId = BLAKE2b-128(LABEL_SESSION_ID | h)
//         tag       = first 4 bytes, as u32, of BLAKE2b-128(LABEL_SESSION_TAG | h)
//         capabilities = capsI ∩ capsR ∩ known (src/protocol/capabilities.ts)
//   Simultaneous INITs: the INIT from the numerically smaller identity key
//   (bytewise, unsigned) wins. The smaller side ignores the INIT it receives
//   while its own is pending; the larger side answers the winner's INIT and
//   keeps its own pending until a session is promoted (a replayed "winning"
//   INIT must not cancel a real one; the caller cancels on promotion).

import { LOCAL_CAPABILITIES, negotiateCapabilities } from '../protocol/capabilities.js';
import type { HandshakeInit, HandshakeResp } from '../protocol/frames.js';
import { FrameType, KEY_BYTES, SIGNATURE_BYTES, TIMESTAMP_BYTES } from '../protocol/frames.js';
import { HandshakeError } from './errors.js';
import { compareKeys, type Identity, keysEqual, signDetached, verifyDetached } from './identity.js';
import { InitGuard, type InitGuardOptions } from './init-guard.js';
import { requireSodium } from './sodium.js';
import { TimestampClock, tai64n } from './timestamp.js';

const ascii = (text: string) => new TextEncoder().encode(text);
export const LABEL_INIT = ascii('switchback/v2 handshake-init');
export const LABEL_RESP = ascii('switchback/v2 handshake-resp');
export const LABEL_TRANSCRIPT = ascii('switchback/v2 transcript');
export const LABEL_SESSION_ID = ascii('switchback/v2 session-id');
export const LABEL_SESSION_TAG = ascii('switchback/v2 session-tag');
/** crypto_kdf context (8 bytes) for the session keys. */
export const KDF_CONTEXT_SESSION = 'sbsessn2';
export const KDF_ID_INITIATOR_TO_RESPONDER = 1;
export const KDF_ID_RESPONDER_TO_INITIATOR = 2;
export const KDF_ID_PROOF = 3;

export type HandshakeRole = 'initiator' | 'responder';

/** What a completed handshake gives one side: everything Session needs. */
export interface SessionKeys {
  role: HandshakeRole;
  /** 16 bytes, the same on both sides, unique per handshake. */
  sessionId: Uint8Array;
  /** u32 carried in every DATA/CONTROL frame of this session; the same on
   * both sides, so a receiver picks the session without trial decryption. */
  tag: number;
  /** Base key for frames we send (epoch 0; each space derives its own). */
  sendKey: Uint8Array;
  /** Base key for frames we receive (epoch 0). */
  recvKey: Uint8Array;
  /** Key of the direct-link proof (src/crypto/rehandshake.ts). */
  proofKey: Uint8Array;
  localIdentity: Uint8Array;
  peerIdentity: Uint8Array;
  /** The negotiated capability set: both advertised it and we know it. */
  capabilities: number;
  /** What the peer advertised, unknown flags included (for status). */
  peerCapabilities: number;
  /** The INIT's timestamp (TAI64N). */
  timestamp: Uint8Array;
}

/** The initiator's state between sending INIT and receiving RESP. */
export interface PendingInit {
  readonly init: HandshakeInit;
  readonly local: Identity;
  readonly expectedPeer: Uint8Array;
  readonly ephemeralSecret: Uint8Array;
}

export interface InitiateOptions {
  /** Default: the wall clock now (a TimestampClock gives monotonic ones). */
  timestamp?: Uint8Array;
  /** What we advertise; default LOCAL_CAPABILITIES. */
  capabilities?: number;
}

export interface RespondOptions {
  capabilities?: number;
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

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

function checkCapabilities(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;
}

function checkShapes(frame: HandshakeInit | HandshakeResp, name: string): void {
  if (
    frame.identity?.length !== KEY_BYTES ||
    frame.ephemeral?.length !== KEY_BYTES ||
    frame.signature?.length !== SIGNATURE_BYTES ||
    !checkCapabilities(frame.capabilities) ||
    (frame.type === FrameType.HANDSHAKE_INIT && frame.timestamp?.length !== TIMESTAMP_BYTES)
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

function initSigned(init: HandshakeInit, responder: Uint8Array): Uint8Array {
  return concat([
    LABEL_INIT,
    init.identity,
    responder,
    init.ephemeral,
    init.timestamp,
    u32(init.capabilities),
  ]);
}

function respSigned(init: HandshakeInit, resp: Omit<HandshakeResp, 'signature'>): Uint8Array {
  return concat([
    LABEL_RESP,
    init.identity,
    resp.identity,
    init.ephemeral,
    resp.ephemeral,
    u32(resp.capabilities),
    init.signature,
  ]);
}

/** Step 1: the initiator's INIT and the state to keep until RESP arrives. */
export function initiateHandshake(
  local: Identity,
  expectedPeer: Uint8Array,
  options: InitiateOptions = {},
): PendingInit {
  const sodium = requireSodium();
  if (expectedPeer.length !== KEY_BYTES) {
    throw new HandshakeError('KEY_FORMAT', `peer key must be ${KEY_BYTES} bytes`);
  }
  const timestamp = options.timestamp ?? tai64n(Date.now());
  if (timestamp.length !== TIMESTAMP_BYTES) {
    throw new HandshakeError('KEY_FORMAT', `timestamp must be ${TIMESTAMP_BYTES} bytes`);
  }
  const capabilities = options.capabilities ?? LOCAL_CAPABILITIES;
  const eph = sodium.crypto_box_keypair();
  const unsigned: HandshakeInit = {
    type: FrameType.HANDSHAKE_INIT,
    identity: local.publicKey.slice(),
    ephemeral: eph.publicKey,
    timestamp: timestamp.slice(),
    capabilities: capabilities >>> 0,
    signature: new Uint8Array(SIGNATURE_BYTES),
  };
  const init = {
    ...unsigned,
    signature: signDetached(local.secretKey, initSigned(unsigned, expectedPeer)),
  };
  return { init, local, expectedPeer: expectedPeer.slice(), ephemeralSecret: eph.privateKey };
}

/** Steps 2 and 4 (the stateless checks): shape, expected peer, signature. */
export function verifyInit(local: Identity, expectedPeer: Uint8Array, init: HandshakeInit): void {
  requireSodium();
  checkShapes(init, 'HANDSHAKE_INIT');
  checkPeer(init, expectedPeer, 'HANDSHAKE_INIT');
  if (!verifyDetached(init.identity, initSigned(init, local.publicKey), init.signature)) {
    throw new HandshakeError(
      'BAD_SIGNATURE',
      'HANDSHAKE_INIT signature does not verify (forged, or addressed to another identity)',
    );
  }
}

/** Step 6: answer a verified INIT; the RESP to send and the responder's keys. */
export function answerInit(
  local: Identity,
  init: HandshakeInit,
  options: RespondOptions = {},
): { resp: HandshakeResp; keys: SessionKeys } {
  const sodium = requireSodium();
  const eph = sodium.crypto_box_keypair();
  const unsigned = {
    type: FrameType.HANDSHAKE_RESP,
    identity: local.publicKey.slice(),
    ephemeral: eph.publicKey,
    capabilities: (options.capabilities ?? LOCAL_CAPABILITIES) >>> 0,
  } as const;
  const resp: HandshakeResp = {
    ...unsigned,
    signature: signDetached(local.secretKey, respSigned(init, unsigned)),
  };
  try {
    const keys = deriveKeys('responder', init, resp, eph.privateKey, init.ephemeral);
    return { resp, keys };
  } finally {
    sodium.memzero(eph.privateKey);
  }
}

/** Steps 2, 4 and 6 without the per-peer state of step 3 and 5 (Handshaker
 * adds those): check INIT, answer RESP, have the keys. */
export function respondToHandshake(
  local: Identity,
  expectedPeer: Uint8Array,
  init: HandshakeInit,
  options: RespondOptions = {},
): { resp: HandshakeResp; keys: SessionKeys } {
  verifyInit(local, expectedPeer, init);
  return answerInit(local, init, options);
}

/** Step 7: the initiator checks RESP against its pending INIT. */
export function completeHandshake(pending: PendingInit, resp: HandshakeResp): SessionKeys {
  requireSodium();
  checkShapes(resp, 'HANDSHAKE_RESP');
  checkPeer(resp, pending.expectedPeer, 'HANDSHAKE_RESP');
  const { init } = pending;
  if (!verifyDetached(resp.identity, respSigned(init, resp), resp.signature)) {
    throw new HandshakeError(
      'BAD_SIGNATURE',
      'HANDSHAKE_RESP signature does not verify (forged, or answers another INIT)',
    );
  }
  return deriveKeys('initiator', init, resp, pending.ephemeralSecret, resp.ephemeral);
}

/** Forget a pending INIT's ephemeral secret (after completion or abandon). */
export function discardPending(pending: PendingInit): void {
  requireSodium().memzero(pending.ephemeralSecret);
}

function deriveKeys(
  role: HandshakeRole,
  init: HandshakeInit,
  resp: Omit<HandshakeResp, 'signature'>,
  ownEphemeralSecret: Uint8Array,
  peerEphemeral: Uint8Array,
): SessionKeys {
  const sodium = requireSodium();
  const initiator = init.identity;
  const responder = resp.identity;
  const h = sodium.crypto_generichash(
    32,
    concat([
      LABEL_TRANSCRIPT,
      initiator,
      responder,
      init.ephemeral,
      resp.ephemeral,
      init.timestamp,
      u32(init.capabilities),
      u32(resp.capabilities),
    ]),
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
  // 16 bytes (libsodium's minimum output, so any BLAKE2b library can), first 4 used.
  const tagBytes = sodium.crypto_generichash(16, concat([LABEL_SESSION_TAG, h]), null);
  const tag = new DataView(tagBytes.buffer, tagBytes.byteOffset, 4).getUint32(0);
  sodium.memzero(dh);
  sodium.memzero(prk);
  const ours = role === 'initiator' ? init.capabilities : resp.capabilities;
  const theirs = role === 'initiator' ? resp.capabilities : init.capabilities;
  const local = role === 'initiator' ? initiator : responder;
  const peer = role === 'initiator' ? responder : initiator;
  return {
    role,
    sessionId,
    tag,
    sendKey: role === 'initiator' ? i2r : r2i,
    recvKey: role === 'initiator' ? r2i : i2r,
    proofKey,
    localIdentity: local.slice(),
    peerIdentity: peer.slice(),
    capabilities: negotiateCapabilities(ours, theirs),
    peerCapabilities: theirs >>> 0,
    timestamp: init.timestamp.slice(),
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
  /** Set when this step completed a handshake: role 'initiator' → make it
   * current and send a keepalive (SessionSlots.installInitiated); role
   * 'responder' → hold it as next (SessionSlots.installResponded). */
  keys?: SessionKeys;
  /** True when the frame was ignored on purpose (lost tie-break race). */
  ignored?: boolean;
}

export interface HandshakerOptions {
  /** Source of INIT timestamps; one per node, file-backed in the daemon
   * (TimestampClock.forKeyFile). Default: an in-memory clock. */
  clock?: TimestampClock;
  /** Capabilities we advertise; default LOCAL_CAPABILITIES. */
  capabilities?: number;
  /** Replay and flood limits of the peer's INITs (InitGuard). */
  guard?: InitGuardOptions;
}

/**
 * One peer's handshake driver: holds at most one pending INIT, the peer's
 * InitGuard, and applies the tie-break. Pure: no I/O (unless the clock's
 * store writes its file), no timers (the caller retries start() on its own
 * schedule; each start() uses a fresh ephemeral key and a newer timestamp).
 */
export class Handshaker {
  private pending: PendingInit | undefined;
  private readonly clock: TimestampClock;
  private readonly capabilities: number;
  private readonly guard: InitGuard;

  constructor(
    private readonly local: Identity,
    private readonly expectedPeer: Uint8Array,
    options: HandshakerOptions = {},
  ) {
    this.clock = options.clock ?? new TimestampClock();
    this.capabilities = options.capabilities ?? LOCAL_CAPABILITIES;
    this.guard = new InitGuard(options.guard);
  }

  /** True while an INIT of ours awaits its RESP. */
  get isPending(): boolean {
    return this.pending !== undefined;
  }

  /** The greatest INIT timestamp accepted from the peer (since this process started). */
  get peerTimestamp(): Uint8Array | undefined {
    return this.guard.greatest;
  }

  /** Step 1 (again, if called again: the old pending INIT is dropped). */
  start(): HandshakeInit {
    const timestamp = this.clock.next();
    this.cancel();
    this.pending = initiateHandshake(this.local, this.expectedPeer, {
      timestamp,
      capabilities: this.capabilities,
    });
    return this.pending.init;
  }

  /** Drop our pending INIT, if any (also: when a session was promoted). */
  cancel(): void {
    if (this.pending) discardPending(this.pending);
    this.pending = undefined;
  }

  /** Steps 2–7. Throws HandshakeError on a refused frame (the caller counts
   * it by code); the pending INIT survives a refused frame (a forged RESP
   * cannot cancel it), and so does it when we answer the winner's INIT. */
  receive(frame: HandshakeInit | HandshakeResp): HandshakeStep {
    if (frame.type === FrameType.HANDSHAKE_INIT) {
      // 2. shape and peer: cheap, and a wrong peer is reported even when ignored.
      checkShapes(frame, 'HANDSHAKE_INIT');
      checkPeer(frame, this.expectedPeer, 'HANDSHAKE_INIT');
      if (this.pending && initWins(this.local.publicKey, frame.identity)) {
        // Both initiated; ours wins: they will answer our INIT.
        return { ignored: true };
      }
      this.guard.admit(); // 3.
      verifyInit(this.local, this.expectedPeer, frame); // 4.
      this.guard.check(frame.timestamp); // 5.
      const { resp, keys } = answerInit(this.local, frame, { capabilities: this.capabilities }); // 6.
      this.guard.accept(frame.timestamp);
      return { reply: resp, keys };
    }
    if (frame.type === FrameType.HANDSHAKE_RESP) {
      if (!this.pending) {
        throw new HandshakeError('HANDSHAKE_STATE', 'HANDSHAKE_RESP with no INIT of ours pending');
      }
      const keys = completeHandshake(this.pending, frame); // 7.
      this.cancel();
      return { keys };
    }
    throw new HandshakeError('HANDSHAKE_STATE', 'not a handshake frame');
  }
}
