import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { RelayLinkReason, relayLinkMachine } from '../../src/machines/relay-link.js';
import type { RelayLinkTimings } from '../../src/machines/relay-link-timings.js';
import { assertFullCoverage, coveringRuns, runModel } from '../support/model/driver.js';
import { createFakeHarness } from '../support/model/harness.js';
import { generatePaths, type ModelSpec } from '../support/model/paths.js';

// stableAfter below connectTimeout/authTimeout keeps most orderings feasible in real time.
const timings: RelayLinkTimings = {
  connectTimeoutMs: 1_000,
  dialTimeoutMs: 500,
  authTimeoutMs: 1_000,
  stableAfterMs: 5_000,
  pingIntervalMs: 200,
  deadAfterMs: 600,
  reconnect: { baseMs: 100, capMs: 800, jitter: 0.2 },
  redial: { baseMs: 50, capMs: 400, jitter: 0.2 },
};

const spec: ModelSpec = {
  machine: relayLinkMachine,
  input: { url: 'wss://127.0.0.1:1/relay', timings, seed: 7 },
  events: {
    'xstate.done.actor.openSocket': [
      { type: 'xstate.done.actor.openSocket', output: { linkId: 'relay-1' } },
    ],
    'xstate.done.actor.authenticate': [
      { type: 'xstate.done.actor.authenticate', output: { observedAddress: '127.0.0.1:40000' } },
    ],
    'xstate.error.actor.openSocket': [
      { type: 'xstate.error.actor.openSocket', error: { code: 'ECONNREFUSED' } },
    ],
    'xstate.error.actor.authenticate': [
      { type: 'xstate.error.actor.authenticate', error: { code: RelayLinkReason.AUTH_REFUSED } },
      { type: 'xstate.error.actor.authenticate', error: { code: RelayLinkReason.RELAY_CLOSED } },
    ],
    'xstate.error.actor.watchLink': [
      { type: 'xstate.error.actor.watchLink', error: { code: 'WATCH_FAILED' } },
    ],
    'xstate.done.actor.replaceLink': [
      {
        type: 'xstate.done.actor.replaceLink',
        output: { linkId: 'relay-2', observedAddress: '127.0.0.1:40001' },
      },
    ],
    'xstate.error.actor.replaceLink': [
      { type: 'xstate.error.actor.replaceLink', error: { code: RelayLinkReason.AUTH_REFUSED } },
      {
        type: 'xstate.error.actor.replaceLink',
        error: { code: RelayLinkReason.RELAY_UNREACHABLE },
      },
    ],
  },
  // Backoff attempts matter up to "more than one" (reset vs. not); cap them.
  abstract: (s: AnyMachineSnapshot) => ({
    reason: s.context.reason,
    attempt: Math.min(s.context.attempt, 2),
    linked: s.context.linkId !== null,
  }),
  observe: (s: AnyMachineSnapshot) => ({
    reason: s.context.reason,
    linkId: s.context.linkId,
    observedAddress: s.context.observedAddress,
    attempt: s.context.attempt,
    connections: s.context.connections,
  }),
};

describe('relay-link chart (model)', () => {
  it('takes every transition through a live actor, matching the model at each step', async () => {
    const paths = generatePaths(spec);
    const report = await runModel(spec, {
      paths,
      harness: () =>
        createFakeHarness(relayLinkMachine, {
          emitters: { RELAY_CLOSED: 'watchLink', RELAY_DEAD: 'watchLink' },
        }),
      onStep: (snapshot) => {
        // The backoff is capped and never gives up.
        // A dead or unreachable relay is redialled within redial's cap; only a refusal backs off further.
        if (snapshot.matches('reconnecting')) {
          const policy =
            snapshot.context.reason === RelayLinkReason.AUTH_REFUSED
              ? timings.reconnect
              : timings.redial;
          expect(snapshot.context.retryDelayMs).toBeLessThanOrEqual(policy.capMs);
          // A timed-out attempt already waited connectTimeout, longer than any redial.
          if (snapshot.context.reason === RelayLinkReason.CONNECT_TIMEOUT)
            expect(snapshot.context.retryDelayMs).toBe(0);
          else expect(snapshot.context.retryDelayMs).toBeGreaterThan(0);
        }
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
