/**
 * Holds a socket corked until the end of the current tick, so the frames
 * written to it within one turn of the event loop (a TAP read batch, or the
 * FORWARDs one TCP read carried) leave in one writev instead of one syscall
 * each. `hold()` is cheap to call per frame: only the first call in a tick
 * corks and schedules the uncork.
 */
import type { Socket } from 'node:net';

export class TickCork {
  #socket: Socket | undefined;
  readonly #release = (): void => {
    const socket = this.#socket;
    this.#socket = undefined;
    socket?.uncork();
  };

  /** Cork `socket` until the end of this tick (nothing when already held or absent). */
  hold(socket: Socket | undefined): void {
    if (this.#socket !== undefined || socket === undefined) return;
    this.#socket = socket;
    socket.cork();
    process.nextTick(this.#release);
  }
}
