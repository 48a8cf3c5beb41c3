/**
 * How long each act of the demo lasts, and the few timings it changes from
 * the daemon's defaults. Everything else (heartbeat, suspect and dead
 * intervals — the figures behind the failover time) is the default a user
 * gets from `switchback up`.
 */
import type { ConnectionTimings } from '../../machines/connection-timings.js';

export const DEMO_DURATION = {
  /** Seconds; `--duration` default. */
  defaultS: 30,
  /** Below this the cut is shorter than fallback plus a little relay time. */
  minS: 15,
  /** A demo, not a soak test: `switchback up` is for long runs. */
  maxS: 600,
} as const;

/**
 * Changed from the defaults so the way back fits in a demo. After a long cut
 * the default retry backoff has grown towards its 60 s cap (on purpose: a
 * dead path should not be dialled every second forever), and a dial into the
 * blackhole waits the full 3 s connect timeout. On loopback a dial takes
 * milliseconds, so 1 s is still generous.
 */
export const DEMO_TIMINGS: Partial<ConnectionTimings> = {
  connectTimeoutMs: 1_000,
  retry: { baseMs: 500, capMs: 2_000, jitter: 0.2 },
};

/** Numbered traffic pushed each way; frames carry IEEE's experimental EtherType. */
export const DEMO_TRAFFIC = { framesPerSecond: 300, frameBytes: 300 } as const;

/** Bounds on the waits that depend on the system under demo, not on `--duration`. */
export const DEMO_LIMITS = {
  /** Relay pairing, handshake and the first upgrade. */
  directWaitMs: 15_000,
  /** Extra time the cut phase may take when fallback is still under way at its end. */
  fallbackGraceMs: 10_000,
  /** Extra time the restore phase may take when the upgrade is still under way. */
  recoveryGraceMs: 15_000,
  /** After the traffic stops, how long stragglers may take. */
  drainMaxMs: 3_000,
} as const;

export interface DemoPhasePlan {
  /** Direct path up, traffic flowing direct. */
  directMs: number;
  /** Direct path blackholed: fallback, then traffic on the relay. */
  cutMs: number;
  /** Direct path back: the upgrade back, then traffic direct again. */
  restoredMs: number;
  /** Traffic stopped: waiting for the last frames. */
  drainMs: number;
}

/** Splits `durationS` over the acts: 20 % direct, 35 % cut, 35 % restored, 10 % drain. */
export function planPhases(durationS: number): DemoPhasePlan {
  const totalMs = durationS * 1000;
  return {
    directMs: Math.round(totalMs * 0.2),
    cutMs: Math.round(totalMs * 0.35),
    restoredMs: Math.round(totalMs * 0.35),
    drainMs: Math.min(DEMO_LIMITS.drainMaxMs, Math.round(totalMs * 0.1)),
  };
}
