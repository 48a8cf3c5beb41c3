// Handshake timestamps (docs/protocol.md §6.3): every HANDSHAKE_INIT carries a
// signed, strictly increasing TAI64N timestamp, so a responder can refuse an
// INIT that is not newer than the greatest it accepted from that peer — a
// replay, however late, is then refused without a trace.
//
//   TAI64N = seconds u64 | nanoseconds u32        (12 bytes, big-endian)
//   seconds = 2^62 + 10 + Unix seconds            (TAI64's label for "now", as WireGuard writes it)
//   nanoseconds: the low 24 bits are always zero  (whitened: the INIT does not
//                reveal the sender's clock to better than ~16.8 ms)
//
// Timestamps compare as 12-byte big-endian strings (compareTimestamps).
//
// The initiator's side is a TimestampClock. It hands out
//   next = max(last + one tick, the wall clock, whitened)
// so it never repeats or goes back, even when the wall clock is stepped
// backwards. It survives restarts through a TimestampStore: before handing out
// a timestamp above what the store holds, it saves a *reservation* `leaseMs`
// ahead (default 60 s), and a restarted clock starts above the reservation.
// So the file is written about once a minute while INITs are being sent, not
// once per INIT, and a crash between saving and sending can never make a
// timestamp repeat. The file sits next to the key file (timestampFileFor).

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { TIMESTAMP_BYTES } from '../protocol/frames.js';
import { StateFileError } from './errors.js';

/** TAI64 label of the Unix epoch plus the 10 s TAI-UTC offset of 1970. */
export const TAI64_BASE = 0x4000_0000_0000_000an;
/** Nanosecond bits cleared in every timestamp (wireguard-go's whitener). */
export const TIMESTAMP_WHITENER_MASK = 0xff_ffff;
/** Smallest step between two timestamps: the first unmasked nanosecond bit. */
export const TIMESTAMP_TICK_NS = TIMESTAMP_WHITENER_MASK + 1;
const NS_PER_SECOND = 1_000_000_000;

/** Defaults, each with why. */
export const TIMESTAMP_DEFAULTS = {
  /** How far ahead of the last handed-out timestamp a reservation reaches:
   * one file write per minute of INITs at most; after a restart timestamps
   * run at most this far ahead of the clock (harmless: only order matters). */
  leaseMs: 60_000,
} as const;

/** The TAI64N timestamp of a Unix time in ms, whitened. */
export function tai64n(unixMs: number): Uint8Array {
  const ms = Math.floor(unixMs);
  const seconds = Math.floor(ms / 1000);
  const nanos = ((ms - seconds * 1000) * 1_000_000) & ~TIMESTAMP_WHITENER_MASK;
  return encode(BigInt(seconds) + TAI64_BASE, nanos >>> 0);
}

/** Unix time in ms of a timestamp (for logs and tests; rounds down). */
export function timestampToUnixMs(ts: Uint8Array): number {
  const { seconds, nanos } = decode(ts);
  return Number(seconds - TAI64_BASE) * 1000 + Math.floor(nanos / 1_000_000);
}

/** <0, 0, >0 as a is earlier than, equal to, later than b (bytewise, big-endian). */
export function compareTimestamps(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TIMESTAMP_BYTES; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/** The timestamp one tick after `ts` (2^24 ns later, carrying into seconds). */
export function nextTick(ts: Uint8Array): Uint8Array {
  const { seconds, nanos } = decode(ts);
  const stepped = (nanos & ~TIMESTAMP_WHITENER_MASK) + TIMESTAMP_TICK_NS;
  return stepped >= NS_PER_SECOND ? encode(seconds + 1n, 0) : encode(seconds, stepped);
}

function encode(seconds: bigint, nanos: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_BYTES);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, seconds);
  view.setUint32(8, nanos);
  return out;
}

function decode(ts: Uint8Array): { seconds: bigint; nanos: number } {
  if (ts.length !== TIMESTAMP_BYTES) throw new RangeError('a timestamp is 12 bytes');
  const view = new DataView(ts.buffer, ts.byteOffset, ts.byteLength);
  return { seconds: view.getBigUint64(0), nanos: view.getUint32(8) };
}

function later(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareTimestamps(a, b) >= 0 ? a : b;
}

/** Where a TimestampClock keeps its reservation across restarts. */
export interface TimestampStore {
  /** The saved reservation, or undefined if none was ever saved. */
  load(): Uint8Array | undefined;
  /** Saves `reservation` durably before returning. */
  save(reservation: Uint8Array): void;
}

/** A store in memory: survives a new TimestampClock over the same store (a
 * simulated restart in tests), not a process restart. */
export class MemoryTimestampStore implements TimestampStore {
  saved: Uint8Array | undefined;
  saves = 0;

  load(): Uint8Array | undefined {
    return this.saved?.slice();
  }

  save(reservation: Uint8Array): void {
    this.saved = reservation.slice();
    this.saves++;
  }
}

export const TIMESTAMP_FILE_HEADER = 'switchback-timestamp-v1';
const HEX_TIMESTAMP = /^[0-9a-f]{24}$/;

/** The state file next to a key file: `<key file>.timestamp`. */
export function timestampFileFor(keyFile: string): string {
  return `${keyFile}.timestamp`;
}

/**
 * The reservation in a small text file (docs/protocol.md §1.2):
 *
 *   switchback-timestamp-v1
 *   <reservation: 12 bytes as 24 lowercase hex digits>
 *
 * Written to a temporary file (mode 0600), synced, then renamed into place,
 * so it is never half written. A missing file means "no reservation yet".
 */
export class FileTimestampStore implements TimestampStore {
  constructor(readonly path: string) {}

  load(): Uint8Array | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StateFileError(
        'STATE_FILE_IO',
        this.path,
        `cannot read timestamp state file ${this.path}: ${String(error)}`,
        { cause: error },
      );
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (
      lines.length !== 2 ||
      lines[0] !== TIMESTAMP_FILE_HEADER ||
      !HEX_TIMESTAMP.test(lines[1]!)
    ) {
      throw new StateFileError(
        'STATE_FILE_FORMAT',
        this.path,
        `timestamp state file ${this.path} is not a ${TIMESTAMP_FILE_HEADER} file; remove it to start from the clock`,
      );
    }
    return new Uint8Array(Buffer.from(lines[1]!, 'hex'));
  }

  save(reservation: Uint8Array): void {
    const text = `${TIMESTAMP_FILE_HEADER}\n${Buffer.from(reservation).toString('hex')}\n`;
    const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const fd = openSync(tmp, 'wx', 0o600);
      try {
        writeSync(fd, text);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw new StateFileError(
        'STATE_FILE_IO',
        this.path,
        `cannot write timestamp state file ${this.path}: ${String(error)}`,
        { cause: error },
      );
    }
  }
}

export interface TimestampClockOptions {
  /** Where the reservation survives restarts; default: in memory only. */
  store?: TimestampStore;
  /** Wall clock in Unix ms (tests step it backwards); default Date.now. */
  wallClock?: () => number;
  leaseMs?: number;
}

/** The initiator's source of INIT timestamps: strictly increasing, across
 * wall-clock steps and (with a durable store) across restarts. One per node,
 * shared by all its peers. */
export class TimestampClock {
  private readonly store: TimestampStore;
  private readonly wallClock: () => number;
  private readonly leaseMs: number;
  /** Highest timestamp that may have been handed out (the saved reservation). */
  private reserved: Uint8Array | undefined;
  private lastIssued: Uint8Array | undefined;

  constructor(options: TimestampClockOptions = {}) {
    this.store = options.store ?? new MemoryTimestampStore();
    this.wallClock = options.wallClock ?? Date.now;
    this.leaseMs = options.leaseMs ?? TIMESTAMP_DEFAULTS.leaseMs;
    this.reserved = this.store.load();
    // Everything up to the reservation may have been sent before a restart.
    this.lastIssued = this.reserved;
  }

  /** A clock whose reservation lives in `<keyFile>.timestamp`. */
  static forKeyFile(
    keyFile: string,
    options: Omit<TimestampClockOptions, 'store'> = {},
  ): TimestampClock {
    return new TimestampClock({
      ...options,
      store: new FileTimestampStore(timestampFileFor(keyFile)),
    });
  }

  /** The last timestamp handed out (or the restored reservation); undefined before any. */
  get last(): Uint8Array | undefined {
    return this.lastIssued?.slice();
  }

  /** The next INIT timestamp: max(last + one tick, wall clock), saved
   * (as a reservation) before it is returned. Throws StateFileError when the
   * store cannot save: better no INIT than one that might repeat. */
  next(): Uint8Array {
    const now = tai64n(this.wallClock());
    const candidate = this.lastIssued ? later(nextTick(this.lastIssued), now) : now;
    if (!this.reserved || compareTimestamps(candidate, this.reserved) > 0) {
      const reservation = later(tai64n(timestampToUnixMs(candidate) + this.leaseMs), candidate);
      this.store.save(reservation);
      this.reserved = reservation;
    }
    this.lastIssued = candidate;
    return candidate.slice();
  }
}
