import type { BackoffPolicy } from './backoff.js';

/**
 * Every timing of the relay-link chart, in milliseconds. The chart's named
 * delays read these from `context.timings`, and the link watcher reads the
 * ping timings; users may override any of them in the config's
 * `[timings.relay]` table.
 */
export interface RelayLinkTimings {
  /** TCP + TLS + WebSocket upgrade to the relay must finish within this. */
  connectTimeoutMs: number;
  /** Within that, each TCP connect must be answered within this, or it is dialled again at once. */
  dialTimeoutMs: number;
  /** HELLO → CHALLENGE → AUTH → WELCOME must finish within this. */
  authTimeoutMs: number;
  /** A link that stayed up this long resets the reconnect backoff (anti-flap). */
  stableAfterMs: number;
  /** Ping the relay connection this often, busy or idle (a WebSocket ping the relay answers). */
  pingIntervalMs: number;
  /** No pong for this long: the connection is dead (RELAY_DEAD), though no socket said so. */
  deadAfterMs: number;
  /**
   * Moving to the next relay of the list waits a delay drawn uniformly from
   * 0 to this, so the nodes of a dead relay spread out over the next one.
   */
  switchJitterMs: number;
  /** Reconnect after the relay refused us (AUTH_REFUSED): it will likely refuse again. */
  reconnect: BackoffPolicy;
  /** Reconnect after a dead, unreachable or timed-out link: the relay may be back any moment. */
  redial: BackoffPolicy;
}

export const defaultRelayLinkTimings: RelayLinkTimings = {
  // A relay on another continent answers TCP + TLS 1.3 + upgrade in about 1 s;
  // 3 s also bounds how long a SYN lost in a blackhole holds up the next try.
  connectTimeoutMs: 3_000,
  // The kernel resends a lost SYN after 1 s, then 3 s, 7 s: a relay back from
  // a blackhole would wait up to 2 s for the next one. A fresh dial every
  // second instead: a relay's SYN-ACK is back well within that anywhere.
  dialTimeoutMs: 1_000,
  // Two round trips plus one Ed25519 verification on the relay.
  authTimeoutMs: 5_000,
  // Same hysteresis as the direct path: 30 s up means it was not flapping.
  stableAfterMs: 30_000,
  // One ~60-byte ping a second: a silently dead link (an address that went
  // away, a NAT that forgot us) is noticed within deadAfterMs, even when idle.
  pingIntervalMs: 1_000,
  deadAfterMs: 3_000,
  // 10,000 nodes of a dead relay reach the next at ~10,000 handshakes a
  // second rather than at once; a node moves on within 1 s, which leaves
  // room in the 5 s a relay-path ping may go unanswered (docs/relay.md).
  switchJitterMs: 1_000,
  // A refusal, once every relay of the list has failed: 0.5 s, 1 s, 2 s …
  // 30 s, with 20 % jitter against a herd.
  reconnect: { baseMs: 500, capMs: 30_000, jitter: 0.2 },
  // Dead or unreachable relays, once every relay of the list has failed:
  // 250 ms, 500 ms, then every second at most, so the link is back within
  // ~4 s of a relay becoming reachable (connectTimeout + cap) however long
  // they were gone.
  redial: { baseMs: 250, capMs: 1_000, jitter: 0.2 },
};
