/**
 * A continuous numbered stream from node a's host to node b's host (one
 * frame per tick), counted on arrival. Shared by the failover tests.
 */
import type { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';
import {
  frameSeq,
  macOf,
  numberedFrame,
  StreamTally,
} from '../../../src/testing/numbered-traffic.js';

export const MAC_A = macOf(0xa);
export const MAC_B = macOf(0xb);

export interface RunningStream {
  tally: StreamTally;
  /** Frames written so far (the next sequence number). */
  readonly sent: number;
  /** Stop writing; resolves once every written frame arrived or `drainMs` passed. */
  stop(drainMs?: number): Promise<StreamTally>;
}

export function startStream(
  cluster: LoopbackCluster,
  options: { everyMs?: number; perTick?: number } = {},
): RunningStream {
  const tally = new StreamTally();
  const off = cluster.hosts.b.onFrames((frames) => {
    for (const frame of frames) {
      const seq = frameSeq(frame);
      if (seq !== undefined) tally.add(seq);
    }
  });
  let sent = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < (options.perTick ?? 1); i++)
      cluster.hosts.a.write(numberedFrame(MAC_A, MAC_B, sent++));
  }, options.everyMs ?? 1);
  return {
    tally,
    get sent() {
      return sent;
    },
    async stop(drainMs = 2_000) {
      clearInterval(timer);
      const deadline = Date.now() + drainMs;
      while (tally.received < sent && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 10));
      off();
      return tally;
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
