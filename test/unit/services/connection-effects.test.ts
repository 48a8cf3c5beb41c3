// The connection chart's named effects, in the order the real chart runs
// them: connectionMachine.provide({ actions: connectionEffects(plane) }) with
// a plane that logs each call and invoked actors the test settles by hand.
// The last test runs the same effects on a real PeerSender and session.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Actor, createActor, fromCallback, fromPromise } from 'xstate';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import {
  type ConnectionEvent,
  type ConnectionMachine,
  connectionMachine,
  type DirectLinkRef,
  type HeartbeatEvent,
  type ProvedAttempt,
} from '../../../src/machines/connection.js';
import { defaultConnectionTimings } from '../../../src/machines/connection-timings.js';
import { stateString } from '../../../src/machines/state-value.js';
import { type Address, SealedKind, Space } from '../../../src/protocol/frames.js';
import type { Reason } from '../../../src/reasons.js';
import { connectionEffects, type EffectPorts } from '../../../src/services/connection-effects.js';
import { PeerCounters } from '../../../src/services/peer-counters.js';
import { PeerMigration } from '../../../src/services/peer-migration.js';
import { PeerSender } from '../../../src/services/peer-sender.js';
import { sessionPair } from '../crypto/pair.js';
import { ethernet, FakePath } from './fake-paths.js';

beforeAll(async () => {
  await sodiumReady();
});
afterEach(() => {
  vi.useRealTimers();
});

const timings = defaultConnectionTimings;
/** The attempt the re-handshake step proved (its output), and as MIGRATE carries it. */
const proved: ProvedAttempt = { attemptId: '07'.repeat(16) };
const ATTEMPT = new Uint8Array(16).fill(7);
const address = { family: 4 as const, host: '127.0.0.1', port: 40_000 };

type StepName = 'listen' | 'dial' | 'rehandshake' | 'migrate' | 'fallback';

/** Invoked actors the test settles: each invocation leaves its resolve/reject here. */
function steps() {
  const open = new Map<
    StepName,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();
  const step = <O, I>(name: StepName) =>
    fromPromise<O, I>(
      ({ signal }) =>
        new Promise<O>((resolve, reject) => {
          open.set(name, { resolve: resolve as (value: unknown) => void, reject });
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    );
  let heartbeat: ((event: ConnectionEvent) => void) | undefined;
  const proveAsked: string[] = [];
  const actors = {
    listen: step<void, { peer: string }>('listen'),
    dial: step<DirectLinkRef, { peer: string; address: Address }>('dial'),
    rehandshake: step<ProvedAttempt, { peer: string; linkId: string }>('rehandshake'),
    migrate: step<void, { peer: string; linkId: string; attemptId: string }>('migrate'),
    fallback: step<void, { peer: string; linkId: string | null; reason: Reason }>('fallback'),
    heartbeat: fromCallback<HeartbeatEvent, { peer: string; linkId: string }>(
      ({ sendBack, receive }) => {
        heartbeat = sendBack;
        receive((event) => proveAsked.push(event.type));
        return () => {
          heartbeat = undefined;
        };
      },
    ),
    probeRelay: fromCallback<ConnectionEvent, { peer: string }>(() => () => {}),
  };
  return {
    actors,
    /** Settle the running `name` step. */
    resolve(name: StepName, value?: unknown) {
      const pending = open.get(name);
      if (!pending) throw new Error(`step ${name} is not running`);
      open.delete(name);
      pending.resolve(value);
    },
    reject(name: StepName, error: Error) {
      const pending = open.get(name);
      if (!pending) throw new Error(`step ${name} is not running`);
      open.delete(name);
      pending.reject(error);
    },
    /** What the chart sent the heartbeat (PROVE), in order. */
    proveAsked,
    /** An event from the heartbeat actor (SILENT, ALIVE, QUALITY_POOR, DIRECT_CLOSED). */
    heartbeat(event: ConnectionEvent) {
      if (!heartbeat) throw new Error('heartbeat is not running');
      heartbeat(event);
    },
  };
}

/** A plane that logs each effect call, in order. */
function loggingPlane() {
  const log: string[] = [];
  const plane: EffectPorts = {
    sender: {
      routeVia: (transport) => {
        log.push(`routeVia(${transport})`);
      },
      markTail: (path) => {
        log.push(`markTail(${path})`);
      },
      markRelayTail: () => {
        log.push('markRelayTail');
      },
      resendRecentDirect: () => {
        log.push('resendRecentDirect');
        return 0;
      },
    },
    migration: { forget: () => log.push('forget') },
    counters: {
      upgraded: () => {
        log.push('upgraded');
      },
      fellBack: (reason) => {
        log.push(`fellBack(${reason})`);
      },
      attemptFailed: (reason) => {
        log.push(`attemptFailed(${reason})`);
      },
    },
  };
  /** The calls since the last take(). */
  const take = () => log.splice(0);
  return { plane, take };
}

/** Let resolved steps' promises reach the chart. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

function start(plane: EffectPorts, control: ReturnType<typeof steps>) {
  const machine: ConnectionMachine = connectionMachine.provide({
    actors: control.actors,
    actions: connectionEffects(plane),
  });
  const actor: Actor<ConnectionMachine> = createActor(machine, {
    input: { peer: 'bob', timings, seed: 7, peerAddress: address },
  });
  actor.start();
  return { actor, state: () => stateString(actor.getSnapshot().value) };
}

/** From the start to usingDirect.healthy, checking each step's effects on the way. */
async function upgrade(
  t: ReturnType<typeof start>,
  control: ReturnType<typeof steps>,
  take: () => string[],
) {
  expect(t.state()).toBe('attemptingDirect.listening');
  control.resolve('listen');
  await settle();
  expect(t.state()).toBe('attemptingDirect.dialing');
  control.resolve('dial', { linkId: 'bob#1' });
  await settle();
  expect(t.state()).toBe('attemptingDirect.rehandshaking');
  expect(take()).toEqual([]); // a working relay is not disturbed by the attempt
  control.resolve('rehandshake', proved);
  await settle();
  expect(t.state()).toBe('attemptingDirect.migrating');
  // The relay's last frame says so BEFORE frames start going direct.
  expect(take()).toEqual(['markRelayTail', 'routeVia(direct)']);
  control.resolve('migrate');
  await settle();
  expect(t.state()).toBe('usingDirect.healthy');
  expect(take()).toEqual(['upgraded', 'routeVia(direct)']);
}

describe('connection chart effects, in order', () => {
  it('upgrade → healthy → suspect → fallingBack (dead) → usingRelay → the next attempt', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    // usingRelay's entry routes via the relay; the address at hand starts an attempt at once.
    expect(take()).toEqual(['routeVia(relay)', 'forget']);
    await upgrade(t, control, take);

    // No proof for suspectInterval (the heartbeat's SILENT): both paths, what
    // only the direct path carried goes again, and the heartbeat is asked for
    // the next proof.
    control.heartbeat({ type: 'SILENT' });
    expect(t.state()).toBe('usingDirect.suspect');
    expect(take()).toEqual(['routeVia(both)', 'resendRecentDirect']);
    expect(control.proveAsked).toEqual(['PROVE']);

    // Dead: the direct link's tail marker, the count, then the relay carries everything.
    await vi.advanceTimersByTimeAsync(timings.deadIntervalMs - timings.suspectIntervalMs);
    expect(t.state()).toBe('fallingBack');
    expect(take()).toEqual([
      'markTail(direct)',
      'fellBack(HEARTBEAT_TIMEOUT)',
      'routeVia(relay)',
      'resendRecentDirect',
    ]);

    control.resolve('fallback');
    await settle();
    expect(t.state()).toBe('usingRelay');
    expect(take()).toEqual(['routeVia(relay)']);

    // The retry: entering listening forgets an earlier MIGRATE marker.
    await vi.advanceTimersByTimeAsync(timings.retry.capMs);
    expect(t.state()).toBe('attemptingDirect.listening');
    expect(take()).toEqual(['forget']);
    t.actor.stop();
  });

  it('suspect → healthy on a pong routes direct again, without a tail marker', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    take();
    await upgrade(t, control, take);

    control.heartbeat({ type: 'ALIVE' }); // already trusted: nothing changes
    expect(t.state()).toBe('usingDirect.healthy');
    expect(take()).toEqual([]);

    control.heartbeat({ type: 'NETWORK_CHANGE' });
    expect(t.state()).toBe('usingDirect.suspect');
    expect(take()).toEqual(['routeVia(both)', 'resendRecentDirect']);
    // Suspect for a reason of the chart's own: the heartbeat must report the next proof.
    expect(control.proveAsked).toEqual(['PROVE']);

    control.heartbeat({ type: 'ALIVE' });
    expect(t.state()).toBe('usingDirect.healthy');
    expect(take()).toEqual(['routeVia(direct)']);
    t.actor.stop();
  });

  it('leaving usingDirect on DIRECT_CLOSED or QUALITY_POOR: markTail(direct), count, routeVia(relay), resend', async () => {
    for (const [event, reason] of [
      [{ type: 'DIRECT_CLOSED', reason: 'PEER_CLOSED' }, 'PEER_CLOSED'],
      [{ type: 'QUALITY_POOR' }, 'QUALITY'],
    ] as const) {
      vi.useFakeTimers();
      const control = steps();
      const { plane, take } = loggingPlane();
      const t = start(plane, control);
      take();
      await upgrade(t, control, take);
      control.heartbeat(event);
      expect(t.state()).toBe('fallingBack');
      expect(take()).toEqual([
        'markTail(direct)',
        `fellBack(${reason})`,
        'routeVia(relay)',
        'resendRecentDirect',
      ]);
      t.actor.stop();
      vi.useRealTimers();
    }
  });

  it('a failed migration marks the direct tail and counts a failed attempt, not a fallback', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    take();
    control.resolve('listen');
    await settle();
    control.resolve('dial', { linkId: 'bob#1' });
    await settle();
    control.resolve('rehandshake', proved);
    await settle();
    expect(take()).toEqual(['markRelayTail', 'routeVia(direct)']);
    control.reject('migrate', new Error('no marker'));
    await settle();
    expect(t.state()).toBe('fallingBack');
    expect(take()).toEqual([
      'markTail(direct)',
      'attemptFailed(MIGRATION_FAILED)',
      'routeVia(relay)',
      'resendRecentDirect',
    ]);
    t.actor.stop();
  });

  it('a migration that times out does the same', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    take();
    control.resolve('listen');
    await settle();
    control.resolve('dial', { linkId: 'bob#1' });
    await settle();
    control.resolve('rehandshake', proved);
    await settle();
    take();
    await vi.advanceTimersByTimeAsync(timings.migrationTimeoutMs);
    expect(t.state()).toBe('fallingBack');
    expect(take()).toEqual([
      'markTail(direct)',
      'attemptFailed(MIGRATION_TIMEOUT)',
      'routeVia(relay)',
      'resendRecentDirect',
    ]);
    t.actor.stop();
  });

  it('a dial that fails never touched the direct path: no tail marker, frames stay on the relay', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    take();
    control.resolve('listen');
    await settle();
    control.reject('dial', new Error('refused'));
    await settle();
    expect(t.state()).toBe('fallingBack');
    expect(take()).toEqual([
      'attemptFailed(DIAL_REFUSED)',
      'routeVia(relay)',
      'resendRecentDirect',
    ]);
    t.actor.stop();
  });

  it('counts one upgrade per completed migration', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    const all: string[] = [...take()];
    for (let round = 0; round < 2; round++) {
      await upgrade(t, control, () => {
        const calls = take();
        all.push(...calls);
        return calls;
      });
      control.heartbeat({ type: 'DIRECT_CLOSED', reason: 'CLOSED' });
      control.resolve('fallback');
      await settle();
      await vi.advanceTimersByTimeAsync(timings.retry.capMs);
      all.push(...take());
    }
    expect(all.filter((call) => call === 'upgraded')).toHaveLength(2);
    expect(all.filter((call) => call === 'forget')).toHaveLength(3); // one per attempt
    t.actor.stop();
  });

  it('STOP from usingDirect leaves a tail marker on the direct link and routes via the relay', async () => {
    vi.useFakeTimers();
    const control = steps();
    const { plane, take } = loggingPlane();
    const t = start(plane, control);
    take();
    await upgrade(t, control, take);
    t.actor.send({ type: 'STOP' });
    expect(t.state()).toBe('stopped');
    expect(take()).toEqual(['markTail(direct)', 'routeVia(relay)']);
  });
});

describe('connection chart effects on the real send side', () => {
  it('entering migrating puts MIGRATE(last relay seq) on the relay, then frames go direct', async () => {
    vi.useFakeTimers();
    const { a, b } = await sessionPair();
    const relay = new FakePath();
    const direct = new FakePath();
    const counters = new PeerCounters();
    const sender = new PeerSender({
      relay,
      direct: direct.asDirect(),
      session: () => a,
      counters,
      timings,
    });
    const migration = new PeerMigration();
    migration.arrived(ATTEMPT); // a marker that arrived before this attempt...
    const control = steps();
    const t = start({ sender, migration, counters }, control);
    // ...which entering listening forgot: it completes nothing now.
    let migrated = false;
    void migration.wait(ATTEMPT, new AbortController().signal).then(() => {
      migrated = true;
    });
    await settle();
    expect(migrated).toBe(false);
    expect(sender.route).toBe('relay');
    sender.send(ethernet(0)); // relay, seq 0
    sender.send(ethernet(1)); // relay, seq 1
    control.resolve('listen');
    await settle();
    control.resolve('dial', { linkId: 'bob#1' });
    await settle();
    control.resolve('rehandshake', proved);
    await settle();
    expect(t.state()).toBe('attemptingDirect.migrating');
    expect(sender.route).toBe('direct');
    sender.send(ethernet(2)); // direct, data seq 2 (the relay's MIGRATE is in the control space)

    const relayOpened = relay.sent.map((bytes) => b.open(bytes));
    expect(relayOpened.map((o) => [o.space, o.seq])).toEqual([
      [Space.DATA, 0],
      [Space.DATA, 1],
      [Space.CONTROL, 0],
    ]);
    // MIGRATE carries the attempt the re-handshake proved.
    expect(relayOpened[2]!.message).toEqual({
      kind: SealedKind.MIGRATE,
      attemptId: ATTEMPT,
      lastSeq: 1n,
    });
    expect(direct.sent.map((bytes) => b.open(bytes).seq)).toEqual([2]);

    control.resolve('migrate');
    await settle();
    expect(counters.upgrades).toBe(1);
    control.heartbeat({ type: 'DIRECT_CLOSED', reason: 'CLOSED' });
    expect(sender.route).toBe('relay');
    // The direct link's own MIGRATE names the last frame it carried.
    expect(b.open(direct.sent.at(-1)!).message).toEqual({
      kind: SealedKind.MIGRATE,
      attemptId: ATTEMPT,
      lastSeq: 2n,
    });
    // ...and the frame it alone carried went again via the relay.
    expect(counters.resentViaRelay).toBe(1);
    expect(counters.fallbacks).toBe(1);
    t.actor.stop();
    migration.close();
  });
});
