/**
 * A harness is how a model test makes each path step happen to a running
 * actor. The driver (driver.ts) only knows this interface, so the same paths
 * run against the controllable fakes here and, later, against real services:
 * a real harness provides src/services/ actors and makes "dial fails with
 * DIAL_REFUSED" true by dialing a closed loopback port.
 */
import type { AnyActor, AnyActorLogic, AnyStateMachine, EventObject } from 'xstate';
import { ModelClock } from './clock.js';

/** What createActor() accepts as `clock` (xstate does not export the type). */
export interface Clock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

export interface ModelHarness {
  /** Actor implementations, injected with `machine.provide({ actors })`. */
  actors: Record<string, AnyActorLogic>;
  /** Named action implementations (the chart's effects); the chart's no-ops when absent. */
  actions?: Record<string, (...args: never[]) => void>;
  /** Clock for createActor; a real harness may leave it undefined (real time). */
  clock?: Clock;
  /** Called after createActor(), before start(). */
  attach(actor: AnyActor): void;
  /** Make `event` happen to the actor (resolve a service, fire a timer, send). */
  perform(event: EventObject, actor: AnyActor): Promise<void>;
  /** Resolve once the actor has processed everything the last step caused. */
  settle(actor: AnyActor): Promise<void>;
  /** Timers fired ahead of an earlier armed one (0 for real time). */
  outOfOrderTimers(): number;
  dispose(): Promise<void>;
}

export interface Invocation {
  id: string;
  src: string;
  input: unknown;
}

export interface FakeHarnessOptions {
  /**
   * External events that a running invoked actor reports in real life, by the
   * id of that actor (`{ ALIVE: 'heartbeat' }`): the step fails unless that
   * actor is running, so the path is one the real service could produce.
   */
  emitters?: Record<string, string>;
}

export interface FakeHarness extends ModelHarness {
  clock: ModelClock;
  /** Every invoked actor started so far, in order. */
  invocations: Invocation[];
}

type ControlEvent =
  | { type: 'model.resolve'; output: unknown }
  | { type: 'model.reject'; error: unknown };

interface ControlSnapshot {
  status: 'active' | 'done' | 'error' | 'stopped';
  output: unknown;
  error: unknown;
  input: unknown;
}

/**
 * An invoked actor that does nothing until the harness resolves it (→ done
 * event with output) or rejects it (→ error event). Stands for a promise
 * service and for a callback service alike.
 */
export function controllableActor(
  src: string,
  onStart: (invocation: Invocation) => void,
): AnyActorLogic {
  return {
    config: src,
    transition: (snapshot: ControlSnapshot, event: ControlEvent | EventObject) => {
      if (snapshot.status !== 'active') return snapshot;
      if (event.type === 'model.resolve') {
        return { ...snapshot, status: 'done', output: (event as { output?: unknown }).output };
      }
      if (event.type === 'model.reject') {
        return {
          ...snapshot,
          status: 'error',
          error: (event as Extract<ControlEvent, { type: 'model.reject' }>).error,
        };
      }
      return snapshot;
    },
    getInitialSnapshot: (_scope: unknown, input: unknown): ControlSnapshot => ({
      status: 'active',
      output: undefined,
      error: undefined,
      input,
    }),
    start: (snapshot: ControlSnapshot, scope: { self: { id: string } }) => {
      onStart({ id: scope.self.id, src, input: snapshot.input });
    },
    getPersistedSnapshot: (snapshot: ControlSnapshot) => snapshot,
  } as unknown as AnyActorLogic;
}

const DONE = /^xstate\.done\.actor\.(.+)$/;
const ERROR = /^xstate\.error\.actor\.(.+)$/;

export function createFakeHarness(
  machine: AnyStateMachine,
  options: FakeHarnessOptions = {},
): FakeHarness {
  const clock = new ModelClock();
  const invocations: Invocation[] = [];
  const actors: Record<string, AnyActorLogic> = {};
  for (const name of Object.keys(machine.implementations.actors).sort()) {
    actors[name] = controllableActor(name, (inv) => invocations.push(inv));
  }

  const runningChild = (actor: AnyActor, id: string, step: string) => {
    const child = (actor.getSnapshot().children as Record<string, AnyActor | undefined>)[id];
    if (child?.getSnapshot().status !== 'active') {
      throw new Error(`${step}: invoked actor "${id}" is not running`);
    }
    return child!;
  };

  return {
    actors,
    clock,
    invocations,
    attach(actor) {
      clock.attach(actor.system);
    },
    async perform(event, actor) {
      const type = event.type;
      if (type.startsWith('xstate.after.')) {
        clock.fire(type);
        return;
      }
      const done = DONE.exec(type)?.[1];
      if (done !== undefined) {
        const output = (event as { output?: unknown }).output;
        runningChild(actor, done, type).send({ type: 'model.resolve', output } as EventObject);
        return;
      }
      const failed = ERROR.exec(type)?.[1];
      if (failed !== undefined) {
        const error = (event as { error?: unknown }).error;
        runningChild(actor, failed, type).send({ type: 'model.reject', error } as EventObject);
        return;
      }
      const emitter = options.emitters?.[type];
      if (emitter !== undefined) runningChild(actor, emitter, type);
      actor.send(event);
    },
    async settle() {
      // Actor-to-parent events are delivered synchronously; one macrotask
      // turn covers anything a future fake defers with a promise.
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    outOfOrderTimers: () => clock.outOfOrder,
    async dispose() {},
  };
}
