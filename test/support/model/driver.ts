/**
 * Drives model paths through a real xstate actor and measures transition
 * coverage against the chart's own definition (walk.ts).
 *
 *   const report = await runModel(spec, { harness: () => createFakeHarness(spec.machine) });
 *   console.log(report.line);          // transitions covered: 13/13 (relayLink)
 *   assertFullCoverage(report);
 *
 * Each step: the harness makes the event happen (resolve/reject an invoked
 * actor, fire a timer, send), waits for the actor to settle, and the driver
 * checks status, state value and `spec.observe(snapshot)` against the model.
 * Every transition the actor actually takes is read from its inspection
 * stream (`@xstate.microstep`), so coverage counts what ran, not what was
 * planned.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { type AnyActor, type AnyMachineSnapshot, createActor, type InspectionEvent } from 'xstate';
import {
  type ChartModel,
  type ChartTransition,
  transitionKey,
  transitionLabel,
  walkMachine,
} from '../../../scripts/statecharts/walk.js';
import type { ModelHarness } from './harness.js';
import { describeEvent, generatePaths, type ModelPath, type ModelSpec } from './paths.js';

export interface PathRun {
  path: ModelPath;
  /** Keys (walk.ts) of the transitions the actor took. */
  taken: Set<string>;
  outOfOrderTimers: number;
}

export interface ModelReport {
  machineId: string;
  chart: ChartModel;
  runs: PathRun[];
  covered: ChartTransition[];
  missing: ChartTransition[];
  /** `transitions covered: N/M (machineId)` */
  line: string;
}

export interface RunModelOptions {
  /** A fresh harness per path. */
  harness: () => ModelHarness;
  /** Defaults to generatePaths(spec). */
  paths?: ModelPath[];
  /** Called after every step with the live snapshot, for test-specific checks. */
  onStep?: (snapshot: AnyMachineSnapshot, path: ModelPath, stepIndex: number) => void;
}

export async function runPath(
  spec: ModelSpec,
  path: ModelPath,
  harness: ModelHarness,
  onStep?: RunModelOptions['onStep'],
): Promise<PathRun> {
  const taken = new Set<string>();
  const machine = spec.machine.provide({
    actors: harness.actors,
    ...(harness.actions ? { actions: harness.actions as never } : {}),
  });
  let root: AnyActor | undefined;
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.microstep' || (root && event.actorRef !== root)) return;
    const transitions = (event as { _transitions?: unknown[] })._transitions ?? [];
    for (const t of transitions) taken.add(transitionKey(t as Parameters<typeof transitionKey>[0]));
  };
  const actor = createActor(machine, {
    input: spec.input as never,
    inspect,
    ...(harness.clock ? { clock: harness.clock } : {}),
  });
  root = actor;
  let failure: unknown;
  actor.subscribe({ error: (err) => (failure ??= err) });
  harness.attach(actor);
  try {
    actor.start();
    await harness.settle(actor);
    check(spec, actor, path.initial, path, -1, failure);
    onStep?.(actor.getSnapshot(), path, -1);
    for (const [i, step] of path.steps.entries()) {
      await harness.perform(step.event, actor);
      await harness.settle(actor);
      check(spec, actor, step.expected, path, i, failure);
      onStep?.(actor.getSnapshot(), path, i);
    }
  } finally {
    actor.stop();
    await harness.dispose();
  }
  return { path, taken, outOfOrderTimers: harness.outOfOrderTimers() };
}

function check(
  spec: ModelSpec,
  actor: AnyActor,
  expected: AnyMachineSnapshot,
  path: ModelPath,
  index: number,
  failure: unknown,
): void {
  const where =
    index < 0
      ? `${path.description}\n  at start`
      : `${path.description}\n  after step ${index + 1} (${describeEvent(path.steps[index]!.event)})`;
  if (failure) throw new Error(`${where}: actor failed: ${String(failure)}`, { cause: failure });
  const actual = actor.getSnapshot() as AnyMachineSnapshot;
  deepStrictEqual(
    { status: actual.status, value: actual.value, observed: spec.observe(actual) },
    { status: expected.status, value: expected.value, observed: spec.observe(expected) },
    where,
  );
}

export async function runModel(spec: ModelSpec, options: RunModelOptions): Promise<ModelReport> {
  const chart = walkMachine(spec.machine);
  const paths = options.paths ?? generatePaths(spec);
  const runs: PathRun[] = [];
  for (const path of paths) {
    runs.push(await runPath(spec, path, options.harness(), options.onStep));
  }
  const taken = new Set(runs.flatMap((r) => [...r.taken]));
  const covered = chart.transitions.filter((t) => taken.has(t.key));
  const missing = chart.transitions.filter((t) => !taken.has(t.key));
  const line = `transitions covered: ${covered.length}/${chart.transitions.length} (${chart.id})`;
  return { machineId: chart.id, chart, runs, covered, missing, line };
}

/** Throws, naming each edge never taken, unless every transition ran. */
export function assertFullCoverage(report: ModelReport): void {
  if (report.missing.length === 0) return;
  const names = report.missing.map(
    (t) => `  ${t.source} --${transitionLabel(t)}--> ${t.targets.join(', ') || '(self)'}`,
  );
  throw new Error(`${report.line}; never taken:\n${names.join('\n')}`);
}

/**
 * The fewest runs (greedy) that still take every covered transition: for
 * re-running the same paths against real services, where each path costs
 * real sockets and real time.
 */
export function coveringRuns(report: ModelReport): PathRun[] {
  const left = new Set(report.covered.map((t) => t.key));
  const chosen: PathRun[] = [];
  while (left.size > 0) {
    let best: PathRun | undefined;
    let bestGain = 0;
    for (const run of report.runs) {
      let gain = 0;
      for (const key of run.taken) if (left.has(key)) gain++;
      if (gain > bestGain) {
        best = run;
        bestGain = gain;
      }
    }
    if (!best) break;
    chosen.push(best);
    for (const key of best.taken) left.delete(key);
  }
  return chosen;
}
