import type { SwitchbackError } from '../errors.js';
import {
  DEFAULT_MTU,
  type DeviceStats,
  emptyStats,
  type FrameDevice,
  type FrameHandler,
  frameDropReason,
} from './device.js';
import { DeviceOutlet } from './device-outlet.js';

export interface MemoryDevicePairOptions {
  names?: readonly [string, string];
  mtu?: number;
  /**
   * Frames each side holds for its reader before dropping (counted in
   * readDrops), like a TAP device's txqueuelen. Default 1000, Linux's default.
   */
  queueLimit?: number;
}

/**
 * Two in-memory devices joined like the two ends of a cable: a frame written
 * to one is read from the other. Delivery is asynchronous and batched per
 * event-loop turn (everything written in one turn arrives as one batch), the
 * way a TAP device delivers what the kernel queued since the last wakeup.
 *
 * Use one end as the node's device and the other as the test's handle to
 * inject and observe frames — no root, no kernel.
 */
export function createMemoryDevicePair(
  options: MemoryDevicePairOptions = {},
): [MemoryDevice, MemoryDevice] {
  const [nameA, nameB] = options.names ?? ['mem0', 'mem1'];
  const mtu = options.mtu ?? DEFAULT_MTU;
  const limit = options.queueLimit ?? 1000;
  const a = new MemoryDevice(nameA, mtu, limit);
  const b = new MemoryDevice(nameB, mtu, limit);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export class MemoryDevice implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: DeviceStats = emptyStats();
  /** The other end; undefined after either end closed. */
  peer: MemoryDevice | undefined;

  readonly #queueLimit: number;
  #inbox: Uint8Array[] = [];
  readonly #outlet: DeviceOutlet;
  #scheduled: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(name: string, mtu: number, queueLimit: number) {
    this.name = name;
    this.mtu = mtu;
    this.#queueLimit = queueLimit;
    this.#outlet = new DeviceOutlet(name, this.stats);
  }

  get closed(): boolean {
    return this.#closed;
  }

  onFrames(handler: FrameHandler): () => void {
    if (this.#closed) return () => {};
    this.#outlet.handler = handler;
    this.#schedule();
    return () => {
      if (this.#outlet.handler === handler) this.#outlet.handler = undefined;
    };
  }

  onError(handler: (error: SwitchbackError) => void): () => void {
    return this.#outlet.onError(handler);
  }

  write(frame: Uint8Array): boolean {
    return this.writeBatch([frame]) === 1;
  }

  writeBatch(frames: readonly Uint8Array[]): number {
    let written = 0;
    for (const frame of frames) {
      const peer = this.peer;
      if (this.#closed || peer === undefined) {
        this.stats.writeDrops.closed++;
        continue;
      }
      const reason = frameDropReason(frame, this.mtu);
      if (reason !== undefined) {
        this.stats.writeDrops[reason]++;
        continue;
      }
      // Copy: the caller may reuse its buffer as soon as write() returns
      // (Buffer.from copies; a Buffer's slice() would be a view).
      peer.#receive(Buffer.from(frame));
      this.stats.framesWritten++;
      this.stats.bytesWritten += frame.byteLength;
      written++;
    }
    return written;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#outlet.handler = undefined;
    this.#inbox = [];
    if (this.#scheduled !== undefined) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const peer = this.peer;
    this.peer = undefined;
    if (peer !== undefined) peer.peer = undefined;
  }

  #receive(frame: Uint8Array): void {
    if (this.#inbox.length >= this.#queueLimit) {
      this.stats.readDrops++;
      return;
    }
    this.#inbox.push(frame);
    this.#schedule();
  }

  #schedule(): void {
    if (
      this.#scheduled !== undefined ||
      this.#outlet.handler === undefined ||
      this.#inbox.length === 0
    )
      return;
    this.#scheduled = setImmediate(() => this.#deliver());
  }

  #deliver(): void {
    this.#scheduled = undefined;
    if (this.#outlet.handler === undefined || this.#inbox.length === 0) return;
    const frames = this.#inbox;
    this.#inbox = [];
    let bytes = 0;
    for (const frame of frames) bytes += frame.byteLength;
    this.#outlet.deliver(frames, bytes);
  }
}
