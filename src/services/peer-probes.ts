/**
 * Probes of one peer's two paths, and what they measured (RTT, jitter, loss
 * per path: PathStats).
 *
 * - Direct: a WebSocket ping inside the mutually authenticated, pinned TLS
 *   stream of the active link — two-way proof on the data's own socket that
 *   uses no sequence number, so a probe lost with a dead path leaves no gap
 *   for the receiver to wait on (docs/protocol.md §10.2).
 * - Relay, which we do not trust: a sealed PING; the PONG comes back sealed.
 *
 * The heartbeat actor sends the probes and judges the path by the pongs;
 * `switchback ping` asks for one and waits for its answer.
 */
import { SealedKind, type SealedMessage } from '../protocol/frames.js';
import { PathStats, type QualityPolicy } from './path-quality.js';
import type { PathName } from './peer-ports.js';

export type PongHandler = (path: PathName, id: number, rttMs: number) => void;

export interface PeerProbesOptions {
  quality: QualityPolicy;
  /** A WebSocket ping carrying `id` on the active direct link; false if none. */
  pingDirect: (id: number) => boolean;
  /** Seal `message` and send it on the relay; false when it cannot go now. */
  sendViaRelay: (message: SealedMessage) => boolean;
}

export class PeerProbes {
  readonly stats: Record<PathName, PathStats>;
  readonly #options: PeerProbesOptions;
  readonly #handlers = new Set<PongHandler>();
  #nextId = 1;

  constructor(options: PeerProbesOptions) {
    this.#options = options;
    this.stats = { relay: new PathStats(options.quality), direct: new PathStats(options.quality) };
  }

  /** A new direct link: what the old one measured says nothing about it. */
  resetDirect(): void {
    this.stats.direct = new PathStats(this.#options.quality);
  }

  /** Probe `path`; returns the probe's id, or undefined when it could not be sent. */
  send(path: PathName): number | undefined {
    const id = this.#nextId++ >>> 0;
    const sentAt = performance.now();
    const sent =
      path === 'direct'
        ? this.#options.pingDirect(id)
        : this.#options.sendViaRelay({
            kind: SealedKind.PING,
            id,
            sentAt: BigInt(Math.round(sentAt * 1000)),
          });
    if (!sent) return undefined;
    this.stats[path].probeSent(id, sentAt);
    return id;
  }

  /** A pong arrived on `path` for probe `id`. */
  answered(path: PathName, id: number): void {
    const rtt = this.stats[path].pongReceived(id, performance.now());
    if (rtt !== undefined) for (const handler of this.#handlers) handler(path, id, rtt);
  }

  onPong(handler: PongHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /** Probe `path` once; resolves with the RTT, or null when no answer came in time. */
  ping(path: PathName, timeoutMs: number): Promise<number | null> {
    const id = this.send(path);
    if (id === undefined) return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(null);
      }, timeoutMs);
      const off = this.onPong((answered, pongId, rttMs) => {
        if (answered !== path || pongId !== id) return;
        clearTimeout(timer);
        off();
        resolve(rttMs);
      });
    });
  }
}
