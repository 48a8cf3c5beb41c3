import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { RelayLinkReason, relayLinkMachine } from '../../src/machines/relay-link.js';
import type { RelayLinkTimings } from '../../src/machines/relay-link-timings.js';
import {
  assertFullCoverage,
  coveringRuns,
  type ModelReport,
  runModel,
} from '../support/model/driver.js';
import { createFakeHarness, type FakeHarness } from '../support/model/harness.js';
import { generatePaths, type ModelSpec } from '../support/model/paths.js';

// stableAfter below connectTimeout/authTimeout keeps most orderings feasible in real time.
const timings: RelayLinkTimings = {
  connectTimeoutMs: 1_000,
  dialTimeoutMs: 500,
  authTimeoutMs: 1_000,
  stableAfterMs: 5_000,
  pingIntervalMs: 200,
  deadAfterMs: 600,
  switchJitterMs: 300,
  reconnect: { baseMs: 100, capMs: 800, jitter: 0.2 },
  redial: { baseMs: 50, capMs: 400, jitter: 0.2 },
};

const R = (n: number) => `ws://127.0.0.1:${7000 + n}/relay`;
const THREE = [R(1), R(2), R(3)];

/** `reloads`: offer a reload to other relays too (not only the same ones reordered). */
function specFor(urls: string[], reloads = true): ModelSpec {
  return {
    machine: relayLinkMachine,
    input: { urls, timings, seed: 7 },
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
      // A reload: the same relays in another order (ours kept), or other relays (ours gone).
      RELAYS_CHANGED: [
        { type: 'RELAYS_CHANGED', urls: [...urls].reverse() },
        ...(reloads ? [{ type: 'RELAYS_CHANGED', urls: [R(4), R(5)] }] : []),
      ],
    },
    // Backoff attempts matter up to "more than one" (reset vs. not); cap them.
    // Where in the list and in the round the link is decides what comes next.
    abstract: (s: AnyMachineSnapshot) => ({
      reason: s.context.reason,
      attempt: Math.min(s.context.attempt, 2),
      linked: s.context.linkId !== null,
      relays: s.context.urls.length,
      round: s.context.failures % s.context.urls.length,
    }),
    observe: (s: AnyMachineSnapshot) => ({
      reason: s.context.reason,
      linkId: s.context.linkId,
      observedAddress: s.context.observedAddress,
      attempt: s.context.attempt,
      connections: s.context.connections,
      url: s.context.url,
      index: s.context.index,
      failures: s.context.failures,
      switches: s.context.switches,
      lastSwitch: s.context.lastSwitch,
    }),
  };
}

/** Runs every path; checks the list invariants after every step. */
async function run(
  urls: string[],
  reloads = true,
): Promise<{ report: ModelReport; paths: number }> {
  const spec = specFor(urls, reloads);
  const paths = generatePaths(spec);
  let harness: FakeHarness | undefined;
  let connectedTo: string | null = null;
  const report = await runModel(spec, {
    paths,
    harness: () => {
      connectedTo = null;
      harness = createFakeHarness(relayLinkMachine, {
        emitters: { RELAY_CLOSED: 'watchLink', RELAY_DEAD: 'watchLink' },
      });
      return harness;
    },
    onStep: (snapshot) => {
      const { context } = snapshot;
      expect(context.url).toBe(context.urls[context.index]);
      const last = harness!.invocations.at(-1);
      // Each connect goes to the relay the chart names; a handover to the one it is on.
      if (snapshot.matches('connecting')) {
        expect(last).toMatchObject({ src: 'openSocket', input: { url: context.url } });
      }
      if (snapshot.matches({ connected: 'handover' })) {
        expect(last).toMatchObject({ src: 'replaceLink', input: { url: context.url } });
      }
      if (snapshot.matches('connected')) {
        if (connectedTo !== null && context.reason !== RelayLinkReason.CONNECTED) {
          expect(context.url).toBe(connectedTo);
        }
        connectedTo = context.url;
      } else {
        connectedTo = null;
      }
      // Moving on waits at most switchJitterMs; only a whole round failed backs off,
      // a dead or unreachable relay within redial's cap, a refusal within reconnect's.
      const round = context.failures % context.urls.length;
      if (snapshot.matches({ reconnecting: 'switching' })) {
        expect(round).not.toBe(0);
        expect(context.retryDelayMs).toBeLessThanOrEqual(timings.switchJitterMs);
      }
      if (snapshot.matches({ reconnecting: 'backingOff' })) {
        expect(round).toBe(0);
        const policy =
          context.reason === RelayLinkReason.AUTH_REFUSED ? timings.reconnect : timings.redial;
        expect(context.retryDelayMs).toBeLessThanOrEqual(policy.capMs);
        // A timed-out attempt already waited connectTimeout, longer than any redial.
        if (context.reason === RelayLinkReason.CONNECT_TIMEOUT)
          expect(context.retryDelayMs).toBe(0);
        else expect(context.retryDelayMs).toBeGreaterThan(0);
      }
      expect(snapshot.matches({ reconnecting: 'choosing' })).toBe(false); // transient
    },
  });
  return { report, paths: paths.length };
}

describe('relay-link chart (model)', () => {
  it('takes every transition over a list of three relays, matching the model at each step', async () => {
    const { report, paths } = await run(THREE);
    const outOfOrder = report.runs.reduce((n, r) => n + r.outOfOrderTimers, 0);
    console.log(
      `${report.line} — ${paths} paths over 3 relays, ${coveringRuns(report).length} cover all, ${outOfOrder} timers fired early`,
    );
    assertFullCoverage(report);
    expect(report.covered.length).toBe(report.chart.transitions.length);
  });

  it('with one relay, never switches: every failure is a whole round and backs off', async () => {
    const { report } = await run([R(1)], false);
    // Never taken: into and out of `switching`, and a reload to other relays (not offered).
    const listOnly = report.chart.transitions.filter(
      (t) =>
        t.source.endsWith('switching') ||
        t.targets.some((target) => target.endsWith('switching')) ||
        t.actions.includes('takeRelays'),
    );
    expect(listOnly).toHaveLength(3);
    // Everything else is taken, as before relay lists.
    expect(report.missing).toEqual(listOnly);
    for (const run of report.runs) {
      for (const step of run.path.steps) expect(step.expected.context.switches).toBe(0);
    }
  });
});
