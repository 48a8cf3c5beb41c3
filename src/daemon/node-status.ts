/**
 * What a running node tells the outside: the control API's /status, the
 * metrics, `switchback status`, the demo's live view and the inspector all
 * read these shapes and nothing else, so they never disagree.
 */
import type { Transport } from '../machines/connection.js';

export type PathName = 'relay' | 'direct';

export interface PathFigures {
  /** Smoothed RTT in ms from authenticated pings; null when the path has not
   * answered a probe recently (see measuredAgoMs): no stale figure is shown. */
  rttMs: number | null;
  /** RTT variation (RFC 6298 rttvar) in ms; null with rttMs. */
  jitterMs: number | null;
  /** Share of recent pings unanswered, 0..1; null before any ping, or when stale. */
  loss: number | null;
  /** How long ago the path last answered a probe (ms); null if it never has. */
  measuredAgoMs: number | null;
  /** The path has not answered a probe for longer than 3 relay-probe intervals (3 s at defaults). */
  stale: boolean;
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface PeerStatus {
  name: string;
  /** base64url Ed25519 public key. */
  publicKey: string;
  /** Where this peer's frames go now: the chart's `context.transport`. */
  path: Transport;
  /** The chart's state value as a dotted string, e.g. "usingDirect.healthy". */
  state: string;
  /** Why the chart last changed state (src/reasons.ts). */
  reason: string;
  /** When the chart last changed state (ms since the epoch). */
  since: number;
  /** State changes since start. */
  transitions: number;
  /** Completed relay→direct upgrades. */
  upgrades: number;
  /** Working direct paths left for the relay (dead, worse than the relay, or
   * closed). A failed upgrade attempt is not one: see failedAttempts. */
  fallbacks: number;
  /** Why and when (ms since the epoch) the direct path was last left; null if never. */
  lastFallback: { reason: string; at: number } | null;
  /** Upgrade attempts that failed, by reason (DIAL_REFUSED, DIAL_TIMEOUT, CERT_MISMATCH, …). */
  failedAttempts: Record<string, number>;
  /** When the next direct attempt is due (ms since the epoch), while on the relay
   * with a known peer address; null otherwise (attempting, direct, or no address). */
  nextAttemptAt: number | null;
  /** The peer's direct address as the relay saw it, "host:port"; null until known. */
  endpoint: string | null;
  /** When the end-to-end handshake last completed (ms since the epoch); null before. */
  lastHandshake: number | null;
  /** The relay has paired us with this peer (both sides asked). */
  paired: boolean;
  /** On the direct path, no data to or from the peer for `idleAfterMs`
   * (broadcast chatter aside): the direct heartbeat and the relay probes run
   * at their idle pace (docs/protocol.md §10.2). Always false on the relay
   * path, where no heartbeat runs. */
  idle: boolean;
  paths: Record<PathName, PathFigures>;
  /** The end-to-end session in use; null before the first handshake. */
  session: SessionStatus | null;
  /** Frames dropped or refused, by reason (REPLAY, INIT_REPLAYED, UNKNOWN_SESSION, …; docs/cli.md). */
  drops: Record<string, number>;
}

/** The current end-to-end session of a peer (docs/protocol.md §7, §8). */
export interface SessionStatus {
  /** Which side started its handshake. */
  role: 'initiator' | 'responder';
  /** The negotiated capabilities: flags both advertised and this node knows, by name. */
  capabilities: string[];
  /** What the peer advertised, as the u32 (flags unknown here included). */
  peerCapabilities: number;
  /** A newer session waits for the peer's first frame under it (the *next* slot). */
  holdsNext: boolean;
  /** Sessions promoted from next since the node started. */
  promotions: number;
}

export interface RelayStatus {
  /** The relay in use; while reconnecting, the one tried next. */
  url: string;
  /** Position of `url` in `relays` (0-based). */
  index: number;
  /** Every relay of the config, in the order tried. */
  relays: RelayEntryStatus[];
  /** The relay-link chart's state, dotted. */
  state: string;
  reason: string;
  /** Our address as the relay sees it, "host:port"; null until WELCOME. */
  observed: string | null;
  /** Moves to another relay of the list since start. */
  switches: number;
  /** The last move: from, to, why (the failure that ended the link to `from`), when (ms since the epoch). */
  lastSwitch: { from: string; to: string; reason: string; at: number } | null;
}

/** One relay of the list. */
export interface RelayEntryStatus {
  url: string;
  /** `current`: in use (or tried next); `failed`: its last attempt failed and it has not
   * worked since; `standby`: neither. */
  state: 'current' | 'standby' | 'failed';
  /** Why the link to it last failed (RELAY_CLOSED, RELAY_UNREACHABLE, …); null if never. */
  lastError: string | null;
  /** When that was (ms since the epoch); null if never. */
  lastErrorAt: number | null;
}

/** The node ↔ relay connection itself, from its own pings (not the peer-to-peer
 * relay path: that is each peer's paths.relay). */
export interface RelayLinkStatus {
  /** Smoothed RTT node ↔ relay in ms; null before the first pong. */
  rttMs: number | null;
  /** When the relay last answered a ping (ms since the epoch); null before. */
  lastPongAt: number | null;
  /** Times the link was re-established (after a failure, or handed over to new addresses). */
  reconnects: number;
  /** The address the current link goes out from, "host:port"; null while not connected. */
  localAddress: string | null;
}

export interface NodeStatus {
  publicKey: string;
  /** Seconds since the node started. */
  uptime: number;
  relay: RelayStatus;
  relayLink: RelayLinkStatus;
  /** The direct listener's bound address, "host:port"; null when not listening. */
  listen: string | null;
  device: {
    name: string;
    kind: 'tap' | 'memory';
    mtu: number;
    /** The TAP is open with TSO/checksum offload (frames carry a virtio-net header). */
    offload?: boolean;
  };
  peers: PeerStatus[];
}

/** One state change of one chart: the inspector's event log, the logs, metrics. */
export interface TransitionRecord {
  /** ms since the epoch. */
  at: number;
  /** Peer name, or "relay" for the relay-link chart. */
  peer: string;
  machine: 'connection' | 'relayLink';
  from: string;
  to: string;
  /** The event that caused it, e.g. "xstate.after.suspectInterval…" or "PEER_ADDRESS". */
  event: string;
  reason: string;
  /** The connection chart's transport after the change (absent for relayLink). */
  transport?: Transport;
  /** relayLink only: the change moved the link to another relay of the list. */
  relay?: { from: string; to: string };
}

/** The answer to `switchback ping PEER`: which path answered, and how fast. */
export interface PingResult {
  peer: string;
  path: PathName;
  rttMs: number | null;
  /** Null when answered; otherwise why not (e.g. "timeout", "no session"). */
  error: string | null;
}

/** Implemented by the node (src/daemon/node.ts); consumed by everything that observes it. */
export interface NodeObserver {
  status(): NodeStatus;
  /** The last transitions, oldest first (a bounded ring, as Tailscale's debugUpdates). */
  recentTransitions(): TransitionRecord[];
  onTransition(listener: (record: TransitionRecord) => void): () => void;
  /** Raw XState inspection events of every actor (for the inspector and Stately bridge). */
  onInspection(listener: (peer: string, event: unknown) => void): () => void;
  ping(peer: string, options: { count: number; timeoutMs: number }): Promise<PingResult[]>;
}
