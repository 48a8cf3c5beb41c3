/**
 * Whether data flows to or from one peer: what the heartbeat's quiet mode
 * (heartbeat.ts) goes by. The data path calls `seen()` once per batch it
 * sends or delivers — one increment and one boolean test, nothing else on
 * the hot path. The heartbeat compares `count` at its ticks; once it stood
 * still for `idleAfterMs` the heartbeat goes quiet with `sleep(wake)`, and
 * the first `seen()` after that calls `wake` — in a microtask, so the
 * heartbeat's ping never runs inside the data path's own call.
 *
 * Heartbeat pings and pongs are not data: they do not count.
 */
export class DataActivity {
  /** Batches of data frames sent or delivered so far; only grows. */
  count = 0;
  #wake: (() => void) | undefined;

  /** A batch of data frames went to the peer or came from it. */
  seen(): void {
    this.count++;
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      queueMicrotask(wake);
    }
  }

  /** The heartbeat went quiet: the next `seen()` calls `wake`, once. */
  sleep(wake: () => void): void {
    this.#wake = wake;
  }

  /** The heartbeat that asked for `wake` stopped: it is owed nothing. */
  cancel(wake: () => void): void {
    if (this.#wake === wake) this.#wake = undefined;
  }

  get sleeping(): boolean {
    return this.#wake !== undefined;
  }
}
