// An in-memory NodeObserver for the control API, metrics and CLI tests: a
// fixed NodeStatus the test can edit, transitions it can emit, and ping
// answers it chooses. Nothing here touches the network.
import type {
  NodeObserver,
  NodeStatus,
  PathFigures,
  PeerStatus,
  PingResult,
  TransitionRecord,
} from '../../../src/daemon/node-status.js';

export const KEY_A = 'V9abFP_mmJwAGrnp8mCWGwPSxHYTsawd7lW0xj4AWY4';
export const KEY_B = 'z2S1_Qpjyb0RsHK8Pauom91hg4CQUAQQJspOJyWvPYg';
export const KEY_C = 'SUEQBVRnlda3sGIQK6LVVgUaqc7r6JOB5jVITKsB3ck';

function figures(overrides: Partial<PathFigures> = {}): PathFigures {
  return {
    rttMs: null,
    jitterMs: null,
    loss: null,
    measuredAgoMs: null,
    stale: false,
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    ...overrides,
  };
}

export function samplePeer(overrides: Partial<PeerStatus> = {}): PeerStatus {
  return {
    name: 'b',
    publicKey: KEY_B,
    path: 'direct',
    state: 'usingDirect.healthy',
    reason: 'UPGRADED',
    since: Date.now() - 30_000,
    transitions: 6,
    upgrades: 1,
    fallbacks: 0,
    lastFallback: null,
    failedAttempts: {},
    nextAttemptAt: null,
    endpoint: '127.0.0.1:7443',
    lastHandshake: Date.now() - 12_000,
    paired: true,
    idle: false,
    session: {
      role: 'initiator',
      capabilities: [],
      peerCapabilities: 0,
      holdsNext: false,
      promotions: 0,
    },
    paths: {
      direct: figures({
        rttMs: 0.42,
        jitterMs: 0.05,
        loss: 0,
        framesSent: 1200,
        framesReceived: 1100,
        bytesSent: 1_500_000,
        bytesReceived: 1_200_000,
      }),
      relay: figures({
        rttMs: 1.8,
        jitterMs: 0.3,
        loss: 0.01,
        framesSent: 40,
        framesReceived: 38,
        bytesSent: 4000,
        bytesReceived: 3800,
      }),
    },
    drops: { REPLAY: 3, DECRYPT_FAILED: 1 },
    ...overrides,
  };
}

export function sampleStatus(): NodeStatus {
  return {
    publicKey: KEY_A,
    uptime: 3723,
    relay: {
      url: 'ws://127.0.0.1:7000',
      index: 0,
      relays: [
        { url: 'ws://127.0.0.1:7000', state: 'current', lastError: null, lastErrorAt: null },
      ],
      state: 'connected',
      reason: 'STARTED',
      observed: '127.0.0.1:53422',
      switches: 0,
      lastSwitch: null,
    },
    relayLink: {
      rttMs: 0.31,
      lastPongAt: Date.now() - 400,
      reconnects: 0,
      localAddress: '127.0.0.1:53422',
    },
    listen: '127.0.0.1:7443',
    device: { name: 'sb0', kind: 'memory', mtu: 1400 },
    peers: [
      samplePeer(),
      samplePeer({
        name: 'c',
        publicKey: KEY_C,
        path: 'relay',
        state: 'usingRelay',
        reason: 'DIAL_REFUSED',
        transitions: 4,
        upgrades: 0,
        fallbacks: 1,
        lastHandshake: null,
        session: null,
        paths: { direct: figures(), relay: figures({ rttMs: 2.5, loss: 0.25 }) },
        drops: {},
      }),
    ],
  };
}

export class FakeObserver implements NodeObserver {
  current: NodeStatus = sampleStatus();
  readonly transitions: TransitionRecord[] = [];
  /** What ping answers, per call; default: every ping answered on the peer's path. */
  pingAnswer: (peer: string, count: number) => PingResult[] = (peer, count) => {
    const path = this.current.peers.find((entry) => entry.name === peer)?.path ?? 'relay';
    return Array.from({ length: count }, () => ({
      peer,
      path: path === 'relay' ? 'relay' : 'direct',
      rttMs: 0.42,
      error: null,
    }));
  };
  readonly pings: { peer: string; count: number; timeoutMs: number }[] = [];
  private readonly listeners = new Set<(record: TransitionRecord) => void>();

  status(): NodeStatus {
    return structuredClone(this.current);
  }

  recentTransitions(): TransitionRecord[] {
    return [...this.transitions];
  }

  onTransition(listener: (record: TransitionRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onInspection(): () => void {
    return () => {};
  }

  async ping(peer: string, options: { count: number; timeoutMs: number }): Promise<PingResult[]> {
    this.pings.push({ peer, ...options });
    return this.pingAnswer(peer, options.count);
  }

  /** Records and announces a transition, as the node does. */
  emit(record: Omit<TransitionRecord, 'at'>): void {
    const full = { at: Date.now(), ...record };
    this.transitions.push(full);
    for (const listener of this.listeners) listener(full);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
