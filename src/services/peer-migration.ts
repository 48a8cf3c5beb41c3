/**
 * Whether the peer's MIGRATE marker arrived on the relay during the current
 * upgrade attempt: the sign that it has moved its sending to the direct link,
 * which the migrate step waits for. The chart forgets it on entering
 * `listening` (its `forgetPeerMigrated` action), so a marker from an earlier
 * attempt never completes a later one.
 */
export class PeerMigration {
  #arrived = false;
  readonly #waiters = new Set<() => void>();

  /** The peer's marker arrived on the relay. */
  arrived(): void {
    this.#arrived = true;
    for (const wake of [...this.#waiters]) wake();
  }

  /** A new attempt begins: an earlier marker says nothing about it. */
  forget(): void {
    this.#arrived = false;
  }

  /** Resolves once the marker has arrived; rejects when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void> {
    if (this.#arrived) return Promise.resolve();
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(wake);
        resolve();
      };
      const onAbort = () => {
        this.#waiters.delete(wake);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(wake);
    });
  }

  /** Shutting down: release every waiter (their steps are being stopped anyway). */
  close(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
