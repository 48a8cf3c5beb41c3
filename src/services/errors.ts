// Errors of the direct path's transport (listener, dial, tie-break). Each
// `code` is the Reason the connection chart records (src/reasons.ts),
// so guards branch on `error.code` and never on message text.
import { SwitchbackError } from '../errors.js';
import { Reason } from '../reasons.js';

export type DirectErrorCode =
  | typeof Reason.LISTEN_FAILED
  | typeof Reason.DIAL_REFUSED
  | typeof Reason.DIAL_TIMEOUT
  | typeof Reason.TLS_FAILED
  | typeof Reason.CERT_MISMATCH
  | typeof Reason.CLOSED;

export class DirectError<
  Code extends DirectErrorCode = DirectErrorCode,
> extends SwitchbackError<Code> {}

/** Our direct listener could not bind (address in use, not permitted, …). */
export class ListenFailedError extends DirectError<'LISTEN_FAILED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Reason.LISTEN_FAILED, message, options);
  }
}

/** TCP said no: connection refused or reset, host or network unreachable. */
export class DialRefusedError extends DirectError<'DIAL_REFUSED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Reason.DIAL_REFUSED, message, options);
  }
}

/** Nothing completed the TCP + TLS + WebSocket handshake within the timeout. */
export class DialTimeoutError extends DirectError<'DIAL_TIMEOUT'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Reason.DIAL_TIMEOUT, message, options);
  }
}

/** The TLS or WebSocket handshake failed for a reason other than the key. */
export class TlsFailedError extends DirectError<'TLS_FAILED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Reason.TLS_FAILED, message, options);
  }
}

/** The far end's certificate is not the pinned key — or the far end refused ours. */
export class CertMismatchError extends DirectError<'CERT_MISMATCH'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Reason.CERT_MISMATCH, message, options);
  }
}

/** A link closed while the tie-break still needed it. */
export class LinkClosedError extends DirectError<'CLOSED'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super(Reason.CLOSED, message, options);
  }
}
