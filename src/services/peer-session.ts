/**
 * One peer's end-to-end sessions, and the timer that keeps a handshake
 * going (docs/protocol.md §6, §8). Named as wireguard-go names its timers:
 * for what happens when they fire. The wiring is §8.3's recipe:
 *
 *   paired, no session ─ start() ─▶ INIT via the relay ─┐
 *      expiredRetransmitHandshake (1 s, 2 s, 4 s … 30 s) ┘ while our INIT is pending
 *   INIT from the peer ─▶ Handshaker ─▶ RESP; the session waits in *next*
 *   RESP to our INIT   ─▶ Handshaker ─▶ *current* at once, KEEPALIVE under it ─▶ onSession
 *   DATA / CONTROL     ─▶ open(): the slot its tag names; a first frame under
 *                        next promotes it ─▶ our own pending INIT is void ─▶ onSession
 *   UNKNOWN_SESSION / DECRYPT_FAILED × rehandshakeAfterFailures in a row ─▶ start()
 *
 * So a replayed INIT — seconds or hours later (refused by the Handshaker's
 * guard: INIT_REPLAYED, INIT_TOO_SOON, INIT_RATE_LIMITED), or after this
 * side restarted (a session in next that nobody can promote) — never touches
 * the current session, which keeps carrying traffic both ways until the
 * initiator's first frame under the new one arrives. A failure is counted
 * only when no slot opens the frame, so the initiator's frames under the new
 * session (next, here) and the responder's late ones under the old
 * (previous, there) are never failures: a re-handshake under two-way traffic
 * cannot set off another one.
 */
import { Handshaker } from '../crypto/handshake.js';
import type { Identity } from '../crypto/identity.js';
import type { Session } from '../crypto/session.js';
import { SessionSlots, type SlotOpened } from '../crypto/session-slots.js';
import type { TimestampClock } from '../crypto/timestamp.js';
import { errorCode } from '../errors.js';
import { capabilityNames, LOCAL_CAPABILITIES } from '../protocol/capabilities.js';
import { encodeFrame } from '../protocol/codec.js';
import { type Frame, FrameType } from '../protocol/frames.js';
import { DropReason } from './drop-reasons.js';
import { decodeOrCount, type PeerCounters } from './peer-counters.js';

export const PEER_SESSION_DEFAULTS = {
  // Handshake retry while no INIT/RESP got through (the relay may drop one
  // under load): 1 s, 2 s, 4 s … 30 s, like WireGuard's REKEY_TIMEOUT.
  handshakeRetryBaseMs: 1_000,
  handshakeRetryCapMs: 30_000,
  // This many frames in a row that no slot opens start a fresh handshake.
  rehandshakeAfterFailures: 8,
} as const;

/** Refusals a replaying relay causes by design: counted, not warned about. */
const REPLAY_REFUSALS = new Set(['INIT_REPLAYED', 'INIT_RATE_LIMITED', 'INIT_TOO_SOON']);

/** A frame that no slot opens: the two sides may no longer share a session. */
const FAILURES = new Set(['UNKNOWN_SESSION', 'DECRYPT_FAILED']);

export interface PeerSessionOptions {
  identity: Identity;
  peerKey: Uint8Array;
  /** INIT timestamps (one clock per node); default: in memory. */
  timestampClock?: TimestampClock;
  /** Capabilities we advertise (docs/protocol.md §7); default LOCAL_CAPABILITIES. */
  capabilities?: number;
  /** Monotonic clock in ms of the INIT guard and the slots (tests pass a fake one). */
  now?: () => number;
  counters: PeerCounters;
  /** Send a handshake or keepalive frame to the peer via the relay; false when it cannot go. */
  sendViaRelay: (bytes: Uint8Array) => boolean;
  /** Whether the relay still pairs us with the peer (retransmitting is pointless otherwise). */
  paired: () => boolean;
  /** The current session changed (the first one, a completed or a promoted handshake). */
  onSession: (session: Session) => void;
  log?: (level: 'info' | 'warn' | 'debug', message: string, fields?: object) => void;
}

export class PeerSession {
  /** When the current session became current (ms since the epoch); null before the first. */
  lastHandshake: number | null = null;

  readonly #options: PeerSessionOptions;
  readonly #handshaker: Handshaker;
  readonly #slots: SessionSlots;
  #retransmitHandshake: NodeJS.Timeout | undefined;
  #retransmits = 0;
  #failures = 0;
  #closed = false;

  constructor(options: PeerSessionOptions) {
    this.#options = options;
    const now = options.now;
    this.#handshaker = new Handshaker(options.identity, options.peerKey, {
      clock: options.timestampClock,
      capabilities: options.capabilities ?? LOCAL_CAPABILITIES,
      guard: { now },
    });
    this.#slots = new SessionSlots(now ? { now, session: { now } } : {});
  }

  /** The session frames are sealed with; null before the first handshake. */
  get current(): Session | null {
    return this.#slots.current;
  }

  /** The slots' counts (promotions, next sessions dropped, …). */
  get slotStats() {
    return this.#slots.stats;
  }

  /** Whether a session waits in next (answered, not yet confirmed by the peer's frame). */
  get holdsNext(): boolean {
    return this.#slots.next !== null;
  }

  /** Send an INIT now, and again on a capped backoff while it stays pending. */
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
      if (step.reply) this.#send(step.reply); // §6.1 step 6
      if (!step.keys) return;
      if (step.keys.role === 'responder') {
        // §8.1 rule 1: held in next; current keeps carrying traffic both ways.
        this.#slots.installResponded(step.keys);
        return;
      }
      // §6.1 step 7, §8.1 rule 2: current at once, and a keepalive under it
      // on the relay (as the RESP came), so the responder promotes it even
      // when no data flows.
      const { session, keepalive } = this.#slots.installInitiated(step.keys);
      if (!this.#options.sendViaRelay(keepalive)) {
        this.#options.counters.drop(DropReason.RELAY_UNAVAILABLE);
      }
      this.#established(session);
    } catch (error) {
      const code = errorCode(error) ?? DropReason.HANDSHAKE_FAILED;
      this.#options.counters.drop(code);
      this.#options.log?.(REPLAY_REFUSALS.has(code) ? 'debug' : 'warn', 'handshake refused', {
        code,
      });
    }
  }

  /**
   * Open a DATA or CONTROL frame with the slot its tag names (§8). A first
   * frame under next promotes it (§8.1 rule 3). Throws the refusal (the
   * caller counts it by code); only a frame no slot opens counts towards a
   * fresh handshake.
   */
  open(bytes: Uint8Array): SlotOpened {
    let opened: SlotOpened;
    try {
      opened = this.#slots.open(bytes);
    } catch (error) {
      const code = errorCode(error);
      if (code !== undefined && FAILURES.has(code)) this.#failed();
      throw error;
    }
    this.#failures = 0;
    if (opened.promoted) {
      this.#handshaker.cancel(); // our own INIT, if pending, lost (§6.5)
      this.#established(opened.session);
    }
    return opened;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retransmitHandshake);
    this.#retransmitHandshake = undefined;
    this.#handshaker.cancel();
    this.#slots.close();
  }

  /** A new current session: the handshake is done, its timer and counts reset. */
  #established(session: Session): void {
    clearTimeout(this.#retransmitHandshake);
    this.#retransmitHandshake = undefined;
    this.#retransmits = 0;
    this.#failures = 0;
    this.lastHandshake = Date.now();
    this.#options.log?.('info', 'session established', {
      role: session.role,
      capabilities: capabilityNames(session.capabilities),
    });
    this.#options.onSession(session);
  }

  /** A frame no slot opened; enough in a row mean the sides no longer share a session. */
  #failed(): void {
    if (
      ++this.#failures >= PEER_SESSION_DEFAULTS.rehandshakeAfterFailures &&
      this.#retransmitHandshake === undefined
    ) {
      this.#options.log?.('warn', 'frames keep failing to open: starting a new handshake');
      this.start();
    }
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
