/**
 * Why the connection chart left a state. Every failure transition records one
 * of these in `context.reason`; logs, status, metrics and the inspector show
 * it. Services and crypto throw errors whose `code` is one of these
 * (src/errors.ts), and the chart's guards branch on the code, never on
 * message text. It sits at the top of src/ because both the charts and the
 * layers below them (crypto, services) speak it; neither imports the other.
 */
export const Reason = {
  // Upgrading relay → direct.
  LISTEN_FAILED: 'LISTEN_FAILED', //         could not open our direct listener
  DIAL_REFUSED: 'DIAL_REFUSED', //           TCP connection refused or reset
  DIAL_TIMEOUT: 'DIAL_TIMEOUT', //           nothing answered within connectTimeout
  TLS_FAILED: 'TLS_FAILED', //               TLS handshake failed for another reason
  CERT_MISMATCH: 'CERT_MISMATCH', //         far end's certificate is not the pinned peer key
  HMAC_MISMATCH: 'HMAC_MISMATCH', //         re-handshake proof did not verify
  REHANDSHAKE_TIMEOUT: 'REHANDSHAKE_TIMEOUT',
  MIGRATION_FAILED: 'MIGRATION_FAILED', //   MIGRATE marker lost or path closed mid-switch
  MIGRATION_TIMEOUT: 'MIGRATION_TIMEOUT',
  // Leaving a working direct path.
  HEARTBEAT_TIMEOUT: 'HEARTBEAT_TIMEOUT', // no pong to our own direct-link ping for deadInterval
  QUALITY: 'QUALITY', //                     RTT or loss worse than the relay for a sustained window
  CLOSED: 'CLOSED', //                       the direct link closed under us
  PEER_CLOSED: 'PEER_CLOSED', //             the peer closed the direct path on purpose
  SHUTDOWN: 'SHUTDOWN', //                   we are stopping
  // Successes and nudges (recorded so every transition has a reason).
  STARTED: 'STARTED',
  RETRY: 'RETRY', //                         the retry backoff elapsed
  PEER_ADDRESS: 'PEER_ADDRESS', //           a new peer address was learned: retry at once
  NETWORK_CHANGE: 'NETWORK_CHANGE', //       our own addresses changed: retry at once
  PEER_DIALLED: 'PEER_DIALLED', //           the peer opened a direct link to us: join its attempt
  UPGRADED: 'UPGRADED', //                   migration to direct completed
  HEARTBEAT_MISSED: 'HEARTBEAT_MISSED', //   no pong for suspectInterval: suspect
  HEARTBEAT_OK: 'HEARTBEAT_OK', //           a pong again: healthy
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && value in Reason;
}
