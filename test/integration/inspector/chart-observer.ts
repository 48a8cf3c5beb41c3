/**
 * A NodeObserver for inspector tests: it runs the REAL connection chart
 * (src/machines/connection.ts) per peer, with small controllable services in
 * place of sockets, and reports exactly what the node reports — status,
 * transitions, raw inspection events — so the page and the Stately bridge
 * see a live chart without a node pair.
 *
 *   const node = createChartObserver({ peers: ['beta'] });
 *   node.start();               // relay up, PEER_ADDRESS → upgrade → usingDirect.healthy
 *   node.peer('beta').cut();    // heartbeats stop: suspect → fallingBack → usingRelay
 *   node.peer('beta').restore() // the next retry upgrades again
 *
 * Nothing here opens a socket; the peer address is a closed loopback port
 * that is never dialled.
 */
import { type AnyActorRef, createActor, fromCallback, fromPromise } from 'xstate';
import type {
  NodeObserver,
  NodeStatus,
  PeerStatus,
  TransitionRecord,
} from '../../../src/daemon/node-status.js';
import { connectionMachine, type HeartbeatEvent } from '../../../src/machines/connection.js';
import type { ConnectionTimings } from '../../../src/machines/connection-timings.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { TrustDeadline } from '../../../src/services/trust-deadline.js';

type Step = 'listen' | 'dial' | 'rehandshake' | 'migrate' | 'fallback';

export interface ChartObserverOptions {
  peers: string[];
  timings?: Partial<ConnectionTimings>;
  /** How long each upgrade step takes unless held (default 150 ms). */
  stepMs?: number;
}

export interface FakePeer {
  /** The direct path stops answering: heartbeats stop and dials are refused. */
  cut(): void;
  /** The direct path works again. */
  restore(): void;
  /** The next run of `step` waits until the returned function is called. */
  hold(step: Step): () => void;
  readonly actor: AnyActorRef;
}

export interface ChartObserver extends NodeObserver {
  start(): void;
  peer(name: string): FakePeer;
  stop(): void;
}

/** Short enough for a test, long enough to see (and photograph) each state. */
export const INSPECTOR_TEST_TIMINGS: ConnectionTimings = {
  ...defaultConnectionTimings,
  heartbeatIntervalMs: 100,
  suspectIntervalMs: 500,
  deadIntervalMs: 2_500,
  connectTimeoutMs: 5_000,
  migrationTimeoutMs: 5_000,
  stableAfterMs: 60_000,
  retry: { baseMs: 1_200, capMs: 4_000, jitter: 0 },
};

const KEY = (seed: number) => Buffer.alloc(32, seed).toString('base64url');

/** { a: { b: 'c' } } -> "a.b.c" */
export function dottedState(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [key, child] = Object.entries(value)[0] ?? [];
    if (key === undefined) return '';
    const rest = dottedState(child);
    return rest ? `${key}.${rest}` : key;
  }
  return '';
}

export function createChartObserver(options: ChartObserverOptions): ChartObserver {
  const timings = { ...INSPECTOR_TEST_TIMINGS, ...options.timings };
  const stepMs = options.stepMs ?? 150;
  const startedAt = Date.now();
  const ring: TransitionRecord[] = [];
  const transitionListeners = new Set<(record: TransitionRecord) => void>();
  const inspectionListeners = new Set<(peer: string, event: unknown) => void>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };

  const emit = (record: TransitionRecord) => {
    ring.push(record);
    if (ring.length > 200) ring.shift();
    for (const listener of transitionListeners) listener(record);
  };

  interface PeerRun {
    name: string;
    up: boolean;
    holds: Map<Step, Promise<void>>;
    actor: ReturnType<typeof createActor<typeof connectionMachine>>;
    state: string;
    since: number;
    count: number;
    upgrades: number;
    fallbacks: number;
    lastEvent: string;
  }
  const runs = new Map<string, PeerRun>();

  const makePeer = (name: string, index: number): PeerRun => {
    const run = {
      name,
      up: true,
      holds: new Map(),
      state: '',
      since: startedAt,
      count: 0,
    } as PeerRun;
    run.upgrades = 0;
    run.fallbacks = 0;
    run.lastEvent = 'xstate.init';
    const step = (kind: Step, fails?: () => string | null) =>
      fromPromise<unknown, unknown>(async ({ signal }) => {
        const held = run.holds.get(kind);
        run.holds.delete(kind);
        if (held) await held;
        else await new Promise<void>((resolve) => later(resolve, stepMs));
        signal.throwIfAborted();
        const code = fails?.();
        if (code) throw Object.assign(new Error(code), { code });
        if (kind === 'dial') return { linkId: `${name}-link` };
        if (kind === 'rehandshake') return { attemptId: index.toString(16).padStart(32, '0') };
        return undefined;
      });
    const machine = connectionMachine.provide({
      actors: {
        listen: step('listen') as never,
        dial: step('dial', () => (run.up ? null : 'DIAL_REFUSED')) as never,
        rehandshake: step('rehandshake') as never,
        migrate: step('migrate') as never,
        fallback: step('fallback') as never,
        heartbeat: fromCallback<HeartbeatEvent, unknown>(({ sendBack, receive }) => {
          // Pongs come back only while the direct path is up: each renews the
          // real trust deadline, which reports SILENT and ALIVE to the chart.
          const trust = new TrustDeadline(timings.suspectIntervalMs, {
            silent: () => sendBack({ type: 'SILENT' }),
            alive: () => sendBack({ type: 'ALIVE' }),
          });
          receive(() => trust.askProof());
          const timer = setInterval(() => {
            if (run.up) trust.proved();
          }, timings.heartbeatIntervalMs);
          return () => {
            clearInterval(timer);
            trust.stop();
          };
        }) as never,
        probeRelay: fromCallback(() => () => {}) as never,
      },
    });
    const actor = createActor(machine, {
      input: { peer: name, timings, seed: 7 + index },
      inspect: (event) => {
        if (event.type === '@xstate.event' && event.actorRef === actor) {
          run.lastEvent = (event.event as { type: string }).type;
        }
        for (const listener of inspectionListeners) listener(name, event);
      },
    });
    run.actor = actor;
    actor.subscribe((snapshot) => {
      const to = dottedState(snapshot.value);
      const from = run.state;
      if (to === from) return;
      run.state = to;
      const at = Date.now();
      run.since = at;
      if (from === '') return; // the initial state is no transition
      run.count++;
      if (to === 'usingDirect.healthy' && from.startsWith('attemptingDirect')) run.upgrades++;
      if (to === 'fallingBack' && from.startsWith('usingDirect')) run.fallbacks++;
      emit({
        at,
        peer: name,
        machine: 'connection',
        from,
        to,
        event: run.lastEvent,
        reason: snapshot.context.reason,
        transport: snapshot.context.transport,
      });
    });
    return run;
  };

  for (const [i, name] of options.peers.entries()) runs.set(name, makePeer(name, i));
  // The charts run from the start (usingRelay); start() brings the relay up.
  for (const run of runs.values()) {
    run.actor.start();
    run.state = dottedState(run.actor.getSnapshot().value);
  }
  let relayState = 'connecting';

  const wave = (t: number, period: number) => Math.sin((2 * Math.PI * t) / period);
  const peerStatus = (run: PeerRun, index: number): PeerStatus => {
    const snapshot = run.actor.getSnapshot();
    const t = Date.now() - startedAt;
    const direct =
      run.state.startsWith('usingDirect') || run.state === 'attemptingDirect.migrating';
    return {
      name: run.name,
      publicKey: KEY(index + 2),
      path: snapshot.context.transport,
      state: run.state,
      reason: snapshot.context.reason,
      since: run.since,
      transitions: run.count,
      upgrades: run.upgrades,
      fallbacks: run.fallbacks,
      lastFallback: null,
      failedAttempts: {},
      nextAttemptAt: null,
      endpoint: snapshot.context.peerAddress ? '127.0.0.1:9' : null,
      lastHandshake: startedAt,
      paired: true,
      idle: false,
      session: null,
      paths: {
        relay: {
          rttMs: 24 + 3 * wave(t, 7_000),
          jitterMs: 1.5,
          loss: 0,
          measuredAgoMs: 200,
          stale: false,
          framesSent: 10 * run.count,
          framesReceived: 10 * run.count,
          bytesSent: 1000,
          bytesReceived: 1000,
        },
        direct: {
          rttMs: direct ? 3.2 + 0.6 * wave(t, 3_000) : null,
          jitterMs: direct ? 0.4 : null,
          loss: direct ? (run.up ? 0 : 1) : null,
          measuredAgoMs: direct ? 200 : null,
          stale: false,
          framesSent: 0,
          framesReceived: 0,
          bytesSent: 0,
          bytesReceived: 0,
        },
      },
      drops: { replay: 0 },
    };
  };

  const observer: ChartObserver = {
    status(): NodeStatus {
      return {
        publicKey: KEY(1),
        uptime: Math.round((Date.now() - startedAt) / 1000),
        relay: {
          url: 'ws://127.0.0.1:9/relay',
          index: 0,
          relays: [
            { url: 'ws://127.0.0.1:9/relay', state: 'current', lastError: null, lastErrorAt: null },
          ],
          state: relayState,
          reason: relayState === 'connected' ? 'WELCOME' : 'STARTED',
          observed: relayState === 'connected' ? '127.0.0.1:40000' : null,
          switches: 0,
          lastSwitch: null,
        },
        relayLink: { rttMs: 0.3, lastPongAt: Date.now(), reconnects: 0, localAddress: null },
        listen: '127.0.0.1:9',
        device: { name: 'sb0', kind: 'memory', mtu: 1400 },
        peers: [...runs.values()].map(peerStatus),
      };
    },
    recentTransitions: () => ring.slice(),
    onTransition(listener) {
      transitionListeners.add(listener);
      return () => transitionListeners.delete(listener);
    },
    onInspection(listener) {
      inspectionListeners.add(listener);
      return () => inspectionListeners.delete(listener);
    },
    async ping(peer) {
      const run = runs.get(peer);
      if (!run) throw Object.assign(new Error(`no peer ${peer}`), { code: 'UNKNOWN_PEER' });
      return [{ peer, path: 'relay', rttMs: 24, error: null }];
    },
    start() {
      // The relay link comes up, then tells each peer where the other listens.
      const relay = (from: string, to: string, reason: string, event: string) => {
        relayState = to;
        emit({ at: Date.now(), peer: 'relay', machine: 'relayLink', from, to, event, reason });
      };
      relay('connecting', 'authenticating', 'CONNECTED', 'xstate.done.actor.connect');
      relay('authenticating', 'connected', 'WELCOME', 'WELCOME');
      for (const run of runs.values()) {
        run.actor.send({
          type: 'PEER_ADDRESS',
          address: { family: 4, host: '127.0.0.1', port: 9 },
        });
      }
    },
    peer(name) {
      const run = runs.get(name);
      if (!run) throw new Error(`no peer ${name}`);
      return {
        actor: run.actor,
        cut: () => {
          run.up = false;
        },
        restore: () => {
          run.up = true;
        },
        hold(kind) {
          let release!: () => void;
          run.holds.set(kind, new Promise<void>((resolve) => (release = resolve)));
          return release;
        },
      };
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const run of runs.values()) run.actor.stop();
      transitionListeners.clear();
      inspectionListeners.clear();
    },
  };
  return observer;
}
