// Session slots (docs/protocol.md §8): a peer's sessions, current, next and
// previous, so a new handshake never disturbs the traffic of the session in
// use, and a replayed INIT changes nothing a user can see.
//
//   responder, INIT accepted ──▶ next        (held; current keeps sealing)
//   first frame opened under next ──▶ promote: previous ◀─ current ◀─ next
//   initiator, RESP verified ──▶ current at once (previous ◀─ old current;
//                                next dropped), and a KEEPALIVE sealed under
//                                it goes out at once, so the responder
//                                promotes even when no data is flowing
//   previous: opens frames still in flight for `previousGraceMs`, then wiped
//
// seal() always uses current; open() picks the session by the frame's tag
// (current, then next, then previous) and promotes next on its first
// authentic frame. A session that only an attacker's replayed INIT created
// waits in next for ever (until replaced): nobody else holds its keys, so no
// frame can ever promote it.
//
// Two handshakes in a race (§8.2). Both peers may complete one handshake each
// at about the same time (each answered the other's INIT while it was not
// pending, or the losing side answered while pending). Both then hold the
// same two sessions and must settle on the same one: the one initiated by the
// smaller key (the INIT tie-break). The KEEPALIVE says which session its
// sender holds in next, which tells a race from a restarted peer:
//   - installInitiated keeps next only if the peer's key is the smaller and
//     next is recent (≤ raceWindowMs): a rival that will be promoted; any
//     other next is dropped (it lost, or it is stale: a replay's);
//   - a KEEPALIVE under next promotes it, unless current is our own session,
//     ours wins the tie-break, and the keepalive says the peer holds current
//     as its next (it will come to ours): then next is marked lost;
//   - any other frame under next promotes it, unless current is our own
//     winning session and next is its rival (created within raceWindowMs):
//     the frame is delivered all the same. After the window it promotes, so
//     a peer that restarted fast and whose keepalive was lost still gets
//     through.
// A restarted peer holds nothing of ours, so its keepalive always promotes.
import { performance } from 'node:perf_hooks';
import { readSessionTag } from '../protocol/codec.js';
import { SealedKind, type SealedMessage } from '../protocol/frames.js';
import { SessionError } from './errors.js';
import type { SessionKeys } from './handshake.js';
import { compareKeys } from './identity.js';
import { type Opened, Session, type SessionOptions } from './session.js';

export const SLOT_DEFAULTS = {
  /** How long the previous session still opens frames after a switch: the
   * peer switches one relay delay later, and frames it sealed before may still
   * be queued on the slower path. As the epoch grace (session.ts). */
  previousGraceMs: 10_000,
  /** Two sessions created this close together are rivals of one race (§8.2):
   * longer than a handshake round trip through a loaded relay plus the
   * keepalive, shorter than a peer restart; WireGuard's REKEY_TIMEOUT (5 s). */
  raceWindowMs: 5_000,
} as const;

export type SlotName = 'current' | 'next' | 'previous';

/** An opened frame and where it was opened. */
export interface SlotOpened extends Opened {
  slot: SlotName;
  session: Session;
  /** True when this frame promoted `next` to current. */
  promoted: boolean;
}

export interface SessionSlotsOptions {
  /** Options of every Session these slots create. */
  session?: SessionOptions;
  previousGraceMs?: number;
  raceWindowMs?: number;
  /** Monotonic clock in ms (tests pass a fake one). */
  now?: () => number;
}

export interface SlotStats {
  installedInitiated: number;
  installedResponded: number;
  promoted: number;
  /** Frames whose tag named none of the slots. */
  unknownSession: number;
  /** Next sessions dropped unpromoted (replaced, or dropped by an initiated one). */
  nextDropped: number;
  /** Frames opened under next that did not promote it: it lost a race (§8.2). */
  promotionsRefused: number;
  previousExpired: number;
}

export class SessionSlots {
  readonly stats: SlotStats = {
    installedInitiated: 0,
    installedResponded: 0,
    promoted: 0,
    unknownSession: 0,
    nextDropped: 0,
    promotionsRefused: 0,
    previousExpired: 0,
  };
  #current: Session | null = null;
  #next: Session | null = null;
  #previous: Session | null = null;
  #previousExpires = 0;
  /** When current and next were created (installed), local monotonic ms. */
  #currentAt = 0;
  #nextAt = 0;
  /** Next lost a race for certain (the peer holds our current): never promote it. */
  #nextLost = false;
  readonly #options: SessionSlotsOptions;
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #raceWindowMs: number;

  constructor(options: SessionSlotsOptions = {}) {
    this.#options = options;
    this.#now = options.now ?? options.session?.now ?? (() => performance.now());
    this.#graceMs = options.previousGraceMs ?? SLOT_DEFAULTS.previousGraceMs;
    this.#raceWindowMs = options.raceWindowMs ?? SLOT_DEFAULTS.raceWindowMs;
  }

  /** The session that seals; null before the first is promoted or completed. */
  get current(): Session | null {
    return this.#current;
  }

  /** A responder's new session, waiting for its first frame. */
  get next(): Session | null {
    return this.#next;
  }

  /** The session before current, while its grace lasts. */
  get previous(): Session | null {
    this.#expirePrevious();
    return this.#previous;
  }

  /** Negotiated capabilities of the current session (0 without one). */
  get capabilities(): number {
    return this.#current?.capabilities ?? 0;
  }

  /**
   * Initiator, RESP verified (handshake step 7): the new session becomes
   * current at once — the responder already holds it in next. Returns it and
   * a sealed KEEPALIVE under it, to send to the peer right away.
   */
  installInitiated(keys: SessionKeys): { session: Session; keepalive: Uint8Array } {
    const session = new Session(keys, this.#options.session);
    const now = this.#now();
    // Keep next only if it is a rival the peer's (winning) INIT created.
    const keep =
      this.#next !== null && now - this.#nextAt <= this.#raceWindowMs && !ourInitsWin(keys);
    if (!keep) this.#dropNext();
    this.#retire(this.#current);
    this.#current = session;
    this.#currentAt = now;
    this.#dropSameTag(session);
    this.stats.installedInitiated++;
    return { session, keepalive: session.sealKeepalive(this.#next?.tag ?? null) };
  }

  /** Responder, INIT accepted (handshake step 6): the new session waits in
   * next until a frame sealed under it arrives; current is untouched. */
  installResponded(keys: SessionKeys): Session {
    const session = new Session(keys, this.#options.session);
    this.#dropNext();
    this.#next = session;
    this.#nextAt = this.#now();
    this.#nextLost = false;
    this.stats.installedResponded++;
    return session;
  }

  /** Seal an Ethernet frame under current (NO_SESSION without one). */
  sealEthernet(frame: Uint8Array): Uint8Array {
    return this.#sealer().sealEthernet(frame);
  }

  /** Seal any message under current (NO_SESSION without one). */
  seal(message: SealedMessage): Uint8Array {
    return this.#sealer().seal(message);
  }

  /** A KEEPALIVE under current, naming our next session (if any). */
  sealKeepalive(): Uint8Array {
    return this.#sealer().sealKeepalive(this.#next?.tag ?? null);
  }

  /**
   * Open a DATA or CONTROL frame with the session its tag names: current,
   * then next (promoting it on success), then previous. Throws ProtocolError
   * for malformed bytes, SessionError for refusals (UNKNOWN_SESSION when no
   * slot has the tag); a refused frame changes no slot.
   */
  open(bytes: Uint8Array): SlotOpened {
    const tag = readSessionTag(bytes);
    this.#expirePrevious();
    let failure: unknown;
    // Tags are 32 bits: two live sessions share one with odds 2^-32; then
    // each candidate is tried in turn (a refusal changes no state).
    for (const slot of ORDER) {
      const session = this.#slot(slot);
      if (!session || session.tag !== tag) continue;
      let opened: Opened;
      try {
        opened = session.open(bytes);
      } catch (error) {
        if (!(error instanceof SessionError)) throw error;
        failure = error;
        continue;
      }
      const promoted = slot === 'next' && this.#mayPromote(opened);
      if (promoted) this.#promote();
      else if (slot === 'next') this.stats.promotionsRefused++;
      // Session.open made a fresh object: extend it rather than copy it.
      const result = opened as SlotOpened;
      result.slot = slot;
      result.session = session;
      result.promoted = promoted;
      return result;
    }
    if (failure) throw failure;
    this.stats.unknownSession++;
    throw new SessionError('UNKNOWN_SESSION', `no session with tag ${tag} (replayed or forged)`);
  }

  /** Wipe every session. */
  close(): void {
    this.#current?.close();
    this.#next?.close();
    this.#previous?.close();
    this.#current = this.#next = this.#previous = null;
  }

  #slot(name: SlotName): Session | null {
    return name === 'current' ? this.#current : name === 'next' ? this.#next : this.#previous;
  }

  #sealer(): Session {
    if (!this.#current) {
      throw new SessionError('NO_SESSION', 'no current session yet (handshake not confirmed)');
    }
    return this.#current;
  }

  // May a frame opened under next (the peer's INIT) replace current? (§8.2)
  #mayPromote(opened: Opened): boolean {
    if (this.#nextLost) return false;
    const current = this.#current;
    // Only our own session, winning the tie-break, ever holds next back.
    if (current?.role !== 'initiator' || !ourInitsWin(current)) return true;
    const { message } = opened;
    if (message.kind === SealedKind.KEEPALIVE) {
      if (message.nextTag !== current.tag) return true; // the peer lacks ours: it restarted
      this.#nextLost = true; // the peer holds ours as next and will promote it
      return false;
    }
    return this.#nextAt - this.#currentAt > this.#raceWindowMs;
  }

  // previous ◀─ current ◀─ next
  #promote(): void {
    const next = this.#next;
    if (!next) return;
    this.#next = null;
    this.#nextLost = false;
    this.#retire(this.#current);
    this.#current = next;
    this.#currentAt = this.#nextAt;
    this.#dropSameTag(next);
    this.stats.promoted++;
  }

  #retire(session: Session | null): void {
    this.#previous?.close();
    this.#previous = session;
    this.#previousExpires = this.#now() + this.#graceMs;
  }

  #dropNext(): void {
    this.#nextLost = false;
    if (!this.#next) return;
    this.#next.close();
    this.#next = null;
    this.stats.nextDropped++;
  }

  // A retired session whose tag the new one shares could never be reached
  // first; wipe it rather than keep keys nobody can use.
  #dropSameTag(session: Session): void {
    if (this.#previous && this.#previous.tag === session.tag) {
      this.#previous.close();
      this.#previous = null;
    }
  }

  #expirePrevious(): void {
    if (this.#previous && this.#now() > this.#previousExpires) {
      this.#previous.close();
      this.#previous = null;
      this.stats.previousExpired++;
    }
  }
}

const ORDER: readonly SlotName[] = ['current', 'next', 'previous'];

/** The INIT tie-break (handshake.ts): our INITs win when our key is smaller. */
function ourInitsWin(session: { localIdentity: Uint8Array; peerIdentity: Uint8Array }): boolean {
  return compareKeys(session.localIdentity, session.peerIdentity) < 0;
}
