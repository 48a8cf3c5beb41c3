// The data plane with an offloaded TAP (docs/protocol.md §7): what PeerSender
// seals for a peer with and without OFFLOAD_SUPERFRAMES, what PeerReceiver
// hands an offloaded device, and the byte bound of the resend ring — with a
// real session pair (the far side opens what was sealed).
import { beforeAll, describe, expect, it } from 'vitest';
import type { Session } from '../../../src/crypto/session.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { Capability } from '../../../src/protocol/capabilities.js';
import { readSessionTag } from '../../../src/protocol/codec.js';
import { SealedKind } from '../../../src/protocol/frames.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import { type OpenedFrame, PeerReceiver } from '../../../src/services/peer-receiver.js';
import { PeerSender } from '../../../src/services/peer-sender.js';
import { ResendRing } from '../../../src/services/resend-ring.js';
import { fold, onesSum, SoftwareGso } from '../../../src/tap/gso.js';
import { VNET_HDR_BYTES, VnetGso, writeVnetHeader } from '../../../src/tap/virtio-net-hdr.js';
import { sessionPair } from '../crypto/pair.js';
import { ethernet, FakePath, numberOf } from './fake-paths.js';

beforeAll(async () => {
  await sodiumReady();
});

const OFFLOAD = Capability.OFFLOAD_SUPERFRAMES;

/** A session pair; `negotiated` decides whether both advertised OFFLOAD_SUPERFRAMES. */
async function pair(negotiated: boolean) {
  const caps = negotiated ? { alice: OFFLOAD, bob: OFFLOAD } : { alice: OFFLOAD, bob: 0 };
  return sessionPair({}, caps);
}

/** A virtio-net header + IPv4/TCP super-frame of `payload` bytes, segment size `mss`. */
function tcpSuperframe(payload: number, mss: number, gsoType: number = VnetGso.TCPV4): Uint8Array {
  const frame = new Uint8Array(VNET_HDR_BYTES + 14 + 20 + 20 + payload);
  writeVnetHeader(frame, {
    flags: 1,
    gsoType,
    hdrLen: 54,
    gsoSize: mss,
    csumStart: 34,
    csumOffset: 16,
  });
  const e = VNET_HDR_BYTES;
  frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], e);
  const ip = e + 14;
  frame.set([0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], ip);
  const tcp = ip + 20;
  frame[tcp + 12] = 5 << 4;
  frame[tcp + 13] = 0x18; // ACK PSH
  for (let i = 0; i < payload; i++) frame[tcp + 20 + i] = i & 0xff;
  return frame;
}

function sender(session: Session, vnetHdrBytes: number) {
  const relay = new FakePath();
  const direct = new FakePath();
  const counters = new PeerCounters();
  const s = new PeerSender({
    relay,
    direct: direct.asDirect(),
    session: () => session,
    counters,
    timings: defaultConnectionTimings,
    vnetHdrBytes,
  });
  return { sender: s, relay, counters };
}

describe('PeerSender with an offloaded TAP', () => {
  it('a peer that negotiated OFFLOAD_SUPERFRAMES gets header + super-frame as ONE SUPERFRAME', async () => {
    const { a, b } = await pair(true);
    expect(a.capabilities & OFFLOAD).toBe(OFFLOAD);
    const t = sender(a, VNET_HDR_BYTES);
    const packet = tcpSuperframe(40_000, 1348);
    expect(t.sender.send(packet)).toBe(true);
    expect(t.relay.sent).toHaveLength(1);
    const opened = b.open(t.relay.sent[0]!);
    expect(opened.message.kind).toBe(SealedKind.SUPERFRAME);
    if (opened.message.kind !== SealedKind.SUPERFRAME) return;
    expect(Buffer.from(opened.message.packet)).toEqual(Buffer.from(packet));
    expect(t.sender.gso.split).toBe(0);
  });

  it('a peer without it gets MSS-sized plain ETHERNET frames (software GSO), consecutive sequence numbers', async () => {
    const { a, b } = await pair(false);
    expect(a.capabilities & OFFLOAD).toBe(0);
    const t = sender(a, VNET_HDR_BYTES);
    expect(t.sender.send(tcpSuperframe(3 * 1348 + 10, 1348))).toBe(true);
    expect(t.relay.sent).toHaveLength(4);
    const frames = t.relay.sent.map((bytes) => b.open(bytes));
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2, 3]);
    const lengths = frames.map((f) => {
      if (f.message.kind !== SealedKind.ETHERNET) throw new Error(`kind ${f.message.kind}`);
      expect(f.message.frame[12]).toBe(0x08); // an Ethernet header first: no virtio-net header
      return f.message.frame.length;
    });
    expect(lengths).toEqual([1402, 1402, 1402, 64]);
    expect(t.sender.gso).toMatchObject({ split: 1, segments: 4 });
  });

  it('a gso_type it cannot split is dropped as GSO_UNSUPPORTED before sealing (no sequence number burnt)', async () => {
    const { a, b } = await pair(false);
    const t = sender(a, VNET_HDR_BYTES);
    expect(t.sender.send(tcpSuperframe(3000, 1000, VnetGso.UDP))).toBe(false);
    expect(t.counters.drops).toEqual({ GSO_UNSUPPORTED: 1 });
    expect(t.relay.sent).toHaveLength(0);
    expect(t.sender.send(tcpSuperframe(100, 1000))).toBe(true);
    expect(b.open(t.relay.sent[0]!).seq).toBe(0);
  });

  it('a plain device (no header) seals ETHERNET, even with the capability negotiated', async () => {
    const { a, b } = await pair(true);
    const t = sender(a, 0);
    expect(t.sender.send(ethernet(7))).toBe(true);
    const opened = b.open(t.relay.sent[0]!);
    expect(opened.message.kind).toBe(SealedKind.ETHERNET);
  });
});

function receiver(ours: Session, vnetHdrBytes: number) {
  const counters = new PeerCounters();
  const batches: Uint8Array[][] = [];
  const r = new PeerReceiver({
    open: (bytes): OpenedFrame => {
      if (readSessionTag(bytes) !== ours.tag) throw new Error('tag');
      return { ...ours.open(bytes), session: ours };
    },
    counters,
    gapTimeoutMs: 10_000,
    vnetHdrBytes,
    reply: () => {},
    onPong: () => {},
    onPeerMigrated: () => {},
  });
  // Copies: slab-backed frames are valid only during the call.
  r.onFrames((frames) => batches.push(frames.map((f) => f.slice())));
  return { receiver: r, counters, batches };
}

describe('PeerReceiver with an offloaded TAP', () => {
  it('plain ETHERNET frames are handed on behind an empty virtio-net header', async () => {
    const { a, b } = await pair(false);
    const t = receiver(b, VNET_HDR_BYTES);
    t.receiver.receive(a.sealEthernet(ethernet(5, 1400)), 'direct');
    expect(t.batches).toHaveLength(1);
    const frame = t.batches[0]![0]!;
    expect(frame.length).toBe(VNET_HDR_BYTES + 1400);
    expect([...frame.subarray(0, VNET_HDR_BYTES)]).toEqual(new Array(VNET_HDR_BYTES).fill(0));
    expect(numberOf(frame.subarray(VNET_HDR_BYTES))).toBe(5);
  });

  it('a SUPERFRAME is handed on whole, header included', async () => {
    const { a, b } = await pair(true);
    const t = receiver(b, VNET_HDR_BYTES);
    const packet = tcpSuperframe(30_000, 1348);
    t.receiver.receive(a.sealEthernet(packet, SealedKind.SUPERFRAME), 'direct');
    expect(Buffer.from(t.batches[0]![0]!)).toEqual(Buffer.from(packet));
  });

  it('a release larger than the slab is handed on in several batches, every frame intact and in order', async () => {
    const { a, b } = await pair(false);
    const t = receiver(b, VNET_HDR_BYTES);
    const sealed = Array.from({ length: 400 }, (_, i) => a.sealEthernet(ethernet(i, 1400)));
    // Frame 0 last: the other 399 are held for the gap, then released at once.
    for (let i = 1; i < sealed.length; i++) t.receiver.receive(sealed[i]!, 'direct');
    expect(t.batches).toHaveLength(0);
    t.receiver.receive(sealed[0]!, 'relay');
    expect(t.batches.length).toBeGreaterThan(1); // 400 × 1410 B does not fit 256 KiB
    const numbers = t.batches.flat().map((f) => numberOf(f.subarray(VNET_HDR_BYTES)));
    expect(numbers).toEqual(Array.from({ length: 400 }, (_, i) => i));
  });

  it('a SUPERFRAME that was not negotiated is dropped, counted, and holds nothing back', async () => {
    const { a, b } = await pair(false);
    const t = receiver(b, VNET_HDR_BYTES);
    t.receiver.receive(a.sealEthernet(tcpSuperframe(2000, 1348), SealedKind.SUPERFRAME), 'direct');
    t.receiver.receive(a.sealEthernet(ethernet(1)), 'direct');
    expect(t.counters.drops).toEqual({ SUPERFRAME_NOT_NEGOTIATED: 1 });
    expect(t.batches).toHaveLength(1); // seq 1 released at once: seq 0 was consumed
  });

  it('a SUPERFRAME whose header the TAP would refuse is dropped before the write, and holds nothing back', async () => {
    const { a, b } = await pair(true);
    const t = receiver(b, VNET_HDR_BYTES);
    const udp = tcpSuperframe(3000, 1000, VnetGso.UDP);
    const noMss = tcpSuperframe(3000, 0);
    const csumOutside = tcpSuperframe(10, 1000);
    csumOutside[6] = 0xff; // csum_start far past the frame
    for (const bad of [udp, noMss, csumOutside]) {
      t.receiver.receive(a.sealEthernet(bad, SealedKind.SUPERFRAME), 'direct');
    }
    t.receiver.receive(a.sealEthernet(tcpSuperframe(100, 1000), SealedKind.SUPERFRAME), 'direct');
    expect(t.counters.drops).toEqual({ SUPERFRAME_BAD_HEADER: 3 });
    expect(t.batches).toHaveLength(1);
  });
});

describe('PeerReceiver with a plain TAP', () => {
  it('segments a negotiated SUPERFRAME itself: MSS-sized plain frames in ONE batch, checksums complete', async () => {
    const { a, b } = await pair(true);
    const t = receiver(b, 0);
    const packet = tcpSuperframe(3 * 1348 + 10, 1348);
    t.receiver.receive(a.sealEthernet(packet, SealedKind.SUPERFRAME), 'direct');
    expect(t.batches).toHaveLength(1);
    const frames = t.batches[0]!;
    expect(frames.map((f) => f.length)).toEqual([1402, 1402, 1402, 64]);
    // The same bytes the sender's software GSO would have sealed one by one.
    const reference: Uint8Array[] = [];
    new SoftwareGso().split(packet, (segment) => reference.push(segment.slice()));
    expect(frames.map((f) => Buffer.from(f))).toEqual(reference.map((f) => Buffer.from(f)));
    for (const f of frames) {
      expect(f[12]).toBe(0x08); // an Ethernet header first: no virtio-net header
      expect(fold(onesSum(f, 14, 20, 0))).toBe(0xffff); // IPv4 header checksum holds
    }
    expect(t.receiver.gso).toMatchObject({ split: 1, segments: 4 });
  });

  it('a release of many SUPERFRAMEs larger than the slab goes in several batches, in order', async () => {
    const { a, b } = await pair(true);
    const t = receiver(b, 0);
    const sealed = Array.from({ length: 6 }, () =>
      a.sealEthernet(tcpSuperframe(40 * 1348, 1348), SealedKind.SUPERFRAME),
    );
    // The first last: five are held for the gap, then all six released at once.
    for (let i = 1; i < sealed.length; i++) t.receiver.receive(sealed[i]!, 'direct');
    expect(t.batches).toHaveLength(0);
    t.receiver.receive(sealed[0]!, 'relay');
    expect(t.batches.length).toBeGreaterThan(1); // 240 × 1402 B does not fit 256 KiB
    expect(t.batches.flat()).toHaveLength(6 * 40);
    expect(t.counters.drops).toEqual({});
  });

  it('a SUPERFRAME it cannot segment is dropped under the GSO reason, and holds nothing back', async () => {
    const { a, b } = await pair(true);
    const t = receiver(b, 0);
    t.receiver.receive(
      a.sealEthernet(tcpSuperframe(3000, 1000, VnetGso.UDP), SealedKind.SUPERFRAME),
      'direct',
    );
    const truncated = tcpSuperframe(100, 1000).subarray(0, VNET_HDR_BYTES + 20);
    t.receiver.receive(a.sealEthernet(truncated, SealedKind.SUPERFRAME), 'direct');
    t.receiver.receive(a.sealEthernet(ethernet(1)), 'direct');
    expect(t.counters.drops).toEqual({ GSO_UNSUPPORTED: 1, GSO_MALFORMED: 1 });
    expect(t.batches).toHaveLength(1);
    expect(numberOf(t.batches[0]![0]!)).toBe(1);
  });

  it('a SUPERFRAME that was not negotiated is dropped, counted, and holds nothing back', async () => {
    const { a, b } = await pair(false);
    const t = receiver(b, 0);
    t.receiver.receive(a.sealEthernet(tcpSuperframe(2000, 1348), SealedKind.SUPERFRAME), 'direct');
    t.receiver.receive(a.sealEthernet(ethernet(1)), 'direct');
    expect(t.counters.drops).toEqual({ SUPERFRAME_NOT_NEGOTIATED: 1 });
    expect(t.batches).toHaveLength(1);
  });
});

describe('ResendRing byte bound', () => {
  it('forgets the oldest frames past maxBytes, keeps the newest, resends what it holds', () => {
    const ring = new ResendRing(100, 200_000);
    for (let i = 0; i < 5; i++) ring.record(new Uint8Array(65_000).fill(i), i);
    expect(ring.size).toBe(3);
    expect(ring.bytes).toBe(195_000);
    const resent: number[] = [];
    ring.drainSince(0, (frame) => resent.push(frame[0]!) > 0);
    expect(resent).toEqual([2, 3, 4]);
    expect(ring.bytes).toBe(0);
    ring.record(new Uint8Array(300_000), 9); // larger than the budget: still kept (the newest)
    expect(ring.size).toBe(1);
  });

  it('keeps the count bound too, and bytes track overwritten slots', () => {
    const ring = new ResendRing(3, 1_000_000);
    for (let i = 0; i < 10; i++) ring.record(new Uint8Array(100), i);
    expect(ring.size).toBe(3);
    expect(ring.bytes).toBe(300);
  });
});

describe('BATCHED_DATA: the plain frames of one read as one BATCH', () => {
  const BATCHED = Capability.BATCHED_DATA;
  const batchedPair = (negotiated: boolean) =>
    sessionPair({}, negotiated ? { alice: BATCHED, bob: BATCHED } : { alice: BATCHED, bob: 0 });

  it('a plain TAP sends a read of several frames as ONE sealed BATCH; the receiver hands them on as one batch, in order', async () => {
    const { a, b } = await batchedPair(true);
    const t = sender(a, 0);
    const frames = [ethernet(1, 1400), ethernet(2, 60), ethernet(3, 700)];
    expect(t.sender.sendBatch(frames)).toBe(3);
    expect(t.relay.sent).toHaveLength(1); // three frames, one sealed message
    const r = receiver(b, 0);
    r.receiver.receive(t.relay.sent[0]!, 'relay');
    expect(r.batches).toHaveLength(1);
    expect(r.batches[0]!.map((f) => Buffer.from(f))).toEqual(frames.map((f) => Buffer.from(f)));
  });

  it('a lone frame goes as ETHERNET at once; a read larger than MAX_BATCH_BYTES goes as several BATCHes, consecutive sequence numbers', async () => {
    const { a, b } = await batchedPair(true);
    const t = sender(a, 0);
    expect(t.sender.sendBatch([ethernet(0, 1400)])).toBe(1);
    expect(b.open(t.relay.sent[0]!).message.kind).toBe(SealedKind.ETHERNET);
    const many = Array.from({ length: 100 }, (_, i) => ethernet(i + 1, 1400));
    expect(t.sender.sendBatch(many)).toBe(100);
    const opened = t.relay.sent.slice(1).map((bytes) => b.open(bytes));
    expect(opened.map((o) => o.seq)).toEqual([1, 2, 3]); // 46 + 46 + 8 frames of 1402 B
    const numbers = opened.flatMap((o) =>
      o.message.kind === SealedKind.BATCH ? o.message.frames.map(numberOf) : [],
    );
    expect(numbers).toEqual(many.map(numberOf));
  });

  it('a peer without BATCHED_DATA gets one ETHERNET per frame', async () => {
    const plain = await batchedPair(false);
    const t = sender(plain.a, 0);
    expect(t.sender.sendBatch([ethernet(1), ethernet(2)])).toBe(2);
    expect(t.relay.sent.map((bytes) => plain.b.open(bytes).message.kind)).toEqual([
      SealedKind.ETHERNET,
      SealedKind.ETHERNET,
    ]);
  });

  it('with no path, every frame of the batch is counted as dropped and no sequence number is burnt', async () => {
    const { a, b } = await batchedPair(true);
    const t = sender(a, 0);
    t.relay.writable = false;
    expect(t.sender.sendBatch([ethernet(1), ethernet(2), ethernet(3)])).toBe(0);
    expect(t.counters.drops).toEqual({ RELAY_UNAVAILABLE: 3 });
    t.relay.writable = true;
    expect(t.sender.sendBatch([ethernet(4), ethernet(5)])).toBe(2);
    expect(b.open(t.relay.sent[0]!).seq).toBe(0);
  });

  it('an offloaded receiver puts an empty virtio-net header in front of each frame of a BATCH', async () => {
    const { a, b } = await batchedPair(true);
    const r = receiver(b, VNET_HDR_BYTES);
    r.receiver.receive(
      a.seal({ kind: SealedKind.BATCH, frames: [ethernet(7, 100), ethernet(8, 200)] }),
      'direct',
    );
    expect(r.batches[0]!.map((f) => f.length)).toEqual([
      VNET_HDR_BYTES + 100,
      VNET_HDR_BYTES + 200,
    ]);
    expect(r.batches[0]!.map((f) => numberOf(f.subarray(VNET_HDR_BYTES)))).toEqual([7, 8]);
  });

  it('a BATCH that was not negotiated is dropped, each frame counted, and holds nothing back', async () => {
    const { a, b } = await batchedPair(false);
    const r = receiver(b, 0);
    r.receiver.receive(
      a.seal({ kind: SealedKind.BATCH, frames: [ethernet(1), ethernet(2)] }),
      'direct',
    );
    r.receiver.receive(a.sealEthernet(ethernet(3)), 'direct');
    expect(r.counters.drops).toEqual({ BATCH_NOT_NEGOTIATED: 2 });
    expect(r.batches.map((batch) => batch.map(numberOf))).toEqual([[3]]);
  });
});

/** A virtio-net header + IPv4/UDP frame of `payload` bytes, its checksum left
 * partial as the kernel leaves it for an offloaded TAP (NEEDS_CSUM, the
 * pseudo-header sum in the field), or complete with `needsCsum` false. */
function udpFrame(n: number, payload: number, needsCsum = true): Uint8Array {
  const frame = new Uint8Array(VNET_HDR_BYTES + 14 + 20 + 8 + payload);
  const e = VNET_HDR_BYTES;
  const ip = e + 14;
  const udp = ip + 20;
  writeVnetHeader(frame, {
    flags: needsCsum ? 1 : 0,
    gsoType: VnetGso.NONE,
    hdrLen: 0,
    gsoSize: 0,
    csumStart: needsCsum ? 34 : 0,
    csumOffset: needsCsum ? 6 : 0,
  });
  frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00], e);
  const total = 20 + 8 + payload;
  frame.set(
    [0x45, 0, total >> 8, total & 0xff, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2],
    ip,
  );
  frame.set([0x13, 0x88, 0x13, 0x89, (8 + payload) >> 8, (8 + payload) & 0xff, 0, 0], udp);
  frame[udp + 8] = n; // which frame this is
  for (let i = 1; i < payload; i++) frame[udp + 8 + i] = i & 0xff;
  // The pseudo-header sum (addresses, protocol, UDP length), as the kernel puts it.
  const pseudo = fold(onesSum(frame, ip + 12, 8, 0) + 17 + 8 + payload);
  const at = udp + 6;
  if (needsCsum) {
    frame[at] = pseudo >> 8;
    frame[at + 1] = pseudo & 0xff;
  } else {
    const sum = ~fold(onesSum(frame, udp, 8 + payload, pseudo)) & 0xffff || 0xffff;
    frame[at] = sum >> 8;
    frame[at + 1] = sum & 0xff;
  }
  return frame;
}

/** True when the UDP checksum of a plain IPv4/UDP Ethernet frame holds. */
function udpChecksumHolds(frame: Uint8Array): boolean {
  const ip = 14;
  const udp = ip + 20;
  const length = (frame[udp + 4]! << 8) | frame[udp + 5]!;
  const pseudo = onesSum(frame, ip + 12, 8, 0) + 17 + length;
  return fold(onesSum(frame, udp, length, pseudo)) === 0xffff;
}

describe('BATCHED_DATA from an offloaded TAP', () => {
  const BATCHED = Capability.BATCHED_DATA;
  const both = () => sessionPair({}, { alice: BATCHED | OFFLOAD, bob: BATCHED | OFFLOAD });
  const noSuper = () => sessionPair({}, { alice: BATCHED | OFFLOAD, bob: BATCHED });
  const udpOf = (frame: Uint8Array) => frame[14 + 20 + 8]!;

  it('frames without GSO in one read go as ONE BATCH: header stripped, checksum completed', async () => {
    const { a, b } = await both();
    const t = sender(a, VNET_HDR_BYTES);
    const reads = [udpFrame(1, 1372), udpFrame(2, 500), udpFrame(3, 64, false)];
    expect(t.sender.sendBatch(reads)).toBe(3);
    expect(t.relay.sent).toHaveLength(1);
    const opened = b.open(t.relay.sent[0]!).message;
    if (opened.kind !== SealedKind.BATCH) throw new Error(`kind ${opened.kind}`);
    expect(opened.frames.map(udpOf)).toEqual([1, 2, 3]);
    expect(opened.frames.map((f) => f.length)).toEqual(reads.map((r) => r.length - VNET_HDR_BYTES));
    for (const f of opened.frames) {
      expect(f[12]).toBe(0x08); // an Ethernet header first
      expect(udpChecksumHolds(f)).toBe(true);
    }
    // Only the partial checksums were computed here; the input is untouched.
    expect(t.sender.gso).toMatchObject({ split: 0, checksummed: 2 });
    expect(udpChecksumHolds(reads[0]!.subarray(VNET_HDR_BYTES))).toBe(false);
  });

  it('a GSO super-frame goes whole as SUPERFRAME in its place: the plain frames before it first, then after', async () => {
    const { a, b } = await both();
    const t = sender(a, VNET_HDR_BYTES);
    const superframe = tcpSuperframe(20_000, 1348);
    const reads = [udpFrame(1, 100), udpFrame(2, 100), superframe, udpFrame(3, 100)];
    expect(t.sender.sendBatch(reads)).toBe(4);
    const opened = t.relay.sent.map((bytes) => b.open(bytes));
    expect(opened.map((o) => [o.seq, o.message.kind])).toEqual([
      [0, SealedKind.BATCH],
      [1, SealedKind.SUPERFRAME],
      [2, SealedKind.ETHERNET], // the one frame after it: alone, as ETHERNET
    ]);
    const sup = opened[1]!.message;
    if (sup.kind !== SealedKind.SUPERFRAME) throw new Error('kind');
    expect(Buffer.from(sup.packet)).toEqual(Buffer.from(superframe));
  });

  it('a lone frame to a peer that takes super-frames goes as SUPERFRAME, header kept (no work here)', async () => {
    const { a, b } = await both();
    const t = sender(a, VNET_HDR_BYTES);
    const ping = udpFrame(9, 56);
    expect(t.sender.sendBatch([ping])).toBe(1);
    const opened = b.open(t.relay.sent[0]!).message;
    if (opened.kind !== SealedKind.SUPERFRAME) throw new Error(`kind ${opened.kind}`);
    expect(Buffer.from(opened.packet)).toEqual(Buffer.from(ping));
    expect(t.sender.gso.checksummed).toBe(0);
  });

  it('for a peer without OFFLOAD_SUPERFRAMES a super-frame split here goes as BATCHes, not one message a segment', async () => {
    const { a, b } = await noSuper();
    const t = sender(a, VNET_HDR_BYTES);
    const superframe = tcpSuperframe(60 * 1348, 1348); // 60 segments of 1402 B: two BATCHes
    expect(t.sender.sendBatch([superframe])).toBe(1);
    const opened = t.relay.sent.map((bytes) => b.open(bytes));
    expect(opened.map((o) => [o.seq, o.message.kind])).toEqual([
      [0, SealedKind.BATCH],
      [1, SealedKind.BATCH],
    ]);
    const segments = opened.flatMap((o) =>
      o.message.kind === SealedKind.BATCH ? o.message.frames : [],
    );
    // The very bytes software GSO makes, in order (each staged: GSO reuses its buffer).
    const reference: Uint8Array[] = [];
    new SoftwareGso().split(superframe, (segment) => reference.push(segment.slice()));
    expect(segments.map((f) => Buffer.from(f))).toEqual(reference.map((f) => Buffer.from(f)));
    expect(t.sender.gso).toMatchObject({ split: 1, segments: 60 });
  });

  it('a read mixing super-frames and plain frames reaches a peer without super-frames whole and in order', async () => {
    const { a, b } = await noSuper();
    const t = sender(a, VNET_HDR_BYTES);
    const reads = [udpFrame(1, 200), tcpSuperframe(3 * 1348, 1348), udpFrame(2, 200)];
    expect(t.sender.sendBatch(reads)).toBe(3);
    expect(t.relay.sent).toHaveLength(1); // 1 + 3 + 1 frames fit one BATCH
    const opened = b.open(t.relay.sent[0]!).message;
    if (opened.kind !== SealedKind.BATCH) throw new Error(`kind ${opened.kind}`);
    expect(opened.frames.map((f) => [f.length, f[14 + 9]])).toEqual([
      [14 + 20 + 8 + 200, 17],
      [1402, 6],
      [1402, 6],
      [1402, 6],
      [14 + 20 + 8 + 200, 17],
    ]);
  });

  it('a frame software GSO refuses is dropped and counted alone; the rest of the read goes', async () => {
    const { a, b } = await noSuper();
    const t = sender(a, VNET_HDR_BYTES);
    const reads = [udpFrame(1, 100), tcpSuperframe(3000, 1000, VnetGso.UDP), udpFrame(2, 100)];
    expect(t.sender.sendBatch(reads)).toBe(2);
    expect(t.counters.drops).toEqual({ GSO_UNSUPPORTED: 1 });
    const opened = b.open(t.relay.sent[0]!).message;
    if (opened.kind !== SealedKind.BATCH) throw new Error(`kind ${opened.kind}`);
    expect(opened.frames.map(udpOf)).toEqual([1, 2]);
  });

  it('with no path, every input frame counts as not taken and no sequence number is burnt', async () => {
    const { a, b } = await noSuper();
    const t = sender(a, VNET_HDR_BYTES);
    t.relay.writable = false;
    expect(t.sender.sendBatch([udpFrame(1, 100), tcpSuperframe(60 * 1348, 1348)])).toBe(0);
    expect(t.counters.drops).toEqual({ RELAY_UNAVAILABLE: 61 }); // counted per frame sealed
    t.relay.writable = true;
    expect(t.sender.sendBatch([udpFrame(2, 100)])).toBe(1);
    expect(b.open(t.relay.sent[0]!).seq).toBe(0);
  });
});
