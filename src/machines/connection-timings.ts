import type { BackoffPolicy } from './backoff.js';

/**
 * Every timing of the per-peer connection chart, in milliseconds. The chart's
 * named delays read these; the direct-path services read the rest. Users may
 * override any of them in the config's `[timings]` table.
 */
export interface ConnectionTimings {
  /** Ping the direct link this often while data flows: only a pong to our
   * own ping is proof of life (inbound traffic is not: an asymmetric block
   * lets it through while ours vanishes). */
  heartbeatIntervalMs: number;
  /** No pong for this long: the direct path is suspect and frames go both ways. */
  suspectIntervalMs: number;
  /** No data frame to or from the peer for this long: the heartbeat goes
   * quiet (idleHeartbeatIntervalMs, idleSuspectIntervalMs) until the next
   * data frame, which brings back the pace above at once. 0: never quiet. */
  idleAfterMs: number;
  /** While quiet: ping this often … */
  idleHeartbeatIntervalMs: number;
  /** … and turn suspect after this long without a pong. */
  idleSuspectIntervalMs: number;
  /** No pong for this long: the direct path is dead and we fall back. */
  deadIntervalMs: number;
  /** Each step of an upgrade (dial, re-handshake) must finish within this. */
  connectTimeoutMs: number;
  /** The peer with the larger key waits this long for the smaller to dial. */
  dialDelayMs: number;
  /** A migration must be acknowledged by the far end within this. */
  migrationTimeoutMs: number;
  /** A direct path healthy this long resets the retry backoff (anti-flap). */
  stableAfterMs: number;
  /** Retry of the direct path after a failure or fallback. */
  retry: BackoffPolicy;
  /** After the direct path died (HEARTBEAT_TIMEOUT): re-probe it this often … */
  reprobeIntervalMs: number;
  /** … this many times, each dial given only this long, before today's backoff resumes. */
  reprobes: number;
  reprobeDialTimeoutMs: number;
}

/**
 * Defaults. The failover target is p95 ≤ 1 s from a dead direct path to the
 * first frame delivered via the relay (bench/failover measures it).
 */
export const defaultConnectionTimings: ConnectionTimings = {
  // 5 pings/s: ~0.5 kB/s, and a silent path is noticed within 3 intervals.
  heartbeatIntervalMs: 200,
  // Three unanswered pings: frames start flowing on both paths, so a dead
  // direct path costs at most this much delivery delay, not lost frames.
  suspectIntervalMs: 600,
  // Idle, nothing is at stake between pings: one a second keeps the path's
  // NAT and firewall state warm and notices a dead path within 3 s. The
  // first data frame pings at once and gives the path one suspectInterval
  // to answer, so a path that died while idle costs what it costs busy:
  // at most suspectInterval of delay, made up by the resend on suspect.
  idleAfterMs: 5_000,
  idleHeartbeatIntervalMs: 1_000,
  idleSuspectIntervalMs: 3_000,
  // Tailscale trusts a silent direct path 6.5 s; we already send on both paths
  // while suspect, so giving up after 2.5 s only stops the duplicate sending.
  deadIntervalMs: 2_500,
  // TCP + TLS 1.3 + one WebSocket upgrade on a far continent is under 1 s.
  connectTimeoutMs: 3_000,
  // Enough for the smaller-key peer's SYN to arrive first on any sane path.
  dialDelayMs: 300,
  // Two round trips through the relay, with margin.
  migrationTimeoutMs: 2_000,
  // A path that stayed up 30 s was not flapping.
  stableAfterMs: 30_000,
  // 1 s, 2 s, 4 s … 60 s; the predecessor retried every 60 s flat.
  retry: { baseMs: 1_000, capMs: 60_000, jitter: 0.2 },
  // A path that died (a blackhole, a cut cable, a roaming peer) often comes
  // back as it went. Probing it every 250 ms, each dial cut at 750 ms (a SYN
  // lost in the blackhole must not hold back the next probe), finds it again
  // within ~1 s of its return; 40 probes ≈ 40 s of one SYN a second, then
  // the backoff above. A refused or wrong peer ends re-probing at once.
  reprobeIntervalMs: 250,
  reprobes: 40,
  reprobeDialTimeoutMs: 750,
};
