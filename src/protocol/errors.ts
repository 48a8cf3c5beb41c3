import { SwitchbackError } from '../errors.js';
import { PROTOCOL_VERSION } from './frames.js';

/** Stable codes of ProtocolError: what exactly was wrong with the bytes. The
 * relay maps each to a close code (src/relay/close-codes.ts); counters are
 * labelled with them. */
export const ProtocolErrorCode = {
  NOT_BYTES: 'NOT_BYTES', //           input is not a Uint8Array
  TRUNCATED: 'TRUNCATED', //           shorter than the fixed part of its type
  TRAILING_BYTES: 'TRAILING_BYTES', // longer than a fixed-size type allows
  TOO_LARGE: 'TOO_LARGE', //           over MAX_FRAME_BYTES (or a field's own limit)
  BAD_VERSION: 'BAD_VERSION', //       byte 0 is not PROTOCOL_VERSION (a VersionMismatchError)
  UNKNOWN_TYPE: 'UNKNOWN_TYPE', //     byte 1 is not a FrameType
  UNKNOWN_KIND: 'UNKNOWN_KIND', //     first plaintext byte is not a SealedKind of the frame's space
  BAD_LENGTH: 'BAD_LENGTH', //         a field has the wrong length (key, length prefix, ciphertext)
  BAD_ADDRESS: 'BAD_ADDRESS', //       address family not 4/6, or host text not an address
  BAD_VALUE: 'BAD_VALUE', //           an enum or integer out of range
  BAD_UTF8: 'BAD_UTF8', //             text field is not valid UTF-8
  INTERNAL: 'INTERNAL', //             a codec bug; reported as a ProtocolError all the same
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export class ProtocolError extends SwitchbackError<ProtocolErrorCode> {}

/** Who sent a frame of another version: names the side to upgrade. */
export type VersionPeer = 'peer' | 'relay' | 'node';

/**
 * The one line that says a version mismatch (docs/protocol.md §13), e.g.
 * "peer speaks switchback protocol v1, this node speaks v2; upgrade the peer".
 * The older side is the one to upgrade.
 */
export function versionMismatchLine(
  who: VersionPeer,
  theirs: number,
  self: 'node' | 'relay' = 'node',
): string {
  const upgrade = theirs < PROTOCOL_VERSION ? `the ${who}` : `this ${self}`;
  return `${who} speaks switchback protocol v${theirs}, this ${self} speaks v${PROTOCOL_VERSION}; upgrade ${upgrade}`;
}

/** A frame whose version byte is not ours. Still a ProtocolError (code
 * BAD_VERSION), so "the codec throws only ProtocolError" holds; `version` is
 * the frame's version byte, for the caller's one line (versionMismatchLine). */
export class VersionMismatchError extends ProtocolError {
  readonly version: number;
  /** Byte 1 is a frame type this version knows (a v1 HELLO is): the frame
   * looks like another version's, not like junk. */
  readonly typeKnown: boolean;

  constructor(version: number, typeKnown = false) {
    super(
      'BAD_VERSION',
      `frame is switchback protocol v${version}, this implementation speaks v${PROTOCOL_VERSION}`,
    );
    this.version = version;
    this.typeKnown = typeKnown;
  }

  /** The one line for a log or an error, naming who sent the frame. */
  line(who: VersionPeer, self: 'node' | 'relay' = 'node'): string {
    return versionMismatchLine(who, this.version, self);
  }
}
