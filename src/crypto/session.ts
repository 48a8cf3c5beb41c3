// One end-to-end session with one peer (docs/protocol.md §6): seals outgoing
// messages into DATA frames and opens incoming ones, on the relay and the
// direct path alike. The counter of a DATA frame IS its sequence number: one
// per direction, shared by both paths, so the receiver dedups and reorders by
// it whichever way a frame came.
//
// Hot path: seal writes header and plaintext straight into the AEAD's staging
// area (aead.ts), the header doubling as nonce and associated data, and the
// frame comes out in one copy; open parses the header in place. No JSON, no
// per-frame objects beyond the returned frame and Opened.
import { performance } from 'node:perf_hooks';
import {
  type DataHeader,
  decodeSealed,
  readDataHeader,
  sealedSize,
  writeDataHeader,
  writeSealed,
} from '../protocol/codec.js';
import { ProtocolError } from '../protocol/errors.js';
import {
  AEAD_TAG_BYTES,
  DATA_HEADER_BYTES,
  MAX_COUNTER,
  MAX_FRAME_BYTES,
  SealedKind,
  type SealedMessage,
} from '../protocol/frames.js';
import { type FrameAead, frameAead, nextEpochKey, wipe } from './aead.js';
import { SessionError } from './errors.js';
import type { SessionKeys } from './handshake.js';
import { ReplayVerdict, ReplayWindow } from './replay-window.js';
import { requireSodium } from './sodium.js';

/** Defaults, each with why (override per session in SessionOptions). */
export const SESSION_DEFAULTS = {
  /** Ratchet the send key after this many frames (≈ 1 min at 250 k frames/s):
   * bounds how much one leaked epoch key exposes. */
  rekeyAfterFrames: 1 << 24,
  /** ...or after this long, as WireGuard's REKEY_AFTER_TIME (120 s). */
  rekeyAfterMs: 120_000,
  /** How long the previous epoch's receive key stays usable after the peer
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

/** An opened DATA frame. */
export interface Opened {
  /** The frame's counter: its sequence number in the peer's send direction. */
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
  replayed: number;
  stale: number;
  decryptFailed: number;
  unknownEpoch: number;
  malformed: number;
  sendRekeys: number;
  recvRekeys: number;
}

export class Session {
  readonly sessionId: Uint8Array;
  readonly proofKey: Uint8Array;
  readonly peerIdentity: Uint8Array;
  readonly localIdentity: Uint8Array;
  readonly role: SessionKeys['role'];
  readonly stats: SessionStats = {
    sealed: 0,
    opened: 0,
    replayed: 0,
    stale: 0,
    decryptFailed: 0,
    unknownEpoch: 0,
    malformed: 0,
    sendRekeys: 0,
    recvRekeys: 0,
  };

  private readonly options: Required<Omit<SessionOptions, 'now'>>;
  private readonly now: () => number;

  // Send direction.
  private sendKey: Uint8Array;
  private sendEpoch = 0;
  private sendCounter = 0; // next counter to use
  private sendEpochFrames = 0;
  private sendEpochStarted: number;
  private readonly aead: FrameAead;

  // Receive direction.
  private recvKey: Uint8Array;
  private recvEpoch = 0;
  private prevKey: Uint8Array | undefined; // key of recvEpoch - 1, until prevExpires
  private prevExpires = 0;
  private readonly window = new ReplayWindow();
  private readonly header: DataHeader = { epoch: 0, counter: 0 };
  private closed = false;

  constructor(keys: SessionKeys, options: SessionOptions = {}) {
    requireSodium();
    this.sessionId = keys.sessionId;
    this.proofKey = keys.proofKey;
    this.peerIdentity = keys.peerIdentity;
    this.localIdentity = keys.localIdentity;
    this.role = keys.role;
    this.sendKey = keys.sendKey.slice();
    this.recvKey = keys.recvKey.slice();
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

  /** Counter the next sealed frame will carry. */
  get nextSeq(): number {
    return this.sendCounter;
  }

  /** Highest counter accepted from the peer (-1 before the first). */
  get highestReceived(): number {
    return this.window.highest;
  }

  get epochs(): { send: number; receive: number } {
    return { send: this.sendEpoch, receive: this.recvEpoch };
  }

  /** Seal an Ethernet frame into a DATA frame (the hot path). */
  sealEthernet(frame: Uint8Array): Uint8Array {
    const size = 1 + frame.length;
    const staged = this.stage(size);
    staged[DATA_HEADER_BYTES] = SealedKind.ETHERNET;
    staged.set(frame, DATA_HEADER_BYTES + 1);
    return this.aead.seal(size, this.sendKey);
  }

  /** Seal any sealed message (ping, pong, migrate, close, ethernet). */
  seal(message: SealedMessage): Uint8Array {
    const size = sealedSize(message);
    const staged = this.stage(size);
    writeSealed(message, staged, DATA_HEADER_BYTES);
    return this.aead.seal(size, this.sendKey);
  }

  // Takes the next counter (rekeying first if due) and stages the header.
  private stage(plaintextLength: number): Uint8Array {
    if (this.closed) throw new SessionError('SESSION_CLOSED', 'session is closed');
    if (DATA_HEADER_BYTES + plaintextLength + AEAD_TAG_BYTES > MAX_FRAME_BYTES) {
      throw new ProtocolError(
        'TOO_LARGE',
        `sealed message of ${plaintextLength} bytes does not fit a frame`,
      );
    }
    if (this.sendCounter > MAX_COUNTER) {
      throw new SessionError('COUNTER_EXHAUSTED', 'send counter exhausted: a new handshake is due');
    }
    this.maybeRekeySend();
    const counter = this.sendCounter++;
    const staged = this.aead.stage(plaintextLength);
    writeDataHeader(staged, 0, this.sendEpoch, counter);
    this.sendEpochFrames++;
    this.stats.sealed++;
    return staged;
  }

  // Rekey, send side (docs/protocol.md §6.4): ratchet to the next epoch; the
  // counter carries on, so sequence numbers stay continuous across epochs.
  private maybeRekeySend(): void {
    if (
      this.sendEpochFrames < this.options.rekeyAfterFrames &&
      this.now() - this.sendEpochStarted < this.options.rekeyAfterMs
    ) {
      return;
    }
    if (this.sendEpoch === 0xffff_ffff) return; // 4 G epochs: the counter ends first
    const next = nextEpochKey(this.sendKey);
    wipe(this.sendKey);
    this.sendKey = next;
    this.sendEpoch++;
    this.sendEpochFrames = 0;
    this.sendEpochStarted = this.now();
    this.stats.sendRekeys++;
  }

  /**
   * Open a DATA frame (raw bytes as received). Throws ProtocolError for a
   * malformed frame and SessionError (REPLAY, STALE, UNKNOWN_EPOCH,
   * DECRYPT_FAILED) for one the session refuses; each is counted in stats.
   */
  open(bytes: Uint8Array): Opened {
    let header: DataHeader;
    try {
      header = readDataHeader(bytes, this.header);
    } catch (error) {
      this.stats.malformed++;
      throw error;
    }
    const { epoch, counter } = header;
    // 1. Replay check first: duplicates from the second path are the common
    //    case while both paths carry traffic, and cost no decryption.
    const verdict = this.window.check(counter);
    if (verdict !== ReplayVerdict.OK) {
      if (verdict === ReplayVerdict.REPLAY) {
        this.stats.replayed++;
        throw new SessionError('REPLAY', `frame ${counter} already received`);
      }
      this.stats.stale++;
      throw new SessionError('STALE', `frame ${counter} is behind the replay window`);
    }
    // 2. Pick the key for the frame's epoch; 3. authenticate and decrypt.
    let plaintext: Uint8Array | undefined;
    if (epoch === this.recvEpoch) {
      plaintext = this.aead.open(bytes, this.recvKey);
    } else if (epoch === this.recvEpoch - 1 && this.prevKey) {
      if (this.now() > this.prevExpires) {
        wipe(this.prevKey);
        this.prevKey = undefined;
        this.stats.unknownEpoch++;
        throw new SessionError('UNKNOWN_EPOCH', `epoch ${epoch} has expired`);
      }
      plaintext = this.aead.open(bytes, this.prevKey);
    } else if (epoch > this.recvEpoch && epoch - this.recvEpoch <= this.options.maxEpochSkip) {
      plaintext = this.openInLaterEpoch(epoch, bytes);
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
    // 4. Authentic: only now may it move the window.
    this.window.accept(counter);
    this.stats.opened++;
    let message: SealedMessage;
    try {
      message = decodeSealed(plaintext);
    } catch (error) {
      this.stats.malformed++;
      throw error;
    }
    return { seq: counter, epoch, message, plaintext };
  }

  // Rekey, receive side: the peer has ratcheted. Derive forward, try the
  // frame, and commit the new epoch only if it authenticates (a forged epoch
  // number must not move our keys).
  private openInLaterEpoch(epoch: number, bytes: Uint8Array): Uint8Array | undefined {
    let previous: Uint8Array = this.recvKey.slice();
    let candidate = nextEpochKey(previous);
    for (let e = this.recvEpoch + 1; e < epoch; e++) {
      wipe(previous);
      previous = candidate;
      candidate = nextEpochKey(previous);
    }
    const plaintext = this.aead.open(bytes, candidate);
    if (plaintext === undefined) {
      wipe(previous);
      wipe(candidate);
      return undefined;
    }
    if (this.prevKey) wipe(this.prevKey);
    wipe(this.recvKey);
    this.prevKey = previous;
    this.prevExpires = this.now() + this.options.previousKeyGraceMs;
    this.recvKey = candidate;
    this.recvEpoch = epoch;
    this.stats.recvRekeys++;
    return plaintext;
  }

  /** Wipe every key. Further seal() calls throw; open() fails to decrypt. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    wipe(this.sendKey);
    wipe(this.recvKey);
    if (this.prevKey) wipe(this.prevKey);
    this.prevKey = undefined;
  }
}
