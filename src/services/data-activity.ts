/**
 * Whether data flows to or from one peer: what the heartbeat's quiet mode
 * (heartbeat.ts) goes by. The data path calls `seen()` once per batch it
 * sends or delivers — one increment and one boolean test, nothing else on
 * the hot path. The heartbeat compares `count` at its ticks; once it stood
 * still for `idleAfterMs` the heartbeat goes quiet with `sleep(wake)`, and
 * the first `seen()` after that calls `wake` — in a microtask, so the
 * heartbeat's ping never runs inside the data path's own call.
 *
 * Heartbeat pings and pongs are not data: they do not count. Nor does a
 * network's background chatter: batches of broadcast or multicast frames
 * only (router solicitations, MLD reports, the odd mDNS or ARP request)
 * count only from the STREAM_BATCHES-th within STREAM_WINDOW_MS — a stream of
 * them is data, a few a second from a few hosts are not, so a LAN's chatter
 * never holds the heartbeat at its busy pace. A unicast frame always counts
 * (a ping's ARP request is broadcast, its echo is not).
 */
export const STREAM_WINDOW_MS = 1000;
export const STREAM_BATCHES = 5;

export class DataActivity {
  /** Batches of data frames sent or delivered so far; only grows. */
  count = 0;
  #wake: (() => void) | undefined;
  /** Broadcast/multicast-only batches in the window that began at #windowAt. */
  #windowAt = Number.NEGATIVE_INFINITY;
  #inWindow = 0;
  readonly #offset: number;
  readonly #now: () => number;

  /** `offset`: where each frame's Ethernet header starts (10 behind a
   * virtio-net header, from and to an offloaded TAP; else 0). */
  constructor(offset = 0, now: () => number = () => performance.now()) {
    this.#offset = offset;
    this.#now = now;
  }

  /** A batch of frames went to the peer or came from it. */
  seenFrames(frames: readonly Uint8Array[]): void {
    const offset = this.#offset;
    for (let i = 0; i < frames.length; i++) {
      // Bit 0 of the destination's first byte: 0 is unicast (IEEE 802 I/G bit).
      if (((frames[i]![offset] ?? 1) & 1) === 0) {
        this.seen();
        return;
      }
    }
    if (frames.length === 0) return;
    const now = this.#now();
    if (now - this.#windowAt >= STREAM_WINDOW_MS) {
      this.#windowAt = now;
      this.#inWindow = 0;
    }
    if (++this.#inWindow >= STREAM_BATCHES) this.seen();
  }

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
