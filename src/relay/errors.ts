import { SwitchbackError } from '../errors.js';

/** Stable codes of every error src/relay/ throws on purpose. */
export const RelayErrorCode = {
  // Server side.
  LISTEN_FAILED: 'LISTEN_FAILED', //       could not bind the relay or metrics address
  TLS_CONFIG: 'TLS_CONFIG', //             certificate or key missing, unreadable or mismatched
  BAD_OPTION: 'BAD_OPTION', //             a limit or address that makes no sense
  // Client side (src/relay/client.ts).
  CONNECT_FAILED: 'CONNECT_FAILED', //     the WebSocket did not open (refused, TLS, HTTP error)
  DIAL_TIMEOUT: 'DIAL_TIMEOUT', //         the TCP connect got no answer within dialTimeoutMs
  AUTH_REJECTED: 'AUTH_REJECTED', //       the relay closed the connection before WELCOME
  VERSION_MISMATCH: 'VERSION_MISMATCH', // the relay speaks another protocol version (docs/protocol.md §13)
  UNEXPECTED_FRAME: 'UNEXPECTED_FRAME', // the relay sent something out of order or undecodable
  TIMEOUT: 'TIMEOUT', //                   no answer within the time allowed
  CLOSED: 'CLOSED', //                     the connection is closed
  ABORTED: 'ABORTED', //                   the caller's AbortSignal fired
} as const;
export type RelayErrorCode = (typeof RelayErrorCode)[keyof typeof RelayErrorCode];

export class RelayError<
  Code extends RelayErrorCode = RelayErrorCode,
> extends SwitchbackError<Code> {}

/** The relay closed the connection; `closeCode` is one of src/relay/close-codes.ts
 * (or a standard WebSocket code), `closeReason` its text. */
export class RelayClosedError extends RelayError<'AUTH_REJECTED' | 'CLOSED'> {
  readonly closeCode: number;
  readonly closeReason: string;

  constructor(
    code: 'AUTH_REJECTED' | 'CLOSED',
    closeCode: number,
    closeReason: string,
    options?: { cause?: unknown },
  ) {
    const why = closeReason ? `${closeCode} ${closeReason}` : String(closeCode);
    super(
      code,
      code === 'AUTH_REJECTED' ? `relay refused authentication: ${why}` : `relay closed: ${why}`,
      options,
    );
    this.closeCode = closeCode;
    this.closeReason = closeReason;
  }
}
