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
 * Two-way proof of the direct path comes two ways (docs/protocol.md §10.2):
 * a pong answering our own ping, or a ping from the peer whose echo names a
 * ping of the peer's that our side answered with a pong recently (so our
 * pong reached the peer, and its ping reached us). The second lets the side
 * that did not dial the link ride along on the peer's pings instead of
 * sending its own (heartbeat.ts). Each proof goes to onDirectProof; nothing
 * is allocated per probe answered.
 *
 * The heartbeat actor sends the probes and keeps the trust deadline by the
 * proofs; `switchback ping` asks for one and waits for its answer.
 */
import { SealedKind, type SealedMessage } from '../protocol/frames.js';
import { PathStats, type QualityPolicy } from './path-quality.js';
import type { PathName } from './peer-ports.js';

/** `switchback ping` waits this long for an answer. */
export const PING_TIMEOUT_MS = 2_000;

export type PongHandler = (path: PathName, id: number, rttMs: number) => void;
/** Two-way proof of the direct path at `atMs` (performance.now()); `rideAlong`
 * when it was the peer's ping (not a pong to ours). */
export type ProofHandler = (atMs: number, rideAlong: boolean) => void;

/** Recent peer ping ids kept to check an echo against (pings a few hundred ms apart). */
const PEER_PINGS_KEPT = 4;

export interface PeerProbesOptions {
  quality: QualityPolicy;
  /** A WebSocket ping carrying `id` and `echo` on the active direct link; false if none. */
  pingDirect: (id: number, echo: number) => boolean;
  /** Seal `message` and send it on the relay; false when it cannot go now. */
  sendViaRelay: (message: SealedMessage) => boolean;
}

export class PeerProbes {
  readonly stats: Record<PathName, PathStats>;
  readonly #options: PeerProbesOptions;
  readonly #handlers = new Set<PongHandler>();
  readonly #proofHandlers = new Set<ProofHandler>();
  #nextId = 1;
  /** Our last direct ping a pong answered: the echo our next ping carries (0: none). */
  #lastAnsweredDirect = 0;
  /** The peer's recent direct ping ids (a ring; 0 = empty), each answered by our pong. */
  readonly #peerPings = new Uint32Array(PEER_PINGS_KEPT);
  #peerPingsNext = 0;
  /** The last echo taken as proof: the same echo twice proves nothing new. */
  #lastEcho = 0;
  /** When a peer ping last proved the direct path (ride-along); -Infinity if never on this link. */
  #rodeAlongAt = Number.NEGATIVE_INFINITY;

  constructor(options: PeerProbesOptions) {
    this.#options = options;
    this.stats = { relay: new PathStats(options.quality), direct: new PathStats(options.quality) };
  }

  /** A new direct link: what the old one measured says nothing about it. */
  resetDirect(): void {
    this.stats.direct = new PathStats(this.#options.quality);
    this.#lastAnsweredDirect = 0;
    this.#peerPings.fill(0);
    this.#lastEcho = 0;
    this.#rodeAlongAt = Number.NEGATIVE_INFINITY;
  }

  /** When the peer's ping last proved the direct path (performance.now() ms); -Infinity if never. */
  get rodeAlongAt(): number {
    return this.#rodeAlongAt;
  }

  /** Probe `path`; returns the probe's id, or undefined when it could not be sent. */
  send(path: PathName): number | undefined {
    const id = this.#nextId++ >>> 0;
    const sentAt = performance.now();
    const sent =
      path === 'direct'
        ? this.#options.pingDirect(id, this.#lastAnsweredDirect)
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
    const now = performance.now();
    const rtt = this.stats[path].pongReceived(id, now);
    if (rtt === undefined) return;
    if (path === 'direct') {
      this.#lastAnsweredDirect = id;
      this.#proved(now, false);
    }
    for (const handler of this.#handlers) handler(path, id, rtt);
  }

  /**
   * A heartbeat ping from the peer on the direct link (our WebSocket stack
   * answers it with a pong). Its `echo` names the peer's last ping that one
   * of our pongs answered: if that is one of the peer's recent pings and
   * newer than the echo before, the path works both ways now.
   */
  peerPinged(id: number, echo: number): void {
    const ring = this.#peerPings;
    if (echo !== 0 && echo !== this.#lastEcho && ring.includes(echo)) {
      this.#lastEcho = echo;
      const now = performance.now();
      this.#rodeAlongAt = now;
      this.#proved(now, true);
    }
    ring[this.#peerPingsNext] = id;
    this.#peerPingsNext = (this.#peerPingsNext + 1) % PEER_PINGS_KEPT;
  }

  /** Called at each two-way proof of the direct path (see the file comment). */
  onDirectProof(handler: ProofHandler): () => void {
    this.#proofHandlers.add(handler);
    return () => this.#proofHandlers.delete(handler);
  }

  #proved(atMs: number, rideAlong: boolean): void {
    for (const handler of this.#proofHandlers) handler(atMs, rideAlong);
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
