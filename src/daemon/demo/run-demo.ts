/**
 * The demo's story, act by act, on a LoopbackCluster (a relay and nodes a and
 * b in this process, in-memory devices, a fault proxy on the direct path):
 *
 *   1. start everything; push numbered traffic both ways; wait for the direct path
 *   2. let it run direct
 *   3. blackhole the direct path; wait for the fallback; let it run on the relay
 *   4. restore the direct path; wait for the upgrade back; let it run direct
 *   5. stop the traffic; wait for stragglers; summarize
 *
 * A view (src/daemon/demo/live-view.ts) is told of phases and transitions and
 * reads live figures when it likes; the runner itself prints nothing. Every
 * wait is bounded, and aborting `signal` stops the run and cleans up.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import pino from 'pino';
import type { Transport } from '../../machines/connection.js';
import { LoopbackCluster, type NodeName } from '../../testing/loopback-cluster.js';
import { type ControlServer, startControlServer } from '../control-server.js';
import { attachInspector, type Inspector } from '../inspector/attach-inspector.js';
import { createNodeMetrics, type NodeMetrics } from '../metrics.js';
import type { TransitionRecord } from '../node-status.js';
import {
  DEMO_LIMITS,
  DEMO_TIMINGS,
  DEMO_TRAFFIC,
  type DemoPhasePlan,
  planPhases,
} from './demo-plan.js';
import {
  type DemoPhaseRecord,
  type DemoSummary,
  type DemoTransition,
  summarize,
} from './demo-summary.js';
import { type DemoStream, DemoTraffic, DIRECTIONS, type DirectionName } from './demo-traffic.js';
import { DemoError } from './errors.js';

/** Stable names of the five acts, as the summary's `phases` lists them. */
export const PHASE_NAMES = ['start', 'direct', 'cut', 'restored', 'drain'] as const;
export const PHASE_COUNT = PHASE_NAMES.length;

export interface DemoPhase {
  /** 1..PHASE_COUNT */
  index: number;
  total: number;
  /** What is happening, e.g. "direct path cut — waiting for fallback". */
  title: string;
}

/** What one node looks like right now, for the live view. */
export interface LiveNode {
  state: string;
  path: Transport;
  reason: string;
  rttDirectMs: number | null;
  rttRelayMs: number | null;
  /** Numbered frames arriving at this node's host per second (last ~1 s). */
  rxFramesPerS: number;
  /** Numbered frames delivered to this node's host so far. */
  delivered: number;
  /** Frames below the highest delivered one that never arrived. */
  lost: number;
}

export interface LiveSnapshot {
  elapsedMs: number;
  /** The whole run as planned: phases by --duration, start-up not included. */
  plannedMs: number;
  phase: DemoPhase;
  nodes: Record<NodeName, LiveNode>;
}

/** Where the runner reports progress. Every method is optional. */
export interface DemoView {
  /** The run has started; call `live()` for the current figures whenever you like. */
  start?(live: () => LiveSnapshot): void;
  /** A line worth showing once (the inspector URL). */
  note?(text: string): void;
  phase?(phase: DemoPhase): void;
  transition?(transition: DemoTransition): void;
  /** The run is over (also when it failed or was aborted). */
  stop?(): void;
}

export interface DemoOptions {
  /** Seconds for the five acts together (start-up not included). */
  durationS: number;
  signal: AbortSignal;
  view?: DemoView;
  /** The nodes' and relay's logger; silent by default. */
  logger?: Logger;
}

/** How often the live frame rates are sampled. */
const RATE_SAMPLE_MS = 250;
/** Condition polls. */
const POLL_MS = 20;

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const { durationS, signal } = options;
  signal.throwIfAborted();
  const view = options.view ?? {};
  const logger = options.logger ?? pino({ level: 'silent' });
  const plan: DemoPhasePlan = planPhases(durationS);
  const plannedMs = plan.directMs + plan.cutMs + plan.restoredMs + plan.drainMs;
  const startedAt = performance.now();
  const startEpoch = Date.now();
  const since = () => performance.now() - startedAt;

  const cleanups: (() => unknown)[] = [];
  const transitions: DemoTransition[] = [];
  const phases: DemoPhaseRecord[] = [];
  let phase: DemoPhase = { index: 1, total: PHASE_COUNT, title: 'starting' };
  let phaseStartMs = 0;
  let cutAt: number | null = null;
  let restoredAt: number | null = null;

  const enterPhase = (index: number, title: string) => {
    const now = Math.round(since());
    if (index !== phase.index || phases.length === 0) {
      const last = phases.at(-1);
      if (last) last.endMs = now;
      phases.push({ name: PHASE_NAMES[index - 1] ?? title, startMs: now, endMs: now });
      phaseStartMs = now;
    }
    phase = { index, total: PHASE_COUNT, title };
    view.phase?.(phase);
  };
  const until = async (test: () => boolean, timeoutMs: number): Promise<boolean> => {
    const deadline = performance.now() + timeoutMs;
    while (!test()) {
      if (performance.now() >= deadline) return false;
      await sleep(POLL_MS, undefined, { signal });
    }
    return true;
  };
  const reached = (node: NodeName, to: string, afterMs: number) =>
    transitions.some(
      (t) => t.node === node && t.machine === 'connection' && t.to === to && t.atMs >= afterMs,
    );

  try {
    enterPhase(1, 'starting a relay and nodes a, b — waiting for the direct path');
    const cluster = await LoopbackCluster.start({ timings: DEMO_TIMINGS, logger });
    cleanups.push(() => cluster.close());
    signal.throwIfAborted();

    // The inspector for node a, as `switchback up` serves it; its URL comes first.
    const { inspectorUrl, controlUrl } = await startInspector(cluster, logger, cleanups);
    view.note?.(`inspector (node a): ${inspectorUrl}`);
    view.note?.(`control api (node a): ${controlUrl}/status (also /metrics, /transitions)`);

    // Transitions: those already recorded during start-up, then live ones.
    const record = (node: NodeName, r: TransitionRecord, atMs: number) => {
      const t: DemoTransition = {
        atMs: Math.round(atMs),
        node,
        machine: r.machine,
        from: r.from,
        to: r.to,
        reason: r.reason,
      };
      transitions.push(t);
      view.transition?.(t);
    };
    const backlog = (['a', 'b'] as const).flatMap((node) =>
      cluster.nodes[node].recentTransitions().map((r) => ({ node, r })),
    );
    backlog.sort((x, y) => x.r.at - y.r.at);
    for (const { node, r } of backlog) record(node, r, r.at - startEpoch);
    for (const node of ['a', 'b'] as const) {
      cleanups.push(cluster.nodes[node].onTransition((r) => record(node, r, since())));
    }

    const traffic = new DemoTraffic(cluster, DEMO_TRAFFIC);
    cleanups.push(() => traffic.close());
    const live = new LiveFigures(cluster, traffic);
    const rateTimer = setInterval(() => live.sample(), RATE_SAMPLE_MS);
    cleanups.push(() => clearInterval(rateTimer));
    view.start?.(() => ({
      elapsedMs: since(),
      plannedMs,
      phase,
      nodes: { a: live.node('a'), b: live.node('b') },
    }));

    // 1. Traffic starts once both ends hold session keys (before that the
    //    node has nowhere to send it); it rides the relay until the upgrade.
    const deadline = performance.now() + DEMO_LIMITS.directWaitMs;
    const handshaken = () =>
      cluster.status('a').lastHandshake !== null && cluster.status('b').lastHandshake !== null;
    if (await until(handshaken, DEMO_LIMITS.directWaitMs)) traffic.start();
    const direct = () =>
      cluster.status('a').state === 'usingDirect.healthy' &&
      cluster.status('b').state === 'usingDirect.healthy';
    if (!(await until(direct, Math.max(0, deadline - performance.now())))) {
      const a = cluster.status('a');
      const b = cluster.status('b');
      throw new DemoError(
        'DEMO_NO_DIRECT_PATH',
        `the nodes did not reach the direct path within ${DEMO_LIMITS.directWaitMs / 1000} s ` +
          `(a: ${a.state} ${a.reason}, b: ${b.state} ${b.reason}); nothing to cut`,
      );
    }

    // 2. Direct.
    enterPhase(2, 'direct path up — traffic flowing direct');
    await sleep(plan.directMs, undefined, { signal });

    // 3. Cut: the fault proxy swallows every byte both ways; TCP stays open,
    //    as when a NAT mapping or a firewall silently drops the path.
    enterPhase(3, 'direct path cut (blackhole) — waiting for fallback');
    await cluster.cut({ kind: 'blackhole' });
    cutAt = performance.now();
    const cutAtMs = Math.round(since());
    const fellBack = () =>
      reached('a', 'usingRelay', cutAtMs) && reached('b', 'usingRelay', cutAtMs);
    if (await until(fellBack, plan.cutMs + DEMO_LIMITS.fallbackGraceMs)) {
      enterPhase(3, 'direct path cut — traffic on the relay (retrying direct in the background)');
    }
    await sleep(Math.max(0, plan.cutMs - (since() - phaseStartMs)), undefined, { signal });

    // 4. Restore: the retry backoff finds the path again by itself.
    enterPhase(4, 'direct path restored — waiting for the upgrade back');
    await cluster.restore();
    restoredAt = performance.now();
    const restoredAtMs = Math.round(since());
    const recovered = () =>
      reached('a', 'usingDirect.healthy', restoredAtMs) &&
      reached('b', 'usingDirect.healthy', restoredAtMs);
    if (await until(recovered, plan.restoredMs + DEMO_LIMITS.recoveryGraceMs)) {
      enterPhase(4, 'direct path restored — traffic direct again');
      // Show at least a second of direct traffic after a slow recovery.
      const left = Math.max(1_000, plan.restoredMs - (since() - phaseStartMs));
      await sleep(left, undefined, { signal });
    }

    // 5. Drain: stop sending and wait for the last frames of each stream.
    enterPhase(5, 'traffic stopped — waiting for stragglers');
    traffic.stop();
    const lastArrived = () =>
      DIRECTIONS.every((d) => {
        const s = traffic.streams[d];
        return s.sent === 0 || s.tally.has(s.sent - 1);
      });
    const drainStart = performance.now();
    await until(lastArrived, plan.drainMs);
    // The in-order receiver may still release held frames just behind the last one.
    await sleep(
      Math.min(200, Math.max(0, plan.drainMs - (performance.now() - drainStart))),
      undefined,
      {
        signal,
      },
    );
    const last = phases.at(-1);
    if (last) last.endMs = Math.round(since());

    return summarize({
      durationS,
      elapsedMs: since(),
      traffic: { ...DEMO_TRAFFIC },
      timingOverrides: DEMO_TIMINGS,
      phases,
      startedAt,
      cutAt,
      restoredAt,
      streams: traffic.streams,
      transitions: [...transitions],
    });
  } finally {
    view.stop?.();
    // Last in, first out: listeners and servers before the cluster under them.
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (error) {
        logger.warn({ err: error }, 'demo cleanup failed');
      }
    }
  }
}

async function startInspector(
  cluster: LoopbackCluster,
  logger: Logger,
  cleanups: (() => unknown)[],
): Promise<{ inspectorUrl: string; controlUrl: string }> {
  const metrics: NodeMetrics = createNodeMetrics(cluster.nodes.a);
  cleanups.push(() => metrics.close());
  const token = randomBytes(18).toString('base64url');
  const control: ControlServer = await startControlServer({
    host: '127.0.0.1',
    port: 0,
    observer: cluster.nodes.a,
    metrics: metrics.registry,
    token,
    logger,
  });
  cleanups.push(() => control.close());
  const inspector: Inspector = await attachInspector(control, {
    observer: cluster.nodes.a,
    token,
    logger,
  });
  cleanups.push(() => inspector.close());
  return { inspectorUrl: `${control.url}${inspector.pagePath}`, controlUrl: control.url };
}

/** Frame rates and running loss for the live view, kept off the hot path. */
class LiveFigures {
  readonly #cluster: LoopbackCluster;
  readonly #traffic: DemoTraffic;
  /** Recent (time, delivered) samples per receiving node. */
  readonly #samples: Record<NodeName, { at: number; delivered: number }[]> = { a: [], b: [] };
  /** Per stream: sequence numbers below `scanned` that have not arrived. */
  readonly #missing: Record<DirectionName, { scanned: number; seqs: Set<number> }> = {
    aToB: { scanned: 0, seqs: new Set() },
    bToA: { scanned: 0, seqs: new Set() },
  };

  constructor(cluster: LoopbackCluster, traffic: DemoTraffic) {
    this.#cluster = cluster;
    this.#traffic = traffic;
  }

  sample(): void {
    const now = performance.now();
    for (const node of ['a', 'b'] as const) {
      const samples = this.#samples[node];
      samples.push({ at: now, delivered: this.#stream(node).tally.received });
      while (samples.length > 2 && samples[0]!.at < now - 1_000) samples.shift();
    }
  }

  node(node: NodeName): LiveNode {
    const status = this.#cluster.status(node);
    const samples = this.#samples[node];
    const first = samples[0];
    const last = samples.at(-1);
    const rate =
      first && last && last.at > first.at
        ? ((last.delivered - first.delivered) * 1000) / (last.at - first.at)
        : 0;
    const stream = this.#stream(node);
    return {
      state: status.state,
      path: status.path,
      reason: status.reason,
      rttDirectMs: status.paths.direct.rttMs,
      rttRelayMs: status.paths.relay.rttMs,
      rxFramesPerS: Math.round(rate),
      delivered: stream.tally.received,
      lost: this.#lost(node === 'b' ? 'aToB' : 'bToA', stream),
    };
  }

  /** The stream a node's host receives. */
  #stream(node: NodeName): DemoStream {
    return this.#traffic.streams[node === 'b' ? 'aToB' : 'bToA'];
  }

  #lost(direction: DirectionName, stream: DemoStream): number {
    const missing = this.#missing[direction];
    const { tally } = stream;
    for (; missing.scanned < tally.highest; missing.scanned++) {
      if (!tally.has(missing.scanned)) missing.seqs.add(missing.scanned);
    }
    for (const seq of missing.seqs) if (tally.has(seq)) missing.seqs.delete(seq);
    return missing.seqs.size;
  }
}
