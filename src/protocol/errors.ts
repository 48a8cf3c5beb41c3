import { SwitchbackError } from '../errors.js';

/** Stable codes of ProtocolError: what exactly was wrong with the bytes. The
 * relay maps each to a close code (src/relay/close-codes.ts); counters are
 * labelled with them. */
export const ProtocolErrorCode = {
  NOT_BYTES: 'NOT_BYTES', //           input is not a Uint8Array
  TRUNCATED: 'TRUNCATED', //           shorter than the fixed part of its type
  TRAILING_BYTES: 'TRAILING_BYTES', // longer than a fixed-size type allows
  TOO_LARGE: 'TOO_LARGE', //           over MAX_FRAME_BYTES (or a field's own limit)
  BAD_VERSION: 'BAD_VERSION', //       byte 0 is not PROTOCOL_VERSION
  UNKNOWN_TYPE: 'UNKNOWN_TYPE', //     byte 1 is not a FrameType
  UNKNOWN_KIND: 'UNKNOWN_KIND', //     first plaintext byte is not a SealedKind
  BAD_LENGTH: 'BAD_LENGTH', //         a field has the wrong length (key, length prefix, ciphertext)
  BAD_ADDRESS: 'BAD_ADDRESS', //       address family not 4/6, or host text not an address
  BAD_VALUE: 'BAD_VALUE', //           an enum or integer out of range
  BAD_UTF8: 'BAD_UTF8', //             text field is not valid UTF-8
  INTERNAL: 'INTERNAL', //             a codec bug; reported as a ProtocolError all the same
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export class ProtocolError extends SwitchbackError<ProtocolErrorCode> {}
