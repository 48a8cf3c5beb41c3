// Two peers' handshake and session layers wired as the peer's session module
// will wire them (the recipe of docs/protocol.md §8.3), over an in-memory
// "relay" that delivers, delays, replays and drops whatever a test says.
// A fast fake layer for the handshake and slot properties; the real relay and
// nodes are exercised by the integration tests.

import { Handshaker } from '../../../src/crypto/handshake.js';
import type { Identity } from '../../../src/crypto/identity.js';
import { SessionSlots, type SlotOpened } from '../../../src/crypto/session-slots.js';
import { MemoryTimestampStore, TimestampClock } from '../../../src/crypto/timestamp.js';
import { errorCode } from '../../../src/errors.js';
import { decodeFrame, encodeFrame, peekFrameType } from '../../../src/protocol/codec.js';
import { FrameType, type HandshakeInit, type HandshakeResp } from '../../../src/protocol/frames.js';

export interface Clock {
  now: number;
}

/** One peer: Handshaker + SessionSlots, fed raw frames. */
export class PeerCrypto {
  handshaker!: Handshaker;
  slots!: SessionSlots;
  /** Refusals by code, as the caller counts them. */
  readonly refused: Record<string, number> = {};
  /** Ethernet payloads opened, in arrival order. */
  readonly received: Uint8Array[] = [];
  readonly store = new MemoryTimestampStore();
  restarts = 0;

  constructor(
    readonly identity: Identity,
    readonly peerKey: Uint8Array,
    private readonly clock: Clock,
    /** Wall clock for INIT timestamps (a test may step it backwards). */
    public wallMs: () => number = () => 1_700_000_000_000 + clock.now,
  ) {
    this.boot();
  }

  /** A process restart: everything in memory is gone; the timestamp store stays. */
  restart(): void {
    this.slots.close();
    this.handshaker.cancel();
    this.restarts++;
    this.boot();
  }

  private boot(): void {
    const now = () => this.clock.now;
    this.handshaker = new Handshaker(this.identity, this.peerKey, {
      clock: new TimestampClock({ store: this.store, wallClock: () => this.wallMs() }),
      guard: { now },
    });
    this.slots = new SessionSlots({ now, session: { now } });
  }

  /** 1. A new INIT (first contact, retry, or rekey). */
  start(): Uint8Array {
    return encodeFrame(this.handshaker.start());
  }

  /** Any frame from the peer; returns what to send back. */
  receive(bytes: Uint8Array): { replies: Uint8Array[]; opened?: SlotOpened } {
    let type: FrameType;
    try {
      type = peekFrameType(bytes);
    } catch (error) {
      this.count(error);
      return { replies: [] };
    }
    if (type === FrameType.HANDSHAKE_INIT || type === FrameType.HANDSHAKE_RESP) {
      return { replies: this.onHandshake(bytes) };
    }
    try {
      const opened = this.slots.open(bytes);
      // A promoted session is the handshake's goal: our own losing INIT is void.
      if (opened.promoted) this.handshaker.cancel();
      if (opened.message.kind === 0) this.received.push(opened.message.frame.slice());
      return { replies: [], opened };
    } catch (error) {
      this.count(error);
      return { replies: [] };
    }
  }

  private onHandshake(bytes: Uint8Array): Uint8Array[] {
    try {
      const frame = decodeFrame(bytes) as HandshakeInit | HandshakeResp;
      const step = this.handshaker.receive(frame);
      const out: Uint8Array[] = [];
      if (step.reply) out.push(encodeFrame(step.reply));
      if (step.keys?.role === 'initiator') {
        // 7. current at once, and a keepalive under it at once.
        out.push(this.slots.installInitiated(step.keys).keepalive);
      } else if (step.keys) {
        this.slots.installResponded(step.keys); // 6. held as next
      }
      return out;
    } catch (error) {
      this.count(error);
      return [];
    }
  }

  /** An Ethernet frame sealed under current, or undefined without one. */
  sealData(payload: Uint8Array): Uint8Array | undefined {
    if (!this.slots.current) return undefined;
    return this.slots.sealEthernet(payload);
  }

  private count(error: unknown): void {
    const code = errorCode(error) ?? 'UNKNOWN';
    this.refused[code] = (this.refused[code] ?? 0) + 1;
  }
}

/** A relay between two PeerCrypto: one FIFO per direction (TCP keeps order),
 * and a log of every frame ever sent, for replays. */
export class FakeRelay {
  readonly queues: [Uint8Array[], Uint8Array[]] = [[], []];
  readonly sent: [Uint8Array[], Uint8Array[]] = [[], []];

  constructor(readonly peers: [PeerCrypto, PeerCrypto]) {}

  /** `from` (0 or 1) sends `bytes` towards the other. */
  send(from: 0 | 1, bytes: Uint8Array | undefined): void {
    if (!bytes) return;
    this.queues[from].push(bytes);
    this.sent[from].push(bytes.slice());
  }

  /** Delivers the oldest frame from `from`; the answers go back on the relay. */
  deliver(from: 0 | 1): SlotOpened | undefined {
    const bytes = this.queues[from].shift();
    if (!bytes) return undefined;
    return this.hand(from, bytes);
  }

  /** Hands a copy of the `index`-th frame `from` ever sent to the other side again. */
  replay(from: 0 | 1, index: number): void {
    const log = this.sent[from];
    if (log.length === 0) return;
    this.hand(from, log[index % log.length]!.slice());
  }

  /** Delivers everything queued, answers included (bounded). */
  flush(limit = 200): void {
    for (let i = 0; i < limit && (this.queues[0].length || this.queues[1].length); i++) {
      this.deliver(0);
      this.deliver(1);
    }
  }

  /** Hands `bytes` to the side opposite `from` at once (out of queue order). */
  hand(from: 0 | 1, bytes: Uint8Array): SlotOpened | undefined {
    const to = (1 - from) as 0 | 1;
    const { replies, opened } = this.peers[to].receive(bytes);
    for (const reply of replies) this.send(to, reply);
    return opened;
  }
}
