/**
 * The connection chart's generated paths, re-run against the REAL services:
 * a relay and two nodes on loopback, faults made true with FaultProxies
 * (test/support/model/real-harness.ts says how each step is made to happen).
 * The fewest paths that cover every transition are chosen from the fake-clock
 * runs (coveringRuns), keeping only paths whose timers fire in deadline order
 * (real time cannot fire a timer early).
 */
import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { walkMachine } from '../../scripts/statecharts/walk.js';
import { connectionMachine } from '../../src/machines/connection.js';
import type { ConnectionTimings } from '../../src/machines/connection-timings.js';
import type { Address } from '../../src/protocol/frames.js';
import { Reason } from '../../src/reasons.js';
import type { QualityPolicy } from '../../src/services/path-quality.js';
import {
  coveringRuns,
  type ModelReport,
  type PathRun,
  runModel,
  runPath,
} from '../support/model/driver.js';
import { createFakeHarness } from '../support/model/harness.js';
import { generatePaths, type ModelSpec } from '../support/model/paths.js';
import { createRealHarness } from '../support/model/real-harness.js';

// Small real timings. Two worlds: stableAfter longer than suspectInterval
// (the health paths), and shorter (the "stable while healthy" path), so every
// chosen path's timers fire in the order real time fires them.
const base: ConnectionTimings = {
  heartbeatIntervalMs: 40,
  // The heartbeat's quiet mode is its own (heartbeat.test.ts); the chart's
  // paths are walked at one pace.
  idleAfterMs: 0,
  idleHeartbeatIntervalMs: 1_000,
  idleSuspectIntervalMs: 3_000,
  suspectIntervalMs: 200,
  // Suspect lasts 700 ms: long enough for the real QualityJudge (300 ms
  // window) to speak while suspect, as a path may ask.
  deadIntervalMs: 900,
  connectTimeoutMs: 600,
  dialDelayMs: 50,
  migrationTimeoutMs: 400,
  stableAfterMs: 60_000,
  retry: { baseMs: 150, capMs: 600, jitter: 0.2 },
  reprobeIntervalMs: 100,
  reprobes: 3,
  reprobeDialTimeoutMs: 400,
};
const worlds: Record<'long' | 'short', ConnectionTimings> = {
  long: base,
  short: { ...base, stableAfterMs: 150 },
};
// Judge quality within a second: 2 samples a path, a 300 ms window.
const quality: Partial<QualityPolicy> = { windowMs: 300, minSamples: 2 };

const peerAddress: Address = { family: 4, host: '127.0.0.1', port: 1 };
const error = (actor: string, code: string) => ({
  type: `xstate.error.actor.${actor}`,
  error: { code },
});

/** Only errors the real services produce (their `code`s). */
function specFor(timings: ConnectionTimings): ModelSpec {
  return {
    machine: connectionMachine,
    input: { peer: 'b', timings, seed: 7 },
    events: {
      PEER_ADDRESS: [{ type: 'PEER_ADDRESS', address: peerAddress }],
      DIRECT_CLOSED: [{ type: 'DIRECT_CLOSED', reason: Reason.CLOSED }],
      'xstate.done.actor.dial': [{ type: 'xstate.done.actor.dial', output: { linkId: 'x' } }],
      'xstate.done.actor.rehandshake': [
        { type: 'xstate.done.actor.rehandshake', output: { attemptId: '5a'.repeat(16) } },
      ],
      'xstate.error.actor.listen': [error('listen', Reason.LISTEN_FAILED)],
      'xstate.error.actor.dial': [
        error('dial', Reason.CERT_MISMATCH),
        error('dial', Reason.DIAL_REFUSED),
      ],
      'xstate.error.actor.rehandshake': [
        error('rehandshake', Reason.HMAC_MISMATCH),
        error('rehandshake', Reason.CLOSED),
      ],
      'xstate.error.actor.migrate': [error('migrate', Reason.CLOSED)],
      'xstate.error.actor.fallback': [error('fallback', 'ECONNRESET')],
    },
    abstract: (s: AnyMachineSnapshot) => ({
      transport: s.context.transport,
      reason: s.context.reason,
      failures: Math.min(s.context.failures, 2),
      known: s.context.peerAddress !== null,
      linked: s.context.linkId !== null,
      retryRequested: s.context.retryRequested,
    }),
    // Link ids are the real ones, so only "is there a link" is compared.
    observe: (s: AnyMachineSnapshot) => ({
      transport: s.context.transport,
      reason: s.context.reason,
      linked: s.context.linkId !== null,
      failures: s.context.failures,
      retryRequested: s.context.retryRequested,
    }),
  };
}

async function fakeReport(spec: ModelSpec): Promise<ModelReport> {
  return runModel(spec, {
    paths: generatePaths(spec),
    harness: () =>
      createFakeHarness(connectionMachine, {
        emitters: {
          SILENT: 'heartbeat',
          ALIVE: 'heartbeat',
          QUALITY_POOR: 'heartbeat',
          DIRECT_CLOSED: 'heartbeat',
        },
      }),
  });
}

describe('connection chart against the real services (loopback)', () => {
  it('takes every transition with real sockets, TLS and fault injection', async () => {
    const chart = walkMachine(connectionMachine);
    const chosen: { world: keyof typeof worlds; run: PathRun }[] = [];
    const planned = new Set<string>();
    for (const world of ['long', 'short'] as const) {
      const report = await fakeReport(specFor(worlds[world]));
      const inOrder = report.runs.filter((r) => r.outOfOrderTimers === 0);
      const runs = coveringRuns({
        ...report,
        runs: inOrder.map((r) => ({
          ...r,
          taken: new Set([...r.taken].filter((k) => !planned.has(k))),
        })),
      });
      for (const run of runs) {
        chosen.push({ world, run });
        for (const key of run.taken) planned.add(key);
      }
    }

    const taken = new Set<string>();
    const injected = new Map<string, number>();
    const failures: string[] = [];
    for (const { world, run } of chosen) {
      const spec = specFor(worlds[world]);
      const harness = await createRealHarness({
        spec,
        path: run.path,
        timings: worlds[world],
        quality,
      });
      try {
        const real = await runPath(spec, run.path, harness);
        for (const key of real.taken) taken.add(key);
        for (const type of harness.injected) injected.set(type, (injected.get(type) ?? 0) + 1);
      } catch (err) {
        const steps = run.path.steps.map((step, i) => `${i + 1}. ${step.event.type}`).join(' → ');
        failures.push(
          `[${world}] ${String((err as Error).message).slice(0, 600)} (path: ${steps})`,
        );
      }
    }

    const covered = chart.transitions.filter((t) => taken.has(t.key));
    const injectedEdges = [...injected.keys()];
    console.log(
      `transitions covered (real services): ${covered.length}/${chart.transitions.length} — ${chosen.length} paths; injected (cannot fail for real): ${injectedEdges.join(', ') || 'none'}`,
    );
    const missing = chart.transitions.filter((t) => !taken.has(t.key)).map((t) => t.key);
    expect(failures).toEqual([]);
    expect(missing).toEqual([]);
    // Only the two service failures that cannot happen for real are injected.
    for (const type of injectedEdges)
      expect(['xstate.error.actor.listen', 'xstate.error.actor.fallback']).toContain(type);
  }, 180_000);
});
