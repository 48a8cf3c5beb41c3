/**
 * Chart actor `heartbeat` (usingDirect): keeps the direct path's trust
 * deadline honest.
 *
 * - Every heartbeatInterval: a WebSocket ping inside the pinned TLS stream of
 *   the direct link (docs/protocol.md §10.2). Only a pong answering one of
 *   OUR pings sends ALIVE (two-way proof); inbound data alone is not proof,
 *   since an asymmetric block still lets it arrive.
 * - Every interval the QualityJudge compares the direct path with the relay
 *   (which relay-probe.ts keeps measured); QUALITY_POOR when direct has been
 *   clearly worse for the judge's whole window.
 * - The link closing sends DIRECT_CLOSED with CLOSED or PEER_CLOSED.
 */
import { fromCallback } from 'xstate';
import type { ConnectionEvent } from '../machines/connection.js';
import { Reason } from '../reasons.js';
import { QualityJudge } from './path-quality.js';
import type { PeerPorts } from './peer-ports.js';

export function heartbeatActor(ports: PeerPorts) {
  return fromCallback<ConnectionEvent, { peer: string; linkId: string }>(({ sendBack, input }) => {
    const link = ports.link(input.linkId);
    if (!link?.isOpen) {
      sendBack({ type: 'DIRECT_CLOSED', reason: Reason.CLOSED });
      return () => {};
    }
    let stopped = false;
    const judge = new QualityJudge(ports.quality);

    const tick = () => {
      const now = performance.now();
      ports.sendPing('direct');
      ports.stats.direct.expire(now);
      ports.stats.relay.expire(now);
      if (judge.update(now, ports.stats.direct, ports.stats.relay))
        sendBack({ type: 'QUALITY_POOR' });
    };
    const timer = setInterval(tick, ports.timings.heartbeatIntervalMs);
    tick();

    const offPong = ports.onPong((path) => {
      if (path === 'direct' && !stopped) sendBack({ type: 'ALIVE' });
    });
    link.closed.then((info) => {
      if (!stopped) sendBack({ type: 'DIRECT_CLOSED', reason: info.cause });
    });

    return () => {
      stopped = true;
      clearInterval(timer);
      offPong();
    };
  });
}
