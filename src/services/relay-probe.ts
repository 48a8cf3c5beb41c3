/**
 * Chart actor `probeRelay` (the whole life of the chart): a sealed PING on
 * the relay path every RELAY_PROBE_EVERY heartbeat intervals (1 s at the
 * default 200 ms), whatever the state. So the relay's RTT and loss are
 * always current: while on the relay, busy or idle, they are the figures of
 * the path in use; while direct, they are what the QualityJudge (heartbeat.ts)
 * compares the direct path against.
 */
import { fromCallback } from 'xstate';
import type { ConnectionEvent } from '../machines/connection.js';
import type { PeerPorts } from './peer-ports.js';

/** Probe the relay once per this many heartbeat intervals. */
export const RELAY_PROBE_EVERY = 5;

export function relayProbeActor(ports: PeerPorts) {
  return fromCallback<ConnectionEvent, { peer: string }>(() => {
    const tick = () => {
      ports.stats.relay.expire(performance.now());
      ports.sendPing('relay');
    };
    const timer = setInterval(tick, RELAY_PROBE_EVERY * ports.timings.heartbeatIntervalMs);
    tick();
    return () => clearInterval(timer);
  });
}
