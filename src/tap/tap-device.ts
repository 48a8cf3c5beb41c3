import { isIP } from 'node:net';
import type { SwitchbackError } from '../errors.js';
import {
  DEFAULT_MTU,
  type DeviceStats,
  ETHERNET_OVERHEAD,
  emptyStats,
  type FrameDevice,
  type FrameHandler,
  frameDropReason,
  MAX_MTU,
  MAX_SUPER_FRAME_IP,
  MIN_MTU,
  offloadFrameDropReason,
  type WriteDropReason,
} from './device.js';
import { DeviceOutlet } from './device-outlet.js';
import {
  type TapError,
  TapIoError,
  TapNameInUseError,
  TapNameInvalidError,
  TapOffloadRefusedError,
  TapOptionError,
  TapPermissionError,
  TapUnavailableError,
} from './errors.js';
import { configureLink } from './ip-config.js';
import { isErrnoError, loadNativeTap, type NativeReader, type NativeTap } from './native.js';

export interface TapDeviceOptions {
  /** Interface name (at most 15 bytes, may hold one "%d"); omitted: the kernel picks "tapN". */
  name?: string;
  /** Default 1500. */
  mtu?: number;
  /** Addresses in CIDR form ("10.77.0.1/24", "fd00::1/64"); default none. */
  addresses?: readonly string[];
  /** Hardware address "aa:bb:cc:dd:ee:ff"; default: the kernel's random one. */
  mac?: string;
  /** Bring the link up (default true). */
  up?: boolean;
  /**
   * Move the link into this existing network namespace (ip netns name) before
   * configuring it. The open file descriptor keeps working across the move.
   */
  netns?: string;
  /** Most frames read per readiness wakeup (default 64). */
  batchMax?: number;
  /**
   * Open with IFF_VNET_HDR and TSO/checksum offload (default false). Every
   * frame read then starts with a 10-byte virtio-net header (see
   * virtio-net-hdr.ts) and may be a TCP super-frame far above the MTU; every
   * frame written must start with one too. Read slots grow to 64 KiB, so
   * the read slab is batchMax × 64 KiB. A kernel that refuses the offload
   * ioctls fails the open with TapOffloadRefusedError (TAP_OFFLOAD_REFUSED).
   */
  offload?: boolean;
  signal?: AbortSignal;
}

/** Defaults, each with its reason. */
export const TAP_DEFAULTS = {
  // The bench (docs/tap.md) shows gains flatten past ~32-64 frames per wakeup;
  // 64 x 1.5 KiB keeps the reused read slab under 100 KiB.
  batchMax: 64,
  mtu: DEFAULT_MTU,
} as const;

const IFNAMSIZ = 16;

/**
 * Validate an interface name as Linux does (net/core/dev.c dev_valid_name),
 * so the caller gets a clear error instead of the kernel's bare EINVAL.
 */
export function validateDeviceName(name: string): void {
  if (name.length === 0)
    throw new TapNameInvalidError(name, 'empty (omit the name to let the kernel choose)');
  if (Buffer.byteLength(name) >= IFNAMSIZ)
    throw new TapNameInvalidError(name, 'longer than 15 bytes');
  if (name === '.' || name === '..') throw new TapNameInvalidError(name, 'reserved');
  if (/[/:\s]/.test(name)) throw new TapNameInvalidError(name, 'contains "/", ":" or whitespace');
  if (/%(?!d)/.test(name) || (name.match(/%d/g) ?? []).length > 1) {
    throw new TapNameInvalidError(name, 'only one "%d" pattern is allowed');
  }
}

function validateOptions(options: TapDeviceOptions): void {
  const mtu = options.mtu ?? DEFAULT_MTU;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new TapOptionError(`mtu must be an integer from ${MIN_MTU} to ${MAX_MTU}, got ${mtu}`);
  }
  for (const cidr of options.addresses ?? []) {
    const [ip, prefix, extra] = cidr.split('/');
    const family = isIP(ip ?? '');
    const bits = Number(prefix);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || !/^\d+$/.test(prefix ?? '') || bits > max) {
      throw new TapOptionError(
        `address must be CIDR like "10.77.0.1/24", got ${JSON.stringify(cidr)}`,
      );
    }
  }
  if (options.mac !== undefined && !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(options.mac)) {
    throw new TapOptionError(
      `mac must look like "02:00:00:00:00:01", got ${JSON.stringify(options.mac)}`,
    );
  }
  const batchMax = options.batchMax ?? TAP_DEFAULTS.batchMax;
  if (!Number.isInteger(batchMax) || batchMax < 1 || batchMax > 4096) {
    throw new TapOptionError(`batchMax must be an integer from 1 to 4096, got ${batchMax}`);
  }
}

/** Turn the addon's errno error into the typed error a person can act on. */
function openError(error: unknown, name: string, offload: boolean): TapError {
  if (!isErrnoError(error)) return new TapIoError(name || 'tap', String(error), { cause: error });
  // The offload ioctls come after the device exists: their failure means
  // "this kernel does not do offload", whatever the errno.
  if (offload && /TUNSETVNETHDRSZ|TUNSETOFFLOAD/.test(error.syscall)) {
    return new TapOffloadRefusedError(`${error.syscall}: ${error.code}`, { cause: error });
  }
  switch (error.code) {
    case 'EPERM':
    case 'EACCES':
      return new TapPermissionError({ cause: error });
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return error.syscall.startsWith('open')
        ? new TapUnavailableError(error.code, { cause: error })
        : new TapIoError(name || 'tap', error.message, { cause: error });
    case 'EBUSY':
      return new TapNameInUseError(name, { cause: error });
    case 'EINVAL':
      // The name passed validation, so the kernel refused it for being taken
      // by an interface of another kind (or another TUN/TAP flavour).
      return name === ''
        ? new TapIoError('tap', error.message, { cause: error })
        : new TapNameInUseError(name, { cause: error });
    default:
      return new TapIoError(name || 'tap', error.message, { cause: error });
  }
}

/**
 * Open a Linux TAP device (IFF_TAP | IFF_NO_PI: bare Ethernet frames),
 * set its MTU, addresses and link state. The device lives as long as this
 * object: close() (or process exit) removes it.
 */
export async function openTapDevice(options: TapDeviceOptions = {}): Promise<TapDevice> {
  options.signal?.throwIfAborted();
  if (options.name !== undefined) validateDeviceName(options.name);
  validateOptions(options);
  const native = loadNativeTap();
  let opened: { fd: number; name: string; vnetHdrBytes: number };
  try {
    opened = native.open(options.name ?? '', true, options.offload ?? false);
  } catch (error) {
    throw openError(error, options.name ?? '', options.offload ?? false);
  }
  const mtu = options.mtu ?? TAP_DEFAULTS.mtu;
  try {
    await configureLink(
      {
        name: opened.name,
        netns: options.netns,
        mtu,
        addresses: options.addresses ?? [],
        mac: options.mac,
        up: options.up ?? true,
      },
      options.signal,
    );
    options.signal?.throwIfAborted();
  } catch (error) {
    native.close(opened.fd);
    throw error;
  }
  return new TapDevice(
    native,
    opened.fd,
    opened.name,
    mtu,
    options.batchMax ?? TAP_DEFAULTS.batchMax,
    opened.vnetHdrBytes ?? 0,
  );
}

export class TapDevice implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  readonly stats: DeviceStats = emptyStats();
  /** The raw descriptor, for benchmarks and a future worker-thread data path. */
  readonly fd: number;
  /** 10 when opened with offload (each frame starts with a virtio-net header), else 0. */
  readonly vnetHdrBytes: number;

  readonly #native: NativeTap;
  readonly #batchMax: number;
  #reader: NativeReader | undefined;
  /** The reader's slot size, and the array its batches are handed over in (reused). */
  #frameMax = 0;
  readonly #batch: Uint8Array[] = [];
  readonly #outlet: DeviceOutlet;
  #closed = false;

  constructor(
    native: NativeTap,
    fd: number,
    name: string,
    mtu: number,
    batchMax: number,
    vnetHdrBytes = 0,
  ) {
    this.#native = native;
    this.fd = fd;
    this.vnetHdrBytes = vnetHdrBytes;
    this.name = name;
    this.mtu = mtu;
    this.#batchMax = batchMax;
    this.#outlet = new DeviceOutlet(name, this.stats);
  }

  get closed(): boolean {
    return this.#closed;
  }

  onFrames(handler: FrameHandler): () => void {
    if (this.#closed) return () => {};
    this.#outlet.handler = handler;
    // Read only while someone listens: until then the kernel queues frames
    // (txqueuelen) and drops the excess itself, as it would for a slow reader.
    if (this.#reader === undefined) {
      // Slab slots sized for the largest frame the MTU allows, plus slack so a
      // later external MTU raise truncates nothing small.
      // With offload a read may be a whole TSO super-frame behind its header.
      const frameMax =
        this.vnetHdrBytes > 0
          ? this.vnetHdrBytes + ETHERNET_OVERHEAD + MAX_SUPER_FRAME_IP
          : Math.min(65_536, this.mtu + ETHERNET_OVERHEAD + 64);
      this.#frameMax = frameMax;
      this.#reader = this.#native.startReader(
        this.fd,
        this.#batchMax,
        frameMax,
        (error, slab, lengths, count) => this.#onBatch(error, slab, lengths, count),
      );
    }
    return () => {
      if (this.#outlet.handler !== handler) return;
      this.#outlet.handler = undefined;
      this.#stopReader();
    };
  }

  onError(handler: (error: SwitchbackError) => void): () => void {
    return this.#outlet.onError(handler);
  }

  write(frame: Uint8Array): boolean {
    return this.writeBatch([frame]) === 1;
  }

  writeBatch(frames: readonly Uint8Array[]): number {
    if (this.#closed) {
      this.stats.writeDrops.closed += frames.length;
      return 0;
    }
    // Filter in JS (cheap) so native code only sees frames the kernel should take.
    let good: readonly Uint8Array[] = frames;
    for (let i = 0; i < frames.length; i++) {
      const reason = this.#dropReason(frames[i] as Uint8Array);
      if (reason !== undefined) {
        good = frames.filter((f) => {
          const r = this.#dropReason(f);
          if (r !== undefined) this.stats.writeDrops[r]++;
          return r === undefined;
        });
        break;
      }
    }
    let written: number;
    try {
      written = this.#native.writeFrames(this.fd, good);
    } catch (error) {
      this.stats.writeDrops.ioError += good.length;
      this.#outlet.report(
        new TapIoError(this.name, isErrnoError(error) ? error.message : String(error), {
          cause: error,
        }),
      );
      return 0;
    }
    for (let i = 0; i < written; i++) this.stats.bytesWritten += (good[i] as Uint8Array).byteLength;
    this.stats.framesWritten += written;
    this.stats.writeDrops.queueFull += good.length - written;
    return written;
  }

  #dropReason(frame: Uint8Array): WriteDropReason | undefined {
    return this.vnetHdrBytes > 0
      ? offloadFrameDropReason(frame, this.vnetHdrBytes)
      : frameDropReason(frame, this.mtu);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#outlet.handler = undefined;
    this.#stopReader();
    this.#native.close(this.fd);
  }

  #stopReader(): void {
    if (this.#reader === undefined) return;
    this.#native.stopReader(this.#reader);
    this.#reader = undefined;
  }

  #onBatch(
    error: unknown,
    slab: Buffer | undefined,
    lengths: Uint32Array | undefined,
    count: number | undefined,
  ): void {
    if (error) {
      this.#reader = undefined; // the addon stopped it
      this.#outlet.report(
        new TapIoError(this.name, isErrnoError(error) ? error.message : String(error), {
          cause: error,
        }),
      );
      return;
    }
    if (slab === undefined || lengths === undefined || count === undefined) return;
    // Views into the reader's slab, valid during this call only (FrameDevice.onFrames).
    const frames = this.#batch;
    frames.length = count;
    const slot = this.#frameMax;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const length = lengths[i] as number;
      frames[i] = slab.subarray(i * slot, i * slot + length);
      bytes += length;
    }
    this.#outlet.deliver(frames, bytes);
  }
}
