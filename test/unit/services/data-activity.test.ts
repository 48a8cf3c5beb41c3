// What counts as data for the quiet heartbeat (src/services/data-activity.ts):
// unicast frames always, broadcast and multicast only as a stream.
import { describe, expect, it } from 'vitest';
import {
  DataActivity,
  STREAM_BATCHES,
  STREAM_WINDOW_MS,
} from '../../../src/services/data-activity.js';

/** An Ethernet frame to `destination` (6 bytes), behind `offset` bytes of header. */
function frameTo(destination: number[], offset = 0): Uint8Array {
  const frame = new Uint8Array(offset + 60);
  frame.set(destination, offset);
  frame.set([2, 0, 0, 0, 0, 1], offset + 6);
  return frame;
}
const UNICAST = [2, 0, 0, 0, 0, 2];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const IPV6_ALL_ROUTERS = [0x33, 0x33, 0, 0, 0, 2]; // a router solicitation's destination

function clocked(offset = 0) {
  let t = 10_000;
  const activity = new DataActivity(offset, () => t);
  return { activity, advance: (ms: number) => (t += ms) };
}

describe('DataActivity.seenFrames', () => {
  it('a batch with a unicast frame counts, whatever else it holds', () => {
    const { activity } = clocked();
    activity.seenFrames([frameTo(UNICAST)]);
    activity.seenFrames([frameTo(BROADCAST), frameTo(UNICAST)]);
    expect(activity.count).toBe(2);
  });

  it('broadcast or multicast chatter, a few batches a second, does not count', () => {
    const { activity, advance } = clocked();
    for (let second = 0; second < 10; second++) {
      // STREAM_BATCHES - 1 in each window, some close together (two hosts' RS at once).
      for (let i = 0; i < STREAM_BATCHES - 1; i++) {
        activity.seenFrames([frameTo(i % 2 ? BROADCAST : IPV6_ALL_ROUTERS)]);
        advance(10);
      }
      advance(STREAM_WINDOW_MS);
    }
    expect(activity.count).toBe(0);
  });

  it('a stream of them is data: from the STREAM_BATCHES-th in a window on, each batch counts', () => {
    const { activity, advance } = clocked();
    for (let i = 0; i < STREAM_BATCHES + 2; i++) {
      activity.seenFrames([frameTo(IPV6_ALL_ROUTERS)]);
      advance(STREAM_WINDOW_MS / (2 * STREAM_BATCHES));
    }
    expect(activity.count).toBe(3);
    // A new window starts the count again.
    advance(STREAM_WINDOW_MS);
    activity.seenFrames([frameTo(IPV6_ALL_ROUTERS)]);
    expect(activity.count).toBe(3);
  });

  it('reads the destination behind a virtio-net header when told its length', () => {
    const { activity } = clocked(10);
    // Behind the header: broadcast; the header's first byte is 0 (even).
    activity.seenFrames([frameTo(BROADCAST, 10)]);
    expect(activity.count).toBe(0);
    activity.seenFrames([frameTo(UNICAST, 10)]);
    expect(activity.count).toBe(1);
  });

  it('wakes a sleeping heartbeat on data, not on chatter', async () => {
    const { activity, advance } = clocked();
    let woken = 0;
    activity.sleep(() => woken++);
    activity.seenFrames([frameTo(BROADCAST)]);
    await Promise.resolve();
    expect(woken).toBe(0);
    expect(activity.sleeping).toBe(true);
    advance(1);
    activity.seenFrames([frameTo(UNICAST)]);
    await Promise.resolve();
    expect(woken).toBe(1);
    expect(activity.sleeping).toBe(false);
  });

  it('an empty batch is nothing', () => {
    const { activity } = clocked();
    activity.seenFrames([]);
    activity.seenFrames([]);
    expect(activity.count).toBe(0);
  });
});
