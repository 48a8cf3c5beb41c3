/**
 * What the inspector's WebSocket sends to the page, one JSON object per
 * message. The page (page/inspector.js) reads exactly these shapes.
 *
 *   1. snapshot    once, on connect: status, recent transitions, recent samples
 *   2. transition  each state change, as it happens
 *   3. status      every `statusIntervalMs` (RTT, loss, relay link, …)
 *
 * The page never sends anything that changes the node: the stream is read-only.
 */
import type { NodeStatus, PathName, TransitionRecord } from '../node-status.js';

/** One peer's figures at one instant, for the timeline and the small charts. */
export interface PeerSample {
  peer: string;
  path: NodeStatus['peers'][number]['path'];
  rttMs: Record<PathName, number | null>;
  loss: Record<PathName, number | null>;
}

export interface StatusSample {
  at: number;
  peers: PeerSample[];
}

export type InspectorMessage =
  | {
      type: 'snapshot';
      /** Server clock (ms since the epoch), so the page can correct its own. */
      now: number;
      statusIntervalMs: number;
      status: NodeStatus;
      transitions: TransitionRecord[];
      samples: StatusSample[];
    }
  | { type: 'transition'; record: TransitionRecord }
  /** `sample` is sampleOf(status, now): the page charts it as is (one definition, here). */
  | { type: 'status'; now: number; status: NodeStatus; sample: StatusSample };

export function sampleOf(status: NodeStatus, at: number): StatusSample {
  return {
    at,
    peers: status.peers.map((peer) => ({
      peer: peer.name,
      path: peer.path,
      rttMs: { relay: peer.paths.relay.rttMs, direct: peer.paths.direct.rttMs },
      loss: { relay: peer.paths.relay.loss, direct: peer.paths.direct.loss },
    })),
  };
}
