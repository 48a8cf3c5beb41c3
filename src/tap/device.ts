import type { SwitchbackError } from '../errors.js';

/**
 * A source and sink of Ethernet frames: the real TAP device and the in-memory
 * device both implement it, and the pump and the switch see nothing else.
 *
 * Kept narrow on purpose: frames arrive in batches (one call per kernel
 * wakeup, not per frame) and leave singly or in batches, so a faster data path
 * (worker threads, shared rings) can replace an implementation without
 * touching its callers.
 *
 * Ownership: a frame handed to a FrameHandler belongs to the handler (it is a
 * view into a buffer nobody else writes). A frame passed to write() may be
 * reused by the caller as soon as write() returns.
 */
export interface FrameDevice {
  /** Interface name, e.g. "tap0" (the kernel's choice when none was asked for). */
  readonly name: string;
  /** Layer-3 MTU; the largest frame accepted is mtu + ETHERNET_OVERHEAD. */
  readonly mtu: number;
  /** Live counters; read them, never write them. */
  readonly stats: Readonly<DeviceStats>;
  /**
   * Bytes of virtio-net header in front of every frame read and written: 10
   * for a TAP opened with offload (frames may then be super-frames), 0 or
   * absent for a plain device.
   */
  readonly vnetHdrBytes?: number;
  /**
   * Start delivering received frames to `handler`, in batches, in arrival
   * order. One handler at a time: a new one replaces the old. Returns a
   * function that detaches it. An exception from the handler is counted
   * (stats.handlerErrors) and reported to onError; it never stops reading.
   *
   * The frames (and the array) are valid only while the handler runs: a TAP
   * reads every batch into the same buffer, so nothing is allocated per
   * read (V8 answered a fresh buffer per batch with full collections, see
   * docs/performance.md). A handler that keeps a frame copies it.
   */
  onFrames(handler: FrameHandler): () => void;
  /** Errors that happen while reading (device removed, i/o error). */
  onError(handler: (error: SwitchbackError) => void): () => void;
  /**
   * Send one frame out of the device. Never throws for a bad or unlucky frame:
   * returns false and counts the drop by reason (too short, too large, queue
   * full, closed, i/o error — the last also goes to onError).
   */
  write(frame: Uint8Array): boolean;
  /** Send many frames with one crossing into native code; returns how many were accepted. */
  writeBatch(frames: readonly Uint8Array[]): number;
  /** Stop reading, release the device. Idempotent. */
  close(): Promise<void>;
}

export type FrameHandler = (frames: Uint8Array[]) => void;

export type WriteDropReason = 'tooShort' | 'tooLarge' | 'queueFull' | 'closed' | 'ioError';

export interface DeviceStats {
  framesRead: number;
  bytesRead: number;
  /** Reads that delivered at least one frame (framesRead / batchesRead = mean batch). */
  batchesRead: number;
  framesWritten: number;
  bytesWritten: number;
  writeDrops: Record<WriteDropReason, number>;
  /** Frames received while no handler was attached and the backlog was full. */
  readDrops: number;
  handlerErrors: number;
}

/** Destination MAC + source MAC + EtherType. */
export const ETHERNET_HEADER = 14;
/** Header plus one 802.1Q tag: a frame may be this much longer than the MTU. */
export const ETHERNET_OVERHEAD = 18;
export const DEFAULT_MTU = 1500;
/** Smallest MTU Linux accepts for IPv4 (RFC 791's 68 octets). */
export const MIN_MTU = 68;
/** Largest MTU we accept: a jumbo frame, and what the read slab is sized for. */
export const MAX_MTU = 9000;

export function emptyStats(): DeviceStats {
  return {
    framesRead: 0,
    bytesRead: 0,
    batchesRead: 0,
    framesWritten: 0,
    bytesWritten: 0,
    writeDrops: { tooShort: 0, tooLarge: 0, queueFull: 0, closed: 0, ioError: 0 },
    readDrops: 0,
    handlerErrors: 0,
  };
}

/**
 * Why a frame cannot be written to a device with this MTU, or undefined when
 * it can. Shared by every implementation so they drop the same frames.
 */
export function frameDropReason(frame: Uint8Array, mtu: number): WriteDropReason | undefined {
  if (frame.byteLength < ETHERNET_HEADER) return 'tooShort';
  if (frame.byteLength > mtu + ETHERNET_OVERHEAD) return 'tooLarge';
  return undefined;
}

/**
 * frameDropReason for a device opened with offload: every frame carries a
 * virtio-net header (`vnetHdrBytes`) and may be a super-frame of up to 64 KiB
 * of IP packet; the kernel checks the header itself and refuses a bad one.
 */
export function offloadFrameDropReason(
  frame: Uint8Array,
  vnetHdrBytes: number,
): WriteDropReason | undefined {
  if (frame.byteLength < vnetHdrBytes + ETHERNET_HEADER) return 'tooShort';
  if (frame.byteLength > vnetHdrBytes + ETHERNET_OVERHEAD + MAX_SUPER_FRAME_IP) return 'tooLarge';
  return undefined;
}

/** Largest IP packet a TSO super-frame carries (the IPv4 total-length field's limit). */
export const MAX_SUPER_FRAME_IP = 65_535;
