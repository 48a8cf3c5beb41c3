/**
 * The packet pump: frames between the device and the peers, through the L2
 * switch, a batch at a time. It never asks which path a peer uses — each
 * peer's data plane follows its own chart — so one peer on a dead path never
 * blocks another: a peer's sendBatch() is a non-blocking seal-and-queue that
 * drops (counted) when full.
 *
 *   device ─batch─▶ switch.forward(frame, local) ─▶ per peer: sendBatch(its frames)
 *   peer ─batch─▶ switch.forward(frame, peer) ─▶ device.writeBatch(local frames)
 *                                              └▶ other peers: sendBatch
 *
 * The batch arrays are reused: a peer and the device read them during the
 * call and keep no reference. Frames from the device are views into the
 * TAP's read buffer, valid during the call only (FrameDevice.onFrames): a
 * peer seals (copies) them before it returns; frames from a peer it may keep.
 */
import type { FrameDevice } from './device.js';
import { type L2Switch, LOCAL_PORT, type PortId } from './l2-switch.js';

/** A peer as the pump sees it (src/services/peer-link.ts implements it). */
export interface PumpPeer {
  /** Send each frame to the peer; returns how many were taken (the peer counts the rest). */
  sendBatch(frames: readonly Uint8Array[]): number;
  /** Frames from the peer, in batches. */
  onFrames(listener: (frames: readonly Uint8Array[]) => void): () => void;
}

export interface PumpCounters {
  fromDevice: number;
  toDevice: number;
  /** Frames a peer refused (its own drop counters say why). */
  peerDrops: number;
  /** Frames the device refused (queue full, too large…). */
  deviceDrops: number;
  /** Frames the switch had nowhere to send. */
  unswitched: number;
}

interface PeerSlot {
  peer: PumpPeer;
  off: () => void;
  /** Frames for this peer gathered from the batch being switched. */
  pending: Uint8Array[];
}

export class PacketPump {
  readonly counters: PumpCounters = {
    fromDevice: 0,
    toDevice: 0,
    peerDrops: 0,
    deviceDrops: 0,
    unswitched: 0,
  };
  readonly #device: FrameDevice;
  readonly #switch: L2Switch;
  readonly #peers = new Map<PortId, PeerSlot>();
  /** Peers with pending frames in the batch being switched, in first-seen order. */
  readonly #touched: PeerSlot[] = [];
  readonly #toDevice: Uint8Array[] = [];
  readonly #offDevice: () => void;

  constructor(device: FrameDevice, l2: L2Switch) {
    this.#device = device;
    this.#switch = l2;
    this.#offDevice = device.onFrames((frames) => {
      this.counters.fromDevice += frames.length;
      this.#switchBatch(frames, LOCAL_PORT);
    });
  }

  addPeer(id: PortId, peer: PumpPeer): void {
    this.removePeer(id);
    this.#switch.addPeer(id);
    const off = peer.onFrames((frames) => this.#switchBatch(frames, id));
    this.#peers.set(id, { peer, off, pending: [] });
  }

  removePeer(id: PortId): void {
    const slot = this.#peers.get(id);
    if (!slot) return;
    slot.off();
    this.#peers.delete(id);
    this.#switch.removePeer(id);
  }

  close(): void {
    this.#offDevice();
    for (const id of [...this.#peers.keys()]) this.removePeer(id);
  }

  #switchBatch(frames: readonly Uint8Array[], from: PortId): void {
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]!;
      const ports = this.#switch.forward(frame, from);
      if (ports.length === 0) this.counters.unswitched++;
      for (let p = 0; p < ports.length; p++) {
        const port = ports[p]!;
        if (port === LOCAL_PORT) {
          this.#toDevice.push(frame);
          continue;
        }
        const slot = this.#peers.get(port);
        if (!slot) {
          this.counters.peerDrops++;
          continue;
        }
        if (slot.pending.length === 0) this.#touched.push(slot);
        slot.pending.push(frame);
      }
    }
    this.#flush();
  }

  #flush(): void {
    const toDevice = this.#toDevice;
    if (toDevice.length > 0) {
      const written = this.#device.writeBatch(toDevice);
      this.counters.toDevice += written;
      this.counters.deviceDrops += toDevice.length - written;
      toDevice.length = 0;
    }
    const touched = this.#touched;
    for (let i = 0; i < touched.length; i++) {
      const slot = touched[i]!;
      const sent = slot.peer.sendBatch(slot.pending);
      this.counters.peerDrops += slot.pending.length - sent;
      slot.pending.length = 0;
    }
    touched.length = 0;
  }
}
