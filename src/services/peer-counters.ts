/**
 * What one peer's data plane counts: frames and bytes per path, and frames
 * dropped by reason. The send side, the receive side and the session write
 * here; status, metrics and the inspector read it. Counters only grow.
 */
import { errorCode } from '../errors.js';
import { decodeFrame, peekFrameType } from '../protocol/codec.js';
import { VersionMismatchError } from '../protocol/errors.js';
import type { Frame, FrameType } from '../protocol/frames.js';
import { DropReason } from './drop-reasons.js';
import type { PathName } from './peer-ports.js';

export interface PathCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

export class PeerCounters {
  readonly paths: Record<PathName, PathCounters> = {
    relay: { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0 },
    direct: { framesSent: 0, framesReceived: 0, bytesSent: 0, bytesReceived: 0 },
  };
  /** Frames dropped, by reason code. */
  readonly drops: Record<string, number> = {};
  /** Completed relay → direct upgrades. */
  upgrades = 0;
  /** Working direct paths left for the relay (dead, worse than the relay, closed). */
  fallbacks = 0;
  /** Why and when the direct path was last left; null before the first fallback. */
  lastFallback: { reason: string; at: number } | null = null;
  /** Upgrade attempts that failed, by reason (DIAL_REFUSED, CERT_MISMATCH, …). */
  readonly failedAttempts: Record<string, number> = {};
  /** Frames sent again via the relay when the direct path turned suspect or was left. */
  resentViaRelay = 0;
  /** The version byte of the first frame from the peer in another protocol
   * version (docs/protocol.md §13); null while the peer speaks ours. */
  peerVersion: number | null = null;
  /** Where a line worth a warning goes (a peer of another protocol version). */
  readonly warn: (line: string) => void;

  constructor(options: { warn?: (line: string) => void } = {}) {
    this.warn = options.warn ?? (() => {});
  }

  /** Counts `frames` dropped frames (default one) under `reason`; returns
   * false for `return counters.drop(…)`. */
  drop(reason: string, frames = 1): false {
    this.drops[reason] = (this.drops[reason] ?? 0) + frames;
    return false;
  }

  upgraded(): void {
    this.upgrades++;
  }

  fellBack(reason: string, at = Date.now()): void {
    this.fallbacks++;
    this.lastFallback = { reason, at };
  }

  attemptFailed(reason: string): void {
    this.failedAttempts[reason] = (this.failedAttempts[reason] ?? 0) + 1;
  }

  sent(path: PathName, bytes: number): void {
    const counters = this.paths[path];
    counters.framesSent++;
    counters.bytesSent += bytes;
  }

  received(path: PathName, bytes: number): void {
    const counters = this.paths[path];
    counters.framesReceived++;
    counters.bytesReceived += bytes;
  }
}

/** decodeFrame, with a malformed frame counted under its code instead of thrown. */
export function decodeOrCount(bytes: Uint8Array, counters: PeerCounters): Frame | undefined {
  try {
    return decodeFrame(bytes);
  } catch (error) {
    counters.drop(errorCode(error) ?? DropReason.BAD_FRAME);
    return undefined;
  }
}

/**
 * The type of a frame from the peer (peekFrameType), or undefined with the
 * refusal counted under its code. A peer of another protocol version is
 * named in one line, once per peer (counters.warn), and counted as BAD_VERSION.
 */
export function peekOrCount(bytes: Uint8Array, counters: PeerCounters): FrameType | undefined {
  try {
    return peekFrameType(bytes);
  } catch (error) {
    counters.drop(errorCode(error) ?? DropReason.BAD_FRAME);
    if (error instanceof VersionMismatchError && counters.peerVersion === null) {
      counters.peerVersion = error.version;
      counters.warn(error.line('peer'));
    }
    return undefined;
  }
}
