import { describe, expect, it } from 'vitest';
import { fold, onesSum, SoftwareGso } from '../../../src/tap/gso.js';
import {
  VNET_HDR_BYTES,
  VnetFlag,
  VnetGso,
  writeVnetHeader,
} from '../../../src/tap/virtio-net-hdr.js';

// A reference one's-complement checksum, written independently of gso.ts:
// Buffer's readUInt16BE over a copy padded to even length, folded at the end.
function refChecksum(parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  const padded = all.length % 2 ? Buffer.concat([all, Buffer.alloc(1)]) : all;
  let sum = 0;
  for (let i = 0; i < padded.length; i += 2) sum += padded.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum >>> 16) + (sum & 0xffff);
  return sum;
}

/** True when `bytes` (checksum field included) sums to 0xffff: the checksum verifies. */
function verifies(parts: Buffer[]): boolean {
  return refChecksum(parts) === 0xffff;
}

const SRC4 = [10, 232, 0, 2];
const DST4 = [10, 232, 0, 3];
const SRC6 = Buffer.from('fd000000000000000000000000000002', 'hex');
const DST6 = Buffer.from('fd000000000000000000000000000003', 'hex');

function ethernet(etherType: number): Buffer {
  const b = Buffer.alloc(14);
  Buffer.from('020000000003020000000002', 'hex').copy(b, 0);
  b.writeUInt16BE(etherType, 12);
  return b;
}

/** A TCP header of 32 bytes (12 bytes of options, as Linux sends with timestamps). */
function tcp(seq: number, flags: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt16BE(40000, 0);
  b.writeUInt16BE(5201, 2);
  b.writeUInt32BE(seq >>> 0, 4);
  b.writeUInt32BE(12345, 8);
  b[12] = 8 << 4;
  b[13] = flags;
  b.writeUInt16BE(502, 14);
  // options: NOP NOP TS(10)
  Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).copy(b, 20);
  return b;
}

function payloadOf(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

function vnet(
  gsoType: number,
  gsoSize: number,
  csumStart: number,
  flags: number = VnetFlag.NEEDS_CSUM,
) {
  const h = new Uint8Array(VNET_HDR_BYTES);
  writeVnetHeader(h, {
    flags,
    gsoType,
    hdrLen: 0,
    gsoSize,
    csumStart,
    csumOffset: 16,
  });
  return Buffer.from(h);
}

function superframe4(payload: Buffer, mss: number, flags: number, seq = 0xfffff000): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 32 + payload.length, 2);
  ip.writeUInt16BE(0xfffe, 4); // id wraps during the split
  ip[6] = 0x40; // DF
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from(SRC4).copy(ip, 12);
  Buffer.from(DST4).copy(ip, 16);
  return Buffer.concat([
    vnet(VnetGso.TCPV4, mss, 34),
    ethernet(0x0800),
    ip,
    tcp(seq, flags),
    payload,
  ]);
}

function superframe6(payload: Buffer, mss: number, flags: number): Buffer {
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(32 + payload.length, 4);
  ip[6] = 6;
  ip[7] = 64;
  SRC6.copy(ip, 8);
  DST6.copy(ip, 24);
  return Buffer.concat([
    vnet(VnetGso.TCPV6, mss, 54),
    ethernet(0x86dd),
    ip,
    tcp(1000, flags),
    payload,
  ]);
}

function collect(gso: SoftwareGso, packet: Buffer) {
  const frames: Buffer[] = [];
  const result = gso.split(packet, (f) => frames.push(Buffer.from(f)));
  return { result, frames };
}

const ACK = 0x10;
const PSH = 0x08;
const FIN = 0x01;
const CWR = 0x80;

describe('SoftwareGso: TCPV4 super-frames', () => {
  it('splits into MSS segments with lengths, ids, sequence numbers, flags and checksums fixed', () => {
    const payload = payloadOf(3 * 1348 + 500);
    const gso = new SoftwareGso();
    const { result, frames } = collect(gso, superframe4(payload, 1348, ACK | PSH | FIN | CWR));
    expect(result).toBe(4);
    expect(frames.map((f) => f.length)).toEqual([
      14 + 20 + 32 + 1348,
      14 + 20 + 32 + 1348,
      14 + 20 + 32 + 1348,
      14 + 20 + 32 + 500,
    ]);
    const rebuilt: Buffer[] = [];
    frames.forEach((f, i) => {
      const ip = f.subarray(14, 34);
      const seg = f.subarray(34);
      expect(ip.readUInt16BE(2)).toBe(f.length - 14);
      expect(ip.readUInt16BE(4)).toBe((0xfffe + i) & 0xffff);
      expect(verifies([ip])).toBe(true);
      expect(seg.readUInt32BE(4)).toBe((0xfffff000 + i * 1348) >>> 0);
      const flags = seg[13]!;
      expect(Boolean(flags & FIN)).toBe(i === 3);
      expect(Boolean(flags & PSH)).toBe(i === 3);
      expect(Boolean(flags & CWR)).toBe(i === 0);
      expect(flags & ACK).toBe(ACK);
      const pseudo = Buffer.alloc(12);
      Buffer.from(SRC4).copy(pseudo, 0);
      Buffer.from(DST4).copy(pseudo, 4);
      pseudo[9] = 6;
      pseudo.writeUInt16BE(seg.length, 10);
      expect(verifies([pseudo, seg])).toBe(true);
      // the options travel on every segment
      expect(seg.subarray(20, 32)).toEqual(Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]));
      rebuilt.push(seg.subarray(32));
    });
    expect(Buffer.concat(rebuilt)).toEqual(payload);
    expect(gso.counters).toMatchObject({ split: 1, segments: 4 });
  });

  it('an odd-length last segment still checksums (padding byte), and a payload of exactly one MSS is one segment', () => {
    const gso = new SoftwareGso();
    const odd = collect(gso, superframe4(payloadOf(1348 + 333), 1348, ACK));
    expect(odd.result).toBe(2);
    const last = odd.frames[1]!;
    const pseudo = Buffer.concat([Buffer.from(SRC4), Buffer.from(DST4), Buffer.from([0, 6, 0, 0])]);
    pseudo.writeUInt16BE(last.length - 34, 10);
    expect(verifies([pseudo, last.subarray(34)])).toBe(true);
    const one = collect(gso, superframe4(payloadOf(1348), 1348, ACK | PSH));
    expect(one.result).toBe(1);
    expect(one.frames[0]![34 + 13]! & PSH).toBe(PSH);
  });

  it('does not modify its input (the same super-frame may go whole to an offload peer)', () => {
    const packet = superframe4(payloadOf(5000), 1000, ACK | FIN);
    const copy = Buffer.from(packet);
    collect(new SoftwareGso(), packet);
    expect(packet).toEqual(copy);
  });
});

describe('SoftwareGso: TCPV6 super-frames', () => {
  it('splits with the IPv6 payload length and the IPv6 pseudo-header checksum', () => {
    const payload = payloadOf(2 * 1328 + 77);
    const { result, frames } = collect(new SoftwareGso(), superframe6(payload, 1328, ACK | PSH));
    expect(result).toBe(3);
    const rebuilt: Buffer[] = [];
    frames.forEach((f, i) => {
      const ip = f.subarray(14, 54);
      const seg = f.subarray(54);
      expect(ip.readUInt16BE(4)).toBe(seg.length);
      expect(seg.readUInt32BE(4)).toBe(1000 + i * 1328);
      expect(Boolean(seg[13]! & PSH)).toBe(i === 2);
      const pseudo = Buffer.alloc(40);
      SRC6.copy(pseudo, 0);
      DST6.copy(pseudo, 16);
      pseudo.writeUInt32BE(seg.length, 32);
      pseudo[39] = 6;
      expect(verifies([pseudo, seg])).toBe(true);
      rebuilt.push(seg.subarray(32));
    });
    expect(Buffer.concat(rebuilt)).toEqual(payload);
  });
});

describe('SoftwareGso: no GSO', () => {
  it('a frame without NEEDS_CSUM goes out as it is, header stripped', () => {
    const frame = Buffer.concat([ethernet(0x0806), payloadOf(28)]);
    const packet = Buffer.concat([vnet(VnetGso.NONE, 0, 0, 0), frame]);
    const { result, frames } = collect(new SoftwareGso(), packet);
    expect(result).toBe(1);
    expect(frames[0]).toEqual(frame);
  });

  it('NEEDS_CSUM: completes the partial checksum at csum_start + csum_offset', () => {
    // A small TCP packet as the kernel hands it over: the checksum field
    // holds the folded pseudo-header sum (not complemented).
    const payload = payloadOf(101);
    const seg = Buffer.concat([tcp(7, ACK | PSH), payload]);
    const pseudo = Buffer.concat([Buffer.from(SRC4), Buffer.from(DST4), Buffer.from([0, 6, 0, 0])]);
    pseudo.writeUInt16BE(seg.length, 10);
    seg.writeUInt16BE(refChecksum([pseudo]), 16);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + seg.length, 2);
    ip[8] = 64;
    ip[9] = 6;
    Buffer.from(SRC4).copy(ip, 12);
    Buffer.from(DST4).copy(ip, 16);
    ip.writeUInt16BE(~refChecksum([ip]) & 0xffff, 10);
    const packet = Buffer.concat([vnet(VnetGso.NONE, 0, 34), ethernet(0x0800), ip, seg]);
    const gso = new SoftwareGso();
    const { result, frames } = collect(gso, packet);
    expect(result).toBe(1);
    const out = frames[0]!;
    expect(out.length).toBe(packet.length - VNET_HDR_BYTES);
    expect(verifies([pseudo, out.subarray(34)])).toBe(true);
    expect(out.subarray(34, 50)).toEqual(seg.subarray(0, 16)); // only the checksum changed
    expect(gso.counters.checksummed).toBe(1);
  });

  it('NEEDS_CSUM pointing past the frame is GSO_MALFORMED', () => {
    const packet = Buffer.concat([vnet(VnetGso.NONE, 0, 60), ethernet(0x0800), payloadOf(40)]);
    expect(collect(new SoftwareGso(), packet).result).toBe('GSO_MALFORMED');
  });
});

describe('SoftwareGso: refusals', () => {
  it('UDP and ECN gso types are GSO_UNSUPPORTED, nothing emitted', () => {
    const gso = new SoftwareGso();
    const udp = superframe4(payloadOf(3000), 1000, ACK);
    udp[1] = VnetGso.UDP;
    expect(collect(gso, udp)).toEqual({ result: 'GSO_UNSUPPORTED', frames: [] });
    const ecn = superframe4(payloadOf(3000), 1000, ACK);
    ecn[1] = VnetGso.TCPV4 | VnetGso.ECN;
    expect(collect(gso, ecn)).toEqual({ result: 'GSO_UNSUPPORTED', frames: [] });
    const unknown = superframe4(payloadOf(3000), 1000, ACK);
    unknown[1] = 0x42;
    expect(collect(gso, unknown).result).toBe('GSO_UNSUPPORTED');
  });

  it('a header that does not match the packet is GSO_MALFORMED', () => {
    const gso = new SoftwareGso();
    const v6asV4 = superframe6(payloadOf(3000), 1000, ACK);
    v6asV4[1] = VnetGso.TCPV4;
    expect(collect(gso, v6asV4).result).toBe('GSO_MALFORMED');
    const zeroMss = superframe4(payloadOf(3000), 0, ACK);
    expect(collect(gso, zeroMss).result).toBe('GSO_MALFORMED');
    const notTcp = superframe4(payloadOf(3000), 1000, ACK);
    notTcp[VNET_HDR_BYTES + 14 + 9] = 17;
    expect(collect(gso, notTcp).result).toBe('GSO_MALFORMED');
    expect(collect(gso, Buffer.alloc(8)).result).toBe('GSO_MALFORMED');
    const truncated = superframe4(payloadOf(3000), 1000, ACK).subarray(0, VNET_HDR_BYTES + 40);
    expect(collect(gso, Buffer.from(truncated)).result).toBe('GSO_MALFORMED');
  });
});

describe('onesSum', () => {
  it('matches the reference sum for any start, length and view offset (odd ones too)', () => {
    // A fixed pseudo-random fill (no Math.random: the same cases every run).
    const pool = Buffer.alloc(70_000);
    let x = 12345;
    for (let i = 0; i < pool.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      pool[i] = x >>> 24;
    }
    const lengths = [0, 1, 2, 3, 4, 5, 15, 16, 17, 19, 20, 63, 1399, 1400, 1401, 9000, 65_535];
    let cases = 0;
    for (const viewOffset of [0, 1, 2, 3]) {
      const bytes = pool.subarray(viewOffset);
      for (const start of [0, 1, 2, 3, 14, 34]) {
        for (const length of lengths) {
          const region = Buffer.from(bytes.subarray(start, start + length));
          for (const initial of [0, 0x1234, 0x1fffe]) {
            // refChecksum plus `initial`, folded the same end-around way.
            let reference = refChecksum([region]) + initial;
            while (reference > 0xffff) reference = (reference >>> 16) + (reference & 0xffff);
            expect(fold(onesSum(bytes, start, length, initial))).toBe(reference);
            cases++;
          }
        }
      }
    }
    expect(cases).toBe(4 * 6 * lengths.length * 3);
  });

  it('all-zero data sums to zero, and 0xffff words to 0xffff (the two zeros stay apart)', () => {
    expect(fold(onesSum(new Uint8Array(64), 0, 64, 0))).toBe(0);
    expect(fold(onesSum(new Uint8Array(64).fill(0xff), 0, 64, 0))).toBe(0xffff);
  });
});
