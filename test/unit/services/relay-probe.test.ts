// The relay probe on fake timers: once a second while data moves, once every
// five seconds while the direct heartbeat is quiet.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor, setup } from 'xstate';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { DataActivity } from '../../../src/services/data-activity.js';
import { PathStats } from '../../../src/services/path-quality.js';
import type { PeerPorts } from '../../../src/services/peer-ports.js';
import { relayProbeActor, relayProbeIntervalMs } from '../../../src/services/relay-probe.js';

afterEach(() => {
  vi.useRealTimers();
});

function probing() {
  const pings: number[] = [];
  const activity = new DataActivity();
  const ports = {
    timings: defaultConnectionTimings,
    activity,
    stats: { direct: new PathStats(), relay: new PathStats() },
    sendPing: (path: string) => {
      if (path === 'relay') pings.push(performance.now());
      return 1;
    },
  } as unknown as PeerPorts;
  const parent = setup({ actors: { probeRelay: relayProbeActor(ports) } }).createMachine({
    invoke: { src: 'probeRelay', input: { peer: 'bob' } },
  });
  const actor = createActor(parent);
  actor.start();
  return { actor, pings, activity };
}

describe('relay probe', () => {
  it('the interval in effect: 1 s busy, 5 s quiet at the defaults', () => {
    expect(relayProbeIntervalMs(defaultConnectionTimings, false)).toBe(1_000);
    expect(relayProbeIntervalMs(defaultConnectionTimings, true)).toBe(5_000);
  });

  it('probes every second, every five while quiet, every second again once data moves', async () => {
    vi.useFakeTimers({ now: 0 });
    const { actor, pings, activity } = probing();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pings).toHaveLength(11); // at start, then every second
    activity.sleep(() => {}); // the heartbeat went quiet
    await vi.advanceTimersByTimeAsync(20_000);
    expect(pings.slice(11)).toEqual([15_000, 20_000, 25_000, 30_000]);
    activity.seen(); // data: the heartbeat wakes
    await vi.advanceTimersByTimeAsync(3_000);
    expect(pings.slice(15)).toEqual([31_000, 32_000, 33_000]);
    actor.stop();
  });
});
