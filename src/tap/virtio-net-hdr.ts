/**
 * The 10-byte struct virtio_net_hdr (linux/virtio_net.h, legacy layout
 * without num_buffers) that a TAP device opened with offload puts in front
 * of every frame it reads and expects in front of every frame written:
 *
 *   0  flags        u8   VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum left partial
 *   1  gso_type     u8   NONE, TCPV4, TCPV6 (| ECN 0x80)
 *   2  hdr_len      u16  Ethernet + IP + TCP header bytes (a hint)
 *   4  gso_size     u16  payload bytes per segment (the MSS) when GSO
 *   6  csum_start   u16  where checksumming starts (from the Ethernet header)
 *   8  csum_offset  u16  where, after csum_start, the checksum goes
 *
 * Fields are in the host's byte order (little-endian here; the legacy
 * header follows the host unless TUNSETVNETBE/LE says otherwise).
 */

export const VNET_HDR_BYTES = 10;

export const VnetFlag = {
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
} as const;

export const VnetGso = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  ECN: 0x80,
} as const;

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** An all-zero header (no GSO, checksum complete), for frames we build ourselves. */
export function emptyVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: VnetGso.NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** Reads the header at the start of `frame` into `into` (reused: no allocation); false if too short. */
export function readVnetHeader(frame: Uint8Array, into: VnetHeader): boolean {
  if (frame.byteLength < VNET_HDR_BYTES) return false;
  into.flags = frame[0]!;
  into.gsoType = frame[1]!;
  into.hdrLen = frame[2]! | (frame[3]! << 8);
  into.gsoSize = frame[4]! | (frame[5]! << 8);
  into.csumStart = frame[6]! | (frame[7]! << 8);
  into.csumOffset = frame[8]! | (frame[9]! << 8);
  return true;
}

/** Writes `header` into the first 10 bytes of `frame`. */
export function writeVnetHeader(frame: Uint8Array, header: VnetHeader): void {
  if (frame.byteLength < VNET_HDR_BYTES)
    throw new RangeError('frame shorter than a virtio-net header');
  frame[0] = header.flags;
  frame[1] = header.gsoType;
  frame[2] = header.hdrLen & 0xff;
  frame[3] = header.hdrLen >> 8;
  frame[4] = header.gsoSize & 0xff;
  frame[5] = header.gsoSize >> 8;
  frame[6] = header.csumStart & 0xff;
  frame[7] = header.csumStart >> 8;
  frame[8] = header.csumOffset & 0xff;
  frame[9] = header.csumOffset >> 8;
}

/**
 * Whether `packet` (header + frame) is one an offloaded TAP opened with
 * TUN_F_CSUM|TSO4|TSO6 takes: a known gso_type the device offers (none, TCP
 * over IPv4 or IPv6, no ECN), a segment size with GSO, and a partial checksum
 * that lies inside the frame. The kernel refuses anything else with EINVAL
 * (virtio_net_hdr_to_skb), which would cost the whole write batch; a SUPERFRAME
 * from a peer is checked here first. Reads nothing but the header fields.
 */
export function isWritableVnetPacket(packet: Uint8Array, scratch: VnetHeader): boolean {
  if (!readVnetHeader(packet, scratch)) return false;
  const frameLength = packet.byteLength - VNET_HDR_BYTES;
  if (frameLength < 14) return false;
  const gso = scratch.gsoType;
  if (gso !== VnetGso.NONE && gso !== VnetGso.TCPV4 && gso !== VnetGso.TCPV6) return false;
  if (gso !== VnetGso.NONE && scratch.gsoSize === 0) return false;
  if (scratch.flags & VnetFlag.NEEDS_CSUM) {
    if (scratch.csumStart + scratch.csumOffset + 2 > frameLength) return false;
  } else if (gso !== VnetGso.NONE) {
    return false; // TSO without a partial checksum: the kernel could not segment it
  }
  return true;
}
