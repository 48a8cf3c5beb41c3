/**
 * What a node shows the outside (NodeObserver: the control API, metrics,
 * `switchback status`, the demo's live view, the inspector): the status of
 * the node and each peer, a bounded ring of transitions with their reasons
 * (as Tailscale's endpoint.debugUpdates), the fan-out of XState inspection
 * events, and `ping`. It reads the node through NodeView and changes nothing.
 */
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';
import type { RelaySwitch } from '../machines/relay-link.js';
import { stateString } from '../machines/state-value.js';
import { capabilityNames } from '../protocol/capabilities.js';
import type { Address } from '../protocol/frames.js';
import { DropReason } from '../services/drop-reasons.js';
import type { PeerLink } from '../services/peer-link.js';
import type { RelayLinkHealth } from '../services/relay-link.js';
import { relayProbeIntervalMs } from '../services/relay-probe.js';
import type { PeerConfig } from './config.js';
import type {
  NodeObserver,
  NodeStatus,
  PathFigures,
  PeerStatus,
  PingResult,
  RelayEntryStatus,
  RelayStatus,
  SessionStatus,
  TransitionRecord,
} from './node-status.js';
import type { PeerChart } from './peer-chart.js';

/** A path whose last answer is older than this many relay-probe intervals shows no figures. */
const STALE_AFTER_PROBES = 3;

/** Transitions kept for /transitions and the inspector's first screen. */
const TRANSITION_LOG_SIZE = 500;

/** One peer as the observation sees it. */
export interface ObservedPeer {
  readonly config: PeerConfig;
  readonly link: PeerLink;
  readonly chart: PeerChart;
}

/** The parts of a node that its status is made of. */
export interface NodeView {
  readonly publicKey: string;
  /** Our address as the relay sees it; null until WELCOME. */
  relayObserved(): Address | null;
  /** The node ↔ relay link's own health, from its pings. */
  readonly relayHealth: RelayLinkHealth;
  /** Relay links authenticated so far (handovers included). */
  relayConnections(): number;
  readonly listen: { host: string; port: number };
  readonly device: {
    name: string;
    kind: 'tap' | 'memory';
    mtu: number;
    /** The TAP is open with TSO/checksum offload (frames carry a virtio-net header). */
    offload?: boolean;
  };
  peers(): Iterable<ObservedPeer>;
  peer(name: string): ObservedPeer | undefined;
}

/** What followRelay reads of the relay-link chart's context. */
export interface RelayLinkView {
  reason: string;
  urls: readonly string[];
  index: number;
  url: string;
  switches: number;
  lastSwitch: RelaySwitch | null;
}

/** What the observation keeps per relay of the list. */
interface RelayEntry {
  lastError: string | null;
  lastErrorAt: number | null;
  /** Failed since it last worked. */
  failed: boolean;
}

interface Followed {
  /** The chart's state when last seen, dotted; '' before the first look. */
  state: string;
  /** The last event the chart took (inspection), for the transition record. */
  lastEvent: string;
  since: number;
  transitions: number;
}

export class NodeObservation implements NodeObserver {
  readonly #view: NodeView;
  readonly #logger: Logger;
  readonly #startedAt = Date.now();
  readonly #transitions: TransitionRecord[] = [];
  readonly #transitionListeners = new Set<(record: TransitionRecord) => void>();
  readonly #inspectionListeners = new Set<(peer: string, event: unknown) => void>();
  readonly #followed = new Map<string, Followed>();
  #relay: { state: string; link: RelayLinkView } | undefined;
  readonly #relayEntries = new Map<string, RelayEntry>();
  #lastSwitchAt = 0;

  constructor(view: NodeView, logger: Logger) {
    this.#view = view;
    this.#logger = logger;
  }

  // ── What the node reports ────────────────────────────────────────────────

  /** Look at a peer's chart after it changed: record a transition if its state did. */
  followPeer(peer: ObservedPeer): void {
    const snapshot = peer.chart.getSnapshot();
    const record = this.#follow(peer.config.name, stateString(snapshot.value));
    if (!record) return;
    this.#record({
      ...record,
      machine: 'connection',
      reason: snapshot.context.reason,
      transport: snapshot.context.transport,
    });
  }

  /** Look at the relay-link chart after it changed (its dotted state and context). */
  followRelay(state: string, link: RelayLinkView): void {
    const before = this.#relay;
    this.#relay = { state, link: { ...link } };
    const now = Date.now();
    if (before && link.switches !== before.link.switches) this.#lastSwitchAt = now;
    // The relay tried last failed: the chart left it for reconnecting (or a reload).
    const failedFrom = before && !before.state.startsWith('reconnecting') ? before.link.url : null;
    if (failedFrom !== null && state.startsWith('reconnecting')) {
      this.#relayEntry(failedFrom).failed = true;
      Object.assign(this.#relayEntry(failedFrom), { lastError: link.reason, lastErrorAt: now });
    }
    if (state.startsWith('connected')) this.#relayEntry(link.url).failed = false;
    const record = this.#follow('relay', state);
    if (!record) return;
    const moved = before && before.link.url !== link.url;
    this.#record({
      ...record,
      machine: 'relayLink',
      reason: link.reason,
      ...(moved ? { relay: { from: before.link.url, to: link.url } } : {}),
    });
  }

  /** A peer left the config: forget what was followed of it. */
  forgetPeer(name: string): void {
    this.#followed.delete(name);
  }

  /** An inspection event of a peer's chart (or 'relay'): noted, and passed on. */
  inspection(peer: string, event: InspectionEvent): void {
    if (
      event.type === '@xstate.event' &&
      (event.actorRef as { sessionId?: string }).sessionId === event.rootId
    ) {
      this.#followedOf(peer).lastEvent = event.event.type;
    }
    for (const listener of this.#inspectionListeners) listener(peer, event);
  }

  // ── NodeObserver ─────────────────────────────────────────────────────────

  status(): NodeStatus {
    const view = this.#view;
    const observed = view.relayObserved();
    const followed = this.#relay;
    const link = followed?.link;
    const relay: RelayStatus = {
      url: link?.url ?? '',
      index: link?.index ?? 0,
      relays: (link?.urls ?? []).map((url, index) =>
        this.#relayEntryStatus(url, index === link?.index),
      ),
      state: followed?.state ?? 'connecting',
      reason: link?.reason ?? 'CONNECTING',
      observed: observed ? hostPort(observed.host, observed.port, observed.family) : null,
      switches: link?.switches ?? 0,
      lastSwitch: link?.lastSwitch ? { ...link.lastSwitch, at: this.#lastSwitchAt } : null,
    };
    const health = view.relayHealth;
    return {
      publicKey: view.publicKey,
      uptime: Math.round((Date.now() - this.#startedAt) / 1000),
      relay,
      relayLink: {
        rttMs: health.rttMs === null ? null : Math.round(health.rttMs * 1000) / 1000,
        lastPongAt: health.lastPongAt,
        reconnects: Math.max(0, view.relayConnections() - 1),
        localAddress: health.localAddress,
      },
      listen: hostPort(view.listen.host, view.listen.port, view.listen.host.includes(':') ? 6 : 4),
      device: view.device,
      peers: [...view.peers()].map((peer) => this.#peerStatus(peer)),
    };
  }

  recentTransitions(): TransitionRecord[] {
    return [...this.#transitions];
  }

  onTransition(listener: (record: TransitionRecord) => void): () => void {
    this.#transitionListeners.add(listener);
    return () => this.#transitionListeners.delete(listener);
  }

  onInspection(listener: (peer: string, event: unknown) => void): () => void {
    this.#inspectionListeners.add(listener);
    return () => this.#inspectionListeners.delete(listener);
  }

  async ping(peer: string, options: { count: number; timeoutMs: number }): Promise<PingResult[]> {
    const link = this.#view.peer(peer)?.link;
    if (!link) throw new Error(`no peer named "${peer}"`);
    const results: PingResult[] = [];
    for (let i = 0; i < options.count; i++) {
      if (!link.session()) {
        results.push({ peer, path: 'relay', rttMs: null, error: 'no session' });
        continue;
      }
      const { path, rttMs } = await link.ping(options.timeoutMs);
      results.push({ peer, path, rttMs, error: rttMs === null ? 'timeout' : null });
    }
    return results;
  }

  // ── Internals ────────────────────────────────────────────────────────────

  #relayEntry(url: string): RelayEntry {
    let entry = this.#relayEntries.get(url);
    if (!entry) {
      entry = { lastError: null, lastErrorAt: null, failed: false };
      this.#relayEntries.set(url, entry);
    }
    return entry;
  }

  #relayEntryStatus(url: string, current: boolean): RelayEntryStatus {
    const entry = this.#relayEntries.get(url);
    return {
      url,
      state: current ? 'current' : entry?.failed ? 'failed' : 'standby',
      lastError: entry?.lastError ?? null,
      lastErrorAt: entry?.lastErrorAt ?? null,
    };
  }

  #followedOf(name: string): Followed {
    let followed = this.#followed.get(name);
    if (!followed) {
      followed = { state: '', lastEvent: '', since: Date.now(), transitions: 0 };
      this.#followed.set(name, followed);
    }
    return followed;
  }

  /** The transition from the state last seen to `state`, if it is one. */
  #follow(name: string, state: string) {
    const followed = this.#followedOf(name);
    if (state === followed.state) return undefined;
    const from = followed.state;
    followed.state = state;
    if (from === '') return undefined; // the first look: where it starts, not a change
    followed.transitions++;
    followed.since = Date.now();
    return { at: followed.since, peer: name, from, to: state, event: followed.lastEvent };
  }

  #record(record: TransitionRecord): void {
    this.#transitions.push(record);
    if (this.#transitions.length > TRANSITION_LOG_SIZE) this.#transitions.shift();
    const { peer, from, to, reason, event } = record;
    this.#logger.info({ peer, from, to, reason, event }, `${peer}: ${from} -> ${to} (${reason})`);
    for (const listener of this.#transitionListeners) listener(record);
  }

  #peerStatus({ config, link, chart }: ObservedPeer): PeerStatus {
    const snapshot = chart.getSnapshot();
    const followed = this.#followedOf(config.name);
    const now = performance.now();
    // While the heartbeat is quiet both paths are probed at its slower pace.
    const staleAfter =
      STALE_AFTER_PROBES * relayProbeIntervalMs(link.timings, link.activity.sleeping);
    const figures = (path: 'relay' | 'direct'): PathFigures => {
      const stats = link.stats[path];
      const agoMs = stats.lastAnsweredAt === undefined ? null : now - stats.lastAnsweredAt;
      const stale = stats.sent > 0 && (agoMs === null || agoMs > staleAfter);
      return {
        rttMs: stale || stats.srttMs === undefined ? null : stats.srttMs,
        jitterMs: stale || stats.srttMs === undefined ? null : stats.rttvarMs,
        loss: stale || stats.sent === 0 ? null : stats.loss,
        measuredAgoMs: agoMs === null ? null : Math.round(agoMs),
        stale,
        ...link.counters.paths[path],
      };
    };
    const endpoint = link.endpoint;
    return {
      name: config.name,
      publicKey: config.publicKeyText,
      path: snapshot.context.transport,
      state: stateString(snapshot.value),
      reason: snapshot.context.reason,
      since: followed.since,
      transitions: followed.transitions,
      upgrades: link.counters.upgrades,
      fallbacks: link.counters.fallbacks,
      lastFallback: link.counters.lastFallback && { ...link.counters.lastFallback },
      failedAttempts: { ...link.counters.failedAttempts },
      nextAttemptAt:
        snapshot.value === 'usingRelay' && snapshot.context.peerAddress !== null
          ? followed.since + snapshot.context.retryDelayMs
          : null,
      endpoint: endpoint ? hostPort(endpoint.host, endpoint.port, endpoint.family) : null,
      lastHandshake: link.lastHandshake,
      paired: link.paired,
      idle: link.activity.sleeping,
      paths: { relay: figures('relay'), direct: figures('direct') },
      session: sessionStatus(link),
      drops: withGapsSkipped(link.drops, link.ordering.skipped),
    };
  }
}

function sessionStatus(link: PeerLink): SessionStatus | null {
  const session = link.session();
  if (!session) return null;
  return {
    role: session.role,
    capabilities: capabilityNames(session.capabilities),
    peerCapabilities: session.peerCapabilities,
    holdsNext: link.sessions.holdsNext,
    promotions: link.sessions.slotStats.promoted,
  };
}

/** Frames the in-order receiver gave up waiting for (lost with a dead path) count as drops too. */
function withGapsSkipped(drops: Record<string, number>, skipped: number): Record<string, number> {
  return skipped > 0 ? { ...drops, [DropReason.GAP_SKIPPED]: skipped } : { ...drops };
}

export function hostPort(host: string, port: number, family: Address['family']): string {
  return family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
