// PacketPump: frames between a device and the peers through the real L2
// switch, a batch at a time — over a MemoryDevice pair (the test holds the
// far end) and fake peers that record each sendBatch call.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { L2Switch } from '../../../src/tap/l2-switch.js';
import { createMemoryDevicePair, type MemoryDevice } from '../../../src/tap/memory-device.js';
import { PacketPump, type PumpPeer } from '../../../src/tap/pump.js';

const LOCAL_MAC = 0x01; // a host behind the node's own device
const BROADCAST = -1;

/** A unicast MAC from a small number; BROADCAST for ff:ff:ff:ff:ff:ff. */
function macBytes(n: number): number[] {
  if (n === BROADCAST) return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  return [0x02, 0, 0, 0, (n >> 8) & 0xff, n & 0xff];
}

/** An Ethernet frame dst ← src carrying `tag` (read back with tagOf). */
function eth(dst: number, src: number, tag: number, size = 60): Uint8Array {
  const frame = new Uint8Array(size);
  frame.set(macBytes(dst), 0);
  frame.set(macBytes(src), 6);
  frame[12] = 0x08;
  new DataView(frame.buffer).setUint32(14, tag);
  return frame;
}

const tagOf = (frame: Uint8Array) =>
  new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(14);

class FakePeer implements PumpPeer {
  /** Each sendBatch call: the tags of its frames (copied: the pump reuses its arrays). */
  readonly batches: number[][] = [];
  /** How many frames of each batch it takes. */
  accept = Number.POSITIVE_INFINITY;
  listener: ((frames: readonly Uint8Array[]) => void) | undefined;

  sendBatch(frames: readonly Uint8Array[]): number {
    this.batches.push(frames.map(tagOf));
    return Math.min(frames.length, this.accept);
  }

  onFrames(listener: (frames: readonly Uint8Array[]) => void): () => void {
    this.listener = listener;
    return () => {
      if (this.listener === listener) this.listener = undefined;
    };
  }

  /** The peer delivers a batch it received. */
  deliver(frames: Uint8Array[]): void {
    this.listener?.(frames);
  }
}

const devices: MemoryDevice[] = [];
afterEach(async () => {
  for (const device of devices.splice(0)) await device.close();
  vi.restoreAllMocks();
});

function setup(peerIds: string[] = ['p1', 'p2']) {
  const [device, far] = createMemoryDevicePair();
  devices.push(device, far);
  const l2 = new L2Switch();
  const pump = new PacketPump(device, l2);
  const peers = new Map<string, FakePeer>();
  for (const id of peerIds) {
    const peer = new FakePeer();
    peers.set(id, peer);
    pump.addPeer(id, peer);
  }
  /** What the far end of the device reads: each batch's tags. */
  const atDevice: number[][] = [];
  far.onFrames((frames) => atDevice.push(frames.map(tagOf)));
  return { device, far, l2, pump, peers, peer: (id: string) => peers.get(id)!, atDevice };
}

/** Let the memory devices deliver what was written this turn. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('PacketPump', () => {
  it('switches a device batch and gives each peer ONE sendBatch with its frames in order', async () => {
    const t = setup();
    // Each peer has a host behind it the switch has learned (100 on p1, 200 on p2).
    t.peer('p1').deliver([eth(LOCAL_MAC, 100, 0)]);
    t.peer('p2').deliver([eth(LOCAL_MAC, 200, 0)]);
    await turn();
    expect(t.l2.lookup('02:00:00:00:00:64')).toBe('p1');

    t.far.writeBatch([
      eth(100, LOCAL_MAC, 1),
      eth(200, LOCAL_MAC, 2),
      eth(100, LOCAL_MAC, 3),
      eth(200, LOCAL_MAC, 4),
      eth(100, LOCAL_MAC, 5),
    ]);
    await turn();
    expect(t.peer('p1').batches).toEqual([[1, 3, 5]]);
    expect(t.peer('p2').batches).toEqual([[2, 4]]);
    expect(t.pump.counters.fromDevice).toBe(5);
    expect(t.pump.counters.peerDrops).toBe(0);
  });

  it('writes a peer’s batch to the device with one writeBatch, in order', async () => {
    const t = setup();
    const writeBatch = vi.spyOn(t.device, 'writeBatch');
    t.peer('p1').deliver([eth(LOCAL_MAC, 100, 1), eth(LOCAL_MAC, 100, 2), eth(LOCAL_MAC, 100, 3)]);
    expect(writeBatch).toHaveBeenCalledTimes(1);
    await turn();
    expect(t.atDevice).toEqual([[1, 2, 3]]);
    expect(t.pump.counters.toDevice).toBe(3);
    // Split horizon: the other peer gets nothing of it.
    expect(t.peer('p2').batches).toEqual([]);
  });

  it('floods a broadcast from the device to every peer, and one from a peer only to the device', async () => {
    const t = setup(['p1', 'p2', 'p3']);
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 7), eth(999, LOCAL_MAC, 8)]); // 999: unknown, flooded
    await turn();
    for (const id of ['p1', 'p2', 'p3']) expect(t.peer(id).batches).toEqual([[7, 8]]);

    t.peer('p2').deliver([eth(BROADCAST, 200, 9)]);
    await turn();
    expect(t.atDevice).toEqual([[9]]);
    expect(t.peer('p1').batches).toHaveLength(1);
    expect(t.peer('p3').batches).toHaveLength(1);
  });

  it('counts the frames a peer refused as peerDrops', async () => {
    const t = setup();
    t.peer('p1').accept = 1;
    t.peer('p2').accept = 0;
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 1), eth(BROADCAST, LOCAL_MAC, 2)]);
    await turn();
    expect(t.peer('p1').batches).toEqual([[1, 2]]);
    expect(t.peer('p2').batches).toEqual([[1, 2]]);
    expect(t.pump.counters.peerDrops).toBe(1 + 2);
  });

  it('counts a frame the switch has nowhere to send as unswitched', async () => {
    const t = setup([]);
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 1)]); // no peers to flood to
    await turn();
    expect(t.pump.counters.unswitched).toBe(1);

    const p1 = new FakePeer();
    t.pump.addPeer('p1', p1);
    p1.deliver([eth(LOCAL_MAC, 100, 2)]); // 100 now lives behind p1
    p1.deliver([eth(100, 300, 3)]); // p1 sends to its own host: sameport
    await turn();
    expect(t.pump.counters.unswitched).toBe(2);
    expect(t.atDevice).toEqual([[2]]);
  });

  it('counts a port the switch knows but the pump does not as a peer drop', async () => {
    const t = setup(['p1']);
    t.l2.addPeer('ghost'); // added behind the pump's back
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 1)]);
    await turn();
    expect(t.peer('p1').batches).toEqual([[1]]);
    expect(t.pump.counters.peerDrops).toBe(1);
  });

  it('counts frames the device refused as deviceDrops', async () => {
    const t = setup();
    t.peer('p1').deliver([
      eth(LOCAL_MAC, 100, 1),
      eth(LOCAL_MAC, 100, 2, 4000),
      eth(LOCAL_MAC, 100, 3),
    ]);
    await turn();
    expect(t.atDevice).toEqual([[1, 3]]);
    expect(t.pump.counters.toDevice).toBe(2);
    expect(t.pump.counters.deviceDrops).toBe(1);
  });

  it('a peer’s frames for both the device and another peer are split in one pass (hub)', async () => {
    const [device, far] = createMemoryDevicePair();
    devices.push(device, far);
    const l2 = new L2Switch({ forwardBetweenPeers: true });
    const pump = new PacketPump(device, l2);
    const p1 = new FakePeer();
    const p2 = new FakePeer();
    pump.addPeer('p1', p1);
    pump.addPeer('p2', p2);
    const atDevice: number[][] = [];
    far.onFrames((frames) => atDevice.push(frames.map(tagOf)));
    p2.deliver([eth(LOCAL_MAC, 200, 0)]); // learn 200 behind p2
    far.writeBatch([eth(100, LOCAL_MAC, 0)]); // learn LOCAL_MAC behind the device
    await turn();
    p1.batches.length = 0;
    p2.batches.length = 0;
    atDevice.length = 0;
    p1.deliver([eth(200, 100, 1), eth(LOCAL_MAC, 100, 2), eth(200, 100, 3)]);
    await turn();
    expect(p2.batches).toEqual([[1, 3]]);
    expect(atDevice).toEqual([[2]]);
    expect(p1.batches).toEqual([]);
  });

  it('removePeer detaches its listener and the switch forgets it; addPeer replaces', async () => {
    const t = setup();
    const old = t.peer('p1');
    t.pump.removePeer('p1');
    expect(old.listener).toBeUndefined();
    expect(t.l2.peers).toEqual(['p2']);
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 1)]);
    await turn();
    expect(old.batches).toEqual([]);
    expect(t.peer('p2').batches).toEqual([[1]]);

    const replaced = new FakePeer();
    const newer = new FakePeer();
    t.pump.addPeer('p3', replaced);
    t.pump.addPeer('p3', newer);
    expect(replaced.listener).toBeUndefined();
    expect(newer.listener).toBeDefined();
  });

  it('close() stops taking frames from the device and from the peers', async () => {
    const t = setup();
    t.pump.close();
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 1)]);
    await turn();
    expect(t.pump.counters.fromDevice).toBe(0);
    expect(t.peer('p1').batches).toEqual([]);
    expect(t.peer('p1').listener).toBeUndefined();
    expect(t.peer('p2').listener).toBeUndefined();
  });

  it('the same pump arrays are reused between batches without leaking frames', async () => {
    const t = setup();
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 1), eth(BROADCAST, LOCAL_MAC, 2)]);
    await turn();
    t.far.writeBatch([eth(BROADCAST, LOCAL_MAC, 3)]);
    await turn();
    t.peer('p1').deliver([eth(LOCAL_MAC, 100, 4)]);
    t.peer('p1').deliver([eth(LOCAL_MAC, 100, 5)]);
    await turn();
    expect(t.peer('p1').batches).toEqual([[1, 2], [3]]);
    expect(t.atDevice).toEqual([[4, 5]]);
    expect(t.pump.counters.toDevice).toBe(2);
  });
});
