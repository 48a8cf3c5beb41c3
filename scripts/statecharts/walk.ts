/**
 * Reads a machine's definition (not a run of it) and lists every state and
 * every transition: each `on` handler, `after` delay, invoke onDone/onError
 * and `always`, one entry per guarded candidate. This list is the ground truth
 * for the statecharts/ files and for the model tests' transition coverage.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

export type TransitionKind = 'event' | 'after' | 'done' | 'error' | 'always' | 'stateDone';

export interface ChartGuard {
  /** Name from `guards` (or xstate.not/and/or composites, spelled out). */
  name: string;
  params?: unknown;
}

export interface ChartTransition {
  /** Stable identity: `${source}|${event}|${index}` (index among the candidates). */
  key: string;
  /** State node id the transition is declared on (e.g. `connection.usingDirect`). */
  source: string;
  /** The event type: `xstate.after.<delay>.<stateId>` for delays, '' for always. */
  event: string;
  kind: TransitionKind;
  /** Position among the candidates for this source and event (guards tried in order). */
  index: number;
  guard?: ChartGuard;
  /** Target state ids; empty for a targetless (self, no exit) transition. */
  targets: string[];
  reenter: boolean;
  /** Action names; inline assigns are `assign(field, …)`. */
  actions: string[];
  /** Delay name (or ms literal) for `after` transitions. */
  delay?: string | number;
  /** Invoke id for done/error transitions. */
  actor?: string;
}

export interface ChartInvoke {
  id: string;
  src: string;
}

export interface ChartState {
  id: string;
  key: string;
  /** Path from the root, e.g. ['usingDirect', 'healthy']; [] for the root. */
  path: string[];
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Id of the initial child, for compound states. */
  initial?: string;
  entry: string[];
  exit: string[];
  invoke: ChartInvoke[];
  description?: string;
  children: ChartState[];
}

export interface ChartModel {
  id: string;
  root: ChartState;
  /** Every state node in document order, root first. */
  states: ChartState[];
  transitions: ChartTransition[];
}

/** Key of a runtime TransitionDefinition, matching ChartTransition.key. */
export function transitionKey(transition: { source: AnyStateNode; eventType: string }): string {
  const source = transition.source;
  const eventType = transition.eventType ?? '';
  const candidates: readonly unknown[] =
    eventType === '' ? (source.always ?? []) : (source.transitions.get(eventType) ?? []);
  const index = candidates.indexOf(transition);
  return `${source.id}|${eventType}|${index}`;
}

export function walkMachine(machine: AnyStateMachine): ChartModel {
  const states: ChartState[] = [];
  const transitions: ChartTransition[] = [];

  const visit = (node: AnyStateNode): ChartState => {
    const state: ChartState = {
      id: node.id,
      key: node.key,
      path: [...node.path],
      type: node.type,
      entry: node.entry.map(actionName).filter(isVisibleAction),
      exit: node.exit.map(actionName).filter(isVisibleAction),
      invoke: node.invoke.map((inv: { id: string; src: unknown }) => ({
        id: inv.id,
        src: typeof inv.src === 'string' ? inv.src : 'inline',
      })),
      children: [],
    };
    if (node.type === 'compound' && node.initial) {
      const target = node.initial.target[0];
      if (target) state.initial = target.id;
    }
    if (node.description) state.description = node.description;
    states.push(state);

    for (const [eventType, candidates] of node.transitions) {
      candidates.forEach((t: AnyTransition, index: number) => {
        transitions.push(describeTransition(node, eventType, t, index));
      });
    }
    (node.always ?? []).forEach((t: AnyTransition, index: number) => {
      transitions.push(describeTransition(node, '', t, index));
    });

    for (const child of Object.values(node.states) as AnyStateNode[]) {
      state.children.push(visit(child));
    }
    return state;
  };

  const root = visit(machine.root);
  return { id: machine.id, root, states, transitions };
}

interface AnyTransition {
  target?: readonly AnyStateNode[] | undefined;
  guard?: unknown;
  actions: readonly unknown[];
  reenter?: boolean;
  delay?: string | number;
  eventType: string;
}

function describeTransition(
  node: AnyStateNode,
  eventType: string,
  t: AnyTransition,
  index: number,
): ChartTransition {
  const out: ChartTransition = {
    key: `${node.id}|${eventType}|${index}`,
    source: node.id,
    event: eventType,
    kind: kindOf(eventType),
    index,
    targets: (t.target ?? []).map((target) => target.id),
    reenter: t.reenter ?? false,
    actions: t.actions.map(actionName).filter(isVisibleAction),
  };
  if (t.guard !== undefined) out.guard = guardOf(t.guard);
  if (t.delay !== undefined) out.delay = t.delay;
  const actor = /^xstate\.(?:done|error)\.actor\.(.+)$/.exec(eventType)?.[1];
  if (actor !== undefined) out.actor = actor;
  return out;
}

function kindOf(eventType: string): TransitionKind {
  if (eventType === '') return 'always';
  if (eventType.startsWith('xstate.after.')) return 'after';
  if (eventType.startsWith('xstate.done.actor.')) return 'done';
  if (eventType.startsWith('xstate.error.actor.')) return 'error';
  if (eventType.startsWith('xstate.done.state.')) return 'stateDone';
  return 'event';
}

/** The after-timers xstate adds to entry/exit (raise/cancel) are noise in a picture. */
function isVisibleAction(name: string): boolean {
  return name !== 'xstate.raise' && name !== 'xstate.cancel';
}

function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const fn = action as { type?: string; assignment?: unknown; name?: string };
    if (fn.type === 'xstate.assign') {
      const assignment = fn.assignment;
      if (assignment && typeof assignment === 'object') {
        // Literal values are the interesting part of a chart (transport=direct).
        const fields = Object.entries(assignment).map(([key, value]) =>
          ['string', 'number', 'boolean'].includes(typeof value) || value === null
            ? `${key}=${String(value)}`
            : key,
        );
        return `assign(${fields.join(', ')})`;
      }
      return 'assign(...)';
    }
    return fn.type ?? (fn.name || 'inline');
  }
  if (action && typeof action === 'object' && 'type' in action) {
    return String((action as { type: unknown }).type);
  }
  return 'inline';
}

function guardOf(guard: unknown): ChartGuard {
  if (typeof guard === 'string') return { name: guard };
  if (typeof guard === 'function') {
    const fn = guard as { name?: string; guards?: unknown[] };
    if (fn.guards && (fn.name === 'not' || fn.name === 'and' || fn.name === 'or')) {
      const parts = fn.guards.map((g) => guardOf(g).name);
      return {
        name: fn.name === 'not' ? `!${parts[0]}` : parts.join(fn.name === 'and' ? ' && ' : ' || '),
      };
    }
    return { name: fn.name || 'inline' };
  }
  if (guard && typeof guard === 'object' && 'type' in guard) {
    const g = guard as { type: unknown; params?: unknown };
    return g.params === undefined
      ? { name: String(g.type) }
      : { name: String(g.type), params: g.params };
  }
  return { name: 'inline' };
}

/** Short label for a transition: `EVENT [guard]` or `after delayName [guard]`. */
export function transitionLabel(t: ChartTransition): string {
  let label: string;
  switch (t.kind) {
    case 'after':
      label = `after ${t.delay}`;
      break;
    case 'done':
      label = `${t.actor} done`;
      break;
    case 'error':
      label = `${t.actor} error`;
      break;
    case 'always':
      label = 'always';
      break;
    case 'stateDone':
      label = 'done';
      break;
    default:
      label = t.event;
  }
  return t.guard ? `${label} [${t.guard.name}]` : label;
}
