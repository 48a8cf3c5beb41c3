/**
 * The peer's MIGRATE markers during the current upgrade attempt: the sign
 * that it has moved its sending to the direct link, which the migrate step
 * waits for. A marker counts only when it names the attempt the step waits
 * for (docs/protocol.md §12): a late or replayed marker of an older attempt,
 * or one that names no attempt, is ignored and counted (STALE_ATTEMPT). The
 * chart forgets what arrived on entering `listening` (its
 * `forgetPeerMigrated` action), so nothing of an earlier attempt lingers.
 */
import { sameAttempt } from '../crypto/rehandshake.js';

/** Markers kept while no step waits yet (the peer may finish its proof first). */
const KEPT = 4;

interface Waiter {
  attemptId: Uint8Array;
  wake: () => void;
}

export interface PeerMigrationOptions {
  /** A marker of another attempt was ignored. */
  onStale?: () => void;
}

export class PeerMigration {
  readonly #arrived: Uint8Array[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #onStale: () => void;

  constructor(options: PeerMigrationOptions = {}) {
    this.#onStale = options.onStale ?? (() => {});
  }

  /** The peer's marker of attempt `attemptId` arrived (on either path). */
  arrived(attemptId: Uint8Array): void {
    if (this.#waiters.size === 0) {
      if (this.#arrived.length >= KEPT) this.#arrived.shift();
      this.#arrived.push(attemptId.slice());
      return;
    }
    let matched = false;
    for (const waiter of [...this.#waiters]) {
      if (!sameAttempt(waiter.attemptId, attemptId)) continue;
      matched = true;
      waiter.wake();
    }
    if (!matched) this.#onStale();
  }

  /** A new attempt begins: an earlier marker says nothing about it. */
  forget(): void {
    this.#arrived.length = 0;
  }

  /** Resolves once the marker of `attemptId` has arrived; rejects when `signal` aborts. */
  wait(attemptId: Uint8Array, signal: AbortSignal): Promise<void> {
    const kept = this.#arrived.splice(0);
    const found = kept.some((id) => sameAttempt(id, attemptId));
    for (const id of kept) if (!sameAttempt(id, attemptId)) this.#onStale();
    if (found) return Promise.resolve();
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        attemptId: attemptId.slice(),
        wake: () => {
          signal.removeEventListener('abort', onAbort);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Shutting down: release every waiter (their steps are being stopped anyway). */
  close(): void {
    for (const waiter of [...this.#waiters]) waiter.wake();
  }
}
