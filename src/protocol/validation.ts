// Checks shared by the codec (ws keeps these in lib/validation.js). Each throws
// a ProtocolError with a stable code, never anything else.
import { isIPv4, isIPv6 } from 'node:net';
import { ProtocolError } from './errors.js';
import { type Address, FrameType, SealedKind } from './frames.js';

const FRAME_TYPES = new Set<number>(Object.values(FrameType));
const SEALED_KINDS = new Set<number>(Object.values(SealedKind));

export function isFrameType(value: number): value is FrameType {
  return FRAME_TYPES.has(value);
}

export function isSealedKind(value: number): value is SealedKind {
  return SEALED_KINDS.has(value);
}

export function checkBytes(value: unknown, length: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new ProtocolError('BAD_LENGTH', `${field} must be ${length} bytes, got ${typeof value}`);
  }
  if (value.length !== length) {
    throw new ProtocolError('BAD_LENGTH', `${field} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

export function checkUint(value: unknown, bits: 8 | 16 | 32, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    throw new ProtocolError('BAD_VALUE', `${field} must be an unsigned ${bits}-bit integer`);
  }
  return value;
}

export function checkUint64(value: unknown, field: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << 64n) {
    throw new ProtocolError('BAD_VALUE', `${field} must be an unsigned 64-bit bigint`);
  }
  return value;
}

/** Address → 4 or 16 bytes; throws BAD_ADDRESS on anything else. */
export function addressBytes(address: Address): Uint8Array {
  if (typeof address !== 'object' || address === null) {
    throw new ProtocolError('BAD_ADDRESS', 'address must be an object');
  }
  const { family, host } = address;
  if (family === 4 && typeof host === 'string' && isIPv4(host)) {
    return new Uint8Array(host.split('.').map(Number));
  }
  if (family === 6 && typeof host === 'string' && isIPv6(host) && !host.includes('%')) {
    return parseIPv6(host);
  }
  throw new ProtocolError('BAD_ADDRESS', `not an IPv${String(family)} address: ${String(host)}`);
}

/** 4 or 16 bytes → canonical text: dotted quad, or RFC 5952 (lowercase,
 * longest zero run compressed, IPv4-mapped as ::ffff:a.b.c.d). */
export function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join('.')}`;
  }
  // Longest run of two or more zero groups; the first one wins a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** Text → 16 bytes; the caller has checked isIPv6(text). */
function parseIPv6(text: string): Uint8Array {
  let body = text;
  const tailBytes: number[] = [];
  const lastColon = body.lastIndexOf(':');
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    // Embedded IPv4 (e.g. ::ffff:127.0.0.1) fills the last 32 bits.
    tailBytes.push(...last.split('.').map(Number));
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = body.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = [
    ...leftGroups,
    ...new Array<string>(right === undefined ? 0 : missing).fill('0'),
    ...rightGroups,
  ];
  if (groups.length !== 8) throw new ProtocolError('BAD_ADDRESS', `not an IPv6 address: ${text}`);
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  if (tailBytes.length === 4) bytes.set(tailBytes, 12);
  return bytes;
}
