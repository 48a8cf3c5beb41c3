/**
 * One peer's direct links: the one in use (`active`), and for each link the
 * inbox of re-handshake frames its proof reads (docs/protocol.md §11).
 *
 *   dial / listener ─ adopt(link) ─▶ id ──▶ rehandshake: nextProofFrame / sendRaw
 *   link message ─▶ DATA, CONTROL → onData(bytes) (the receive side)
 *                   REHANDSHAKE_* → the link's proof inbox
 *   link pong    ─▶ onPong(id)                    (the heartbeat's two-way proof)
 *   peer ping    ─▶ onPeerPing(id, echo)          (the peer's proof rides along: §10.2)
 *
 * A link is forgotten when it closes, by either side; the chart refers to
 * links only by id (context.linkId), so a late event for a forgotten id
 * finds nothing and does nothing.
 */
import { encodeFrame } from '../protocol/codec.js';
import { type Frame, FrameType } from '../protocol/frames.js';
import type { DirectLink } from './direct-link.js';
import { DropReason } from './drop-reasons.js';
import { LinkClosedError } from './errors.js';
import { decodeOrCount, type PeerCounters, peekOrCount } from './peer-counters.js';

export interface DirectLinksOptions {
  /** The peer's name, for errors and logs. */
  name: string;
  counters: PeerCounters;
  /** A DATA or CONTROL frame arrived on a direct link. */
  onData: (bytes: Uint8Array) => void;
  /** A pong arrived answering one of our pings (sendPing's id). */
  onPong: (id: number) => void;
  /** A heartbeat ping from the peer on the active link: its probe id and the
   * id of the peer's last ping our pong answered (0: none). docs/protocol.md §10.2. */
  onPeerPing?: (id: number, echo: number) => void;
  log?: (message: string, fields: object) => void;
}

interface Inbox {
  frames: Frame[];
  waiter: ((frame: Frame | null) => void) | undefined;
}

/** Re-handshake frames kept for a proof that is not reading yet. */
const INBOX_LIMIT = 8;

export class DirectLinks {
  readonly #options: DirectLinksOptions;
  readonly #links = new Map<string, DirectLink>();
  readonly #inboxes = new Map<string, Inbox>();
  /** The newest adopted link that is still open: where direct frames go. */
  #active: DirectLink | undefined;
  #activeId: string | null = null;
  /** The active link's serial (its number in adopt order); 0 for none. */
  #activeSerial = 0;
  #nextId = 1;

  constructor(options: DirectLinksOptions) {
    this.#options = options;
  }

  /** Take ownership of an authenticated link; it becomes the active one. */
  adopt(link: DirectLink): string {
    const serial = this.#nextId++;
    const id = `${this.#options.name}#${serial}`;
    this.#links.set(id, link);
    this.#inboxes.set(id, { frames: [], waiter: undefined });
    this.#active = link;
    this.#activeId = id;
    this.#activeSerial = serial;
    link.onMessage((bytes) => this.#onMessage(id, bytes));
    // A pong echoes our ping: 8 bytes (id, echo), or 4 from a peer that
    // pinged before echoes existed (§10.2). The id comes first in both.
    link.onPong((payload) => {
      if (payload.length === 8 || payload.length === 4)
        this.#options.onPong(payload.readUInt32BE(0));
    });
    // Only the heartbeat's 8-byte pings (the tie-break's select ping is longer).
    const onPeerPing = this.#options.onPeerPing;
    if (onPeerPing) {
      link.onPing((payload) => {
        if (payload.length === 8 && link === this.#active)
          onPeerPing(payload.readUInt32BE(0), payload.readUInt32BE(4));
      });
    }
    link.closed.then(() => this.#forget(id));
    this.#options.log?.('direct link open', {
      link: id,
      remote: `${link.remoteAddress}:${link.remotePort}`,
    });
    return id;
  }

  get(id: string): DirectLink | undefined {
    return this.#links.get(id);
  }

  /** Close a link on purpose (code from LinkCloseCode) and forget it. */
  drop(id: string, code: number, reason: string): void {
    const link = this.#links.get(id);
    if (!link) return;
    link.close(code, reason);
    this.#forget(id);
  }

  dropAll(code: number, reason: string): void {
    for (const id of [...this.#links.keys()]) this.drop(id, code, reason);
  }

  /** The active link would queue a frame now. */
  get writable(): boolean {
    return this.#active?.writable ?? false;
  }

  /**
   * Where the active link's send queue ends now, as (serial, byte offset):
   * after a send(), the point past that message. 0 serial: no active link.
   */
  get activeSerial(): number {
    return this.#activeSerial;
  }

  get activeSentBytes(): number {
    return this.#active?.sentBytes ?? 0;
  }

  /** Whether everything the link `serial` queued up to `mark` bytes has been
   * taken by its socket (settledBytes); false once that link is not the
   * active open one any more, since a closed socket's queue is not ours. */
  settled(serial: number, mark: number): boolean {
    if (serial === 0 || serial !== this.#activeSerial) return false;
    const link = this.#active;
    if (!link?.isOpen) return false;
    return link.settledBytes >= mark;
  }

  /** Send on the active link; false when there is none or it is full. */
  send(bytes: Uint8Array): boolean {
    return this.#active?.send(bytes) ?? false;
  }

  /**
   * A heartbeat ping on the active link: probe `id`, then `echo`, the id of
   * our last ping that the peer's pong answered (0: none yet), which tells
   * the peer its pong arrived (docs/protocol.md §10.2). False when there is
   * no link.
   */
  ping(id: number, echo = 0): boolean {
    const link = this.#active;
    if (!link) return false;
    // A fresh payload each time: ws may queue it by reference (a few a second,
    // never per frame; allocUnsafe takes it from Node's shared pool).
    const payload = Buffer.allocUnsafe(8);
    payload.writeUInt32BE(id >>> 0, 0);
    payload.writeUInt32BE(echo >>> 0, 4);
    return link.ping(payload);
  }

  /** Next re-handshake frame that arrived on link `id`. */
  nextProofFrame(id: string, signal: AbortSignal): Promise<Frame> {
    const inbox = this.#inboxes.get(id);
    if (!inbox) {
      return Promise.reject(
        new LinkClosedError(`${this.#options.name}: direct link ${id} is closed`),
      );
    }
    const queued = inbox.frames.shift();
    if (queued) return Promise.resolve(queued);
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        inbox.waiter = undefined;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      inbox.waiter = (frame) => {
        signal.removeEventListener('abort', onAbort);
        inbox.waiter = undefined;
        if (frame) resolve(frame);
        else {
          reject(
            new LinkClosedError(`${this.#options.name}: direct link ${id} closed during its proof`),
          );
        }
      };
    });
  }

  /** Send an unsealed frame (the re-handshake's) on link `id`. */
  sendRaw(id: string, frame: Frame): boolean {
    return this.#links.get(id)?.send(encodeFrame(frame)) ?? false;
  }

  #onMessage(id: string, bytes: Uint8Array): void {
    switch (peekOrCount(bytes, this.#options.counters)) {
      case FrameType.DATA:
      case FrameType.CONTROL:
        this.#options.onData(bytes);
        return;
      case undefined:
        return; // refused header, counted
      case FrameType.REHANDSHAKE_CHALLENGE:
      case FrameType.REHANDSHAKE_RESPONSE:
      case FrameType.REHANDSHAKE_CONFIRM: {
        const frame = decodeOrCount(bytes, this.#options.counters);
        const inbox = this.#inboxes.get(id);
        if (!frame || !inbox) return;
        if (inbox.waiter) inbox.waiter(frame);
        else if (inbox.frames.length < INBOX_LIMIT) inbox.frames.push(frame);
        return;
      }
      default:
        this.#options.counters.drop(DropReason.UNEXPECTED_DIRECT_FRAME);
    }
  }

  #forget(id: string): void {
    // A link being closed keeps delivering until its close completes: the
    // peer's last frames on it may still be on their way (a planned fallback).
    this.#links.delete(id);
    const inbox = this.#inboxes.get(id);
    this.#inboxes.delete(id);
    inbox?.waiter?.(null);
    if (this.#activeId === id) {
      this.#activeId = null;
      this.#active = undefined;
      this.#activeSerial = 0;
    }
  }
}
