// The responder's guard against replayed and flooded HANDSHAKE_INITs from one
// peer (docs/protocol.md §6.3, §6.4). One per peer, next to its Handshaker.
//
//   3. admit():  the per-peer budget, BEFORE the signature is verified, so a
//                relay replaying old INITs by the thousand costs at most
//                `perSecond` verifications a second: INIT_RATE_LIMITED.
//   5. check():  AFTER the signature verified (the timestamp is signed):
//                - not newer than the greatest accepted → INIT_REPLAYED;
//                - newer, but within `minIntervalMs` of the last accepted
//                  INIT → INIT_TOO_SOON (wireguard-go's HandshakeInitationRate).
//   6. accept(): the INIT was answered: remember its timestamp and when.
//
// Refused INITs change nothing here except the budget (admit). The greatest
// timestamp lives in memory only: a restarted responder accepts an old INIT
// once more, which is harmless because the session it yields only waits in
// the *next* slot and is never promoted (nobody else holds its keys; §8).
import { performance } from 'node:perf_hooks';
import { HandshakeError } from './errors.js';
import { compareTimestamps } from './timestamp.js';

/** wireguard-go's figures: one INIT per peer per 20 ms (= 50 per second). */
export const INIT_GUARD_DEFAULTS = {
  /** Shortest time between two accepted INITs of one peer. */
  minIntervalMs: 20,
  /** INITs of one peer verified per second, sustained. */
  perSecond: 50,
  /** ...and in a burst: one second's worth. */
  burst: 50,
} as const;

export interface InitGuardOptions {
  minIntervalMs?: number;
  perSecond?: number;
  burst?: number;
  /** Monotonic clock in ms (tests pass a fake one). */
  now?: () => number;
}

export class InitGuard {
  private readonly minIntervalMs: number;
  private readonly perSecond: number;
  private readonly burst: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;
  private greatestTimestamp: Uint8Array | undefined;
  private lastAcceptedAt = Number.NEGATIVE_INFINITY;

  constructor(options: InitGuardOptions = {}) {
    this.minIntervalMs = options.minIntervalMs ?? INIT_GUARD_DEFAULTS.minIntervalMs;
    this.perSecond = options.perSecond ?? INIT_GUARD_DEFAULTS.perSecond;
    this.burst = options.burst ?? INIT_GUARD_DEFAULTS.burst;
    this.now = options.now ?? (() => performance.now());
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** The greatest INIT timestamp accepted from this peer (undefined before the first). */
  get greatest(): Uint8Array | undefined {
    return this.greatestTimestamp?.slice();
  }

  /** Step 3: one verification from the budget, or INIT_RATE_LIMITED. */
  admit(): void {
    const now = this.now();
    const elapsed = Math.max(0, now - this.refilledAt);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) {
      throw new HandshakeError(
        'INIT_RATE_LIMITED',
        `more than ${this.perSecond} HANDSHAKE_INITs a second from this peer: dropped unverified`,
      );
    }
    this.tokens -= 1;
  }

  /** Step 5: a verified INIT's timestamp must be newer, and not too soon. */
  check(timestamp: Uint8Array): void {
    if (this.greatestTimestamp && compareTimestamps(timestamp, this.greatestTimestamp) <= 0) {
      throw new HandshakeError(
        'INIT_REPLAYED',
        'HANDSHAKE_INIT timestamp is not newer than the last one accepted from this peer (replayed)',
      );
    }
    if (this.now() - this.lastAcceptedAt < this.minIntervalMs) {
      throw new HandshakeError(
        'INIT_TOO_SOON',
        `HANDSHAKE_INIT within ${this.minIntervalMs} ms of the last accepted one from this peer`,
      );
    }
  }

  /** Step 6: the INIT was answered. */
  accept(timestamp: Uint8Array): void {
    this.greatestTimestamp = timestamp.slice();
    this.lastAcceptedAt = this.now();
  }
}
