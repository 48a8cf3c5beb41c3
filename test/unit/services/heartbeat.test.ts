// The heartbeat actor on fake timers over fake ports: what it sends, and what
// it tells the chart (only SILENT / ALIVE changes, never one event per pong).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorRef, createActor, setup } from 'xstate';
import type { ConnectionEvent } from '../../../src/machines/connection.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { heartbeatActor } from '../../../src/services/heartbeat.js';
import { defaultQualityPolicy, PathStats } from '../../../src/services/path-quality.js';
import type { PeerPorts } from '../../../src/services/peer-ports.js';
import { RELAY_PROBE_EVERY } from '../../../src/services/relay-probe.js';

afterEach(() => {
  vi.useRealTimers();
});

const timings = { ...defaultConnectionTimings, heartbeatIntervalMs: 200, suspectIntervalMs: 600 };

function fakePorts(initiator: boolean) {
  const pings: number[] = [];
  const proofHandlers = new Set<(at: number, rideAlong: boolean) => void>();
  const link = { isOpen: true, initiator, closed: new Promise(() => {}) };
  const ports = {
    timings,
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
