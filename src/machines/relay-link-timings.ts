import type { BackoffPolicy } from './backoff.js';

/**
 * Every timing of the relay-link chart, in milliseconds. The chart's named
 * delays read these from `context.timings`; users may override any of them in
 * the config's `[timings.relay]` table.
 */
export interface RelayLinkTimings {
  /** TCP + TLS + WebSocket upgrade to the relay must finish within this. */
  connectTimeoutMs: number;
  /** HELLO → CHALLENGE → AUTH → WELCOME must finish within this. */
  authTimeoutMs: number;
  /** A link that stayed up this long resets the reconnect backoff (anti-flap). */
  stableAfterMs: number;
  /** Reconnect after any failure; never gives up. */
  reconnect: BackoffPolicy;
}

export const defaultRelayLinkTimings: RelayLinkTimings = {
  // A relay on another continent answers TCP + TLS 1.3 + upgrade well under 2 s.
  connectTimeoutMs: 5_000,
  // Two round trips plus one Ed25519 verification on the relay.
  authTimeoutMs: 5_000,
  // Same hysteresis as the direct path: 30 s up means it was not flapping.
  stableAfterMs: 30_000,
  // 0.5 s, 1 s, 2 s … 30 s: the relay is the fallback path, so retry it faster
  // and cap lower than the direct path; 20 % jitter spreads a relay restart's herd.
  reconnect: { baseMs: 500, capMs: 30_000, jitter: 0.2 },
};
