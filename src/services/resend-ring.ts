/**
 * The last frames put on the direct path and nowhere else, with when: what a
 * dying direct link may have swallowed. When the path turns suspect or is
 * left, the send side hands the recent ones to the relay (see
 * peer-sender.ts); the receiver's replay window drops the copies that did
 * arrive, so a dead direct path costs delivery delay, not frames.
 *
 * Fixed capacity, parallel arrays, no object per frame: record() is on the
 * hot path. The capacity stays below the replay window (4064), so a resent
 * copy is never refused as stale.
 *
 * A frame pushed out by newer ones (capacity, byte budget) is handed to
 * `onForget` with the two numbers recorded beside it — the sender uses them
 * to give its buffer back once the socket has taken it (sealed-pool.ts).
 * Frames handed on by drainSince() or dropped by clear() are not: they may
 * live on elsewhere.
 */
/** The memory a recorded frame keeps alive: its whole ArrayBuffer. */
function held(frame: Uint8Array): number {
  return frame.buffer.byteLength;
}

export type ForgetHandler = (frame: Uint8Array, owner: number, mark: number) => void;

export class ResendRing {
  readonly #frames: (Uint8Array | undefined)[];
  readonly #at: Float64Array;
  readonly #owner: Float64Array;
  readonly #mark: Float64Array;
  readonly #onForget: ForgetHandler | undefined;
  /** Most bytes held: sealed super-frames are up to 64 KiB, so the count
   * alone (4000 × 64 KiB = 256 MiB) would not bound memory. What a frame
   * holds is its whole ArrayBuffer (a pooled slot is 64 KiB whatever the
   * message's length; a small frame keeps its 8 KiB allocUnsafe slab alive),
   * so that is what is counted. */
  readonly #maxBytes: number;
  /** Slot the next record() writes. */
  #head = 0;
  #size = 0;
  #bytes = 0;

  constructor(capacity: number, maxBytes = Number.POSITIVE_INFINITY, onForget?: ForgetHandler) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`resend ring capacity must be a positive integer, got ${capacity}`);
    }
    if (!(maxBytes > 0)) throw new RangeError(`resend ring maxBytes must be > 0, got ${maxBytes}`);
    this.#frames = new Array(capacity);
    this.#at = new Float64Array(capacity);
    this.#owner = new Float64Array(capacity);
    this.#mark = new Float64Array(capacity);
    this.#maxBytes = maxBytes;
    this.#onForget = onForget;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes the frames held keep alive (their ArrayBuffers). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Remember a sealed frame just sent on the direct path, at time `at` (ms),
   * with `owner` and `mark` for onForget. The oldest frames are forgotten
   * past the capacity or the byte budget (the newest one is always kept). */
  record(frame: Uint8Array, at: number, owner = 0, mark = 0): void {
    const capacity = this.#frames.length;
    const head = this.#head;
    const replaced = this.#frames[head];
    if (replaced !== undefined) {
      this.#bytes -= held(replaced);
      this.#onForget?.(replaced, this.#owner[head]!, this.#mark[head]!);
    }
    this.#frames[head] = frame;
    this.#at[head] = at;
    this.#owner[head] = owner;
    this.#mark[head] = mark;
    this.#bytes += held(frame);
    this.#head = (head + 1) % capacity;
    if (this.#size < capacity) this.#size++;
    while (this.#bytes > this.#maxBytes && this.#size > 1) {
      const oldest = (this.#head - this.#size + capacity) % capacity;
      const forgotten = this.#frames[oldest] as Uint8Array;
      this.#bytes -= held(forgotten);
      this.#frames[oldest] = undefined;
      this.#size--;
      this.#onForget?.(forgotten, this.#owner[oldest]!, this.#mark[oldest]!);
    }
  }

  /**
   * Hand every frame recorded at or after `since` to `send`, oldest first,
   * then forget them all. Returns how many `send` accepted.
   */
  drainSince(since: number, send: (frame: Uint8Array) => boolean): number {
    const capacity = this.#frames.length;
    let slot = (this.#head - this.#size + capacity) % capacity;
    let accepted = 0;
    for (let i = 0; i < this.#size; i++) {
      const frame = this.#frames[slot];
      if (frame !== undefined && this.#at[slot]! >= since && send(frame)) accepted++;
      slot = (slot + 1) % capacity;
    }
    this.clear();
    return accepted;
  }

  clear(): void {
    this.#frames.fill(undefined);
    this.#head = 0;
    this.#size = 0;
    this.#bytes = 0;
  }
}
