/**
 * TAP offload (opt-in): a TAP opened with IFF_VNET_HDR + TUNSETOFFLOAD hands
 * a TCP flow over as super-frames far above the MTU, each behind a
 * virtio-net header, and takes them back written whole.
 *
 *   ns a: tap 10.234.0.1/24 ──read──▶ this process ──write──▶ tap 10.234.0.2/24 :ns b
 *         (iperf3 -c)        ◀─write──              ◀──read──        (iperf3 -s)
 *
 * This process is the "wire": it copies every read of one device into a write
 * on the other, header included, untouched. The same flow through devices
 * opened without offload never reads more than one MTU-sized frame.
 * Needs root and /dev/net/tun (CI runs as root); every address lives inside
 * the namespaces made here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTapDevice, type TapDevice } from '../../../src/tap/tap-device.js';
import {
  emptyVnetHeader,
  readVnetHeader,
  VNET_HDR_BYTES,
  VnetFlag,
  VnetGso,
  type VnetHeader,
} from '../../../src/tap/virtio-net-hdr.js';
import { iperfTcp } from '../../support/iperf.js';
import {
  assertNamespaceCapable,
  closeUnderlay,
  createUnderlay,
  listNamespaces,
  type Underlay,
} from '../../support/netns.js';

const MTU = 1500;
const ADDR = { a: '10.234.0.1', b: '10.234.0.2' };

interface Wire {
  devices: TapDevice[];
  /** Largest read, in bytes (header included when offloaded). */
  maxRead: number;
  framesCopied: number;
  /** Reads whose virtio-net header says TCPv4 GSO, with a segment size. */
  tcpSuperFrames: number;
  /** Reads whose header says the checksum is left partial. */
  partialChecksum: number;
  /** Writes the far device refused. */
  refused: number;
}

let underlay: Underlay;

beforeAll(async () => {
  assertNamespaceCapable();
  underlay = await createUnderlay({ prefix: 'sbo' });
});

afterAll(async () => {
  if (underlay) {
    await closeUnderlay(underlay);
    expect(await listNamespaces(underlay.id)).toEqual([]);
  }
});

/** Two TAPs in a and b, joined by this process. */
async function openWire(offload: boolean, tag: string): Promise<Wire> {
  const suffix = `${tag}${process.pid % 100_000}`;
  const a = await openTapDevice({
    name: `soa${suffix}`,
    netns: underlay.ns.a,
    addresses: [`${ADDR.a}/24`],
    mtu: MTU,
    offload,
  });
  const b = await openTapDevice({
    name: `sob${suffix}`,
    netns: underlay.ns.b,
    addresses: [`${ADDR.b}/24`],
    mtu: MTU,
    offload,
  });
  const wire: Wire = {
    devices: [a, b],
    maxRead: 0,
    framesCopied: 0,
    tcpSuperFrames: 0,
    partialChecksum: 0,
    refused: 0,
  };
  const header: VnetHeader = emptyVnetHeader();
  const copy = (to: TapDevice) => (frames: Uint8Array[]) => {
    for (const frame of frames) {
      if (frame.byteLength > wire.maxRead) wire.maxRead = frame.byteLength;
      if (offload && readVnetHeader(frame, header)) {
        if (header.gsoType === VnetGso.TCPV4 && header.gsoSize > 0) wire.tcpSuperFrames++;
        if (header.flags & VnetFlag.NEEDS_CSUM) wire.partialChecksum++;
      }
    }
    const written = to.writeBatch(frames);
    wire.framesCopied += written;
    wire.refused += frames.length - written;
  };
  a.onFrames(copy(b));
  b.onFrames(copy(a));
  return wire;
}

async function closeWire(wire: Wire): Promise<void> {
  for (const device of wire.devices) await device.close();
}

/** iperf3 TCP a → b for 2 s over the TAP pair; bytes the receiver got. */
async function tcpFlow(): Promise<number> {
  const report = await iperfTcp({
    clientNs: underlay.ns.a,
    serverNs: underlay.ns.b,
    serverAddress: ADDR.b,
    seconds: 2,
  });
  return report.end.sum_received.bytes;
}

describe('TAP offload (IFF_VNET_HDR, TSO)', () => {
  it('reads TCP super-frames above the MTU behind a virtio-net header, and writes them back', async () => {
    const wire = await openWire(true, 'o');
    try {
      expect(wire.devices.map((d) => d.vnetHdrBytes)).toEqual([VNET_HDR_BYTES, VNET_HDR_BYTES]);
      const bytes = await tcpFlow();
      // Written back whole, the super-frames carried the flow end to end.
      expect(bytes).toBeGreaterThan(1_000_000);
      expect(wire.refused).toBe(0);
      expect(wire.devices[1]!.stats.writeDrops).toEqual({
        tooShort: 0,
        tooLarge: 0,
        queueFull: 0,
        closed: 0,
        ioError: 0,
      });
      // Reads far larger than one Ethernet frame: TSO handed over segments whole.
      expect(wire.maxRead).toBeGreaterThan(VNET_HDR_BYTES + MTU + 14);
      expect(wire.tcpSuperFrames).toBeGreaterThan(0);
      expect(wire.partialChecksum).toBeGreaterThan(0);
    } finally {
      await closeWire(wire);
    }
  });

  it('without offload the same flow is read one MTU-sized frame at a time', async () => {
    const wire = await openWire(false, 'p');
    try {
      expect(wire.devices.map((d) => d.vnetHdrBytes)).toEqual([0, 0]);
      const bytes = await tcpFlow();
      expect(bytes).toBeGreaterThan(1_000_000);
      expect(wire.maxRead).toBeLessThanOrEqual(MTU + 14);
      expect(wire.framesCopied).toBeGreaterThan(bytes / MTU);
    } finally {
      await closeWire(wire);
    }
  });

  it('refuses a write too short to hold the header and an Ethernet header, counted', async () => {
    const wire = await openWire(true, 'q');
    try {
      const device = wire.devices[0]!;
      expect(device.write(new Uint8Array(VNET_HDR_BYTES + 13))).toBe(false);
      expect(device.stats.writeDrops.tooShort).toBe(1);
      expect(device.write(new Uint8Array(VNET_HDR_BYTES + 65_536 + 18))).toBe(false);
      expect(device.stats.writeDrops.tooLarge).toBe(1);
    } finally {
      await closeWire(wire);
    }
  });
});
