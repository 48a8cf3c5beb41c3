import { type Address, KEY_BYTES, PeerGoneReason } from '../../protocol/frames.js';
import { addressBytes, addressText } from '../../protocol/validation.js';
import { CLUSTER_LIMITS, RELAY_NAME } from './cluster-options.js';
import { ClusterError } from './errors.js';

// What relays say to each other over NATS (docs/relay.md "Cluster wire format").
//
// Subjects, one cluster per NATS account:
//   switchback.cluster.presence          every relay: HEARTBEAT, ADD, REMOVE, BYE
//   switchback.cluster.locate            every relay: LOCATE request → LOCATED reply
//   switchback.relay.<name>.ctl          one relay:   SYNC_REQUEST, SYNC, WANT
//   switchback.relay.<name>.fwd.<peer>   one relay:   a FORWARD frame for <peer>, as is
//
// Forwarded frames carry no cluster header at all: the payload is the FORWARD
// frame exactly as the receiving relay hands it to its peer (the sending relay
// has already put the source key in it), and the destination is the subject's
// last token. Everything else is a control message:
//
//   version u8 (1) | type u8 | nameLength u8 | name (ASCII) | instance(8) | body
//
// `instance` is random per relay process: a restarted relay is a new instance,
// so its sequence numbers start again and its old peers are forgotten.
// Integers are big-endian; a stamp is u64 milliseconds (< 2^53).
//
//   HEARTBEAT    0x01  seq u32 | peers u32
//   ADD          0x02  seq u32 | key(32) | stamp u64
//   REMOVE       0x03  seq u32 | key(32) | stamp u64 | reason u8 (PeerGoneReason)
//   BYE          0x04  —  (this relay is stopping: forget its peers now)
//   SYNC_REQUEST 0x05  —  (send me all your peers)
//   SYNC         0x06  seq u32 | chunk u16 | last u8 | count u16 | count × (key(32) stamp u64)
//   WANT         0x07  from(32) | fromStamp u64 | to(32) | listenPort u16 | flags u8 | observed
//   LOCATE       0x08  key(32)
//   LOCATED      0x09  key(32) | stamp u64
//
// `seq` counts ADD and REMOVE messages of one instance; HEARTBEAT repeats the
// last one, so a receiver that missed a delta sees the gap and asks for SYNC.
// `observed` is an Address as in docs/protocol.md: family u8 | 4 or 16 bytes | port u16.

export const CLUSTER_WIRE_VERSION = 1;
export const INSTANCE_BYTES = 8;

export const ClusterMessageType = {
  HEARTBEAT: 0x01,
  ADD: 0x02,
  REMOVE: 0x03,
  BYE: 0x04,
  SYNC_REQUEST: 0x05,
  SYNC: 0x06,
  WANT: 0x07,
  LOCATE: 0x08,
  LOCATED: 0x09,
} as const;
export type ClusterMessageType = (typeof ClusterMessageType)[keyof typeof ClusterMessageType];

/** WANT flags. */
export const WantFlag = {
  /** A CONNECT just arrived: tell the target ESTABLISHED even if already paired. */
  NEW_CONNECT: 1,
  /** Answer with your own WANT for me, if you have one (it may have been lost). */
  ECHO: 2,
} as const;

export const PRESENCE_SUBJECT = 'switchback.cluster.presence';
export const LOCATE_SUBJECT = 'switchback.cluster.locate';
export function controlSubject(name: string): string {
  return `switchback.relay.${name}.ctl`;
}
export function forwardPrefix(name: string): string {
  return `switchback.relay.${name}.fwd.`;
}

/** Who sent a control message. */
export interface Sender {
  name: string;
  /** Hex of the 8 instance bytes. */
  instance: string;
}

export interface SnapshotEntry {
  key: Uint8Array;
  stamp: number;
}

export type ClusterMessage = Sender &
  (
    | { type: typeof ClusterMessageType.HEARTBEAT; seq: number; peers: number }
    | { type: typeof ClusterMessageType.ADD; seq: number; key: Uint8Array; stamp: number }
    | {
        type: typeof ClusterMessageType.REMOVE;
        seq: number;
        key: Uint8Array;
        stamp: number;
        reason: PeerGoneReason;
      }
    | { type: typeof ClusterMessageType.BYE }
    | { type: typeof ClusterMessageType.SYNC_REQUEST }
    | {
        type: typeof ClusterMessageType.SYNC;
        seq: number;
        chunk: number;
        last: boolean;
        entries: SnapshotEntry[];
      }
    | {
        type: typeof ClusterMessageType.WANT;
        from: Uint8Array;
        fromStamp: number;
        to: Uint8Array;
        listenPort: number;
        flags: number;
        observed: Address;
      }
    | { type: typeof ClusterMessageType.LOCATE; key: Uint8Array }
    | { type: typeof ClusterMessageType.LOCATED; key: Uint8Array; stamp: number }
  );

type Body<T extends ClusterMessageType> = Omit<Extract<ClusterMessage, { type: T }>, keyof Sender>;
export type ClusterBody = { [T in ClusterMessageType]: Body<T> }[ClusterMessageType];

const REASONS = new Set<number>(Object.values(PeerGoneReason));
const TWO_32 = 2 ** 32;

/** A full presence snapshot as SYNC messages of at most `chunkEntries` entries each (one even when empty). */
export function syncBodies(
  entries: readonly SnapshotEntry[],
  seq: number,
  chunkEntries = CLUSTER_LIMITS.snapshotChunkEntries,
): ClusterBody[] {
  const chunks = Math.max(1, Math.ceil(entries.length / chunkEntries));
  const bodies: ClusterBody[] = [];
  for (let chunk = 0; chunk < chunks; chunk++) {
    bodies.push({
      type: ClusterMessageType.SYNC,
      seq,
      chunk,
      last: chunk === chunks - 1,
      entries: entries.slice(chunk * chunkEntries, (chunk + 1) * chunkEntries),
    });
  }
  return bodies;
}

/** Encodes one control message from `sender`. `instance` is the raw 8 bytes. */
export function encodeClusterMessage(
  sender: { name: string; instance: Uint8Array },
  body: ClusterBody,
): Uint8Array {
  const name = Buffer.from(sender.name, 'ascii');
  const head = 3 + name.length + INSTANCE_BYTES;
  const out = new Writer(head + bodySize(body));
  out.u8(CLUSTER_WIRE_VERSION);
  out.u8(body.type);
  out.u8(name.length);
  out.bytes(name);
  out.bytes(sender.instance);
  switch (body.type) {
    case ClusterMessageType.HEARTBEAT:
      out.u32(body.seq);
      out.u32(body.peers);
      break;
    case ClusterMessageType.ADD:
      out.u32(body.seq);
      out.bytes(body.key);
      out.u64(body.stamp);
      break;
    case ClusterMessageType.REMOVE:
      out.u32(body.seq);
      out.bytes(body.key);
      out.u64(body.stamp);
      out.u8(body.reason);
      break;
    case ClusterMessageType.BYE:
    case ClusterMessageType.SYNC_REQUEST:
      break;
    case ClusterMessageType.SYNC:
      out.u32(body.seq);
      out.u16(body.chunk);
      out.u8(body.last ? 1 : 0);
      out.u16(body.entries.length);
      for (const entry of body.entries) {
        out.bytes(entry.key);
        out.u64(entry.stamp);
      }
      break;
    case ClusterMessageType.WANT: {
      out.bytes(body.from);
      out.u64(body.fromStamp);
      out.bytes(body.to);
      out.u16(body.listenPort);
      out.u8(body.flags);
      const address = addressBytes(body.observed);
      out.u8(body.observed.family);
      out.bytes(address);
      out.u16(body.observed.port);
      break;
    }
    case ClusterMessageType.LOCATE:
      out.bytes(body.key);
      break;
    case ClusterMessageType.LOCATED:
      out.bytes(body.key);
      out.u64(body.stamp);
      break;
  }
  return out.done();
}

function bodySize(body: ClusterBody): number {
  switch (body.type) {
    case ClusterMessageType.HEARTBEAT:
      return 8;
    case ClusterMessageType.ADD:
      return 4 + KEY_BYTES + 8;
    case ClusterMessageType.REMOVE:
      return 4 + KEY_BYTES + 8 + 1;
    case ClusterMessageType.BYE:
    case ClusterMessageType.SYNC_REQUEST:
      return 0;
    case ClusterMessageType.SYNC:
      return 9 + body.entries.length * (KEY_BYTES + 8);
    case ClusterMessageType.WANT:
      return 2 * KEY_BYTES + 8 + 2 + 1 + 1 + (body.observed.family === 4 ? 4 : 16) + 2;
    case ClusterMessageType.LOCATE:
      return KEY_BYTES;
    case ClusterMessageType.LOCATED:
      return KEY_BYTES + 8;
  }
}

/** Decodes one control message; anything malformed is a ClusterError BAD_MESSAGE. */
export function decodeClusterMessage(bytes: Uint8Array): ClusterMessage {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== CLUSTER_WIRE_VERSION) bad(`cluster wire version ${version}, expected 1`);
  const type = r.u8();
  const name = Buffer.from(r.bytes(r.u8())).toString('latin1');
  if (!RELAY_NAME.test(name)) bad('sender name is not a relay name');
  const instance = Buffer.from(r.bytes(INSTANCE_BYTES)).toString('hex');
  const sender = { name, instance };
  let message: ClusterMessage;
  switch (type) {
    case ClusterMessageType.HEARTBEAT:
      message = { ...sender, type, seq: r.u32(), peers: r.u32() };
      break;
    case ClusterMessageType.ADD:
      message = { ...sender, type, seq: r.u32(), key: r.key(), stamp: r.u64() };
      break;
    case ClusterMessageType.REMOVE: {
      const seq = r.u32();
      const key = r.key();
      const stamp = r.u64();
      const reason = r.u8();
      if (!REASONS.has(reason)) bad(`unknown peer-gone reason ${reason}`);
      message = { ...sender, type, seq, key, stamp, reason: reason as PeerGoneReason };
      break;
    }
    case ClusterMessageType.BYE:
    case ClusterMessageType.SYNC_REQUEST:
      message = { ...sender, type };
      break;
    case ClusterMessageType.SYNC: {
      const seq = r.u32();
      const chunk = r.u16();
      const last = r.u8();
      if (last > 1) bad('sync last flag is not 0 or 1');
      const count = r.u16();
      const entries: SnapshotEntry[] = [];
      for (let i = 0; i < count; i++) entries.push({ key: r.key(), stamp: r.u64() });
      message = { ...sender, type, seq, chunk, last: last === 1, entries };
      break;
    }
    case ClusterMessageType.WANT: {
      const from = r.key();
      const fromStamp = r.u64();
      const to = r.key();
      const listenPort = r.u16();
      const flags = r.u8();
      const family = r.u8();
      if (family !== 4 && family !== 6) bad(`address family ${family}`);
      const host = addressText(r.bytes(family === 4 ? 4 : 16));
      const observed: Address = { family, host, port: r.u16() };
      message = { ...sender, type, from, fromStamp, to, listenPort, flags, observed };
      break;
    }
    case ClusterMessageType.LOCATE:
      message = { ...sender, type, key: r.key() };
      break;
    case ClusterMessageType.LOCATED:
      message = { ...sender, type, key: r.key(), stamp: r.u64() };
      break;
    default:
      bad(`unknown cluster message type 0x${type.toString(16)}`);
  }
  if (!r.atEnd) bad('trailing bytes');
  return message;
}

function bad(message: string): never {
  throw new ClusterError('BAD_MESSAGE', message);
}

class Writer {
  private readonly buffer: Uint8Array;
  private readonly view: DataView;
  private offset = 0;
  constructor(size: number) {
    this.buffer = new Uint8Array(size);
    this.view = new DataView(this.buffer.buffer);
  }
  u8(value: number): void {
    this.view.setUint8(this.offset, value);
    this.offset += 1;
  }
  u16(value: number): void {
    this.view.setUint16(this.offset, value);
    this.offset += 2;
  }
  u32(value: number): void {
    this.view.setUint32(this.offset, value >>> 0);
    this.offset += 4;
  }
  u64(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`u64 ${value} out of range`);
    this.view.setUint32(this.offset, Math.floor(value / TWO_32));
    this.view.setUint32(this.offset + 4, value % TWO_32);
    this.offset += 8;
  }
  bytes(value: Uint8Array): void {
    this.buffer.set(value, this.offset);
    this.offset += value.length;
  }
  done(): Uint8Array {
    if (this.offset !== this.buffer.length) throw new Error('cluster message size mismatch');
    return this.buffer;
  }
}

class Reader {
  private readonly view: DataView;
  private offset = 0;
  constructor(private readonly bytes_: Uint8Array) {
    this.view = new DataView(bytes_.buffer, bytes_.byteOffset, bytes_.byteLength);
  }
  get atEnd(): boolean {
    return this.offset === this.bytes_.length;
  }
  private need(n: number): void {
    if (this.offset + n > this.bytes_.length) bad('truncated');
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.offset);
    this.offset += 2;
    return value;
  }
  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }
  u64(): number {
    this.need(8);
    const value = this.view.getUint32(this.offset) * TWO_32 + this.view.getUint32(this.offset + 4);
    if (!Number.isSafeInteger(value)) bad('stamp beyond 2^53');
    this.offset += 8;
    return value;
  }
  /** A copy: keys outlive the NATS read buffer they came in. */
  bytes(n: number): Uint8Array {
    this.need(n);
    const value = this.bytes_.slice(this.offset, this.offset + n);
    this.offset += n;
    return value;
  }
  key(): Uint8Array {
    return this.bytes(KEY_BYTES);
  }
}
