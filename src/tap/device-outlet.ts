/**
 * The reading end every FrameDevice shares: who takes the frames and who
 * hears of errors, and the one way a batch is handed over — counted in the
 * device's stats, with a handler that throws counted and reported, never
 * allowed to stop reading (the FrameDevice contract, device.ts).
 */
import type { SwitchbackError } from '../errors.js';
import type { DeviceStats, FrameHandler } from './device.js';
import { TapIoError } from './errors.js';

export class DeviceOutlet {
  handler: FrameHandler | undefined;
  readonly #name: string;
  readonly #stats: DeviceStats;
  #errorHandler: ((error: SwitchbackError) => void) | undefined;

  constructor(name: string, stats: DeviceStats) {
    this.#name = name;
    this.#stats = stats;
  }

  /** FrameDevice.onError. */
  onError(handler: (error: SwitchbackError) => void): () => void {
    this.#errorHandler = handler;
    return () => {
      if (this.#errorHandler === handler) this.#errorHandler = undefined;
    };
  }

  /** Hands a batch of `bytes` bytes read from the device to the handler; without one, counts it dropped. */
  deliver(frames: Uint8Array[], bytes: number): void {
    const stats = this.#stats;
    stats.batchesRead++;
    stats.framesRead += frames.length;
    stats.bytesRead += bytes;
    const handler = this.handler;
    if (handler === undefined) {
      stats.readDrops += frames.length;
      return;
    }
    try {
      handler(frames);
    } catch (error) {
      stats.handlerErrors++;
      this.report(
        new TapIoError(this.#name, `frame handler threw: ${String(error)}`, { cause: error }),
      );
    }
  }

  /** Tells the error handler, which must not take the reader down by throwing. */
  report(error: SwitchbackError): void {
    try {
      this.#errorHandler?.(error);
    } catch {
      // An error handler that throws must not stop delivery.
    }
  }
}
