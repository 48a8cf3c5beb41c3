/**
 * Numbered Ethernet frames for the demo, the failover benchmark and tests:
 * every frame carries a sequence number, and the receiver counts what was
 * lost, duplicated and reordered. EtherType 0x88B5 is IEEE's "local
 * experimental" type: no host stack will act on these frames.
 */
export const EXPERIMENTAL_ETHERTYPE = 0x88b5;
const MAGIC = 0x53424b31; // "SBK1"
const HEADER = 14;

export function macOf(id: number): Uint8Array {
  // Locally administered unicast: 02:53:42:00:00:id
  return Uint8Array.of(0x02, 0x53, 0x42, 0x00, (id >> 8) & 0xff, id & 0xff);
}

export function numberedFrame(
  src: Uint8Array,
  dst: Uint8Array,
  seq: number,
  size = 128,
): Uint8Array {
  const frame = new Uint8Array(Math.max(size, HEADER + 8));
  frame.set(dst, 0);
  frame.set(src, 6);
  const view = new DataView(frame.buffer);
  view.setUint16(12, EXPERIMENTAL_ETHERTYPE);
  view.setUint32(HEADER, MAGIC);
  view.setUint32(HEADER + 4, seq);
  return frame;
}

/** The sequence number of a numbered frame, or undefined for any other frame. */
export function frameSeq(frame: Uint8Array): number | undefined {
  if (frame.length < HEADER + 8) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  if (view.getUint16(12) !== EXPERIMENTAL_ETHERTYPE || view.getUint32(HEADER) !== MAGIC)
    return undefined;
  return view.getUint32(HEADER + 4);
}

/** Counts a numbered stream as it arrives. */
export class StreamTally {
  received = 0;
  duplicated = 0;
  reordered = 0;
  /** Highest sequence number seen; -1 before any. */
  highest = -1;
  readonly #seen = new Set<number>();
  /** When each sequence number arrived (performance.now()), for failover timing. */
  readonly arrivals = new Map<number, number>();

  add(seq: number, at: number = performance.now()): void {
    if (this.#seen.has(seq)) {
      this.duplicated++;
      return;
    }
    this.#seen.add(seq);
    this.arrivals.set(seq, at);
    this.received++;
    if (seq < this.highest) this.reordered++;
    else this.highest = seq;
  }

  /** Frames among 0..sent-1 that never arrived. */
  lost(sent: number): number {
    let missing = 0;
    for (let seq = 0; seq < sent; seq++) if (!this.#seen.has(seq)) missing++;
    return missing;
  }

  has(seq: number): boolean {
    return this.#seen.has(seq);
  }
}
