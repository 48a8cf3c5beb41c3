/**
 * Chart actor `heartbeat` (usingDirect): keeps the direct path's trust
 * deadline, and tells the chart only what changes its state.
 *
 * 1. Every heartbeatInterval: a WebSocket ping inside the pinned TLS stream of
 *    the direct link (docs/protocol.md §10.2), carrying its id and the echo
 *    of our last ping the peer answered.
 * 2. Two-way proof renews the trust deadline (trust-deadline.ts), in this
 *    actor, without an event: a pong answering one of OUR pings, or the
 *    peer's ping whose echo says our pong reached it (peer-probes.ts).
 *    Inbound data alone is not proof, since an asymmetric block still lets
 *    it arrive.
 * 3. The chart hears SILENT when no proof came for suspectInterval (it turns
 *    suspect), and ALIVE at the first proof after that, or after the chart
 *    sent PROVE (it stopped trusting the path for its own reason, e.g. a
 *    network change). Nothing per ping or pong.
 * 4. Ride-along: the side that did not dial the link skips its own ping in an
 *    interval where the peer's ping already proved the path (its pong is the
 *    proof for both sides), except every RELAY_PROBE_EVERY-th interval, which
 *    keeps its own RTT and loss current (status, the quality judge). The
 *    dialer always pings, so the two never both wait for the other.
 * 5. Every interval the QualityJudge compares the direct path with the relay
 *    (which relay-probe.ts keeps measured); QUALITY_POOR when direct has been
 *    clearly worse for the judge's whole window.
 * 6. The link closing sends DIRECT_CLOSED with CLOSED or PEER_CLOSED.
 * 7. Quiet: no data frame to or from the peer for idleAfterMs (DataActivity,
 *    counted by the data path) and the pace drops to idleHeartbeatIntervalMs,
 *    the deadline to idleSuspectIntervalMs. The first data frame wakes it:
 *    a ping at once, the busy pace again, and one suspectIntervalMs from the
 *    wake for the path to answer — so a path that died while nothing flowed
 *    turns suspect (and its frames are resent via the relay) as fast as one
 *    that dies under traffic.
 */
import { fromCallback } from 'xstate';
import type { ConnectionEvent, HeartbeatEvent } from '../machines/connection.js';
import { Reason } from '../reasons.js';
import { QualityJudge } from './path-quality.js';
import type { PeerPorts } from './peer-ports.js';
import { RELAY_PROBE_EVERY } from './relay-probe.js';
import { type TrustClock, TrustDeadline } from './trust-deadline.js';

// The chart's events from here, made once: nothing is allocated per report.
const SILENT: ConnectionEvent = { type: 'SILENT' };
const ALIVE: ConnectionEvent = { type: 'ALIVE' };
const QUALITY_POOR: ConnectionEvent = { type: 'QUALITY_POOR' };

export function heartbeatActor(ports: PeerPorts, clock?: TrustClock) {
  return fromCallback<HeartbeatEvent, { peer: string; linkId: string }>(
    ({ sendBack, input, receive }) => {
      const link = ports.link(input.linkId);
      if (!link?.isOpen) {
        sendBack({ type: 'DIRECT_CLOSED', reason: Reason.CLOSED });
        return () => {};
      }
      let stopped = false;
      const judge = new QualityJudge(ports.quality);
      const trust = new TrustDeadline(
        ports.timings.suspectIntervalMs,
        { silent: () => sendBack(SILENT), alive: () => sendBack(ALIVE) },
        clock,
      );
      const rides = !link.initiator;
      let ticks = 0;
      let lastTickAt = Number.NEGATIVE_INFINITY;
      let rodeAlongAt = Number.NEGATIVE_INFINITY;

      const tick = () => {
        const now = performance.now();
        // 4. The peer's ping proved the path since our last tick: no ping of ours.
        const rideAlong = rides && ticks % RELAY_PROBE_EVERY !== 0 && rodeAlongAt >= lastTickAt;
        ticks++;
        lastTickAt = now;
        if (!rideAlong) ports.sendPing('direct');
        ports.stats.direct.expire(now);
        ports.stats.relay.expire(now);
        if (judge.update(now, ports.stats.direct, ports.stats.relay)) sendBack(QUALITY_POOR);
      };
      const timings = ports.timings;
      const activity = ports.activity;
      let timer: ReturnType<typeof setInterval> | undefined;
      let quiet = false;
      let seen = activity.count;
      let seenChangedAt = performance.now();

      const pace = (intervalMs: number) => {
        clearInterval(timer);
        timer = setInterval(beat, intervalMs);
      };
      const wake = () => {
        if (stopped || !quiet) return;
        quiet = false;
        seen = activity.count;
        seenChangedAt = performance.now();
        trust.pace(timings.suspectIntervalMs, timings.suspectIntervalMs);
        pace(timings.heartbeatIntervalMs);
        ports.sendPing('direct'); // the first data frame's path is proved at once
      };
      // 7. Busy → quiet once no data moved for idleAfterMs.
      const beat = () => {
        tick();
        if (quiet || timings.idleAfterMs <= 0) return;
        const now = performance.now();
        if (activity.count !== seen) {
          seen = activity.count;
          seenChangedAt = now;
        } else if (now - seenChangedAt >= timings.idleAfterMs) {
          quiet = true;
          trust.pace(timings.idleSuspectIntervalMs);
          pace(timings.idleHeartbeatIntervalMs);
          activity.sleep(wake);
        }
      };
      pace(timings.heartbeatIntervalMs);
      tick();

      const offProof = ports.onDirectProof((atMs, rideAlong) => {
        if (stopped) return;
        if (rideAlong) rodeAlongAt = atMs;
        trust.proved(atMs);
      });
      receive((event) => {
        if (event.type === 'PROVE') trust.askProof();
      });
      link.closed.then((info) => {
        if (!stopped) sendBack({ type: 'DIRECT_CLOSED', reason: info.cause });
      });

      return () => {
        stopped = true;
        clearInterval(timer);
        activity.cancel(wake);
        trust.stop();
        offProof();
      };
    },
  );
}
