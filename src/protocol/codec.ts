// Binary codec for every Switchback frame, protocol version 2 (byte layouts:
// frames.ts comments and docs/protocol.md §4). decodeFrame() returns a typed
// frame or throws a ProtocolError with a stable code, whatever the bytes: it
// never reads past the input, never loops on input-controlled counts, and
// wraps any surprise as INTERNAL so that no other exception escapes.
//
// Decoded byte fields: fixed-size fields (keys, nonces, macs, signatures) are
// copies; the variable-size FORWARD payload and DATA/CONTROL ciphertext are
// views into the input (zero copy), valid while the caller keeps the input
// unchanged.
//
// Only this file reads wire headers. Services that need one field on the hot
// path use the small readers and writers of the "Hot path" section
// (peekFrameType, readSpace, readSequence, readDataSequence, readSessionTag,
// readSealedHeader, writeForwardKey, forwardHeader/encodeForward, readForward):
// they allocate nothing (encodeForward: the frame itself) and throw
// ProtocolError like the rest.
import { ProtocolError, VersionMismatchError } from './errors.js';
import {
  type Address,
  ATTEMPT_ID_BYTES,
  BATCH_LENGTH_BYTES,
  DATA_HEADER_BYTES,
  ETHERNET_HEADER_BYTES,
  FORWARD_HEADER_BYTES,
  type Frame,
  FrameType,
  KEY_BYTES,
  MAC_BYTES,
  MAX_BATCH_BYTES,
  MAX_COUNTER,
  MAX_DATA_FRAME_BYTES,
  MAX_FRAME_BYTES,
  MAX_NOTICE_BYTES,
  MAX_SEALED_BYTES,
  MAX_SUPERFRAME_BYTES,
  MIN_CIPHERTEXT_BYTES,
  NONCE_BYTES,
  PeerGoneReason,
  PROTOCOL_VERSION,
  SESSION_ID_BYTES,
  SealedKind,
  type SealedMessage,
  SIGNATURE_BYTES,
  Space,
  spaceOfKind,
  TIMESTAMP_BYTES,
  VIRTIO_NET_HDR_BYTES,
} from './frames.js';
import {
  addressBytes,
  addressText,
  checkBytes,
  checkUint,
  checkUint64,
  isFrameType,
} from './validation.js';

const PEER_GONE_REASONS = new Set<number>(Object.values(PeerGoneReason));
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Reading

class Reader {
  private readonly view: DataView;
  pos = 2; // past version and type

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.bytes.length) {
      throw new ProtocolError(
        'TRUNCATED',
        `frame ends inside ${field} (needs ${n} bytes at offset ${this.pos}, has ${this.bytes.length - this.pos})`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }

  u16(field: string): number {
    this.need(2, field);
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const value = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return value;
  }

  /** A copy of the next n bytes. */
  copy(n: number, field: string): Uint8Array {
    this.need(n, field);
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A view of everything left. */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }

  address(field: string): Address {
    const family = this.u8(`${field} family`);
    if (family !== 4 && family !== 6) {
      throw new ProtocolError('BAD_ADDRESS', `${field} family must be 4 or 6, got ${family}`);
    }
    const host = addressText(this.copy(family === 4 ? 4 : 16, `${field} host`));
    const port = this.u16(`${field} port`);
    return { family, host, port };
  }

  end(type: string): void {
    if (this.pos !== this.bytes.length) {
      throw new ProtocolError(
        'TRAILING_BYTES',
        `${type} has ${this.bytes.length - this.pos} bytes after its last field`,
      );
    }
  }
}

/** Decode one frame. Throws ProtocolError, and only ProtocolError. */
export function decodeFrame(bytes: Uint8Array): Frame {
  try {
    return decodeUnchecked(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError('INTERNAL', `frame decoder failed: ${String(error)}`, {
      cause: error,
    });
  }
}

function checkHeader(bytes: Uint8Array): FrameType {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError('NOT_BYTES', 'a frame must be a Uint8Array');
  }
  if (bytes.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(
      'TOO_LARGE',
      `frame of ${bytes.length} bytes exceeds ${MAX_FRAME_BYTES}`,
    );
  }
  if (bytes.length < 2)
    throw new ProtocolError('TRUNCATED', 'frame shorter than its 2-byte header');
  if (bytes[0] !== PROTOCOL_VERSION) {
    throw new VersionMismatchError(bytes[0]!, isFrameType(bytes[1]!));
  }
  const type = bytes[1]!;
  if (!isFrameType(type)) {
    throw new ProtocolError(
      'UNKNOWN_TYPE',
      `unknown frame type 0x${type.toString(16).padStart(2, '0')}`,
    );
  }
  return type;
}

/** checkHeader, and the frame must be of `type` (the in-place readers). */
function expectType(bytes: Uint8Array, type: FrameType, name: string): void {
  const actual = checkHeader(bytes);
  if (actual !== type) {
    throw new ProtocolError(
      'UNKNOWN_TYPE',
      `expected a ${name} frame, got type 0x${actual.toString(16)}`,
    );
  }
}

function decodeUnchecked(bytes: Uint8Array): Frame {
  const type = checkHeader(bytes);
  const r = new Reader(bytes);
  let frame: Frame;
  switch (type) {
    case FrameType.HELLO:
      frame = { type, key: r.copy(KEY_BYTES, 'key'), capabilities: r.u32('capabilities') };
      break;
    case FrameType.CHALLENGE:
      frame = {
        type,
        nonce: r.copy(NONCE_BYTES, 'nonce'),
        relayId: r.copy(KEY_BYTES, 'relayId'),
        capabilities: r.u32('capabilities'),
      };
      break;
    case FrameType.AUTH:
      frame = { type, signature: r.copy(SIGNATURE_BYTES, 'signature') };
      break;
    case FrameType.WELCOME:
      frame = { type, observed: r.address('observed') };
      break;
    case FrameType.CONNECT:
      frame = { type, peer: r.copy(KEY_BYTES, 'peer'), listenPort: r.u16('listenPort') };
      break;
    case FrameType.ESTABLISHED:
      frame = {
        type,
        peer: r.copy(KEY_BYTES, 'peer'),
        observed: r.address('observed'),
        listenPort: r.u16('listenPort'),
      };
      break;
    case FrameType.PEER_GONE: {
      const peer = r.copy(KEY_BYTES, 'peer');
      const reason = r.u8('reason');
      if (!PEER_GONE_REASONS.has(reason)) {
        throw new ProtocolError('BAD_VALUE', `unknown PEER_GONE reason ${reason}`);
      }
      frame = { type, peer, reason: reason as PeerGoneReason };
      break;
    }
    case FrameType.FORWARD:
      frame = { type, key: r.copy(KEY_BYTES, 'key'), payload: r.rest() };
      break;
    case FrameType.NOTICE: {
      const code = r.u16('code');
      const length = r.u16('message length');
      if (length > MAX_NOTICE_BYTES) {
        throw new ProtocolError(
          'TOO_LARGE',
          `NOTICE message of ${length} bytes exceeds ${MAX_NOTICE_BYTES}`,
        );
      }
      const raw = r.copy(length, 'message');
      let message: string;
      try {
        message = utf8Decoder.decode(raw);
      } catch (cause) {
        throw new ProtocolError('BAD_UTF8', 'NOTICE message is not valid UTF-8', { cause });
      }
      frame = { type, code, message };
      break;
    }
    case FrameType.HANDSHAKE_INIT:
      frame = {
        type,
        identity: r.copy(KEY_BYTES, 'identity'),
        ephemeral: r.copy(KEY_BYTES, 'ephemeral'),
        timestamp: r.copy(TIMESTAMP_BYTES, 'timestamp'),
        capabilities: r.u32('capabilities'),
        signature: r.copy(SIGNATURE_BYTES, 'signature'),
      };
      break;
    case FrameType.HANDSHAKE_RESP:
      frame = {
        type,
        identity: r.copy(KEY_BYTES, 'identity'),
        ephemeral: r.copy(KEY_BYTES, 'ephemeral'),
        capabilities: r.u32('capabilities'),
        signature: r.copy(SIGNATURE_BYTES, 'signature'),
      };
      break;
    case FrameType.DATA:
    case FrameType.CONTROL: {
      const name = type === FrameType.DATA ? 'DATA' : 'CONTROL';
      if (bytes.length > MAX_DATA_FRAME_BYTES) {
        throw new ProtocolError(
          'TOO_LARGE',
          `${name} frame of ${bytes.length} bytes exceeds ${MAX_DATA_FRAME_BYTES}`,
        );
      }
      const tag = r.u32('tag');
      const epoch = r.u32('epoch');
      const counter = r.u64('counter');
      if (counter > BigInt(MAX_COUNTER)) {
        throw new ProtocolError('BAD_VALUE', `${name} counter ${counter} exceeds 2^53 - 1`);
      }
      const ciphertext = r.rest();
      if (ciphertext.length < MIN_CIPHERTEXT_BYTES) {
        throw new ProtocolError(
          'BAD_LENGTH',
          `${name} ciphertext of ${ciphertext.length} bytes is shorter than ${MIN_CIPHERTEXT_BYTES}`,
        );
      }
      frame = { type, tag, epoch, counter, ciphertext };
      break;
    }
    case FrameType.REHANDSHAKE_CHALLENGE:
      frame = {
        type,
        sessionId: r.copy(SESSION_ID_BYTES, 'sessionId'),
        nonce: r.copy(NONCE_BYTES, 'nonce'),
      };
      break;
    case FrameType.REHANDSHAKE_RESPONSE:
      frame = { type, nonce: r.copy(NONCE_BYTES, 'nonce'), mac: r.copy(MAC_BYTES, 'mac') };
      break;
    case FrameType.REHANDSHAKE_CONFIRM:
      frame = { type, mac: r.copy(MAC_BYTES, 'mac') };
      break;
  }
  r.end(`frame type 0x${type.toString(16)}`);
  return frame;
}

// ---------------------------------------------------------------------------
// Writing

class Writer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(size: number) {
    if (size > MAX_FRAME_BYTES) {
      throw new ProtocolError('TOO_LARGE', `frame of ${size} bytes exceeds ${MAX_FRAME_BYTES}`);
    }
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(value: number): this {
    this.view.setUint8(this.pos++, value);
    return this;
  }
  u16(value: number): this {
    this.view.setUint16(this.pos, value);
    this.pos += 2;
    return this;
  }
  u32(value: number): this {
    this.view.setUint32(this.pos, value);
    this.pos += 4;
    return this;
  }
  u64(value: bigint): this {
    this.view.setBigUint64(this.pos, value);
    this.pos += 8;
    return this;
  }
  raw(value: Uint8Array): this {
    this.bytes.set(value, this.pos);
    this.pos += value.length;
    return this;
  }
  address(host: Uint8Array, address: Address): this {
    return this.u8(address.family)
      .raw(host)
      .u16(checkUint(address.port, 16, 'address port'));
  }
}

function header(size: number, type: FrameType): Writer {
  return new Writer(2 + size).u8(PROTOCOL_VERSION).u8(type);
}

/** Encode one frame. Invalid field values throw ProtocolError (never a
 * malformed frame on the wire). */
export function encodeFrame(frame: Frame): Uint8Array {
  try {
    return encodeUnchecked(frame);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError('INTERNAL', `frame encoder failed: ${String(error)}`, { cause: error });
  }
}

function encodeUnchecked(frame: Frame): Uint8Array {
  switch (frame.type) {
    case FrameType.HELLO:
      return header(KEY_BYTES + 4, frame.type)
        .raw(checkBytes(frame.key, KEY_BYTES, 'key'))
        .u32(checkUint(frame.capabilities, 32, 'capabilities')).bytes;
    case FrameType.CHALLENGE:
      return header(NONCE_BYTES + KEY_BYTES + 4, frame.type)
        .raw(checkBytes(frame.nonce, NONCE_BYTES, 'nonce'))
        .raw(checkBytes(frame.relayId, KEY_BYTES, 'relayId'))
        .u32(checkUint(frame.capabilities, 32, 'capabilities')).bytes;
    case FrameType.AUTH:
      return header(SIGNATURE_BYTES, frame.type).raw(
        checkBytes(frame.signature, SIGNATURE_BYTES, 'signature'),
      ).bytes;
    case FrameType.WELCOME: {
      const host = addressBytes(frame.observed);
      return header(3 + host.length, frame.type).address(host, frame.observed).bytes;
    }
    case FrameType.CONNECT:
      return header(KEY_BYTES + 2, frame.type)
        .raw(checkBytes(frame.peer, KEY_BYTES, 'peer'))
        .u16(checkUint(frame.listenPort, 16, 'listenPort')).bytes;
    case FrameType.ESTABLISHED: {
      const host = addressBytes(frame.observed);
      return header(KEY_BYTES + 3 + host.length + 2, frame.type)
        .raw(checkBytes(frame.peer, KEY_BYTES, 'peer'))
        .address(host, frame.observed)
        .u16(checkUint(frame.listenPort, 16, 'listenPort')).bytes;
    }
    case FrameType.PEER_GONE:
      if (!PEER_GONE_REASONS.has(frame.reason)) {
        throw new ProtocolError('BAD_VALUE', `unknown PEER_GONE reason ${String(frame.reason)}`);
      }
      return header(KEY_BYTES + 1, frame.type)
        .raw(checkBytes(frame.peer, KEY_BYTES, 'peer'))
        .u8(frame.reason).bytes;
    case FrameType.FORWARD: {
      if (!(frame.payload instanceof Uint8Array)) {
        throw new ProtocolError('BAD_LENGTH', 'FORWARD payload must be a Uint8Array');
      }
      return header(KEY_BYTES + frame.payload.length, frame.type)
        .raw(checkBytes(frame.key, KEY_BYTES, 'key'))
        .raw(frame.payload).bytes;
    }
    case FrameType.NOTICE: {
      if (typeof frame.message !== 'string') {
        throw new ProtocolError('BAD_VALUE', 'NOTICE message must be a string');
      }
      const text = utf8Encoder.encode(frame.message);
      if (text.length > MAX_NOTICE_BYTES) {
        throw new ProtocolError(
          'TOO_LARGE',
          `NOTICE message of ${text.length} bytes exceeds ${MAX_NOTICE_BYTES}`,
        );
      }
      return header(4 + text.length, frame.type)
        .u16(checkUint(frame.code, 16, 'code'))
        .u16(text.length)
        .raw(text).bytes;
    }
    case FrameType.HANDSHAKE_INIT:
      return header(2 * KEY_BYTES + TIMESTAMP_BYTES + 4 + SIGNATURE_BYTES, frame.type)
        .raw(checkBytes(frame.identity, KEY_BYTES, 'identity'))
        .raw(checkBytes(frame.ephemeral, KEY_BYTES, 'ephemeral'))
        .raw(checkBytes(frame.timestamp, TIMESTAMP_BYTES, 'timestamp'))
        .u32(checkUint(frame.capabilities, 32, 'capabilities'))
        .raw(checkBytes(frame.signature, SIGNATURE_BYTES, 'signature')).bytes;
    case FrameType.HANDSHAKE_RESP:
      return header(2 * KEY_BYTES + 4 + SIGNATURE_BYTES, frame.type)
        .raw(checkBytes(frame.identity, KEY_BYTES, 'identity'))
        .raw(checkBytes(frame.ephemeral, KEY_BYTES, 'ephemeral'))
        .u32(checkUint(frame.capabilities, 32, 'capabilities'))
        .raw(checkBytes(frame.signature, SIGNATURE_BYTES, 'signature')).bytes;
    case FrameType.DATA:
    case FrameType.CONTROL: {
      const counter = checkUint64(frame.counter, 'counter');
      if (counter > BigInt(MAX_COUNTER)) {
        throw new ProtocolError('BAD_VALUE', `sealed frame counter ${counter} exceeds 2^53 - 1`);
      }
      if (
        !(frame.ciphertext instanceof Uint8Array) ||
        frame.ciphertext.length < MIN_CIPHERTEXT_BYTES
      ) {
        throw new ProtocolError(
          'BAD_LENGTH',
          `sealed frame ciphertext must be at least ${MIN_CIPHERTEXT_BYTES} bytes`,
        );
      }
      const size = DATA_HEADER_BYTES + frame.ciphertext.length;
      if (size > MAX_DATA_FRAME_BYTES) {
        throw new ProtocolError(
          'TOO_LARGE',
          `sealed frame of ${size} bytes exceeds ${MAX_DATA_FRAME_BYTES}`,
        );
      }
      return header(size - 2, frame.type)
        .u32(checkUint(frame.tag, 32, 'tag'))
        .u32(checkUint(frame.epoch, 32, 'epoch'))
        .u64(counter)
        .raw(frame.ciphertext).bytes;
    }
    case FrameType.REHANDSHAKE_CHALLENGE:
      return header(SESSION_ID_BYTES + NONCE_BYTES, frame.type)
        .raw(checkBytes(frame.sessionId, SESSION_ID_BYTES, 'sessionId'))
        .raw(checkBytes(frame.nonce, NONCE_BYTES, 'nonce')).bytes;
    case FrameType.REHANDSHAKE_RESPONSE:
      return header(NONCE_BYTES + MAC_BYTES, frame.type)
        .raw(checkBytes(frame.nonce, NONCE_BYTES, 'nonce'))
        .raw(checkBytes(frame.mac, MAC_BYTES, 'mac')).bytes;
    case FrameType.REHANDSHAKE_CONFIRM:
      return header(MAC_BYTES, frame.type).raw(checkBytes(frame.mac, MAC_BYTES, 'mac')).bytes;
    default:
      throw new ProtocolError(
        'UNKNOWN_TYPE',
        `cannot encode frame type ${String((frame as { type: unknown }).type)}`,
      );
  }
}

// ---------------------------------------------------------------------------
// Hot path: header reads and writes without building a Frame object. Each
// reads only what it names and allocates nothing (errors aside).

/**
 * The type of a frame after checking its 2-byte header (size, version, known
 * type), without decoding the body. A frame of another protocol version
 * throws VersionMismatchError (code BAD_VERSION), whose line() names both.
 */
export function peekFrameType(bytes: Uint8Array): FrameType {
  return checkHeader(bytes);
}

/** Writes the 18-byte header of a DATA or CONTROL frame into
 * target[offset..offset+18): version, type, tag, epoch, counter. The session's
 * seal path uses it to build a frame in one allocation. */
export function writeSealedHeader(
  target: Uint8Array,
  offset: number,
  space: Space,
  tag: number,
  epoch: number,
  counter: number,
): void {
  target[offset] = PROTOCOL_VERSION;
  target[offset + 1] = space === Space.DATA ? FrameType.DATA : FrameType.CONTROL;
  writeU32(target, offset + 2, tag);
  writeU32(target, offset + 6, epoch);
  // counter ≤ 2^53 - 1: split into high and low 32-bit words without BigInt.
  writeU32(target, offset + 10, Math.floor(counter / 0x1_0000_0000));
  writeU32(target, offset + 14, counter >>> 0);
}

function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = (value >>> 16) & 0xff;
  target[offset + 2] = (value >>> 8) & 0xff;
  target[offset + 3] = value & 0xff;
}

function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) |
      (bytes[offset + 1]! << 16) |
      (bytes[offset + 2]! << 8) |
      bytes[offset + 3]!) >>>
    0
  );
}

/** Space, tag, epoch and counter of a DATA or CONTROL frame, parsed in place. */
export interface SealedHeader {
  space: Space;
  tag: number;
  epoch: number;
  counter: number;
}

/** Checks that `bytes` is a well-formed DATA or CONTROL frame and returns its
 * space; the shared checks of every reader below. */
function checkSealed(bytes: Uint8Array): Space {
  const type = checkHeader(bytes);
  if (type !== FrameType.DATA && type !== FrameType.CONTROL) {
    throw new ProtocolError(
      'UNKNOWN_TYPE',
      `expected a DATA or CONTROL frame, got type 0x${type.toString(16)}`,
    );
  }
  if (bytes.length < DATA_HEADER_BYTES + MIN_CIPHERTEXT_BYTES) {
    throw new ProtocolError('TRUNCATED', `sealed frame of ${bytes.length} bytes is too short`);
  }
  if (bytes.length > MAX_DATA_FRAME_BYTES) {
    throw new ProtocolError(
      'TOO_LARGE',
      `sealed frame of ${bytes.length} bytes exceeds ${MAX_DATA_FRAME_BYTES}`,
    );
  }
  if (readU32(bytes, 10) > 0x1f_ffff) {
    throw new ProtocolError('BAD_VALUE', 'sealed frame counter exceeds 2^53 - 1');
  }
  return type === FrameType.DATA ? Space.DATA : Space.CONTROL;
}

function counterAt(bytes: Uint8Array): number {
  return readU32(bytes, 10) * 0x1_0000_0000 + readU32(bytes, 14);
}

/** Checks a DATA or CONTROL frame and fills `out` with its header fields. The
 * ciphertext is bytes.subarray(DATA_HEADER_BYTES). Throws ProtocolError (same
 * codes as decodeFrame). */
export function readSealedHeader(bytes: Uint8Array, out: SealedHeader): SealedHeader {
  out.space = checkSealed(bytes);
  out.tag = readU32(bytes, 2);
  out.epoch = readU32(bytes, 6);
  out.counter = counterAt(bytes);
  return out;
}

/** The counter space of a DATA (Space.DATA) or CONTROL (Space.CONTROL) frame. */
export function readSpace(bytes: Uint8Array): Space {
  return checkSealed(bytes);
}

/** The counter (sequence number in its space) of a DATA or CONTROL frame. */
export function readSequence(bytes: Uint8Array): number {
  checkSealed(bytes);
  return counterAt(bytes);
}

/** The counter of a DATA frame: its sequence number among data frames.
 * UNKNOWN_TYPE for a CONTROL frame (its counter is another space's). */
export function readDataSequence(bytes: Uint8Array): number {
  if (checkSealed(bytes) !== Space.DATA) {
    throw new ProtocolError('UNKNOWN_TYPE', 'a CONTROL frame has no data sequence number');
  }
  return counterAt(bytes);
}

/** The session tag of a DATA or CONTROL frame (selects the receiver's session). */
export function readSessionTag(bytes: Uint8Array): number {
  checkSealed(bytes);
  return readU32(bytes, 2);
}

/** Offset of the key in a FORWARD frame: [0] version [1] type [2..34] key. */
export const FORWARD_KEY_OFFSET = 2;

/** Overwrites the key of an already checked FORWARD frame in place (the relay
 * turns a destination into the source this way: same layout, no copy). */
export function writeForwardKey(frame: Uint8Array, key: Uint8Array): void {
  if (key.length !== KEY_BYTES || frame.length < FORWARD_KEY_OFFSET + KEY_BYTES) {
    throw new ProtocolError('BAD_LENGTH', 'FORWARD key must be 32 bytes inside a FORWARD frame');
  }
  frame.set(key, FORWARD_KEY_OFFSET);
}

/** The FORWARD header for `key`, built once per peer (see encodeForward). */
export function forwardHeader(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(FORWARD_HEADER_BYTES);
  out[0] = PROTOCOL_VERSION;
  out[1] = FrameType.FORWARD;
  out.set(checkBytes(key, KEY_BYTES, 'key'), 2);
  return out;
}

/** FORWARD(key, payload) in one allocation, from a header made by
 * forwardHeader(key). Same bytes as encodeFrame({ type: FORWARD, … }). */
export function encodeForward(header: Uint8Array, payload: Uint8Array): Uint8Array {
  if (FORWARD_HEADER_BYTES + payload.length > MAX_FRAME_BYTES) {
    throw new ProtocolError(
      'TOO_LARGE',
      `FORWARD of ${FORWARD_HEADER_BYTES + payload.length} bytes exceeds ${MAX_FRAME_BYTES}`,
    );
  }
  const out = new Uint8Array(FORWARD_HEADER_BYTES + payload.length);
  out.set(header, 0);
  out.set(payload, FORWARD_HEADER_BYTES);
  return out;
}

/** Where a FORWARD frame's key and payload lie: views into the input. */
export interface ForwardParts {
  key: Uint8Array;
  payload: Uint8Array;
}

/** Reads a FORWARD frame in place into `out` (views, no copies; `out` is
 * reused by the caller). Throws ProtocolError as decodeFrame would. */
export function readForward(bytes: Uint8Array, out: ForwardParts): ForwardParts {
  expectType(bytes, FrameType.FORWARD, 'FORWARD');
  if (bytes.length < FORWARD_HEADER_BYTES) {
    throw new ProtocolError('TRUNCATED', `FORWARD frame of ${bytes.length} bytes has no key`);
  }
  out.key = bytes.subarray(2, FORWARD_HEADER_BYTES);
  out.payload = bytes.subarray(FORWARD_HEADER_BYTES);
  return out;
}

// ---------------------------------------------------------------------------
// Sealed messages: the plaintext inside DATA and CONTROL (docs/protocol.md §9.2).

export function encodeSealed(msg: SealedMessage): Uint8Array {
  try {
    const size = sealedSize(msg);
    const out = new Uint8Array(size);
    writeSealed(msg, out, 0);
    return out;
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError('INTERNAL', `sealed encoder failed: ${String(error)}`, {
      cause: error,
    });
  }
}

/** Bytes encodeSealed(msg) would produce. */
export function sealedSize(msg: SealedMessage): number {
  switch (msg.kind) {
    case SealedKind.ETHERNET:
      if (!(msg.frame instanceof Uint8Array)) {
        throw new ProtocolError('BAD_LENGTH', 'ETHERNET frame must be a Uint8Array');
      }
      if (1 + msg.frame.length > MAX_SEALED_BYTES) {
        throw new ProtocolError(
          'TOO_LARGE',
          `ETHERNET frame of ${msg.frame.length} bytes does not fit a sealed message`,
        );
      }
      return 1 + msg.frame.length;
    case SealedKind.SUPERFRAME:
      if (!(msg.packet instanceof Uint8Array)) {
        throw new ProtocolError('BAD_LENGTH', 'SUPERFRAME packet must be a Uint8Array');
      }
      if (msg.packet.length < VIRTIO_NET_HDR_BYTES + ETHERNET_HEADER_BYTES) {
        throw new ProtocolError(
          'TRUNCATED',
          `SUPERFRAME packet of ${msg.packet.length} bytes is shorter than a virtio-net and an Ethernet header`,
        );
      }
      if (msg.packet.length > VIRTIO_NET_HDR_BYTES + MAX_SUPERFRAME_BYTES) {
        throw new ProtocolError(
          'TOO_LARGE',
          `SUPERFRAME packet of ${msg.packet.length} bytes exceeds ${VIRTIO_NET_HDR_BYTES + MAX_SUPERFRAME_BYTES}`,
        );
      }
      return 1 + msg.packet.length;
    case SealedKind.BATCH:
      return 1 + batchBytes(msg.frames);
    case SealedKind.PING:
    case SealedKind.PONG:
      return 13;
    case SealedKind.MIGRATE:
      return 1 + ATTEMPT_ID_BYTES + 8;
    case SealedKind.CLOSE:
      return 2;
    case SealedKind.KEEPALIVE:
      return 6;
    default:
      throw new ProtocolError(
        'UNKNOWN_KIND',
        `unknown sealed kind ${String((msg as { kind: unknown }).kind)}`,
      );
  }
}

/** Writes msg at out[offset..offset + sealedSize(msg)). */
export function writeSealed(msg: SealedMessage, out: Uint8Array, offset: number): void {
  out[offset] = msg.kind;
  switch (msg.kind) {
    case SealedKind.ETHERNET:
      out.set(msg.frame, offset + 1);
      return;
    case SealedKind.SUPERFRAME:
      out.set(msg.packet, offset + 1);
      return;
    case SealedKind.BATCH: {
      let at = offset + 1;
      for (const frame of msg.frames) {
        out[at] = frame.length >> 8;
        out[at + 1] = frame.length & 0xff;
        out.set(frame, at + BATCH_LENGTH_BYTES);
        at += BATCH_LENGTH_BYTES + frame.length;
      }
      return;
    }
    case SealedKind.PING:
    case SealedKind.PONG: {
      const view = new DataView(out.buffer, out.byteOffset + offset);
      view.setUint32(1, checkUint(msg.id, 32, 'id'));
      view.setBigUint64(5, checkUint64(msg.sentAt, 'sentAt'));
      return;
    }
    case SealedKind.MIGRATE: {
      const attemptId = checkBytes(msg.attemptId, ATTEMPT_ID_BYTES, 'attemptId');
      const lastSeq = checkUint64(msg.lastSeq, 'lastSeq');
      out.set(attemptId, offset + 1);
      new DataView(out.buffer, out.byteOffset + offset).setBigUint64(1 + ATTEMPT_ID_BYTES, lastSeq);
      return;
    }
    case SealedKind.CLOSE:
      out[offset + 1] = checkUint(msg.reason, 8, 'reason');
      return;
    case SealedKind.KEEPALIVE: {
      const view = new DataView(out.buffer, out.byteOffset + offset);
      const has = msg.nextTag !== null;
      view.setUint8(1, has ? 1 : 0);
      view.setUint32(2, has ? checkUint(msg.nextTag, 32, 'nextTag') : 0);
      return;
    }
  }
}

/** Decode a sealed plaintext. ETHERNET frames are views into `bytes`. With
 * `space`, a kind that belongs to the other space is UNKNOWN_KIND (a data
 * frame never carries a PING, a control frame never an Ethernet frame).
 * Throws ProtocolError only. */
export function decodeSealed(bytes: Uint8Array, space?: Space): SealedMessage {
  try {
    const message = decodeSealedUnchecked(bytes);
    if (space !== undefined && spaceOfKind(message.kind) !== space) {
      throw new ProtocolError(
        'UNKNOWN_KIND',
        `sealed kind ${message.kind} does not belong in the ${space === Space.DATA ? 'data' : 'control'} space`,
      );
    }
    return message;
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError('INTERNAL', `sealed decoder failed: ${String(error)}`, {
      cause: error,
    });
  }
}

function decodeSealedUnchecked(bytes: Uint8Array): SealedMessage {
  if (!(bytes instanceof Uint8Array))
    throw new ProtocolError('NOT_BYTES', 'sealed plaintext must be a Uint8Array');
  if (bytes.length < 1) throw new ProtocolError('TRUNCATED', 'sealed plaintext is empty');
  if (bytes.length > MAX_SEALED_BYTES)
    throw new ProtocolError('TOO_LARGE', 'sealed plaintext too large');
  const kind = bytes[0]!;
  const fixed = (size: number, name: string): DataView => {
    if (bytes.length < size)
      throw new ProtocolError('TRUNCATED', `${name} needs ${size} bytes, has ${bytes.length}`);
    if (bytes.length > size)
      throw new ProtocolError('TRAILING_BYTES', `${name} has ${bytes.length - size} extra bytes`);
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  switch (kind) {
    case SealedKind.ETHERNET:
      return { kind, frame: bytes.subarray(1) };
    case SealedKind.SUPERFRAME:
      // virtio-net header, then at least an Ethernet header; the size limit
      // is MAX_SEALED_BYTES above (header + MAX_SUPERFRAME_BYTES fits it).
      if (bytes.length < 1 + VIRTIO_NET_HDR_BYTES + ETHERNET_HEADER_BYTES) {
        throw new ProtocolError(
          'TRUNCATED',
          `SUPERFRAME needs ${1 + VIRTIO_NET_HDR_BYTES + ETHERNET_HEADER_BYTES} bytes, has ${bytes.length}`,
        );
      }
      if (bytes.length > 1 + VIRTIO_NET_HDR_BYTES + MAX_SUPERFRAME_BYTES) {
        throw new ProtocolError('TOO_LARGE', `SUPERFRAME of ${bytes.length} bytes too large`);
      }
      return { kind, packet: bytes.subarray(1) };
    case SealedKind.BATCH:
      return { kind, frames: decodeBatch(bytes) };
    case SealedKind.PING:
    case SealedKind.PONG: {
      const view = fixed(13, kind === SealedKind.PING ? 'PING' : 'PONG');
      return { kind, id: view.getUint32(1), sentAt: view.getBigUint64(5) };
    }
    case SealedKind.MIGRATE: {
      const view = fixed(1 + ATTEMPT_ID_BYTES + 8, 'MIGRATE');
      return {
        kind,
        attemptId: bytes.slice(1, 1 + ATTEMPT_ID_BYTES),
        lastSeq: view.getBigUint64(1 + ATTEMPT_ID_BYTES),
      };
    }
    case SealedKind.CLOSE:
      fixed(2, 'CLOSE');
      return { kind, reason: bytes[1]! };
    case SealedKind.KEEPALIVE: {
      const view = fixed(6, 'KEEPALIVE');
      const flags = view.getUint8(1);
      const tag = view.getUint32(2);
      // One encoding only: flags 0 (no next) with tag 0, or flags 1 with the tag.
      if (flags > 1 || (flags === 0 && tag !== 0)) {
        throw new ProtocolError('BAD_VALUE', `KEEPALIVE flags ${flags} with next tag ${tag}`);
      }
      return { kind, nextTag: flags === 1 ? tag : null };
    }
    default:
      throw new ProtocolError('UNKNOWN_KIND', `unknown sealed kind ${kind}`);
  }
}

/** Bytes a BATCH of `frames` takes after its kind byte; refuses an empty
 * batch, a frame shorter than an Ethernet header or longer than a length
 * field holds, and a total above MAX_BATCH_BYTES. */
export function batchBytes(frames: readonly Uint8Array[]): number {
  if (!Array.isArray(frames) || frames.length === 0) {
    throw new ProtocolError('BAD_LENGTH', 'BATCH needs at least one frame');
  }
  let total = 0;
  for (const frame of frames) {
    if (!(frame instanceof Uint8Array)) {
      throw new ProtocolError('BAD_LENGTH', 'BATCH frames must be Uint8Arrays');
    }
    if (frame.length < ETHERNET_HEADER_BYTES || frame.length > 0xffff) {
      throw new ProtocolError('BAD_LENGTH', `BATCH frame of ${frame.length} bytes`);
    }
    total += BATCH_LENGTH_BYTES + frame.length;
  }
  if (total > MAX_BATCH_BYTES) {
    throw new ProtocolError('TOO_LARGE', `BATCH of ${total} bytes exceeds ${MAX_BATCH_BYTES}`);
  }
  return total;
}

/** The frames of a BATCH plaintext (kind byte first), as views of it. Every
 * length is checked before any frame is returned: a batch is taken whole or
 * refused whole. */
function decodeBatch(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length - 1 > MAX_BATCH_BYTES) {
    throw new ProtocolError('TOO_LARGE', `BATCH of ${bytes.length - 1} bytes too large`);
  }
  const frames: Uint8Array[] = [];
  let at = 1;
  while (at < bytes.length) {
    if (at + BATCH_LENGTH_BYTES > bytes.length) {
      throw new ProtocolError('TRUNCATED', `BATCH length field cut at byte ${at}`);
    }
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    const start = at + BATCH_LENGTH_BYTES;
    if (length < ETHERNET_HEADER_BYTES) {
      throw new ProtocolError('BAD_LENGTH', `BATCH frame of ${length} bytes at byte ${at}`);
    }
    if (start + length > bytes.length) {
      throw new ProtocolError(
        'TRUNCATED',
        `BATCH frame of ${length} bytes at byte ${at} runs past the end (${bytes.length})`,
      );
    }
    frames.push(bytes.subarray(start, start + length));
    at = start + length;
  }
  if (frames.length === 0) throw new ProtocolError('TRUNCATED', 'BATCH holds no frame');
  return frames;
}
