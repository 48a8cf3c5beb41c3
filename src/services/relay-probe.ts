/**
 * Chart actor `probeRelay` (the whole life of the chart): a sealed PING on
 * the relay path every RELAY_PROBE_EVERY heartbeat intervals (1 s at the
 * default 200 ms), whatever the state. So the relay's RTT and loss are
 * always current: while on the relay, busy or idle, they are the figures of
 * the path in use; while direct, they are what the QualityJudge (heartbeat.ts)
 * compares the direct path against.
 *
 * While the direct heartbeat is quiet (no data to or from the peer, see
 * heartbeat.ts) there is nothing for the judge to judge, and the probe slows
 * the same way: every RELAY_PROBE_EVERY idle heartbeat intervals (5 s). The
 * first data frame brings back the busy pace at the next tick.
 */
import { fromCallback } from 'xstate';
import type { ConnectionEvent } from '../machines/connection.js';
import type { ConnectionTimings } from '../machines/connection-timings.js';
import type { PeerPorts } from './peer-ports.js';

/** Probe the relay once per this many heartbeat intervals. */
export const RELAY_PROBE_EVERY = 5;

/** The relay-probe interval in effect: busy, or while the heartbeat is quiet. */
export function relayProbeIntervalMs(timings: ConnectionTimings, quiet: boolean): number {
  return (
    RELAY_PROBE_EVERY * (quiet ? timings.idleHeartbeatIntervalMs : timings.heartbeatIntervalMs)
  );
}

export function relayProbeActor(ports: PeerPorts) {
  return fromCallback<ConnectionEvent, { peer: string }>(() => {
    const busyMs = relayProbeIntervalMs(ports.timings, false);
    // Busy ticks per quiet probe (5 at the defaults).
    const quietEvery = Math.max(1, Math.round(relayProbeIntervalMs(ports.timings, true) / busyMs));
    let skipped = 0;
    const tick = () => {
      if (ports.activity.sleeping && ++skipped < quietEvery) return;
      skipped = 0;
      ports.stats.relay.expire(performance.now());
      ports.sendPing('relay');
    };
    const timer = setInterval(tick, busyMs);
    tick();
    return () => clearInterval(timer);
  });
}
