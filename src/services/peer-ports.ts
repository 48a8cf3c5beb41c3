/**
 * What the connection chart's actors may touch of one peer's data plane. The
 * PeerLink implements it; each actor file (listen, dial-peer, rehandshake,
 * migrate, heartbeat, fallback) takes it and nothing wider, so an actor's
 * file says exactly what it can do.
 */
import type { Session } from '../crypto/session.js';
import type { ConnectionTimings } from '../machines/connection-timings.js';
import type { Frame } from '../protocol/frames.js';
import type { DataActivity } from './data-activity.js';
import type { DirectLink } from './direct-link.js';
import type { PathStats, QualityPolicy } from './path-quality.js';

export type PathName = 'relay' | 'direct';

export interface PeerPorts {
  readonly name: string;
  readonly peerKey: Uint8Array;
  readonly localKey: Uint8Array;
  readonly timings: ConnectionTimings;
  readonly quality: QualityPolicy;
  readonly stats: Record<PathName, PathStats>;
  /** Data frames moving to or from the peer (the heartbeat's quiet mode). */
  readonly activity: DataActivity;

  /** The end-to-end session; null before the first handshake completes. */
  session(): Session | null;

  /** Make the node's direct listener accept this peer. */
  allowInbound(): void;
  /** Open (or accept) the direct link to `host:port`, tie-break included. */
  establish(host: string, port: number, signal: AbortSignal): Promise<DirectLink>;

  /** Take ownership of a link: its frames now reach this peer. Returns its id. */
  adoptLink(link: DirectLink): string;
  link(id: string): DirectLink | undefined;
  /** Close a link on purpose (code from LinkCloseCode) and forget it. */
  dropLink(id: string, code: number, reason: string): void;

  /** Next re-handshake frame that arrived on this link. */
  nextProofFrame(linkId: string, signal: AbortSignal): Promise<Frame>;
  /** Send a raw (unsealed) frame on a link: the re-handshake's frames. */
  sendRaw(linkId: string, frame: Frame): boolean;

  /** Resolves once the peer's MIGRATE marker of upgrade attempt `attemptId`
   * arrived: the peer has moved its sending to the direct link. */
  waitPeerMigrated(attemptId: Uint8Array, signal: AbortSignal): Promise<void>;

  /** Send a sealed PING on `path`; returns its id (stats record it). */
  sendPing(path: PathName): number | undefined;
  /** Called at each two-way proof of the direct path: a pong to our ping, or
   * (`rideAlong`) the peer's ping echoing one our pong answered (peer-probes.ts). */
  onDirectProof(handler: (atMs: number, rideAlong: boolean) => void): () => void;
}
