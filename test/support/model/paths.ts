/**
 * Builds model-test paths from a chart with @xstate/graph. The events offered
 * in each state come from the chart's own transition list (walk.ts): every
 * event the active states handle, delayed (`xstate.after.*`) and actor
 * done/error events included, with payload samples the test supplies (error
 * objects carrying `code`s so each guard branch is reachable).
 *
 * Paths: a shortest path to every abstract state, then one path per edge of
 * the adjacency map (shortest prefix + that edge). Every transition reachable
 * in the abstraction is therefore the last step of some path.
 */
import { getAdjacencyMap } from '@xstate/graph';
import type { AnyMachineSnapshot, AnyStateMachine, EventObject, StateValue } from 'xstate';
import {
  type ChartModel,
  type ChartTransition,
  walkMachine,
} from '../../../scripts/statecharts/walk.js';

/** An event with its payload (output, error, address…). */
export type ModelEvent = EventObject & Record<string, unknown>;

export interface ModelSpec<TMachine extends AnyStateMachine = AnyStateMachine> {
  machine: TMachine;
  input: unknown;
  /**
   * Payload samples by event type. Default: `{ type }` for external and
   * after events, `{ type, output: undefined }` for done, and
   * `{ type, error: { code: 'TEST_FAILURE' } }` for error events.
   */
  events?: Record<string, readonly ModelEvent[]>;
  /**
   * The part of the snapshot that tells states apart for path generation:
   * state value plus bounded counters/flags. Unbounded context (seeds, delays)
   * must stay out or the graph never ends.
   */
  abstract: (snapshot: AnyMachineSnapshot) => unknown;
  /** Fields asserted after every step: the run must match the model. */
  observe: (snapshot: AnyMachineSnapshot) => unknown;
  /** Safety limit on graph exploration. */
  limit?: number;
}

export interface PathStep {
  event: EventObject;
  /** The model's snapshot after this event. */
  expected: AnyMachineSnapshot;
}

export interface ModelPath {
  /** "#3 relayLink.connecting: xstate.error.actor.openSocket{code:…} → …" */
  description: string;
  initial: AnyMachineSnapshot;
  steps: PathStep[];
}

/** Event objects to offer in a snapshot, from the chart's transitions. */
export function eventsFor(
  chart: ChartModel,
  spec: Pick<ModelSpec, 'events'>,
): (snapshot: AnyMachineSnapshot) => EventObject[] {
  const bySource = new Map<string, ChartTransition[]>();
  for (const t of chart.transitions) {
    if (t.kind === 'always') continue; // taken by the machine itself
    const list = bySource.get(t.source) ?? [];
    list.push(t);
    bySource.set(t.source, list);
  }
  const statePath = new Map(chart.states.map((s) => [s.id, s.path]));
  return (snapshot) => {
    if (snapshot.status !== 'active') return [];
    const types = new Set<string>();
    for (const [source, list] of bySource) {
      const path = statePath.get(source)!;
      if (path.length > 0 && !snapshot.matches(pathToValue(path) as never)) continue;
      for (const t of list) types.add(t.event);
    }
    return [...types].sort().flatMap((type) => spec.events?.[type] ?? [defaultEvent(type)]);
  };
}

function defaultEvent(type: string): EventObject {
  if (type.startsWith('xstate.done.actor.')) return { type, output: undefined } as EventObject;
  if (type.startsWith('xstate.error.actor.')) {
    return { type, error: { code: 'TEST_FAILURE' } } as EventObject;
  }
  return { type };
}

export function pathToValue(path: readonly string[]): StateValue {
  let value: StateValue = path[path.length - 1]!;
  for (let i = path.length - 2; i >= 0; i--) value = { [path[i]!]: value };
  return value;
}

export function describeEvent(event: EventObject): string {
  const { type, ...rest } = event as EventObject & Record<string, unknown>;
  const payload = Object.keys(rest).length ? JSON.stringify(rest) : '';
  return `${type}${payload}`;
}

export function generatePaths(spec: ModelSpec): ModelPath[] {
  const chart = walkMachine(spec.machine);
  const events = eventsFor(chart, spec);
  const serialize = (snapshot: AnyMachineSnapshot): string =>
    JSON.stringify([snapshot.status, snapshot.value, spec.abstract(snapshot)]);
  const adjacency = getAdjacencyMap(spec.machine, {
    input: spec.input,
    events: events as never,
    serializeState: serialize as never,
    serializeEvent: describeEvent as never,
    limit: spec.limit ?? 10_000,
  });

  // Breadth-first from the initial snapshot: the shortest prefix to each state.
  const keys = Object.keys(adjacency);
  const initialKey = keys[0]!;
  const prefix = new Map<string, PathStep[]>([[initialKey, []]]);
  const queue = [initialKey];
  while (queue.length) {
    const key = queue.shift()!;
    const node = adjacency[key as keyof typeof adjacency]!;
    for (const { event, state } of Object.values(node.transitions)) {
      const next = serialize(state as AnyMachineSnapshot);
      if (prefix.has(next)) continue;
      prefix.set(next, [
        ...prefix.get(key)!,
        { event: event as EventObject, expected: state as AnyMachineSnapshot },
      ]);
      queue.push(next);
    }
  }

  const initial = adjacency[initialKey as keyof typeof adjacency]!.state as AnyMachineSnapshot;
  const paths: ModelPath[] = [];
  for (const key of prefix.keys()) {
    const node = adjacency[key as keyof typeof adjacency]!;
    for (const { event, state } of Object.values(node.transitions)) {
      const steps = [
        ...prefix.get(key)!,
        { event: event as EventObject, expected: state as AnyMachineSnapshot },
      ];
      const route = steps.map((s) => describeEvent(s.event)).join(' → ');
      paths.push({ description: `#${paths.length + 1} ${route}`, initial, steps });
    }
  }
  return paths;
}
