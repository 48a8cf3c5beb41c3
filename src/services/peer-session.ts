/**
 * One peer's end-to-end session, and the timers that keep it alive
 * (docs/protocol.md §6, §8). Named as wireguard-go names its timers: for what
 * happens when they fire.
 *
 *   paired, no session ─ start() ─▶ INIT via the relay ─┐
 *      expiredRetransmitHandshake (1 s, 2 s, 4 s … 30 s) ┘ until a session results
 *   INIT / RESP from the peer ─▶ Handshaker ─▶ a new Session ─▶ onSession
 *   DECRYPT_FAILED × rehandshakeAfterFailures in a row ─▶ start() again
 *
 * Both sides send INIT once the relay pairs them; the Handshaker's tie-break
 * keeps one. A peer that restarts sends a new INIT and we answer it with a
 * new session. Eight frames in a row that fail to decrypt mean the two sides
 * no longer share a session (a peer restarted unseen, or a replayed INIT made
 * one side switch): a fresh handshake recovers it.
 */
import { Handshaker } from '../crypto/handshake.js';
import type { Identity } from '../crypto/identity.js';
import { Session } from '../crypto/session.js';
import type { TimestampClock } from '../crypto/timestamp.js';
import { errorCode } from '../errors.js';
import { encodeFrame } from '../protocol/codec.js';
import { type Frame, FrameType } from '../protocol/frames.js';
import { DropReason } from './drop-reasons.js';
import { decodeOrCount, type PeerCounters } from './peer-counters.js';

export const PEER_SESSION_DEFAULTS = {
  // Handshake retry while no INIT/RESP got through (the relay may drop one
  // under load): 1 s, 2 s, 4 s … 30 s, like WireGuard's REKEY_TIMEOUT.
  handshakeRetryBaseMs: 1_000,
  handshakeRetryCapMs: 30_000,
  // This many frames in a row that fail to decrypt start a fresh handshake.
  rehandshakeAfterFailures: 8,
} as const;

export interface PeerSessionOptions {
  identity: Identity;
  peerKey: Uint8Array;
  /** INIT timestamps (one clock per node); default: in memory. */
  timestampClock?: TimestampClock;
  /** Monotonic clock in ms of the INIT guard (tests pass a fake one). */
  now?: () => number;
  counters: PeerCounters;
  /** Send a handshake frame to the peer via the relay; false when it cannot go. */
  sendViaRelay: (bytes: Uint8Array) => boolean;
  /** Whether the relay still pairs us with the peer (retransmitting is pointless otherwise). */
  paired: () => boolean;
  /** A new session replaced the old one (or the first one arrived). */
  onSession: (session: Session) => void;
  log?: (level: 'info' | 'warn' | 'debug', message: string, fields?: object) => void;
}

export class PeerSession {
  /** When the current session was made (ms since the epoch); null before the first. */
  lastHandshake: number | null = null;

  readonly #options: PeerSessionOptions;
  readonly #handshaker: Handshaker;
  #current: Session | null = null;
  #retransmitHandshake: NodeJS.Timeout | undefined;
  #retransmits = 0;
  #decryptFailures = 0;
  #closed = false;

  constructor(options: PeerSessionOptions) {
    this.#options = options;
    this.#handshaker = new Handshaker(options.identity, options.peerKey, {
      clock: options.timestampClock,
      guard: { now: options.now },
    });
  }

  /** The session frames are sealed and opened with; null before the first handshake. */
  get current(): Session | null {
    return this.#current;
  }

  /** Send an INIT now, and again on a capped backoff until a session results. */
  start(): void {
    if (this.#closed) return;
    try {
      this.#send(this.#handshaker.start());
    } catch (error) {
      // The timestamp state file could not be saved: no INIT this time.
      this.#options.counters.drop(errorCode(error) ?? DropReason.HANDSHAKE_FAILED);
      this.#options.log?.('warn', 'cannot start a handshake', { error: String(error) });
    }
    clearTimeout(this.#retransmitHandshake);
    const delay = Math.min(
      PEER_SESSION_DEFAULTS.handshakeRetryCapMs,
      PEER_SESSION_DEFAULTS.handshakeRetryBaseMs * 2 ** this.#retransmits++,
    );
    this.#retransmitHandshake = setTimeout(() => this.#expiredRetransmitHandshake(), delay);
  }

  /** An INIT or RESP from the peer, as the relay delivered it. */
  receive(bytes: Uint8Array): void {
    const frame = decodeOrCount(bytes, this.#options.counters);
    if (!frame) return;
    if (frame.type !== FrameType.HANDSHAKE_INIT && frame.type !== FrameType.HANDSHAKE_RESP) {
      this.#options.counters.drop(DropReason.UNEXPECTED_RELAY_FRAME);
      return;
    }
    try {
      const step = this.#handshaker.receive(frame);
      if (step.reply) this.#send(step.reply);
      if (!step.keys) return;
      // Until SessionSlots are wired, answering the winner's INIT drops our
      // own pending one, as in v1.
      if (step.keys.role === 'responder') this.#handshaker.cancel();
      clearTimeout(this.#retransmitHandshake);
      this.#retransmitHandshake = undefined;
      this.#retransmits = 0;
      this.#decryptFailures = 0;
      this.#current?.close();
      this.#current = new Session(step.keys);
      this.lastHandshake = Date.now();
      this.#options.log?.('info', 'session established', { role: step.keys.role });
      this.#options.onSession(this.#current);
    } catch (error) {
      const code = errorCode(error) ?? DropReason.HANDSHAKE_FAILED;
      this.#options.counters.drop(code);
      // What a replaying relay causes is counted, not logged as a warning.
      const replayed =
        code === 'INIT_REPLAYED' || code === 'INIT_RATE_LIMITED' || code === 'INIT_TOO_SOON';
      this.#options.log?.(replayed ? 'debug' : 'warn', 'handshake refused', { code });
    }
  }

  /** A frame opened under the current session: the sides share it. */
  opened(): void {
    this.#decryptFailures = 0;
  }

  /** A frame failed to authenticate under the current session. */
  decryptFailed(): void {
    if (
      ++this.#decryptFailures >= PEER_SESSION_DEFAULTS.rehandshakeAfterFailures &&
      this.#retransmitHandshake === undefined
    ) {
      this.#options.log?.('warn', 'frames keep failing to decrypt: starting a new handshake');
      this.start();
    }
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retransmitHandshake);
    this.#retransmitHandshake = undefined;
    this.#handshaker.cancel();
    this.#current?.close();
  }

  /** No session resulted from the last INIT in time: send another while still paired. */
  #expiredRetransmitHandshake(): void {
    this.#retransmitHandshake = undefined;
    if (this.#options.paired() && this.#handshaker.isPending) this.start();
  }

  #send(frame: Frame): void {
    if (!this.#options.sendViaRelay(encodeFrame(frame))) {
      this.#options.counters.drop(DropReason.RELAY_UNAVAILABLE);
    }
  }
}
