import { ClusterError } from './errors.js';

/**
 * How a relay joins a cluster (docs/relay.md "A relay cluster"). Every timing
 * sits in CLUSTER_TIMINGS with its reason; tests shrink none of them, since
 * the figures they check (forgotten within 3 s, back within 10 s) are these.
 */
export interface ClusterOptions {
  /** nats://HOST:PORT (or tls://), one or more servers of the same NATS cluster. */
  servers: string[];
  /** This relay's name in the cluster: a NATS subject token, unique per relay. */
  name: string;
  auth?: ClusterAuth;
  /** PEM CA certificates to trust for tls:// servers instead of the system's. */
  ca?: string | Buffer;
  timings?: Partial<ClusterTimings>;
}

/** NATS credentials: a token, a user and password, or a .creds file (JWT + NKey seed). */
export type ClusterAuth =
  | { kind: 'token'; token: string }
  | { kind: 'user'; user: string; password: string }
  | { kind: 'creds'; creds: Uint8Array };

export interface ClusterTimings {
  /** Each relay says "still here" this often, with its presence sequence number. */
  heartbeatIntervalMs: number;
  /** A relay not heard from for this long is forgotten with all its peers. */
  presenceExpiryMs: number;
  /** How often expiry is checked. */
  sweepIntervalMs: number;
  /** Wait between attempts to reach NATS while it is down. */
  reconnectWaitMs: number;
  /** Budget of the first attempt at start-up; after it the relay serves local peers and keeps trying. */
  firstConnectTimeoutMs: number;
  /** NATS client pings: a half-open connection is noticed after two missed ones. */
  natsPingIntervalMs: number;
  /** Least time between two full-presence requests to the same relay. */
  syncRetryMs: number;
  /** How long a lookup of an unknown key waits for the cluster's answer. */
  locateTimeoutMs: number;
}

export const CLUSTER_TIMINGS: Readonly<ClusterTimings> = Object.freeze({
  // Four heartbeats per expiry: one or two lost or late ones never forget a live relay.
  heartbeatIntervalMs: 500,
  // The bound is 3 s; 2 s plus a 250 ms sweep leaves 750 ms for a loaded machine.
  presenceExpiryMs: 2_000,
  sweepIntervalMs: 250,
  // NATS back within 10 s means traffic back within 10 s: 0.5 s + one heartbeat + a sync.
  reconnectWaitMs: 500,
  // Start-up must not hang on a NATS that is down; it only fails fast on refused credentials.
  firstConnectTimeoutMs: 2_000,
  // The client's default (2 min) would keep a half-open connection "up" for minutes.
  natsPingIntervalMs: 2_000,
  // Two heartbeats: a lost answer is asked for again, never in a loop.
  syncRetryMs: 1_000,
  // A cluster answers in a round trip (< 1 ms on a LAN); a CONNECT can wait this once.
  locateTimeoutMs: 250,
});

/** Byte limits of the path to the cluster (bounded everywhere: drops, never growth). */
export const CLUSTER_LIMITS = Object.freeze({
  // Bytes handed to NATS and not yet confirmed by a PING/PONG round trip; beyond
  // it frames are dropped (cluster_backlog). ~6000 full-size frames: a burst rides
  // through, a stalled NATS costs at most this much memory.
  maxInFlightBytes: 8 * 1024 * 1024,
  // A round-trip probe after every this many bytes sent.
  probeEveryBytes: 256 * 1024,
  // Keys per full-presence message: 4096 × 40 bytes = 160 KiB, well under NATS's 1 MB.
  snapshotChunkEntries: 4_096,
  // Lookups of unknown keys waiting for the cluster at once; beyond it they answer "unknown".
  maxLocatesInFlight: 64,
});

/** A relay name is one NATS subject token; it also appears in logs and metrics. */
export const RELAY_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function resolveTimings(overrides: Partial<ClusterTimings> = {}): ClusterTimings {
  const timings: ClusterTimings = { ...CLUSTER_TIMINGS };
  for (const [name, value] of Object.entries(overrides) as [keyof ClusterTimings, unknown][]) {
    if (value === undefined) continue;
    if (!(name in CLUSTER_TIMINGS))
      throw new ClusterError('BAD_OPTION', `unknown cluster timing ${name}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new ClusterError('BAD_OPTION', `cluster timing ${name} must be a positive number`);
    }
    timings[name] = value;
  }
  if (timings.presenceExpiryMs < 2 * timings.heartbeatIntervalMs) {
    throw new ClusterError(
      'BAD_OPTION',
      'presenceExpiryMs must be at least two heartbeat intervals, or live relays get forgotten',
    );
  }
  return timings;
}

export function checkClusterOptions(options: ClusterOptions): void {
  if (!RELAY_NAME.test(options.name)) {
    throw new ClusterError(
      'BAD_OPTION',
      `relay name ${JSON.stringify(options.name)} must be 1-64 letters, digits, - or _`,
    );
  }
  if (options.servers.length === 0) {
    throw new ClusterError('BAD_OPTION', 'a cluster needs at least one nats:// server');
  }
  for (const server of options.servers) {
    if (!/^(nats|tls):\/\/[^/\s]+:\d{1,5}$/.test(server)) {
      throw new ClusterError(
        'BAD_OPTION',
        `${JSON.stringify(server)} is not nats://HOST:PORT; write e.g. nats://127.0.0.1:4222`,
      );
    }
  }
}
