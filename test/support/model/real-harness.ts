/**
 * A ModelHarness over the REAL services: a relay, two nodes "a" and "b" on
 * loopback (src/testing/loopback-cluster.ts), FaultProxies between their
 * direct listeners and between b and the relay. The model driver's actor is
 * node a's connection chart: node a starts no chart of its own for b
 * (test/support/peer-charts.ts DeferredChart) and reads the driver's; its
 * invoked actors are a's real services (listen, dial, rehandshake, migrate,
 * heartbeat, fallback) and its named actions a's real effects. Node b runs
 * its own chart untouched.
 *
 * Each path step is made TRUE in the world, never sent as a fake event:
 *
 *   dial error DIAL_REFUSED       both proxy fronts refuse
 *   dial error CERT_MISMATCH      a's dials go to an impostor listener (another identity)
 *   dialing dialTimeout           both directions blackholed
 *   rehandshake error HMAC_MISMATCH  b's proof frames are tampered (peer-charts.ts tamperedProofs)
 *   rehandshake / migrate error CLOSED  the proxy resets the new link before that step
 *   rehandshaking connectTimeout  blackhole after the dial: the proof frames vanish
 *   migrationTimeout              b → relay blackholed: b's MIGRATE marker never arrives
 *   SILENT, deadInterval          direct path stalled (pongs stop; bytes held, not lost);
 *                                 the real heartbeat's SILENT is delivered
 *   ALIVE (suspect)               path restored; the real heartbeat's ALIVE is delivered
 *   QUALITY_POOR                  proxy delay until the real QualityJudge says so
 *   DIRECT_CLOSED                 proxy resets the direct link
 *   PEER_ADDRESS                  first: the session comes up (a's PeerLink tells its chart);
 *                                 later: b re-announces itself on another port
 *                                 (a second proxy front) and the relay sends ESTABLISHED
 *   NETWORK_CHANGE                what Node.networkChanged sends a's chart for b
 *   PEER_DIALLED                  b retries while a is not attempting; b's link reaches a's
 *                                 listener unclaimed and a's node tells a's chart
 *   retryBackoff, stableAfter     real time passes
 *   STOP                          the STOP event the node sends a chart when it stops
 *
 * Real services run at their own pace, so the harness GATES their outcomes:
 * a promise service runs to its real end, and its real result (output or
 * error) is handed to the chart only when the path reaches that step; the
 * harness checks that the real outcome is the one the path expects (same
 * done/error, same error code). The heartbeat keeps the trust deadline
 * itself (proofs renew it without an event, as in production); its reports
 * (SILENT, ALIVE, QUALITY_POOR, DIRECT_CLOSED) wait for their step.
 *
 * Two edges cannot be made real without faking, and are INJECTED (counted and
 * reported separately): the `listen` step only authorises a key on the
 * node's listener, which was bound at start, so it cannot fail; the
 * `fallback` step only closes a link, which cannot fail. For those the real
 * service runs and the harness then reports an error with a real error class.
 */
import { deepStrictEqual } from 'node:assert/strict';
import pino from 'pino';
import {
  type AnyActor,
  type AnyActorLogic,
  type AnyMachineSnapshot,
  type EventObject,
  fromCallback,
  fromPromise,
} from 'xstate';
import { createTlsCredentials } from '../../../src/crypto/certificate.js';
import { generateIdentity } from '../../../src/crypto/identity.js';
import type { ConnectionEvent } from '../../../src/machines/connection.js';
import type { ConnectionTimings } from '../../../src/machines/connection-timings.js';
import { stateString } from '../../../src/machines/state-value.js';
import { DirectListener } from '../../../src/services/direct-listener.js';
import { ListenFailedError } from '../../../src/services/errors.js';
import type { QualityPolicy } from '../../../src/services/path-quality.js';
import { type FaultMode, FaultProxy } from '../../../src/testing/fault-proxy.js';
import { LoopbackCluster } from '../../../src/testing/loopback-cluster.js';
import { deferredCharts, tamperedProofs, wrongMac } from '../peer-charts.js';
import type { ModelHarness } from './harness.js';
import type { ModelPath, ModelSpec } from './paths.js';

export interface RealHarnessOptions {
  spec: ModelSpec;
  path: ModelPath;
  timings: ConnectionTimings;
  quality: Partial<QualityPolicy>;
  /** Longest wait for one step's real event (ms). */
  stepTimeoutMs?: number;
}

export interface RealHarness extends ModelHarness {
  cluster: LoopbackCluster;
  /** Steps whose outcome was injected (see the file comment), by event type. */
  injected: string[];
}

type Outcome = { ok: true; output: unknown } | { ok: false; error: unknown };

interface Gate {
  outcome: Outcome | undefined;
  onOutcome: (() => void) | undefined;
  release: ((override?: Outcome) => void) | undefined;
  released: Promise<Outcome | undefined>;
}

const DONE = /^xstate\.done\.actor\.(.+)$/;
const ERROR = /^xstate\.error\.actor\.(.+)$/;
const AFTER = /^xstate\.after\.([A-Za-z]+)\./;
const PASS: FaultMode = { kind: 'pass' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | undefined)?.code;
}

export async function createRealHarness(options: RealHarnessOptions): Promise<RealHarness> {
  const { spec, path, timings } = options;
  const stepTimeoutMs = options.stepTimeoutMs ?? 5_000;
  const deferred = deferredCharts();
  const proofsOfB = tamperedProofs();
  const cluster = await LoopbackCluster.start({
    timings,
    quality: options.quality,
    startChart: { a: deferred.startChart, b: proofsOfB.startChart },
    smallerKey: 'a',
    relayProxyForB: true,
    logger: pino({ level: process.env.SB_TEST_LOG ?? 'silent' }),
  });
  const link = cluster.nodes.a.peer('b')!;
  const chartA = deferred.charts.get('b')!;
  const chartB = cluster.nodes.b.chart('a')!;
  const relayProxy = cluster.relayProxy!;
  // A second front for b's listener: where b "moves" for a later PEER_ADDRESS.
  const proxy2 = await FaultProxy.start({ b: cluster.nodes.b.listener.port });
  // An impostor: a listener with another identity that would accept a.
  const impostorIdentity = await generateIdentity();
  const impostor = await DirectListener.open({
    host: '127.0.0.1',
    port: 0,
    credentials: await createTlsCredentials(impostorIdentity),
    authorised: [cluster.identities.a.publicKey],
  });
  let announcedPort = cluster.proxy.toB;

  const gates = new Map<string, Gate>();
  const told = chartA.told;
  const held: ConnectionEvent[] = [];
  let heartbeatSendBack: ((event: ConnectionEvent) => void) | undefined;
  let actorRef: AnyActor | undefined;
  let stepIndex = -1;
  let stepTimer: { type: string; id: string } | undefined;
  const injected: string[] = [];

  const newGate = (src: string): Gate => {
    let release!: (override?: Outcome) => void;
    const released = new Promise<Outcome | undefined>((resolve) => {
      release = resolve;
    });
    const gate: Gate = { outcome: undefined, onOutcome: undefined, release, released };
    gates.set(src, gate);
    return gate;
  };

  /** A promise service whose real outcome waits for its step. */
  const gated = (src: string, real: AnyActorLogic): AnyActorLogic =>
    fromPromise<unknown, unknown>(async ({ input, signal, self, system }) => {
      const gate = newGate(src);
      const creator = (real as unknown as { config: (args: object) => Promise<unknown> }).config;
      let outcome: Outcome;
      try {
        outcome = { ok: true, output: await creator({ input, signal, self, system, emit() {} }) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      gate.outcome = outcome;
      gate.onOutcome?.();
      const aborted = new Promise<undefined>((resolve) =>
        signal.addEventListener('abort', () => resolve(undefined), { once: true }),
      );
      const final = (await Promise.race([gate.released, aborted])) ?? outcome;
      if (signal.aborted) throw signal.reason;
      if (final.ok) return final.output;
      throw final.error;
    });

  const realServices = chartA.services;
  const heartbeat = fromCallback<EventObject, unknown>(
    ({ input, sendBack, receive, self, system }) => {
      heartbeatSendBack = sendBack as (event: ConnectionEvent) => void;
      held.length = 0; // reports of an earlier link are not this one's
      const intercept = (event: ConnectionEvent) => {
        held.push(event);
      };
      const callback = (realServices.heartbeat as unknown as { config: (a: object) => () => void })
        .config;
      const cleanup = callback({
        input,
        sendBack: intercept,
        receive,
        self,
        system,
        emit() {},
      });
      return () => {
        heartbeatSendBack = undefined;
        cleanup?.();
      };
    },
  );
  const actors: Record<string, AnyActorLogic> = {
    listen: gated('listen', realServices.listen!),
    dial: gated('dial', realServices.dial!),
    rehandshake: gated('rehandshake', realServices.rehandshake!),
    migrate: gated('migrate', realServices.migrate!),
    fallback: gated('fallback', realServices.fallback!),
    heartbeat: heartbeat as unknown as AnyActorLogic,
    probeRelay: realServices.probeRelay!,
  };

  const until = async (what: string, test: () => boolean, timeoutMs = stepTimeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      if (Date.now() > deadline) {
        throw new Error(
          `step ${stepIndex + 1}: ${what} did not happen within ${timeoutMs} ms (a is ${stateString(actorRef?.getSnapshot().value)})`,
        );
      }
      await sleep(5);
    }
  };

  const waitOutcome = async (src: string): Promise<Gate> => {
    await until(`a real ${src} outcome`, () => gates.get(src)?.outcome !== undefined);
    return gates.get(src)!;
  };

  const setDirect = async (mode: FaultMode, direction: 'aToB' | 'bToA' | 'both' = 'both') => {
    await cluster.proxy.set(direction, mode);
    await proxy2.set(direction, mode);
  };

  // Paths where a's dial must fail: b's own link to a (b dials after
  // dialDelayMs when a's link has not arrived) would otherwise rescue a's
  // attempt through the tie-break — even a link b opened before the fault,
  // still waiting unclaimed at a's listener. In those worlds b never reaches
  // a; a (the smaller key) always dials, so every other step still works.
  // Only while such a step is still ahead: a later step may need b to reach
  // a (PEER_DIALLED).
  const dialFailures = path.steps.flatMap((step, i) =>
    step.event.type === 'xstate.error.actor.dial' ||
    step.event.type === 'xstate.after.dialTimeout.connection.attemptingDirect.dialing'
      ? [i]
      : [],
  );
  const aMustDial = () => dialFailures.some((i) => i > stepIndex);
  const baseline = async () => {
    if (aMustDial()) await setDirect({ kind: 'refuse' }, 'bToA');
  };
  await baseline();

  /** Reset every fault on the direct path: the world as it is when nothing is wrong. */
  const heal = async () => {
    await setDirect(PASS, 'aToB');
    await setDirect(aMustDial() ? { kind: 'refuse' } : PASS, 'bToA');
    cluster.proxy.redirect('aToB', undefined);
    proxy2.redirect('aToB', undefined);
    proofsOfB.tamper = undefined;
  };

  const linkClosed = async () => {
    const linkId = actorRef?.getSnapshot().context.linkId as string | null;
    await until('the direct link closing', () => !linkId || !link.link(linkId)?.isOpen);
  };

  /** The peer attempts whenever we do (see the report: attempts must overlap). */
  const nudgePeer = () => {
    const state = stateString(chartB.getSnapshot().value);
    if (state === 'usingRelay' || state === 'fallingBack') chartB.send({ type: 'NETWORK_CHANGE' });
  };

  const eventAt = (i: number): EventObject | undefined => path.steps[i]?.event;
  const isEvent = (event: EventObject | undefined, type: string, code?: string) =>
    event !== undefined &&
    event.type === type &&
    (code === undefined || codeOf((event as { error?: unknown }).error) === code);

  /**
   * The world the services started after step `i` need, to produce the
   * outcomes of the steps after it. Applied before step i's result is
   * released, so the next service starts in it.
   */
  const prepareAfter = async (i: number) => {
    const next = eventAt(i + 1);
    const afterNext = eventAt(i + 2);
    await heal();
    if (isEvent(next, 'xstate.error.actor.dial', 'CERT_MISMATCH')) {
      cluster.proxy.redirect('aToB', impostor.port);
      proxy2.redirect('aToB', impostor.port);
      await setDirect({ kind: 'refuse' }, 'bToA'); // b cannot reach a: a's dial is all there is
    } else if (isEvent(next, 'xstate.error.actor.dial', 'DIAL_REFUSED')) {
      await setDirect({ kind: 'refuse' });
    } else if (next?.type === 'xstate.after.dialTimeout.connection.attemptingDirect.dialing') {
      await setDirect({ kind: 'blackhole' });
    } else if (isEvent(next, 'xstate.error.actor.rehandshake', 'HMAC_MISMATCH')) {
      proofsOfB.tamper = wrongMac;
    } else if (
      isEvent(next, 'xstate.error.actor.rehandshake', 'CLOSED') ||
      isEvent(next, 'xstate.error.actor.migrate', 'CLOSED')
    ) {
      await setDirect({ kind: 'reset' });
      await linkClosed();
    } else if (
      next?.type === 'xstate.after.connectTimeout.connection.attemptingDirect.rehandshaking'
    ) {
      await setDirect({ kind: 'blackhole' });
    }
    // b's MIGRATE marker travels b → relay → a: drop it on the way, from before
    // the proof (b migrates as soon as its own proof is done) until the timeout.
    const migrationTimeout = 'xstate.after.migrationTimeout.connection.attemptingDirect.migrating';
    const dropMarker = afterNext?.type === migrationTimeout || next?.type === migrationTimeout;
    await relayProxy.set('bToA', dropMarker ? { kind: 'blackhole' } : PASS);
  };

  /** The next real report of `type` from the heartbeat (older ones are consumed). */
  const takeHeld = async (type: string): Promise<ConnectionEvent> => {
    await until(`a real ${type} from the heartbeat`, () => held.some((e) => e.type === type));
    const index = held.findIndex((e) => e.type === type);
    return held.splice(0, index + 1).at(-1)!;
  };

  const takeTold = async (type: string): Promise<ConnectionEvent> => {
    await until(`the peer link telling ${type}`, () => told.some((e) => e.type === type));
    const index = told.findIndex((e) => e.type === type);
    return told.splice(index, 1)[0]!;
  };

  let peerAddresses = 0;

  return {
    cluster,
    injected,
    actors,
    actions: chartA.effects,
    attach(actor) {
      actorRef = actor;
      chartA.attach(actor as never);
      // a starts an attempt: make sure b does too.
      let last = '';
      actor.subscribe((snapshot: AnyMachineSnapshot) => {
        const state = stateString(snapshot.value);
        if (state === 'attemptingDirect.listening' && last !== state) nudgePeer();
        last = state;
      });
    },

    async perform(event, actor) {
      stepIndex++;
      const type = event.type;
      const done = DONE.exec(type)?.[1];
      const failed = ERROR.exec(type)?.[1];
      const timer = AFTER.exec(type)?.[1];

      if (done !== undefined || failed !== undefined) {
        const src = (done ?? failed)!;
        const gate = await waitOutcome(src);
        const real = gate.outcome!;
        let override: Outcome | undefined;
        if (done !== undefined && !real.ok) {
          throw new Error(
            `step ${stepIndex + 1}: path expects ${src} to succeed, the real one failed: ${String(real.error)}`,
          );
        }
        if (failed !== undefined) {
          const want = codeOf((event as { error?: unknown }).error);
          if (real.ok && (src === 'listen' || src === 'fallback')) {
            // Cannot fail for real (file comment): inject a typed error.
            injected.push(type);
            override = {
              ok: false,
              error:
                src === 'listen'
                  ? new ListenFailedError('injected: listener unavailable')
                  : Object.assign(new Error('injected: fallback failed'), { code: want }),
            };
          } else if (real.ok) {
            throw new Error(
              `step ${stepIndex + 1}: path expects ${src} to fail with ${want}, it succeeded`,
            );
          } else if (codeOf(real.error) !== want) {
            throw new Error(
              `step ${stepIndex + 1}: path expects ${src} to fail with ${want}, it failed with ${codeOf(real.error)}: ${String(real.error)}`,
            );
          }
        }
        await prepareAfter(stepIndex);
        gate.release!(override);
        return;
      }

      if (timer !== undefined) {
        const scheduled = Object.entries(
          (
            actor.system.getSnapshot() as {
              _scheduledEvents: Record<string, { event: EventObject }>;
            }
          )._scheduledEvents,
        ).find(([, s]) => s.event.type === type);
        if (!scheduled) throw new Error(`step ${stepIndex + 1}: no timer armed for ${type}`);
        stepTimer = { type, id: scheduled[0] };
        // The world that makes the timer fire was set up by the step before
        // (a hanging dial, a lost marker…); for the health deadlines, pongs stop
        // now. A stall, not a blackhole: an outage TCP rides out, so the same
        // link can prove itself again (ALIVE) once the path returns.
        if (timer === 'deadInterval') await setDirect({ kind: 'stall' });
        return;
      }

      switch (type) {
        case 'PEER_ADDRESS': {
          if (peerAddresses++ > 0) {
            // b moves: it announces the other proxy front, the relay tells a.
            // b's relay connection drops; b reconnects announcing its new port
            // (CONNECT again), and the relay sends a ESTABLISHED with it.
            announcedPort = announcedPort === cluster.proxy.toB ? proxy2.toB : cluster.proxy.toB;
            cluster.nodes.b.startRelay(announcedPort); // already running: sets the port only
            await relayProxy.set('both', { kind: 'reset' });
            await until('b noticing its relay link dropped', () =>
              cluster.nodes.b.status().relay.state.startsWith('reconnecting'),
            );
            await relayProxy.set('both', PASS);
            cluster.nodes.b.relayActor.send({ type: 'NETWORK_CHANGE' }); // reconnect at once
          }
          const real = await takeTold('PEER_ADDRESS');
          await prepareAfter(stepIndex);
          actor.send(real);
          return;
        }
        case 'NETWORK_CHANGE': {
          chartA.send({ type: 'NETWORK_CHANGE' }); // what Node.networkChanged sends it
          const real = await takeTold('NETWORK_CHANGE');
          await prepareAfter(stepIndex);
          actor.send(real);
          return;
        }
        case 'PEER_DIALLED': {
          // b retries while a is not attempting: b's link reaches a's
          // listener unclaimed, and a's node tells a's chart.
          await until('b ready to retry', () => {
            const state = stateString(chartB.getSnapshot().value);
            return (
              state === 'usingRelay' ||
              state === 'fallingBack' ||
              state.startsWith('attemptingDirect')
            );
          });
          nudgePeer();
          const real = await takeTold('PEER_DIALLED');
          await prepareAfter(stepIndex);
          actor.send(real);
          return;
        }
        case 'SILENT': {
          // Pongs stop now: the real trust deadline passes suspectInterval later.
          await setDirect({ kind: 'stall' });
          const real = await takeHeld('SILENT');
          heartbeatSendBack?.(real);
          return;
        }
        case 'ALIVE': {
          await heal(); // the path is back (it may have been stalled)
          // The chart asked for the next proof on entering suspect (askProof);
          // ask again, so the ALIVE taken is one from after the heal.
          held.length = 0;
          const heartbeat = (actor.getSnapshot().children as Record<string, AnyActor | undefined>)
            .heartbeat;
          heartbeat?.send({ type: 'PROVE' });
          const real = await takeHeld('ALIVE');
          heartbeatSendBack?.(real);
          return;
        }
        case 'QUALITY_POOR': {
          await setDirect({ kind: 'delay', ms: 60 });
          const real = await takeHeld('QUALITY_POOR');
          heartbeatSendBack?.(real);
          return;
        }
        case 'DIRECT_CLOSED': {
          const want = (event as { reason?: string }).reason;
          await setDirect({ kind: 'reset' });
          const real = await takeHeld('DIRECT_CLOSED');
          if ((real as { reason?: string }).reason !== want)
            throw new Error(
              `step ${stepIndex + 1}: path expects DIRECT_CLOSED ${want}, the link reported ${(real as { reason?: string }).reason}`,
            );
          await heal();
          heartbeatSendBack?.(real);
          return;
        }
        case 'STOP':
          actor.send(event); // what PeerLink.close() sends first
          return;
        default:
          throw new Error(`real harness: no way to make ${type} happen`);
      }
    },

    async settle(actor) {
      const expected =
        stepIndex < 0 ? path.initial : (path.steps[stepIndex]!.expected as AnyMachineSnapshot);
      const want = {
        status: expected.status,
        value: expected.value,
        observed: spec.observe(expected),
      };
      const matches = () => {
        const s = actor.getSnapshot() as AnyMachineSnapshot;
        try {
          deepStrictEqual({ status: s.status, value: s.value, observed: spec.observe(s) }, want);
          return true;
        } catch {
          return false;
        }
      };
      const timerGone = () => {
        if (!stepTimer) return true;
        const events = (actor.system.getSnapshot() as { _scheduledEvents: Record<string, unknown> })
          ._scheduledEvents;
        return !(stepTimer.id in events);
      };
      const deadline = Date.now() + stepTimeoutMs + 2 * timings.stableAfterMs;
      while (!(matches() && timerGone()) && Date.now() < deadline) await sleep(5);
      stepTimer = undefined;
      const timer = stepIndex >= 0 ? AFTER.exec(eventAt(stepIndex)!.type)?.[1] : undefined;
      if (timer !== undefined) {
        // After a timer step: the world the next services need (the services
        // the timer started are gated, so nothing ran ahead).
        await prepareAfter(stepIndex);
      } else if (stepIndex >= 0 && eventAt(stepIndex)!.type === 'SILENT') {
        // Stay stalled until dead if that is next; otherwise the path is back.
        if (!eventAt(stepIndex + 1)?.type.includes('deadInterval')) await heal();
      }
    },

    outOfOrderTimers: () => 0,

    async dispose() {
      await heal().catch(() => {});
      await cluster.close();
      await Promise.allSettled([proxy2.close(), impostor.close()]);
    },
  };
}
