/**
 * Numbered traffic both ways through a LoopbackCluster: a's host sends to b's
 * and b's to a's at a steady rate, and each receiving host tallies what
 * arrives. Send times are kept per sequence number so the summary can say
 * when each lost frame was sent (before the cut, during failover, …).
 */
import type { LoopbackCluster, NodeName } from '../../testing/loopback-cluster.js';
import { frameSeq, macOf, numberedFrame, StreamTally } from '../../testing/numbered-traffic.js';

export type DirectionName = 'aToB' | 'bToA';

export const DIRECTIONS: readonly DirectionName[] = ['aToB', 'bToA'];

/** One numbered stream: who sends it, who receives it, and what happened to it. */
export interface DemoStream {
  readonly from: NodeName;
  readonly to: NodeName;
  sent: number;
  /** performance.now() at which frame `seq` was handed to the sender's device. */
  readonly sendTimes: number[];
  readonly tally: StreamTally;
}

/** Sending is paced by this tick; each tick catches up to `rate × elapsed`. */
const TICK_MS = 10;
/** After a stalled event loop, never burst more than this many ticks' worth. */
const MAX_CATCH_UP_TICKS = 20;

export class DemoTraffic {
  readonly streams: Record<DirectionName, DemoStream>;
  readonly #cluster: LoopbackCluster;
  readonly #rate: number;
  readonly #frameBytes: number;
  readonly #stopReceiving: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #paced = 0;

  constructor(cluster: LoopbackCluster, options: { framesPerSecond: number; frameBytes: number }) {
    this.#cluster = cluster;
    this.#rate = options.framesPerSecond;
    this.#frameBytes = options.frameBytes;
    const stream = (from: NodeName, to: NodeName): DemoStream => ({
      from,
      to,
      sent: 0,
      sendTimes: [],
      tally: new StreamTally(),
    });
    this.streams = { aToB: stream('a', 'b'), bToA: stream('b', 'a') };
    for (const direction of DIRECTIONS) {
      const { to, tally } = this.streams[direction];
      this.#stopReceiving.push(
        cluster.hosts[to].onFrames((frames) => {
          const now = performance.now();
          for (const frame of frames) {
            const seq = frameSeq(frame);
            if (seq !== undefined) tally.add(seq, now);
          }
        }),
      );
    }
  }

  get sending(): boolean {
    return this.#timer !== undefined;
  }

  start(): void {
    if (this.#timer) return;
    this.#startedAt = performance.now();
    this.#paced = 0;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /** Stops sending; arrivals are still counted until close(). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    for (const stop of this.#stopReceiving.splice(0)) stop();
  }

  #tick(): void {
    const due = Math.floor(((performance.now() - this.#startedAt) / 1000) * this.#rate);
    const limit = Math.ceil((this.#rate * TICK_MS * MAX_CATCH_UP_TICKS) / 1000);
    const count = Math.min(due - this.#paced, limit);
    // Behind by more than the limit: forget the backlog rather than burst.
    this.#paced = count === limit ? due : this.#paced + count;
    if (count <= 0) return;
    for (const direction of DIRECTIONS) this.#send(this.streams[direction], count);
  }

  #send(stream: DemoStream, count: number): void {
    const src = macOf(stream.from === 'a' ? 0xa : 0xb);
    const dst = macOf(stream.to === 'a' ? 0xa : 0xb);
    const frames: Uint8Array[] = [];
    const now = performance.now();
    for (let i = 0; i < count; i++) {
      const seq = stream.sent++;
      stream.sendTimes.push(now);
      frames.push(numberedFrame(src, dst, seq, this.#frameBytes));
    }
    // A frame the node's device refuses is simply lost: the tally shows it.
    this.#cluster.hosts[stream.from].writeBatch(frames);
  }
}
