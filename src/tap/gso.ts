/**
 * Software GSO: what a sender with an offloaded TAP does for a peer that did
 * not negotiate OFFLOAD_SUPERFRAMES (docs/protocol.md §7). The TAP hands over
 * a virtio-net header and an Ethernet frame that may be a TCP super-frame of
 * up to 64 KiB with its checksum left partial; the peer's plain TAP takes only
 * MTU-sized frames with every checksum complete. So:
 *
 *   gso_type NONE, no NEEDS_CSUM ─▶ the frame as it is (header stripped)
 *   gso_type NONE, NEEDS_CSUM    ─▶ one frame, the checksum at
 *                                   csum_start + csum_offset completed
 *   gso_type TCPV4 / TCPV6       ─▶ ceil(payload / gso_size) frames, each
 *                                   the headers plus gso_size payload bytes:
 *                                   IPv4 total length, id (+1 a segment) and
 *                                   header checksum, IPv6 payload length, TCP
 *                                   sequence number, FIN/PSH on the last
 *                                   segment only, CWR on the first only, TCP
 *                                   checksum over the pseudo-header
 *   anything else (UDP, ECN…)    ─▶ GSO_UNSUPPORTED (the caller counts it)
 *
 * The header lengths come from the packet (IPv4 IHL, TCP data offset), never
 * from the header's hdr_len, which the kernel gives as a hint only. IPv6 with
 * extension headers before TCP is refused (GSO_MALFORMED): the kernel's TCP
 * does not send them. One 802.1Q tag is allowed.
 *
 * Hot path: every segment is built in one reused buffer and handed to `emit`
 * as a view, valid only during the call (PeerSender seals it at once, which
 * copies). Nothing is allocated per segment beyond that view, and the input
 * is never modified (the same frame may go, whole, to a peer that did
 * negotiate offload).
 */
import { ETHERNET_OVERHEAD, MAX_SUPER_FRAME_IP } from './device.js';
import {
  emptyVnetHeader,
  readVnetHeader,
  VNET_HDR_BYTES,
  VnetFlag,
  VnetGso,
  type VnetHeader,
} from './virtio-net-hdr.js';

/** Why a super-frame was not split; the same codes as DropReason's. */
export type GsoDropReason = 'GSO_UNSUPPORTED' | 'GSO_MALFORMED';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const IPPROTO_TCP = 6;
const TCP_FIN = 0x01;
const TCP_PSH = 0x08;
const TCP_CWR = 0x80;
const IPV6_HEADER = 40;

export class SoftwareGso {
  /** Segments handed out, and super-frames split (status, tests). */
  readonly counters = { split: 0, segments: 0, checksummed: 0 };
  readonly #scratch = new Uint8Array(ETHERNET_OVERHEAD + MAX_SUPER_FRAME_IP);
  /** #scratch as a DataView, for onesSum. */
  readonly #view = new DataView(this.#scratch.buffer);
  readonly #header: VnetHeader = emptyVnetHeader();

  /**
   * Turn `packet` (virtio-net header + Ethernet frame, as an offloaded TAP
   * reads it) into plain Ethernet frames, each passed to `emit` (a view valid
   * during the call). Returns how many frames were emitted, or why none was.
   */
  split(packet: Uint8Array, emit: (frame: Uint8Array) => void): number | GsoDropReason {
    const h = this.#header;
    if (!readVnetHeader(packet, h)) return 'GSO_MALFORMED';
    const frame = packet.subarray(VNET_HDR_BYTES);
    if (frame.length < 14) return 'GSO_MALFORMED';
    if (h.gsoType === VnetGso.NONE) {
      if (!(h.flags & VnetFlag.NEEDS_CSUM)) {
        emit(frame);
        return 1;
      }
      return this.#completeChecksum(frame, h, emit);
    }
    if (h.gsoType !== VnetGso.TCPV4 && h.gsoType !== VnetGso.TCPV6) return 'GSO_UNSUPPORTED';
    return this.#segmentTcp(frame, h.gsoType === VnetGso.TCPV6, h.gsoSize, emit);
  }

  #completeChecksum(
    frame: Uint8Array,
    h: VnetHeader,
    emit: (frame: Uint8Array) => void,
  ): number | GsoDropReason {
    const at = h.csumStart + h.csumOffset;
    if (h.csumStart >= frame.length || at + 2 > frame.length) return 'GSO_MALFORMED';
    const out = this.#scratch;
    out.set(frame, 0);
    // The field holds the pseudo-header sum already (CHECKSUM_PARTIAL): the
    // sum from csum_start to the end, complemented, is the checksum. Zero
    // goes out as 0xffff, as the kernel's skb_checksum_help writes it (for
    // UDP zero would mean "no checksum").
    const folded = fold(onesSum(out, h.csumStart, frame.length - h.csumStart, 0, this.#view));
    put16(out, at, ~folded & 0xffff || 0xffff);
    this.counters.checksummed++;
    emit(out.subarray(0, frame.length));
    return 1;
  }

  #segmentTcp(
    frame: Uint8Array,
    v6: boolean,
    mss: number,
    emit: (frame: Uint8Array) => void,
  ): number | GsoDropReason {
    // 1. Find the IP and TCP headers (the packet's own lengths, not hdr_len).
    let l3 = 14;
    let etherType = get16(frame, 12);
    if (etherType === ETHERTYPE_VLAN) {
      if (frame.length < 18) return 'GSO_MALFORMED';
      l3 = 18;
      etherType = get16(frame, 16);
    }
    let l4: number;
    let ipHeader: number;
    if (!v6) {
      if (etherType !== ETHERTYPE_IPV4 || frame.length < l3 + 20) return 'GSO_MALFORMED';
      const vihl = frame[l3]!;
      ipHeader = (vihl & 0x0f) * 4;
      if (vihl >> 4 !== 4 || ipHeader < 20 || frame[l3 + 9] !== IPPROTO_TCP) return 'GSO_MALFORMED';
    } else {
      if (etherType !== ETHERTYPE_IPV6 || frame.length < l3 + IPV6_HEADER) return 'GSO_MALFORMED';
      if (frame[l3]! >> 4 !== 6 || frame[l3 + 6] !== IPPROTO_TCP) return 'GSO_MALFORMED';
      ipHeader = IPV6_HEADER;
    }
    l4 = l3 + ipHeader;
    if (frame.length < l4 + 20) return 'GSO_MALFORMED';
    const tcpHeader = (frame[l4 + 12]! >> 4) * 4;
    const headers = l4 + tcpHeader;
    if (tcpHeader < 20 || headers > frame.length) return 'GSO_MALFORMED';
    const payload = frame.length - headers;
    if (mss === 0 || (payload > 0 && headers + Math.min(mss, payload) > this.#scratch.length)) {
      return 'GSO_MALFORMED';
    }

    // 2. One segment per mss of payload (at least one: a bare header goes as is).
    const segments = payload === 0 ? 1 : Math.ceil(payload / mss);
    const out = this.#scratch;
    const seq0 = get32(frame, l4 + 4);
    const flags = frame[l4 + 13]!;
    const id0 = v6 ? 0 : get16(frame, l3 + 4);
    for (let i = 0; i < segments; i++) {
      const from = headers + i * mss;
      const length = Math.min(mss, payload - i * mss);
      out.set(frame.subarray(0, headers), 0);
      out.set(frame.subarray(from, from + length), headers);
      const total = headers + length;
      const tcpLength = total - l4;
      // 3. IP: lengths, and for IPv4 the id and the header checksum.
      if (!v6) {
        put16(out, l3 + 2, total - l3);
        put16(out, l3 + 4, (id0 + i) & 0xffff);
        put16(out, l3 + 10, 0);
        put16(out, l3 + 10, ~fold(onesSum(out, l3, ipHeader, 0, this.#view)) & 0xffff);
      } else {
        put16(out, l3 + 4, tcpLength);
      }
      // 4. TCP: sequence number, flags, checksum over pseudo-header + segment.
      put32(out, l4 + 4, (seq0 + i * mss) >>> 0);
      let f = flags;
      if (i !== segments - 1) f &= ~(TCP_FIN | TCP_PSH);
      if (i !== 0) f &= ~TCP_CWR;
      out[l4 + 13] = f;
      put16(out, l4 + 16, 0);
      const pseudo = v6
        ? onesSum(out, l3 + 8, 32, 0, this.#view) +
          (tcpLength >>> 16) +
          (tcpLength & 0xffff) +
          IPPROTO_TCP
        : onesSum(out, l3 + 12, 8, 0) + tcpLength + IPPROTO_TCP;
      put16(out, l4 + 16, ~fold(onesSum(out, l4, tcpLength, pseudo, this.#view)) & 0xffff);
      emit(out.subarray(0, total));
    }
    this.counters.split++;
    this.counters.segments += segments;
    return segments;
  }
}

/** The one's-complement sum (RFC 1071) of bytes[start, start + length), added
 * to `initial`: big-endian 16-bit words, an odd last byte padded with zero;
 * partly folded (below 2^17), so callers may add to it before fold().
 *
 * Four bytes per step through a DataView: a big-endian 32-bit word
 * hi·2^16 + lo is ≡ hi + lo mod 2^16 − 1, which is what end-around-carry
 * folding keeps, so summing 32-bit words and folding at the end gives the
 * 16-bit sum; a double holds the running sum exactly (folded every 2^20
 * words). 2.3–2.6 × the byte-pair loop this replaced on 1400 B and 64 KiB
 * (software GSO checksums every segment it cuts: #segmentTcp, copies and
 * sums, was ~16 % of a sender's CPU when its peer takes no super-frames).
 * `view`: a DataView of exactly `bytes` (SoftwareGso keeps one over its
 * scratch buffer); made here when not given. */
export function onesSum(
  bytes: Uint8Array,
  start: number,
  length: number,
  initial: number,
  view?: DataView,
): number {
  let sum = initial;
  const end = start + length;
  let i = start;
  if (length >= 16) {
    const words = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const last = end - 3;
    while (i < last) {
      // Fold every 2^20 words: the double then never holds more than 2^52.
      const stop = Math.min(last, i + 4 * 0x100000);
      for (; i < stop; i += 4) sum += words.getUint32(i);
      sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
    }
  }
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  while (sum > 0x1ffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** Fold a one's-complement sum into 16 bits. */
export function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
