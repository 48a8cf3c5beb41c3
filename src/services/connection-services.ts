/**
 * The connection chart's invoked actors for one peer, one file each, all
 * built over the peer's narrow PeerPorts. src/daemon/peer-chart.ts provides
 * them to the chart; the model tests wrap the same ones.
 */
import { dialActor } from './dial-peer.js';
import { fallbackActor } from './fallback.js';
import { heartbeatActor } from './heartbeat.js';
import { listenActor } from './listen.js';
import { migrateActor } from './migrate.js';
import type { PeerPorts } from './peer-ports.js';
import { rehandshakeActor } from './rehandshake.js';
import { relayProbeActor } from './relay-probe.js';

export function connectionServices(ports: PeerPorts) {
  return {
    listen: listenActor(ports),
    dial: dialActor(ports),
    rehandshake: rehandshakeActor(ports),
    migrate: migrateActor(ports),
    heartbeat: heartbeatActor(ports),
    fallback: fallbackActor(ports),
    probeRelay: relayProbeActor(ports),
  };
}

export type ConnectionServices = ReturnType<typeof connectionServices>;
