import { MAX_FRAME_BYTES } from '../protocol/frames.js';

/**
 * Every limit the relay enforces, with its default and why. The CLI exposes
 * each as a flag (src/cli/relay-command.ts); tests shrink them to provoke the
 * refusals quickly.
 */
export interface RelayLimits {
  /** Largest WebSocket message accepted; ws refuses larger ones before buffering them. */
  maxFrameBytes: number;
  /** Open WebSocket connections (authenticated or not) before new ones are refused. */
  maxConnections: number;
  /** Time from accept to WELCOME; a client that has not proven its key by then is dropped. */
  authTimeoutMs: number;
  /** Per-connection sustained bytes per second (token bucket refill). */
  bytesPerSecond: number;
  /** Per-connection burst in bytes (token bucket capacity). */
  burstBytes: number;
  /** Per-connection sustained frames per second. */
  framesPerSecond: number;
  /** Per-connection burst in frames. */
  burstFrames: number;
  /** Bytes queued towards one receiver before further frames to it are dropped. */
  maxSendBufferBytes: number;
  /** Interval between keepalive pings; a connection silent for two intervals is destroyed. */
  keepaliveIntervalMs: number;
  /** Distinct peers one connection may CONNECT to (bounds the directory's memory per client). */
  maxPeersPerConnection: number;
  /** AUTH signatures remembered to refuse replays (a bounded set, oldest forgotten first). */
  replayCacheSize: number;
}

export const DEFAULT_LIMITS: Readonly<RelayLimits> = Object.freeze({
  // The protocol's own ceiling (src/protocol/frames.ts, docs/protocol.md §2.2): a sealed
  // 64 KiB offload super-frame with its virtio-net header, inside FORWARD.
  maxFrameBytes: MAX_FRAME_BYTES,
  // Two file descriptors per connection stays far below a 65k fd limit; raise with ulimit.
  maxConnections: 10_000,
  // HELLO → CHALLENGE → AUTH is two round trips; 5 s is generous even across continents.
  authTimeoutMs: 5_000,
  // ~270 Mbit/s per connection sustained: a relayed VPN path, not a bulk transfer service.
  bytesPerSecond: 32 * 1024 * 1024,
  // Two seconds of sustained rate, so TCP slow-start bursts inside the tunnel pass.
  burstBytes: 64 * 1024 * 1024,
  // 1400-byte frames at the byte limit are ~24k/s; small frames are capped here instead.
  framesPerSecond: 50_000,
  burstFrames: 100_000,
  // 64 super-frames (or ~2 900 frames of 1400 B): a wss receiver's socket takes a
  // tick's burst of super-frames in TLS records, and 1 MiB (16 of them) dropped
  // ~3 % of a TCP flow's through a wss relay, which TCP paid for at 0.2 × the
  // direct path (docs/relay.md). Worst case 1k slow receivers × 4 MiB = 4 GiB.
  maxSendBufferBytes: 4 * 1024 * 1024,
  // Below common NAT idle timeouts (30 s UDP, minutes for TCP); dead sockets go within 30 s.
  keepaliveIntervalMs: 15_000,
  // A node talks to its configured peers; a thousand is a large mesh, not a scan.
  maxPeersPerConnection: 1_024,
  // At most a few MB; a replay later than this is refused anyway (its nonce is gone).
  replayCacheSize: 65_536,
});

/** Defaults overridden by the given values; rejects values that make no sense. */
export function resolveLimits(overrides: Partial<RelayLimits> = {}): RelayLimits {
  const limits: RelayLimits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(overrides) as [keyof RelayLimits, unknown][]) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_LIMITS)) throw new RangeError(`unknown relay limit ${name}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new RangeError(`relay limit ${name} must be a positive number, got ${String(value)}`);
    }
    limits[name] = value;
  }
  if (limits.maxFrameBytes > MAX_FRAME_BYTES) {
    throw new RangeError(
      `relay limit maxFrameBytes ${limits.maxFrameBytes} exceeds the protocol's ${MAX_FRAME_BYTES}; use at most that`,
    );
  }
  return limits;
}
