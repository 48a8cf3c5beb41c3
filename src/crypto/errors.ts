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
  DECRYPT_FAILED: 'DECRYPT_FAILED', //           AEAD tag did not verify (tampered, wrong key)
  REPLAY: 'REPLAY', //                           counter already accepted (duplicate or replay)
  STALE: 'STALE', //                             counter is behind the replay window
  UNKNOWN_EPOCH: 'UNKNOWN_EPOCH', //             epoch neither current, previous (in grace) nor next
  COUNTER_EXHAUSTED: 'COUNTER_EXHAUSTED', //     sender ran out of counters: a new handshake is due
  SESSION_CLOSED: 'SESSION_CLOSED', //           seal() after close()
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
  | 'KEY_FORMAT';

/** The end-to-end handshake refused a message (docs/protocol.md §5). */
export class HandshakeError extends CryptoError<HandshakeErrorCode> {}

export type SessionErrorCode =
  | 'DECRYPT_FAILED'
  | 'REPLAY'
  | 'STALE'
  | 'UNKNOWN_EPOCH'
  | 'COUNTER_EXHAUSTED'
  | 'SESSION_CLOSED';

/** A DATA frame was refused by the session (docs/protocol.md §6). Expected in
 * normal operation for REPLAY (duplicates on two paths): count, don't log. */
export class SessionError extends CryptoError<SessionErrorCode> {}

/** The direct-link proof failed (docs/protocol.md §8). */
export class RehandshakeError extends CryptoError<'HMAC_MISMATCH'> {
  constructor(message: string) {
    super('HMAC_MISMATCH', message);
  }
}
