import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { relayLinkMachine } from '../../src/machines/relay-link.js';
import { defaultRelayLinkTimings } from '../../src/machines/relay-link-timings.js';
import { assertFullCoverage, runModel, runPath } from '../support/model/driver.js';
import { createFakeHarness } from '../support/model/harness.js';
import { generatePaths, type ModelSpec } from '../support/model/paths.js';

// The model driver must be able to fail: a chart that misbehaves, or a run
// that skips an edge, is reported.
const spec: ModelSpec = {
  machine: relayLinkMachine,
  input: { urls: ['wss://127.0.0.1:1/relay'], timings: defaultRelayLinkTimings, seed: 1 },
  events: {
    'xstate.done.actor.openSocket': [
      { type: 'xstate.done.actor.openSocket', output: { linkId: 'l1' } },
    ],
    'xstate.done.actor.authenticate': [
      { type: 'xstate.done.actor.authenticate', output: { observedAddress: '127.0.0.1:1' } },
    ],
    'xstate.done.actor.replaceLink': [
      {
        type: 'xstate.done.actor.replaceLink',
        output: { linkId: 'l2', observedAddress: '127.0.0.1:2' },
      },
    ],
    'xstate.error.actor.authenticate': [
      { type: 'xstate.error.actor.authenticate', error: { code: 'AUTH_REFUSED' } },
    ],
    RELAYS_CHANGED: [{ type: 'RELAYS_CHANGED', urls: ['wss://127.0.0.1:2/relay'] }],
  },
  abstract: (s: AnyMachineSnapshot) => ({ reason: s.context.reason }),
  observe: (s: AnyMachineSnapshot) => ({ reason: s.context.reason }),
};

describe('model driver', () => {
  it('fails a step when the running chart disagrees with the model', async () => {
    const paths = generatePaths(spec);
    const refused = paths.find((p) =>
      p.steps.some((s) => s.event.type === 'xstate.error.actor.authenticate'),
    )!;
    // Same chart, but the guard now never matches: the run records RELAY_CLOSED.
    const broken = {
      ...spec,
      machine: relayLinkMachine.provide({ guards: { authRefused: () => false } }),
    };
    await expect(runPath(broken, refused, createFakeHarness(relayLinkMachine))).rejects.toThrow(
      /AUTH_REFUSED/,
    );
  });

  it('fails coverage naming the edges never taken', async () => {
    const paths = generatePaths(spec).slice(0, 1);
    const report = await runModel(spec, {
      paths,
      harness: () => createFakeHarness(relayLinkMachine),
    });
    expect(report.line).toMatch(/^transitions covered: \d+\/28 \(relayLink\)$/);
    expect(() => assertFullCoverage(report)).toThrow(
      /relayLink\.connected\.steady --RELAY_CLOSED-->/,
    );
  });

  it('refuses a done step for an actor that is not running', async () => {
    const [path] = generatePaths(spec);
    const bogus = {
      ...path!,
      steps: [{ event: { type: 'xstate.done.actor.watchLink' }, expected: path!.initial }],
    };
    await expect(runPath(spec, bogus, createFakeHarness(relayLinkMachine))).rejects.toThrow(
      /"watchLink" is not running/,
    );
  });
});
