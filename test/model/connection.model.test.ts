import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { connectionMachine } from '../../src/machines/connection.js';
import type { ConnectionTimings } from '../../src/machines/connection-timings.js';
import type { Address } from '../../src/protocol/frames.js';
import { Reason } from '../../src/reasons.js';
import { assertFullCoverage, coveringRuns, runModel } from '../support/model/driver.js';
import { createFakeHarness } from '../support/model/harness.js';
import { generatePaths, type ModelSpec } from '../support/model/paths.js';

// stableAfter shorter than suspectInterval so "stable while healthy" is a
// real-time-feasible ordering; the rest as in the defaults' proportions.
const timings: ConnectionTimings = {
  heartbeatIntervalMs: 100,
  // The heartbeat's quiet mode is its own (heartbeat.test.ts); the chart's
  // paths are walked at one pace.
  idleAfterMs: 0,
  idleHeartbeatIntervalMs: 1_000,
  idleSuspectIntervalMs: 3_000,
  suspectIntervalMs: 300,
  deadIntervalMs: 1_000,
  connectTimeoutMs: 1_000,
  dialDelayMs: 50,
  migrationTimeoutMs: 800,
  stableAfterMs: 250,
  retry: { baseMs: 200, capMs: 2_000, jitter: 0.2 },
  reprobeIntervalMs: 100,
  reprobes: 3,
  reprobeDialTimeoutMs: 400,
};

const peerAddress = { family: 4, address: '127.0.0.1', port: 41_000 } as unknown as Address;
const error = (actor: string, code: string) => ({
  type: `xstate.error.actor.${actor}`,
  error: { code },
});

const spec: ModelSpec = {
  machine: connectionMachine,
  input: { peer: 'bob', timings, seed: 42 },
  events: {
    PEER_ADDRESS: [{ type: 'PEER_ADDRESS', address: peerAddress }],
    DIRECT_CLOSED: [
      { type: 'DIRECT_CLOSED', reason: Reason.CLOSED },
      { type: 'DIRECT_CLOSED', reason: Reason.PEER_CLOSED },
    ],
    'xstate.done.actor.dial': [{ type: 'xstate.done.actor.dial', output: { linkId: 'direct-1' } }],
    'xstate.done.actor.rehandshake': [
      { type: 'xstate.done.actor.rehandshake', output: { attemptId: '5a'.repeat(16) } },
    ],
    // Each failing step once with a code of its own and once with an unknown one
    // (the step's default reason).
    'xstate.error.actor.listen': [error('listen', 'EADDRINUSE')],
    'xstate.error.actor.dial': [error('dial', Reason.CERT_MISMATCH), error('dial', 'ECONNREFUSED')],
    'xstate.error.actor.rehandshake': [
      error('rehandshake', Reason.HMAC_MISMATCH),
      error('rehandshake', 'EPIPE'),
    ],
    'xstate.error.actor.migrate': [error('migrate', Reason.MIGRATION_FAILED)],
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
  observe: (s: AnyMachineSnapshot) => ({
    transport: s.context.transport,
    reason: s.context.reason,
    linkId: s.context.linkId,
    failures: s.context.failures,
    retryRequested: s.context.retryRequested,
  }),
};

describe('connection chart (model)', () => {
  it('takes every transition through a live actor, asserting transport and reason at each step', async () => {
    const paths = generatePaths(spec);
    const report = await runModel(spec, {
      paths,
      harness: () =>
        createFakeHarness(connectionMachine, {
          emitters: {
            SILENT: 'heartbeat',
            ALIVE: 'heartbeat',
            QUALITY_POOR: 'heartbeat',
            DIRECT_CLOSED: 'heartbeat',
          },
        }),
      onStep: (snapshot) => {
        // Traffic moves off the relay only once the direct path is proven.
        if (
          snapshot.matches('attemptingDirect') &&
          !snapshot.matches({ attemptingDirect: 'migrating' })
        ) {
          expect(snapshot.context.transport).toBe('relay');
        }
        if (snapshot.matches({ usingDirect: 'suspect' }))
          expect(snapshot.context.transport).toBe('both');
        if (snapshot.matches('fallingBack')) expect(snapshot.context.transport).toBe('relay');
      },
    });
    const outOfOrder = report.runs.reduce((n, r) => n + r.outOfOrderTimers, 0);
    console.log(
      `${report.line} — ${paths.length} paths, ${coveringRuns(report).length} cover all, ${outOfOrder} timers fired early`,
    );
    assertFullCoverage(report);
    expect(report.covered.length).toBe(report.chart.transitions.length);
  });
});
