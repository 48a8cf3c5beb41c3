/**
 * The direct path's trust deadline, kept by the heartbeat (heartbeat.ts)
 * rather than by the chart: a proof renews it with one assignment, and the
 * chart hears only what changes its state.
 *
 *   trusted ── no proof for silenceMs ──▶ silent()   (the chart: SILENT → suspect)
 *   silent / askProof() ── a proof ────▶ alive()    (the chart: ALIVE → healthy)
 *
 * One timer, armed for the deadline as it stood when it was armed; when it
 * fires it compares the deadline with now and re-arms for what is left if a
 * proof moved it meanwhile. So 5 proofs a second cost 5 assignments and
 * under 2 timer arms, where re-arming per proof cost 5 (and a chart event
 * each). The deadline is exact: silent() comes silenceMs after the last
 * proof, not at the next heartbeat tick. The heartbeat changes silenceMs
 * when it goes quiet and when it wakes (`pace`).
 */

/** What the deadline reports, once per change. */
export interface TrustEvents {
  /** No proof for silenceMs while trusted. */
  silent(): void;
  /** The first proof after silent() or askProof(). */
  alive(): void;
}

/** The clock and timers it runs on (tests pass fakes). */
export interface TrustClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: TrustClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class TrustDeadline {
  #silenceMs: number;
  readonly #events: TrustEvents;
  readonly #clock: TrustClock;
  /** When the path was last proved (clock ms). */
  #lastProofAt: number;
  /** Trusted at least until then, proof or not (clock ms; see `pace`). */
  #graceUntil = Number.NEGATIVE_INFINITY;
  /** False after silent() or askProof(), until the next proof. */
  #trusted = true;
  /** The deadline's timer; undefined while not trusted, or stopped. */
  #timer: unknown;
  #stopped = false;

  /** Starts trusted: the link was just proved (re-handshake and migration). */
  constructor(silenceMs: number, events: TrustEvents, clock: TrustClock = realClock) {
    this.#silenceMs = silenceMs;
    this.#events = events;
    this.#clock = clock;
    this.#lastProofAt = clock.now();
    this.#arm(silenceMs);
  }

  get trusted(): boolean {
    return this.#trusted;
  }

  /** When the path was last proved (clock ms). */
  get lastProofAt(): number {
    return this.#lastProofAt;
  }

  /** Two-way proof of the path at `atMs`. */
  proved(atMs: number = this.#clock.now()): void {
    if (this.#stopped) return;
    this.#lastProofAt = atMs;
    if (this.#trusted) return; // the armed timer will find the new deadline
    this.#trusted = true;
    this.#arm(this.#silenceMs);
    this.#events.alive();
  }

  /** The heartbeat changed pace (quiet ↔ busy): silent() now comes
   * `silenceMs` after the last proof. With `graceMs`, not before `graceMs`
   * from now either: waking from quiet, the path gets one full interval to
   * answer the ping sent at once, however long ago the last proof was. */
  pace(silenceMs: number, graceMs?: number): void {
    if (this.#stopped) return;
    this.#silenceMs = silenceMs;
    if (graceMs !== undefined) this.#graceUntil = this.#clock.now() + graceMs;
    if (!this.#trusted) return; // the next proof arms for the new silence
    // Re-arm: a shorter silence must not wait for the timer of a longer one.
    this.#disarm();
    this.#arm(Math.max(0, Math.ceil(this.#deadline() - this.#clock.now())));
  }

  /** The chart stopped trusting the path for its own reason (e.g. our
   * addresses changed): the next proof reports alive(). */
  askProof(): void {
    if (this.#stopped) return;
    this.#trusted = false;
    this.#disarm();
  }

  stop(): void {
    this.#stopped = true;
    this.#disarm();
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimeout(this.#expired, ms);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #deadline(): number {
    return Math.max(this.#lastProofAt + this.#silenceMs, this.#graceUntil);
  }

  readonly #expired = (): void => {
    this.#timer = undefined;
    if (this.#stopped || !this.#trusted) return;
    const left = this.#deadline() - this.#clock.now();
    if (left > 0) {
      // Whole ms: Node keeps one timer list per distinct duration, and a
      // fractional one would make a new list at nearly every re-arm.
      this.#arm(Math.ceil(left));
      return;
    }
    this.#trusted = false;
    this.#events.silent();
  };
}
