/**
 * The node's Prometheus metrics. Levels and running totals are read from
 * `observer.status()` when /metrics is scraped (prom-client `collect`
 * callbacks), so the data plane keeps its plain counters and pays nothing per
 * frame; transitions are counted as they happen (observer.onTransition), since
 * a scrape would miss a fallback and recovery that fit between two scrapes.
 *
 * Each node has its own Registry, never prom-client's global one, so several
 * nodes can run in one process (tests, the demo).
 *
 * Totals the node keeps (frames, bytes, drops, upgrades) are exported as
 * counters set to the node's value at each scrape; a peer removed by a reload
 * disappears from the output, and a re-added one restarts from zero, which
 * Prometheus reads as a counter reset.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { NodeObserver, NodeStatus, PathName, TransitionRecord } from './node-status.js';

export interface NodeMetrics {
  registry: Registry;
  /** Stops listening for transitions. The registry stays readable. */
  close(): void;
}

const PATHS: PathName[] = ['relay', 'direct'];
const TRANSPORTS = ['relay', 'direct', 'both'] as const;

export function createNodeMetrics(observer: NodeObserver): NodeMetrics {
  const registry = new Registry();
  const registers = [registry];
  const status = (): NodeStatus => observer.status();

  // --- node and relay link ------------------------------------------------
  new Gauge({
    name: 'switchback_uptime_seconds',
    help: 'Seconds since the node started.',
    registers,
    collect() {
      this.set(status().uptime);
    },
  });
  new Gauge({
    name: 'switchback_relay_link_up',
    help: '1 while the relay link is connected and authenticated, else 0.',
    registers,
    collect() {
      this.set(status().relay.state.startsWith('connected') ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchback_relay_link_current',
    help: 'Which relay of the list the link uses (or tries next while reconnecting): 1 for that one, 0 for the others.',
    labelNames: ['url'],
    registers,
    collect() {
      this.reset();
      for (const relay of status().relay.relays) {
        this.set({ url: relay.url }, relay.state === 'current' ? 1 : 0);
      }
    },
  });

  // --- per peer -------------------------------------------------------------
  new Gauge({
    name: 'switchback_peer_path',
    help: "Where the peer's frames go now: 1 for the path in use (relay, direct, or both while the direct path is suspect), 0 for the others.",
    labelNames: ['peer', 'path'],
    registers,
    collect() {
      this.reset();
      for (const peer of status().peers) {
        for (const path of TRANSPORTS)
          this.set({ peer: peer.name, path }, peer.path === path ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'switchback_peer_state',
    help: "The connection chart's current state (dotted), as 1; other states are absent.",
    labelNames: ['peer', 'state', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const peer of status().peers) {
        this.set({ peer: peer.name, state: peer.state, reason: peer.reason }, 1);
      }
    },
  });
  new Gauge({
    name: 'switchback_peer_paired',
    help: '1 when the relay has paired us with the peer (both sides asked), else 0.',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const peer of status().peers) this.set({ peer: peer.name }, peer.paired ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchback_peer_last_handshake_timestamp_seconds',
    help: 'When the end-to-end handshake with the peer last completed (Unix time); absent before the first.',
    labelNames: ['peer'],
    registers,
    collect() {
      this.reset();
      for (const peer of status().peers) {
        if (peer.lastHandshake !== null) this.set({ peer: peer.name }, peer.lastHandshake / 1000);
      }
    },
  });
  mirroredCounter(registry, {
    name: 'switchback_peer_upgrades_total',
    help: 'Completed relay-to-direct upgrades.',
    labelNames: ['peer'],
    read: (s) => s.peers.map((peer) => [{ peer: peer.name }, peer.upgrades]),
    status,
  });
  mirroredCounter(registry, {
    name: 'switchback_peer_fallbacks_total',
    help: 'Working direct paths left for the relay (dead, worse, closed); failed upgrade attempts are not counted here.',
    labelNames: ['peer'],
    read: (s) => s.peers.map((peer) => [{ peer: peer.name }, peer.fallbacks]),
    status,
  });
  mirroredCounter(registry, {
    name: 'switchback_peer_failed_attempts_total',
    help: 'Upgrade attempts to the direct path that failed, by reason (DIAL_REFUSED, DIAL_TIMEOUT, CERT_MISMATCH, ...).',
    labelNames: ['peer', 'reason'],
    read: (s) =>
      s.peers.flatMap((peer) =>
        Object.entries(peer.failedAttempts).map(([reason, n]) =>
          sample({ peer: peer.name, reason }, n),
        ),
      ),
    status,
  });
  new Gauge({
    name: 'switchback_peer_capability',
    help: 'A capability negotiated with the peer in the current session (1 per flag, docs/protocol.md section 7); absent without a session.',
    labelNames: ['peer', 'capability'],
    registers,
    collect() {
      this.reset();
      for (const peer of status().peers) {
        for (const capability of peer.session?.capabilities ?? []) {
          this.set({ peer: peer.name, capability }, 1);
        }
      }
    },
  });
  mirroredCounter(registry, {
    name: 'switchback_peer_session_promotions_total',
    help: 'Sessions promoted from next to current: the peer confirmed a handshake this node answered.',
    labelNames: ['peer'],
    read: (s) => s.peers.map((peer) => [{ peer: peer.name }, peer.session?.promotions ?? 0]),
    status,
  });
  mirroredCounter(registry, {
    name: 'switchback_peer_drops_total',
    help: 'Frames from or to the peer that were dropped or refused, by reason (REPLAY, DECRYPT_FAILED, NO_PATH, INIT_REPLAYED, UNKNOWN_SESSION, ...).',
    labelNames: ['peer', 'reason'],
    read: (s) =>
      s.peers.flatMap((peer) =>
        Object.entries(peer.drops).map(([reason, n]) => sample({ peer: peer.name, reason }, n)),
      ),
    status,
  });

  // --- per peer and path ------------------------------------------------------
  pathGauge(registry, status, {
    name: 'switchback_path_rtt_seconds',
    help: 'Smoothed round-trip time of authenticated pings on the path; absent before the first pong.',
    read: (figures) => seconds(figures.rttMs),
  });
  pathGauge(registry, status, {
    name: 'switchback_path_jitter_seconds',
    help: 'Round-trip time variation (RFC 6298 rttvar) on the path; absent before the first pong.',
    read: (figures) => seconds(figures.jitterMs),
  });
  pathGauge(registry, status, {
    name: 'switchback_path_loss_ratio',
    help: 'Share of recent pings on the path that went unanswered, 0..1; absent before any ping.',
    read: (figures) => figures.loss,
  });
  mirroredCounter(registry, {
    name: 'switchback_path_frames_total',
    help: 'Data frames sent and received on the path.',
    labelNames: ['peer', 'path', 'direction'],
    read: (s) =>
      s.peers.flatMap((peer) =>
        PATHS.flatMap((path) => [
          sample({ peer: peer.name, path, direction: 'sent' }, peer.paths[path].framesSent),
          sample({ peer: peer.name, path, direction: 'received' }, peer.paths[path].framesReceived),
        ]),
      ),
    status,
  });
  mirroredCounter(registry, {
    name: 'switchback_path_bytes_total',
    help: 'Bytes sent and received on the path (sealed frames, as written to the socket).',
    labelNames: ['peer', 'path', 'direction'],
    read: (s) =>
      s.peers.flatMap((peer) =>
        PATHS.flatMap((path) => [
          sample({ peer: peer.name, path, direction: 'sent' }, peer.paths[path].bytesSent),
          sample({ peer: peer.name, path, direction: 'received' }, peer.paths[path].bytesReceived),
        ]),
      ),
    status,
  });

  // --- events -------------------------------------------------------------------
  const transitions = new Counter({
    name: 'switchback_transitions_total',
    help: 'State changes of the charts, by peer ("relay" for the relay link), chart, target state and reason.',
    labelNames: ['peer', 'machine', 'to', 'reason'],
    registers,
  });
  const fallbacks = new Counter({
    name: 'switchback_fallbacks_total',
    help: 'Times a peer left a working direct path for the relay, by reason.',
    labelNames: ['peer', 'reason'],
    registers,
  });
  const relaySwitches = new Counter({
    name: 'switchback_relay_link_switches_total',
    help: 'Times the relay link moved to another relay of the list, by the reason it left the old one.',
    labelNames: ['reason'],
    registers,
  });
  const unsubscribe = observer.onTransition((record: TransitionRecord) => {
    transitions.inc({
      peer: record.peer,
      machine: record.machine,
      to: record.to,
      reason: record.reason,
    });
    if (isFallbackStart(record)) fallbacks.inc({ peer: record.peer, reason: record.reason });
    if (record.relay) relaySwitches.inc({ reason: record.reason });
  });

  let closed = false;
  return {
    registry,
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
    },
  };
}

/** Entering `fallingBack` from outside it (its own substates do not count twice). */
/** usingDirect.* → fallingBack: the transitions countFallback runs on (a failed attempt is not one). */
function isFallbackStart(record: TransitionRecord): boolean {
  return (
    record.machine === 'connection' &&
    record.to === 'fallingBack' &&
    record.from.startsWith('usingDirect')
  );
}

/** ms to seconds at microsecond resolution (0.42 ms is 0.00042, not 0.00041999…). */
function seconds(ms: number | null): number | null {
  return ms === null ? null : Math.round(ms * 1000) / 1e6;
}

type Labels = Record<string, string>;

function sample(labels: Labels, value: number): [Labels, number] {
  return [labels, value];
}

/** A counter whose value is a total the node keeps, copied in at scrape time. */
function mirroredCounter(
  registry: Registry,
  spec: {
    name: string;
    help: string;
    labelNames: string[];
    read: (status: NodeStatus) => [Labels, number][];
    status: () => NodeStatus;
  },
): void {
  new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of spec.read(spec.status())) {
        if (Number.isFinite(value) && value > 0) this.inc(labels, value);
        else this.inc(labels, 0);
      }
    },
  });
}

function pathGauge(
  registry: Registry,
  status: () => NodeStatus,
  spec: {
    name: string;
    help: string;
    read: (figures: NodeStatus['peers'][number]['paths'][PathName]) => number | null;
  },
): void {
  new Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: ['peer', 'path'],
    registers: [registry],
    collect() {
      this.reset();
      for (const peer of status().peers) {
        for (const path of PATHS) {
          const value = spec.read(peer.paths[path]);
          if (value !== null && Number.isFinite(value)) this.set({ peer: peer.name, path }, value);
        }
      }
    },
  });
}
