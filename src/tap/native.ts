import { createRequire } from 'node:module';
import { TapNativeMissingError } from './errors.js';

/**
 * The compiled addon (native/tap.c), built by `npm ci` through the root
 * package's `install` script. Loaded lazily so that code which only uses the
 * in-memory device never needs it.
 */
export interface NativeTap {
  /** offload: IFF_VNET_HDR + TUNSETVNETHDRSZ 10 + TUNSETOFFLOAD CSUM|TSO4|TSO6 (native/tap.c). */
  open(
    name: string,
    nonBlocking: boolean,
    offload?: boolean,
  ): { fd: number; name: string; vnetHdrBytes: number };
  close(fd: number): void;
  writeFrames(fd: number, frames: readonly Uint8Array[]): number;
  startReader(
    fd: number,
    batchMax: number,
    frameMax: number,
    onBatch: NativeBatchCallback,
  ): NativeReader;
  stopReader(reader: NativeReader): void;
  /** A netlink socket, readable when a link or an address changes (read it
   * with startReader, close it with close). */
  openAddressEvents(): number;
}

/** A batch read: frame i is `slab[i * frameMax, i * frameMax + lengths[i])`
 * for i < count. The slab and lengths are the same objects on every call
 * (made once per reader) and their contents are valid only until the
 * callback returns: copy what must be kept. */
export type NativeBatchCallback = (
  error: NativeErrnoError | null,
  slab?: Buffer,
  lengths?: Uint32Array,
  count?: number,
) => void;

/** An opaque handle owned by the addon. */
export type NativeReader = { readonly __nativeReader: unique symbol };

/** What the addon throws: an Error with the errno name as code. */
export interface NativeErrnoError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

// From src/tap/ (tsx) and dist/tap/ (built) alike, the addon is two levels up.
const ADDON_PATH = '../../native/build/Release/switchback_tap.node';

let cached: NativeTap | undefined;

export function loadNativeTap(): NativeTap {
  if (cached) return cached;
  try {
    const require = createRequire(import.meta.url);
    cached = require(ADDON_PATH) as NativeTap;
    return cached;
  } catch (error) {
    throw new TapNativeMissingError({ cause: error });
  }
}

export function isErrnoError(error: unknown): error is NativeErrnoError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string';
}
