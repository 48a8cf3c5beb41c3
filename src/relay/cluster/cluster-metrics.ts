import type { Registry } from 'prom-client';
import { gauge, labelledCounter, totalCounter } from '../metrics.js';
import type { ForgetCause } from './presence.js';

// The cluster's half of the relay's /metrics (docs/relay.md "Metrics"). Plain
// fields on the hot path, copied into prom-client at scrape time, as the
// relay's own counters are. Drops of forwarded frames are in the relay's
// switchback_relay_drops_total{reason} with the cluster_… reasons.

export class ClusterStats {
  framesReceived = 0;
  bytesReceived = 0;
  invalidMessages = 0;
  syncRequests = 0;
  wantsSent = 0;
  /** WANTs for a key no longer here, or from a registration already superseded. */
  staleWants = 0;
  locates = 0;
  nameConflicts = 0;
  readonly relaysForgotten = new Map<string, number>();

  forgotten(cause: ForgetCause): void {
    this.relaysForgotten.set(cause, (this.relaysForgotten.get(cause) ?? 0) + 1);
  }
}

/** What the metrics read from the cluster directory. */
export interface ClusterView {
  readonly counters: ClusterStats;
  readonly backplane: {
    readonly up: boolean;
    readonly inFlightBytes: number;
    readonly counters: {
      framesSent: number;
      bytesSent: number;
      controlSent: number;
      controlDropped: number;
      disconnects: number;
      slowConsumer: number;
    };
  };
  readonly presence: { readonly size: number; readonly relayCount: number };
  readonly remotePairCount: number;
}

export function addClusterMetrics(registry: Registry, cluster: ClusterView): void {
  const { counters } = cluster;
  const plane = cluster.backplane.counters;
  gauge(
    registry,
    'cluster_up',
    '1 while connected to NATS, 0 while cut off from the cluster.',
    () => (cluster.backplane.up ? 1 : 0),
  );
  gauge(
    registry,
    'cluster_relays',
    'Other relays heard from within the presence expiry.',
    () => cluster.presence.relayCount,
  );
  gauge(
    registry,
    'cluster_presence_entries',
    'Peer keys registered on other relays, as this relay knows them.',
    () => cluster.presence.size,
  );
  gauge(
    registry,
    'cluster_pairs',
    'Pairs whose other side is on another relay.',
    () => cluster.remotePairCount,
  );
  gauge(
    registry,
    'cluster_in_flight_bytes',
    'Frame bytes handed to NATS and not yet confirmed by a round trip.',
    () => cluster.backplane.inFlightBytes,
  );
  totalCounter(
    registry,
    'cluster_frames_sent_total',
    'FORWARD frames sent to other relays.',
    () => plane.framesSent,
  );
  totalCounter(
    registry,
    'cluster_bytes_sent_total',
    'Bytes of FORWARD frames sent to other relays.',
    () => plane.bytesSent,
  );
  totalCounter(
    registry,
    'cluster_frames_received_total',
    'FORWARD frames received from other relays.',
    () => counters.framesReceived,
  );
  totalCounter(
    registry,
    'cluster_bytes_received_total',
    'Bytes of FORWARD frames received from other relays.',
    () => counters.bytesReceived,
  );
  totalCounter(
    registry,
    'cluster_control_sent_total',
    'Presence and pairing messages sent.',
    () => plane.controlSent,
  );
  totalCounter(
    registry,
    'cluster_control_dropped_total',
    'Presence and pairing messages not sent because NATS was down.',
    () => plane.controlDropped,
  );
  totalCounter(
    registry,
    'cluster_invalid_messages_total',
    'Cluster messages that could not be decoded (dropped).',
    () => counters.invalidMessages,
  );
  totalCounter(
    registry,
    'cluster_syncs_requested_total',
    'Full-presence requests sent (a relay joined, restarted, or a delta was missed).',
    () => counters.syncRequests,
  );
  totalCounter(
    registry,
    'cluster_disconnects_total',
    'Times the connection to NATS was lost.',
    () => plane.disconnects,
  );
  totalCounter(
    registry,
    'cluster_stale_wants_total',
    'Pairing requests for a key no longer here or from a superseded registration.',
    () => counters.staleWants,
  );
  totalCounter(
    registry,
    'cluster_wants_sent_total',
    'Pairing requests (WANT) sent to other relays.',
    () => counters.wantsSent,
  );
  totalCounter(
    registry,
    'cluster_locates_total',
    'Lookups of a key this relay did not know, asked of the cluster.',
    () => counters.locates,
  );
  totalCounter(
    registry,
    'cluster_name_conflicts_total',
    "Messages from another relay using this relay's own --id.",
    () => counters.nameConflicts,
  );
  labelledCounter(
    registry,
    'cluster_relays_forgotten_total',
    'Relays forgotten, by cause: expired (no heartbeat), bye (clean stop), restarted.',
    counters.relaysForgotten,
    'cause',
  );
}
