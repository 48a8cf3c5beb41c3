/**
 * The packet pump: frames between the device and the peers, through the L2
 * switch. It never asks which path a peer uses — each peer's PeerLink follows
 * its own chart — so one peer on a dead path never blocks another: a peer's
 * send() is a non-blocking seal-and-queue that drops (counted) when full.
 *
 *   device ─batch─▶ switch.forward(frame, local) ─▶ peer.send(frame) …
 *   peer.onFrame ─▶ switch.forward(frame, peer) ─▶ device.write(frame)
 */
import type { FrameDevice } from './device.js';
import { type L2Switch, LOCAL_PORT, type PortId } from './l2-switch.js';

export interface PumpPeer {
  send(frame: Uint8Array): boolean;
  onFrame(listener: (frame: Uint8Array) => void): () => void;
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
  readonly #peers = new Map<PortId, { peer: PumpPeer; off: () => void }>();
  readonly #offDevice: () => void;

  constructor(device: FrameDevice, l2: L2Switch) {
    this.#device = device;
    this.#switch = l2;
    this.#offDevice = device.onFrames((frames) => {
      for (const frame of frames) this.#fromDevice(frame);
    });
  }

  addPeer(id: PortId, peer: PumpPeer): void {
    this.removePeer(id);
    this.#switch.addPeer(id);
    const off = peer.onFrame((frame) => this.#fromPeer(id, frame));
    this.#peers.set(id, { peer, off });
  }

  removePeer(id: PortId): void {
    const entry = this.#peers.get(id);
    if (!entry) return;
    entry.off();
    this.#peers.delete(id);
    this.#switch.removePeer(id);
  }

  close(): void {
    this.#offDevice();
    for (const id of [...this.#peers.keys()]) this.removePeer(id);
  }

  #fromDevice(frame: Uint8Array): void {
    this.counters.fromDevice++;
    const ports = this.#switch.forward(frame, LOCAL_PORT);
    if (ports.length === 0) this.counters.unswitched++;
    for (const port of ports) {
      const entry = this.#peers.get(port);
      if (!entry?.peer.send(frame)) this.counters.peerDrops++;
    }
  }

  #fromPeer(id: PortId, frame: Uint8Array): void {
    const ports = this.#switch.forward(frame, id);
    for (const port of ports) {
      if (port === LOCAL_PORT) {
        if (this.#device.write(frame)) this.counters.toDevice++;
        else this.counters.deviceDrops++;
      } else if (!this.#peers.get(port)?.peer.send(frame)) {
        this.counters.peerDrops++;
      }
    }
    if (ports.length === 0) this.counters.unswitched++;
  }
}
