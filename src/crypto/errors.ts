import { SwitchbackError } from '../errors.js';
import { Reason } from '../reasons.js';

/** Stable codes of every error src/crypto/ throws on purpose. */
export const CryptoErrorCode = {
  SODIUM_NOT_READY: 'SODIUM_NOT_READY', //       a sync crypto call before sodiumReady() resolved
  KEY_FORMAT: 'KEY_FORMAT', //                   a key string or key bytes are malformed
  KEY_FILE_EXISTS: 'KEY_FILE_EXISTS', //         saveIdentity would overwrite a file
  KEY_FILE_NOT_FOUND: 'KEY_FILE_NOT_FOUND',
  KEY_FILE_PERMISSIONS: 'KEY_FILE_PERMISSIONS', // key file readable by group/others
  KEY_FILE_FORMAT: 'KEY_FILE_FORMAT', //         key file content is not switchback-key-v1
  KEY_FILE_IO: 'KEY_FILE_IO', //                 any other filesystem failure
  PEER_MISMATCH: 'PEER_MISMATCH', //             handshake from/for an identity we did not expect
  BAD_SIGNATURE: 'BAD_SIGNATURE', //             handshake signature does not verify
  BAD_KEY: 'BAD_KEY', //                         ephemeral key gives an all-zero X25519 result
  HANDSHAKE_STATE: 'HANDSHAKE_STATE', //         a RESP with no INIT pending, or for another INIT
  INIT_REPLAYED: 'INIT_REPLAYED', //             INIT timestamp not newer than the greatest accepted from that peer
  INIT_RATE_LIMITED: 'INIT_RATE_LIMITED', //     over the per-peer INIT budget (50/s): refused before verifying
  INIT_TOO_SOON: 'INIT_TOO_SOON', //             a new INIT within 20 ms of the last accepted one from that peer
  STATE_FILE_FORMAT: 'STATE_FILE_FORMAT', //     the handshake timestamp state file is not switchback-timestamp-v1
  STATE_FILE_IO: 'STATE_FILE_IO', //             the timestamp state file cannot be read or written
  DECRYPT_FAILED: 'DECRYPT_FAILED', //           AEAD tag did not verify (tampered, wrong key)
  REPLAY: 'REPLAY', //                           counter already accepted (duplicate or replay)
  STALE: 'STALE', //                             counter is behind the replay window
  UNKNOWN_EPOCH: 'UNKNOWN_EPOCH', //             epoch neither current, previous (in grace) nor next
  COUNTER_EXHAUSTED: 'COUNTER_EXHAUSTED', //     sender ran out of counters: a new handshake is due
  SESSION_CLOSED: 'SESSION_CLOSED', //           seal() after close()
  UNKNOWN_SESSION: 'UNKNOWN_SESSION', //         sealed frame's tag names no session we hold (current, next, previous)
  NO_SESSION: 'NO_SESSION', //                   seal with no current session (SessionSlots before promotion)
  HMAC_MISMATCH: Reason.HMAC_MISMATCH, //        re-handshake proof did not verify
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

export class CryptoError<
  Code extends CryptoErrorCode = CryptoErrorCode,
> extends SwitchbackError<Code> {}

export class SodiumNotReadyError extends CryptoError<'SODIUM_NOT_READY'> {
  constructor() {
    super('SODIUM_NOT_READY', 'libsodium is not initialised: await sodiumReady() first');
  }
}

/** A public key string (base64url) or key bytes that are not a valid key. */
export class KeyFormatError extends CryptoError<'KEY_FORMAT'> {
  constructor(message: string) {
    super('KEY_FORMAT', message);
  }
}

export type KeyFileErrorCode =
  | 'KEY_FILE_EXISTS'
  | 'KEY_FILE_NOT_FOUND'
  | 'KEY_FILE_PERMISSIONS'
  | 'KEY_FILE_FORMAT'
  | 'KEY_FILE_IO';

/** Saving or loading an identity key file failed; `path` names the file. */
export class KeyFileError extends CryptoError<KeyFileErrorCode> {
  readonly path: string;
  constructor(
    code: KeyFileErrorCode,
    path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.path = path;
  }
}

export type HandshakeErrorCode =
  | 'PEER_MISMATCH'
  | 'BAD_SIGNATURE'
  | 'BAD_KEY'
  | 'HANDSHAKE_STATE'
  | 'KEY_FORMAT'
  | 'INIT_REPLAYED'
  | 'INIT_RATE_LIMITED'
  | 'INIT_TOO_SOON';

/** The end-to-end handshake refused a message (docs/protocol.md §6). The
 * caller counts every refusal by code; INIT_REPLAYED, INIT_RATE_LIMITED and
 * INIT_TOO_SOON are what a replaying relay causes: count them, don't warn. */
export class HandshakeError extends CryptoError<HandshakeErrorCode> {}

/** The handshake timestamp state file (docs/protocol.md §1.2) is unusable;
 * `path` names it. */
export class StateFileError extends CryptoError<'STATE_FILE_FORMAT' | 'STATE_FILE_IO'> {
  readonly path: string;
  constructor(
    code: 'STATE_FILE_FORMAT' | 'STATE_FILE_IO',
    path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.path = path;
  }
}

export type SessionErrorCode =
  | 'DECRYPT_FAILED'
  | 'REPLAY'
  | 'STALE'
  | 'UNKNOWN_EPOCH'
  | 'COUNTER_EXHAUSTED'
  | 'SESSION_CLOSED'
  | 'UNKNOWN_SESSION'
  | 'NO_SESSION';

/** A DATA or CONTROL frame was refused (docs/protocol.md §8, §9). Expected in
 * normal operation for REPLAY (duplicates on two paths): count, don't log. */
export class SessionError extends CryptoError<SessionErrorCode> {}

/** The direct-link proof failed (docs/protocol.md §11). */
export class RehandshakeError extends CryptoError<'HMAC_MISMATCH'> {
  constructor(message: string) {
    super('HMAC_MISMATCH', message);
  }
}
