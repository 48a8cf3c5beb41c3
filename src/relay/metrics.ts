import { Counter, Gauge, Registry } from 'prom-client';

// The relay's counters live in plain fields on the hot path (a property
// increment per forwarded frame) and are copied into prom-client metrics when
// /metrics is scraped. Each RelayServer has its own Registry, never the global
// one, so several relays can run in one process (tests, cluster benches).

/** Running totals, updated by the server as things happen. */
export class RelayStats {
  connectionsAccepted = 0;
  framesForwarded = 0;
  bytesForwarded = 0;
  authenticated = 0;
  /** Frames not forwarded, by reason (receiver_buffer_full, not_paired, cluster_…). */
  readonly drops = new Map<string, number>();
  /** Connections closed on purpose, by CLOSE_INFO metric label. */
  readonly refusals = new Map<string, number>();

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  refuse(reason: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }
}

/** Live levels the registry asks for at scrape time. */
export interface RelayGauges {
  connections(): number;
  authenticatedPeers(): number;
  pairs(): number;
}

const PREFIX = 'switchback_relay_';

export function createRelayRegistry(stats: RelayStats, gauges: RelayGauges): Registry {
  const registry = new Registry();

  gauge(registry, 'connections', 'Open WebSocket connections, authenticated or not.', () =>
    gauges.connections(),
  );
  gauge(registry, 'authenticated_peers', 'Connections that completed AUTH.', () =>
    gauges.authenticatedPeers(),
  );
  gauge(registry, 'pairs', 'Pairs of peers that asked for each other.', () => gauges.pairs());

  totalCounter(
    registry,
    'connections_accepted_total',
    'WebSocket connections accepted.',
    () => stats.connectionsAccepted,
  );
  totalCounter(registry, 'authentications_total', 'Successful AUTHs.', () => stats.authenticated);
  totalCounter(
    registry,
    'frames_forwarded_total',
    'FORWARD frames handed to a receiver.',
    () => stats.framesForwarded,
  );
  totalCounter(
    registry,
    'bytes_forwarded_total',
    'Bytes of FORWARD frames handed on.',
    () => stats.bytesForwarded,
  );
  labelledCounter(registry, 'drops_total', 'Frames not forwarded, by reason.', stats.drops);
  labelledCounter(
    registry,
    'refusals_total',
    'Connections closed by the relay, by reason (close code).',
    stats.refusals,
  );
  return registry;
}

export function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name: PREFIX + name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A counter that mirrors a running total: it adds what grew since the last scrape. */
export function totalCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => number,
): void {
  let reported = 0;
  new Counter({
    name: PREFIX + name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > reported) this.inc(now - reported);
      reported = now;
    },
  });
}

export function labelledCounter(
  registry: Registry,
  name: string,
  help: string,
  totals: Map<string, number>,
  label = 'reason',
): void {
  const reported = new Map<string, number>();
  new Counter({
    name: PREFIX + name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [value, now] of totals) {
        const before = reported.get(value) ?? 0;
        if (now > before) this.inc({ [label]: value }, now - before);
        reported.set(value, now);
      }
    },
  });
}
