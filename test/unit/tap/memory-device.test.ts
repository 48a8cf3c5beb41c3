import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryDevicePair, type MemoryDevice } from '../../../src/tap/memory-device.js';

function frame(size: number, fill = 0xab): Uint8Array {
  return new Uint8Array(size).fill(fill);
}

function nextBatch(device: MemoryDevice): Promise<Uint8Array[]> {
  return new Promise((resolve) => {
    const off = device.onFrames((frames) => {
      off();
      resolve(frames);
    });
  });
}

describe('MemoryDevice pair', () => {
  let pair: [MemoryDevice, MemoryDevice];
  afterEach(async () => {
    await pair[0].close();
    await pair[1].close();
  });

  it('delivers what one end writes to the other, in order, one batch per turn', async () => {
    pair = createMemoryDevicePair({ names: ['node', 'wire'] });
    const [node, wire] = pair;
    expect(node.name).toBe('node');
    expect(node.mtu).toBe(1500);
    const got = nextBatch(node);
    expect(wire.writeBatch([frame(60, 1), frame(61, 2), frame(62, 3)])).toBe(3);
    const frames = await got;
    expect(frames.map((f) => [f.byteLength, f[0]])).toEqual([
      [60, 1],
      [61, 2],
      [62, 3],
    ]);
    expect(node.stats).toMatchObject({ framesRead: 3, batchesRead: 1, bytesRead: 183 });
    expect(wire.stats).toMatchObject({ framesWritten: 3, bytesWritten: 183 });
  });

  it('works in both directions', async () => {
    pair = createMemoryDevicePair();
    const [a, b] = pair;
    const atB = nextBatch(b);
    const atA = nextBatch(a);
    a.write(frame(64, 7));
    b.write(frame(65, 8));
    expect((await atB)[0]?.[0]).toBe(7);
    expect((await atA)[0]?.[0]).toBe(8);
  });

  it('copies on write, so the writer may reuse its buffer at once', async () => {
    pair = createMemoryDevicePair();
    const [a, b] = pair;
    const buffer = frame(60, 1);
    const got = nextBatch(b);
    a.write(buffer);
    buffer.fill(9);
    expect((await got)[0]?.[0]).toBe(1);
  });

  it('queues frames until a handler attaches, then drops past the limit and counts them', async () => {
    pair = createMemoryDevicePair({ queueLimit: 2 });
    const [a, b] = pair;
    expect(a.writeBatch([frame(60), frame(60), frame(60)])).toBe(3);
    expect(b.stats.readDrops).toBe(1);
    expect(await nextBatch(b)).toHaveLength(2);
  });

  it('drops runts, oversized frames and writes after close, counting each reason', async () => {
    pair = createMemoryDevicePair({ mtu: 1000 });
    const [a, b] = pair;
    expect(a.write(frame(13))).toBe(false);
    expect(a.write(frame(1000 + 18 + 1))).toBe(false);
    expect(a.write(frame(1000 + 18))).toBe(true);
    await b.close();
    expect(a.write(frame(60))).toBe(false);
    expect(a.stats.writeDrops).toEqual({
      tooShort: 1,
      tooLarge: 1,
      queueFull: 0,
      closed: 1,
      ioError: 0,
    });
    await a.close();
    await a.close();
    expect(a.closed).toBe(true);
  });

  it('survives a throwing handler, counts it and reports it to onError', async () => {
    pair = createMemoryDevicePair();
    const [a, b] = pair;
    const errors: string[] = [];
    b.onError((error) => errors.push(error.code));
    let calls = 0;
    const second = new Promise<void>((resolve) => {
      b.onFrames(() => {
        calls++;
        if (calls === 1) throw new Error('boom');
        resolve();
      });
    });
    a.write(frame(60));
    await new Promise((r) => setImmediate(r));
    a.write(frame(60));
    await second;
    expect(b.stats.handlerErrors).toBe(1);
    expect(errors).toEqual(['TAP_IO']);
  });

  it('does not deliver after the handler detaches', async () => {
    pair = createMemoryDevicePair();
    const [a, b] = pair;
    let seen = 0;
    const off = b.onFrames((frames) => {
      seen += frames.length;
    });
    off();
    a.write(frame(60));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(seen).toBe(0);
    expect(await nextBatch(b)).toHaveLength(1);
  });
});
