// The heartbeat actor on fake timers over fake ports: what it sends, and what
// it tells the chart (only SILENT / ALIVE changes, never one event per pong).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorRef, createActor, setup } from 'xstate';
import type { ConnectionEvent } from '../../../src/machines/connection.js';
import {
  type ConnectionTimings,
  defaultConnectionTimings,
} from '../../../src/machines/connection-timings.js';
import { DataActivity } from '../../../src/services/data-activity.js';
import { heartbeatActor } from '../../../src/services/heartbeat.js';
import { defaultQualityPolicy, PathStats } from '../../../src/services/path-quality.js';
import type { PeerPorts } from '../../../src/services/peer-ports.js';
import { RELAY_PROBE_EVERY } from '../../../src/services/relay-probe.js';

afterEach(() => {
  vi.useRealTimers();
});

// Quiet mode off unless a test asks for it (the "quiet" describe below).
const timings = {
  ...defaultConnectionTimings,
  heartbeatIntervalMs: 200,
  suspectIntervalMs: 600,
  idleAfterMs: 0,
};
const quietTimings = {
  ...timings,
  idleAfterMs: 5_000,
  idleHeartbeatIntervalMs: 1_000,
  idleSuspectIntervalMs: 3_000,
};

function fakePorts(initiator: boolean, paced: ConnectionTimings = timings) {
  const pings: number[] = [];
  const activity = new DataActivity();
  const proofHandlers = new Set<(at: number, rideAlong: boolean) => void>();
  const link = { isOpen: true, initiator, closed: new Promise(() => {}) };
  const ports = {
    timings: paced,
    activity,
    quality: defaultQualityPolicy,
    stats: { direct: new PathStats(), relay: new PathStats() },
    link: () => link,
    sendPing: (path: string) => {
      if (path === 'direct') pings.push(performance.now());
      return 1;
    },
    onDirectProof: (handler: (at: number, rideAlong: boolean) => void) => {
      proofHandlers.add(handler);
      return () => proofHandlers.delete(handler);
    },
  } as unknown as PeerPorts;
  return {
    ports,
    pings,
    activity,
    /** A two-way proof now; `rideAlong` when it came as the peer's ping. */
    prove(rideAlong = false) {
      const now = performance.now();
      for (const handler of proofHandlers) handler(now, rideAlong);
    },
  };
}

/** A parent that invokes the heartbeat and records what it is told. */
function run(ports: PeerPorts) {
  const told: string[] = [];
  const parent = setup({
    actors: { heartbeat: heartbeatActor(ports) },
  }).createMachine({
    invoke: { id: 'heartbeat', src: 'heartbeat', input: { peer: 'bob', linkId: 'bob#1' } },
    on: {
      '*': {
        actions: ({ event }) =>
          told.push(`${(event as ConnectionEvent).type}@${performance.now()}`),
      },
    },
  });
  const actor = createActor(parent);
  actor.start();
  const heartbeat = () => actor.getSnapshot().children.heartbeat as AnyActorRef;
  return { actor, told, heartbeat };
}

describe('heartbeat', () => {
  it('proofs renew trust with no event; SILENT exactly suspectInterval after the last; ALIVE at the next', async () => {
    vi.useFakeTimers({ now: 0 });
    const f = fakePorts(true);
    const { actor, told } = run(f.ports);
    const start = performance.now();
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(200);
      f.prove();
    }
    expect(told).toEqual([]); // 20 proofs, nothing for the chart
    const last = performance.now();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(told).toEqual([`SILENT@${last + 600}`]);
    f.prove();
    expect(told.at(-1)).toBe(`ALIVE@${last + 1_000}`);
    expect(told).toHaveLength(2);
    expect(start).toBe(0);
    actor.stop();
  });

  it('PROVE from the chart: the next proof is reported as ALIVE', async () => {
    vi.useFakeTimers({ now: 0 });
    const f = fakePorts(true);
    const { actor, told, heartbeat } = run(f.ports);
    await vi.advanceTimersByTimeAsync(100);
    f.prove();
    expect(told).toEqual([]);
    heartbeat().send({ type: 'PROVE' });
    await vi.advanceTimersByTimeAsync(100);
    f.prove();
    expect(told).toEqual(['ALIVE@200']);
    actor.stop();
  });

  it('the dialer pings every interval, ridden along or not', async () => {
    vi.useFakeTimers({ now: 0 });
    const f = fakePorts(true);
    const { actor } = run(f.ports);
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(200);
      f.prove(true);
    }
    expect(f.pings).toHaveLength(11); // at start, then every 200 ms
    actor.stop();
  });

  it("the other side rides along on the peer's pings, with one ping of its own every RELAY_PROBE_EVERY intervals", async () => {
    vi.useFakeTimers({ now: 0 });
    const f = fakePorts(false);
    const { actor, told } = run(f.ports);
    const intervals = 4 * RELAY_PROBE_EVERY;
    for (let i = 0; i < intervals; i++) {
      await vi.advanceTimersByTimeAsync(100);
      f.prove(true); // the peer's ping, between our ticks
      await vi.advanceTimersByTimeAsync(100);
    }
    // The first at start, then one every RELAY_PROBE_EVERY ticks.
    expect(f.pings).toHaveLength(1 + intervals / RELAY_PROBE_EVERY);
    expect(told).toEqual([]);
    // The peer's pings stop proving: our own every interval again.
    const before = f.pings.length;
    await vi.advanceTimersByTimeAsync(400); // the first tick still sees the last ride-along
    expect(f.pings.length - before).toBeGreaterThanOrEqual(1);
    const after = f.pings.length;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(f.pings.length - after).toBe(5);
    actor.stop();
  });
});

describe('heartbeat: quiet while no data moves', () => {
  /** Ping times between `from` and `to` (ms). */
  const between = (pings: number[], from: number, to: number) =>
    pings.filter((at) => at > from && at <= to);

  /** A dialer's heartbeat with quiet mode on, on fake timers from 0. */
  function quietRun() {
    vi.useFakeTimers({ now: 0 });
    const f = fakePorts(true, quietTimings);
    return { f, ...run(f.ports) };
  }

  /** `ms` of 200 ms steps, each ending in a proof (every ping answered);
   * `step(t)` runs after each, t counting from 0. */
  async function answered(f: ReturnType<typeof fakePorts>, ms: number, step?: (t: number) => void) {
    for (let t = 0; t < ms; t += 200) {
      await vi.advanceTimersByTimeAsync(200);
      f.prove();
      step?.(t);
    }
  }

  it('no data for idleAfterMs: one ping a second, SILENT only after idleSuspectInterval', async () => {
    const { f, actor, told } = quietRun();
    await answered(f, 10_000); // no data at all
    expect(between(f.pings, 0, 5_000)).toHaveLength(25); // busy: every 200 ms
    expect(f.activity.sleeping).toBe(true);
    expect(between(f.pings, 5_000, 10_000)).toHaveLength(5); // quiet: every second
    // Proofs stop: 3 s of silence is tolerated while quiet, not 600 ms.
    const last = performance.now();
    await vi.advanceTimersByTimeAsync(2_900);
    expect(told).toEqual([]);
    await vi.advanceTimersByTimeAsync(200);
    expect(told).toEqual([`SILENT@${last + 3_000}`]);
    actor.stop();
  });

  it('data keeps the busy pace: a batch every second never lets it go quiet', async () => {
    const { f, actor } = quietRun();
    await answered(f, 12_000, (t) => {
      if (t % 1_000 === 0) f.activity.seen();
    });
    expect(f.activity.sleeping).toBe(false);
    expect(between(f.pings, 7_000, 12_000)).toHaveLength(25);
    actor.stop();
  });

  it('the first data frame wakes it: a ping at once, the busy pace, one suspectInterval to answer', async () => {
    const { f, actor, told } = quietRun();
    await answered(f, 6_000);
    expect(f.activity.sleeping).toBe(true);
    // The path dies while quiet; 1.5 s later (within the quiet deadline) data moves.
    await vi.advanceTimersByTimeAsync(1_500);
    expect(told).toEqual([]);
    const woke = performance.now();
    const pingsBefore = f.pings.length;
    f.activity.seen();
    expect(f.pings.length).toBe(pingsBefore); // not inside the data path's call …
    await vi.advanceTimersByTimeAsync(0);
    expect(f.pings.at(-1)).toBe(woke); // … but at once after it
    expect(f.activity.sleeping).toBe(false);
    // No answer: SILENT suspectInterval after the wake, not 3 s after the last proof.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(told).toEqual([`SILENT@${woke + 600}`]);
    expect(between(f.pings, woke - 1, woke + 1_000)).toHaveLength(6); // the wake ping + 5 busy ones
    actor.stop();
  });

  it('a proof after the wake keeps it trusted; it goes quiet again once data stops', async () => {
    const { f, actor, told } = quietRun();
    await answered(f, 6_000);
    f.activity.seen();
    await answered(f, 8_000);
    expect(told).toEqual([]);
    expect(f.activity.sleeping).toBe(true);
    actor.stop();
    expect(f.activity.sleeping).toBe(false); // a stopped heartbeat is owed no wake
  });
});
