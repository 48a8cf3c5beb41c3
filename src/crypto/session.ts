// One end-to-end session with one peer (docs/protocol.md §9): seals outgoing
// messages into DATA and CONTROL frames and opens incoming ones, on the relay
// and the direct path alike.
//
// Two counter spaces per direction: DATA frames (Ethernet) and CONTROL frames
// (ping, pong, migrate, close, keepalive). Each space has its own counter,
// starting at 0, and its own replay window; the counter of a DATA frame is
// its sequence number among data frames, so the receiver orders data by it
// and never waits for a control message. Each space seals with its own key
// of the epoch (aead.ts: k(e, space)), so no (key, nonce) pair repeats
// across the spaces although their counters overlap.
//
// Hot path: seal writes header and plaintext straight into the AEAD's staging
// area (aead.ts), the header doubling as nonce and associated data, and the
// frame comes out in one copy; open parses the header in place. No JSON, no
// per-frame objects beyond the returned frame and Opened.
import { performance } from 'node:perf_hooks';
import {
  decodeSealed,
  readSealedHeader,
  type SealedHeader,
  sealedSize,
  writeSealed,
  writeSealedHeader,
} from '../protocol/codec.js';
import { ProtocolError } from '../protocol/errors.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  MAX_COUNTER,
  MAX_DATA_FRAME_BYTES,
  SealedKind,
  type SealedMessage,
  Space,
  spaceOfKind,
} from '../protocol/frames.js';
import { type FrameAead, frameAead, nextEpochKey, spaceKey, wipe } from './aead.js';
import { SessionError } from './errors.js';
import type { SessionKeys } from './handshake.js';
import { ReplayVerdict, ReplayWindow } from './replay-window.js';
import { requireSodium } from './sodium.js';

/** Defaults, each with why (override per session in SessionOptions). */
export const SESSION_DEFAULTS = {
  /** Ratchet the send key after this many frames (both spaces together;
   * ≈ 1 min at 250 k frames/s): bounds how much one leaked epoch key exposes. */
  rekeyAfterFrames: 1 << 24,
  /** ...or after this long, as WireGuard's REKEY_AFTER_TIME (120 s). */
  rekeyAfterMs: 120_000,
  /** How long the previous epoch's receive keys stay usable after the peer
   * moved on: covers frames still in flight on the slower path. */
  previousKeyGraceMs: 10_000,
  /** Epochs a receiver will ratchet forward in one step (frames of skipped
   * epochs may all have been lost); bounds the work a forged epoch causes. */
  maxEpochSkip: 4,
} as const;

export interface SessionOptions {
  rekeyAfterFrames?: number;
  rekeyAfterMs?: number;
  previousKeyGraceMs?: number;
  maxEpochSkip?: number;
  /** Monotonic clock in ms (tests pass a fake one). */
  now?: () => number;
}

/** An opened DATA or CONTROL frame. */
export interface Opened {
  /** Space.DATA or Space.CONTROL: which counter `seq` belongs to. */
  space: Space;
  /** The frame's counter: its sequence number in the peer's send direction,
   * within its space. */
  seq: number;
  epoch: number;
  /** The decoded plaintext; an ETHERNET frame is a view of `plaintext`. */
  message: SealedMessage;
  plaintext: Uint8Array;
}

/** Counts of what the session did; read by metrics, never reset. */
export interface SessionStats {
  sealed: number;
  opened: number;
  /** Of those, control-space frames. */
  sealedControl: number;
  openedControl: number;
  replayed: number;
  stale: number;
  decryptFailed: number;
  unknownEpoch: number;
  unknownSession: number;
  malformed: number;
  sendRekeys: number;
  recvRekeys: number;
}

/** Per-space state, indexed by Space (0 data, 1 control). */
type PerSpace<T> = [T, T];

function deriveSpaceKeys(epochKey: Uint8Array): PerSpace<Uint8Array> {
  return [spaceKey(epochKey, Space.DATA), spaceKey(epochKey, Space.CONTROL)];
}

function wipeAll(keys: PerSpace<Uint8Array> | undefined): void {
  if (!keys) return;
  wipe(keys[0]);
  wipe(keys[1]);
}

export class Session {
  readonly sessionId: Uint8Array;
  readonly proofKey: Uint8Array;
  readonly peerIdentity: Uint8Array;
  readonly localIdentity: Uint8Array;
  readonly role: SessionKeys['role'];
  /** The u32 in every frame of this session (SessionSlots selects by it). */
  readonly tag: number;
  /** The negotiated capabilities (src/protocol/capabilities.ts). */
  readonly capabilities: number;
  readonly peerCapabilities: number;
  readonly stats: SessionStats = {
    sealed: 0,
    opened: 0,
    sealedControl: 0,
    openedControl: 0,
    replayed: 0,
    stale: 0,
    decryptFailed: 0,
    unknownEpoch: 0,
    unknownSession: 0,
    malformed: 0,
    sendRekeys: 0,
    recvRekeys: 0,
  };

  private readonly options: Required<Omit<SessionOptions, 'now'>>;
  private readonly now: () => number;

  // Send direction: one epoch ratchet, a key and a counter per space.
  private sendBase: Uint8Array;
  private sendKeys: PerSpace<Uint8Array>;
  private sendEpoch = 0;
  private readonly sendCounters: PerSpace<number> = [0, 0]; // next counter to use
  private sendEpochFrames = 0;
  private sendEpochStarted: number;
  private readonly aead: FrameAead;

  // Receive direction: one epoch ratchet, a key and a replay window per space.
  private recvBase: Uint8Array;
  private recvKeys: PerSpace<Uint8Array>;
  private recvEpoch = 0;
  private prevKeys: PerSpace<Uint8Array> | undefined; // keys of recvEpoch - 1, until prevExpires
  private prevExpires = 0;
  private readonly windows: PerSpace<ReplayWindow> = [new ReplayWindow(), new ReplayWindow()];
  private readonly header: SealedHeader = { space: Space.DATA, tag: 0, epoch: 0, counter: 0 };
  private closed = false;

  constructor(keys: SessionKeys, options: SessionOptions = {}) {
    requireSodium();
    this.sessionId = keys.sessionId;
    this.proofKey = keys.proofKey;
    this.peerIdentity = keys.peerIdentity;
    this.localIdentity = keys.localIdentity;
    this.role = keys.role;
    this.tag = keys.tag >>> 0;
    this.capabilities = keys.capabilities >>> 0;
    this.peerCapabilities = keys.peerCapabilities >>> 0;
    this.sendBase = keys.sendKey.slice();
    this.recvBase = keys.recvKey.slice();
    this.sendKeys = deriveSpaceKeys(this.sendBase);
    this.recvKeys = deriveSpaceKeys(this.recvBase);
    this.now = options.now ?? (() => performance.now());
    this.options = {
      rekeyAfterFrames: options.rekeyAfterFrames ?? SESSION_DEFAULTS.rekeyAfterFrames,
      rekeyAfterMs: options.rekeyAfterMs ?? SESSION_DEFAULTS.rekeyAfterMs,
      previousKeyGraceMs: options.previousKeyGraceMs ?? SESSION_DEFAULTS.previousKeyGraceMs,
      maxEpochSkip: options.maxEpochSkip ?? SESSION_DEFAULTS.maxEpochSkip,
    };
    this.sendEpochStarted = this.now();
    this.aead = frameAead();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Counter the next sealed DATA frame will carry (its data sequence number). */
  get nextSeq(): number {
    return this.sendCounters[Space.DATA];
  }

  /** Counter the next frame sealed in `space` will carry. */
  nextSequence(space: Space): number {
    return this.sendCounters[space];
  }

  /** Highest DATA counter accepted from the peer (-1 before the first). */
  get highestReceived(): number {
    return this.windows[Space.DATA].highest;
  }

  /** Highest counter accepted from the peer in `space` (-1 before the first). */
  highestIn(space: Space): number {
    return this.windows[space].highest;
  }

  get epochs(): { send: number; receive: number } {
    return { send: this.sendEpoch, receive: this.recvEpoch };
  }

  /** Seal an Ethernet frame into a DATA frame (the hot path). With `kind`
   * SUPERFRAME, `frame` is a virtio-net header and its frame (the caller
   * has checked OFFLOAD_SUPERFRAMES is negotiated and the sizes). */
  sealEthernet(
    frame: Uint8Array,
    kind: typeof SealedKind.ETHERNET | typeof SealedKind.SUPERFRAME = SealedKind.ETHERNET,
  ): Uint8Array {
    const size = 1 + frame.length;
    const staged = this.stage(Space.DATA, size);
    staged[DATA_HEADER_BYTES] = kind;
    staged.set(frame, DATA_HEADER_BYTES + 1);
    return this.aead.seal(size, this.sendKeys[Space.DATA]);
  }

  /** Seal any sealed message: ETHERNET into DATA, the control kinds (ping,
   * pong, migrate, close, keepalive) into CONTROL. */
  seal(message: SealedMessage): Uint8Array {
    const size = sealedSize(message);
    const space = spaceOfKind(message.kind);
    const staged = this.stage(space, size);
    writeSealed(message, staged, DATA_HEADER_BYTES);
    return this.aead.seal(size, this.sendKeys[space]);
  }

  /** A sealed KEEPALIVE: what the initiator sends at once on RESP (§8),
   * naming the session it holds in its next slot (null if none). */
  sealKeepalive(nextTag: number | null = null): Uint8Array {
    return this.seal({ kind: SealedKind.KEEPALIVE, nextTag });
  }

  // Takes the next counter of `space` (rekeying first if due) and stages the header.
  private stage(space: Space, plaintextLength: number): Uint8Array {
    if (this.closed) throw new SessionError('SESSION_CLOSED', 'session is closed');
    if (DATA_HEADER_BYTES + plaintextLength + AEAD_TAG_BYTES > MAX_DATA_FRAME_BYTES) {
      throw new ProtocolError(
        'TOO_LARGE',
        `sealed message of ${plaintextLength} bytes does not fit a frame`,
      );
    }
    if (this.sendCounters[space] > MAX_COUNTER) {
      throw new SessionError('COUNTER_EXHAUSTED', 'send counter exhausted: a new handshake is due');
    }
    this.maybeRekeySend();
    const counter = this.sendCounters[space]++;
    const staged = this.aead.stage(plaintextLength);
    writeSealedHeader(staged, 0, space, this.tag, this.sendEpoch, counter);
    this.sendEpochFrames++;
    this.stats.sealed++;
    if (space === Space.CONTROL) this.stats.sealedControl++;
    return staged;
  }

  // Rekey, send side (docs/protocol.md §9.4): ratchet to the next epoch; the
  // counters carry on, so sequence numbers stay continuous across epochs.
  private maybeRekeySend(): void {
    if (
      this.sendEpochFrames < this.options.rekeyAfterFrames &&
      this.now() - this.sendEpochStarted < this.options.rekeyAfterMs
    ) {
      return;
    }
    if (this.sendEpoch === 0xffff_ffff) return; // 4 G epochs: the counters end first
    const next = nextEpochKey(this.sendBase);
    wipe(this.sendBase);
    wipeAll(this.sendKeys);
    this.sendBase = next;
    this.sendKeys = deriveSpaceKeys(next);
    this.sendEpoch++;
    this.sendEpochFrames = 0;
    this.sendEpochStarted = this.now();
    this.stats.sendRekeys++;
  }

  /**
   * Open a DATA or CONTROL frame (raw bytes as received). Throws
   * ProtocolError for a malformed frame and SessionError (UNKNOWN_SESSION,
   * REPLAY, STALE, UNKNOWN_EPOCH, DECRYPT_FAILED) for one the session
   * refuses; each is counted in stats. A refused frame changes no state.
   */
  open(bytes: Uint8Array): Opened {
    let header: SealedHeader;
    try {
      header = readSealedHeader(bytes, this.header);
    } catch (error) {
      this.stats.malformed++;
      throw error;
    }
    const { space, epoch, counter } = header;
    // 1. The tag names the session (SessionSlots has chosen by it already).
    if (header.tag !== this.tag) {
      this.stats.unknownSession++;
      throw new SessionError('UNKNOWN_SESSION', `frame of session tag ${header.tag} is not ours`);
    }
    // 2. Replay check first, in the frame's own space: duplicates from the
    //    second path are the common case while both paths carry traffic, and
    //    cost no decryption.
    const window = this.windows[space];
    const verdict = window.check(counter);
    if (verdict !== ReplayVerdict.OK) {
      if (verdict === ReplayVerdict.REPLAY) {
        this.stats.replayed++;
        throw new SessionError('REPLAY', `frame ${counter} already received`);
      }
      this.stats.stale++;
      throw new SessionError('STALE', `frame ${counter} is behind the replay window`);
    }
    // 3. Pick the key for the frame's epoch and space; 4. authenticate and decrypt.
    let plaintext: Uint8Array | undefined;
    if (epoch === this.recvEpoch) {
      plaintext = this.aead.open(bytes, this.recvKeys[space]);
    } else if (epoch === this.recvEpoch - 1 && this.prevKeys) {
      if (this.now() > this.prevExpires) {
        wipeAll(this.prevKeys);
        this.prevKeys = undefined;
        this.stats.unknownEpoch++;
        throw new SessionError('UNKNOWN_EPOCH', `epoch ${epoch} has expired`);
      }
      plaintext = this.aead.open(bytes, this.prevKeys[space]);
    } else if (epoch > this.recvEpoch && epoch - this.recvEpoch <= this.options.maxEpochSkip) {
      plaintext = this.openInLaterEpoch(epoch, space, bytes);
    } else {
      this.stats.unknownEpoch++;
      throw new SessionError(
        'UNKNOWN_EPOCH',
        `epoch ${epoch} is not ${this.recvEpoch}, its predecessor or a near successor`,
      );
    }
    if (plaintext === undefined) {
      this.stats.decryptFailed++;
      throw new SessionError('DECRYPT_FAILED', `frame ${counter} failed authentication`);
    }
    // 5. Authentic: only now may it move the window of its space.
    window.accept(counter);
    this.stats.opened++;
    if (space === Space.CONTROL) this.stats.openedControl++;
    let message: SealedMessage;
    try {
      message = decodeSealed(plaintext, space);
    } catch (error) {
      this.stats.malformed++;
      throw error;
    }
    return { space, seq: counter, epoch, message, plaintext };
  }

  // Rekey, receive side: the peer has ratcheted. Derive forward, try the
  // frame, and commit the new epoch (for both spaces) only if it
  // authenticates: a forged epoch number must not move our keys.
  private openInLaterEpoch(epoch: number, space: Space, bytes: Uint8Array): Uint8Array | undefined {
    let previousBase: Uint8Array = this.recvBase.slice();
    let candidateBase = nextEpochKey(previousBase);
    for (let e = this.recvEpoch + 1; e < epoch; e++) {
      wipe(previousBase);
      previousBase = candidateBase;
      candidateBase = nextEpochKey(previousBase);
    }
    const candidate = spaceKey(candidateBase, space);
    const plaintext = this.aead.open(bytes, candidate);
    wipe(candidate);
    if (plaintext === undefined) {
      wipe(previousBase);
      wipe(candidateBase);
      return undefined;
    }
    wipeAll(this.prevKeys);
    this.prevKeys = epoch === this.recvEpoch + 1 ? this.recvKeys : deriveSpaceKeys(previousBase);
    if (this.prevKeys !== this.recvKeys) wipeAll(this.recvKeys);
    wipe(previousBase);
    wipe(this.recvBase);
    this.prevExpires = this.now() + this.options.previousKeyGraceMs;
    this.recvBase = candidateBase;
    this.recvKeys = deriveSpaceKeys(candidateBase);
    this.recvEpoch = epoch;
    this.stats.recvRekeys++;
    return plaintext;
  }

  /** Wipe every key. Further seal() calls throw; open() fails to decrypt. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    wipe(this.sendBase);
    wipeAll(this.sendKeys);
    wipe(this.recvBase);
    wipeAll(this.recvKeys);
    wipeAll(this.prevKeys);
    this.prevKeys = undefined;
  }
}
