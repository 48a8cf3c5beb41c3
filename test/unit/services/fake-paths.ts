// Small stand-ins for one peer's two send paths (a RelayPath, the DirectLinks'
// send side), for the unit tests of the parts that choose between them.
import type { DirectLinks } from '../../../src/services/direct-links.js';
import type { RelayPath } from '../../../src/services/relay-uplink.js';

/** A path that records what it took; `writable` is set by the test. */
export class FakePath implements RelayPath {
  writable = true;
  readonly sent: Uint8Array[] = [];

  send(frame: Uint8Array): boolean {
    if (!this.writable) return false;
    this.sent.push(frame);
    this.activeSentBytes += frame.length;
    return true;
  }

  /** The DirectLinks queue position of what was sent: link 1, one byte per
   * byte sent; `taken` is what its socket has taken (set by the test). */
  readonly activeSerial = 1;
  activeSentBytes = 0;
  taken = 0;

  settled(serial: number, mark: number): boolean {
    return serial === this.activeSerial && this.taken >= mark;
  }

  /** As DirectLinks, for the parts typed on it (writable, send and the queue position). */
  asDirect(): DirectLinks {
    return this as unknown as DirectLinks;
  }
}

/** An Ethernet-sized frame carrying `n` in its first four bytes. */
export function ethernet(n: number, size = 60): Uint8Array {
  const frame = new Uint8Array(size);
  new DataView(frame.buffer).setUint32(0, n);
  return frame;
}

/** The number an `ethernet(n)` frame carries. */
export function numberOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0);
}
