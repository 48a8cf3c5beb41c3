// The relay-link chart over a list of relays, as scenarios a reader can
// follow (the model test walks every transition; these say what a node does):
// move on to the next relay, back off only after a whole round, stay where it
// works, hand over on the same relay, and follow a reload.
import { describe, expect, it } from 'vitest';
import { type AnyActor, createActor, type EventObject } from 'xstate';
import { RelayLinkReason, relayLinkMachine } from '../../../src/machines/relay-link.js';
import { defaultRelayLinkTimings } from '../../../src/machines/relay-link-timings.js';
import { stateString } from '../../../src/machines/state-value.js';
import { createFakeHarness } from '../../support/model/harness.js';

const [R1, R2, R3] = ['ws://127.0.0.1:7001', 'ws://127.0.0.1:7002', 'ws://127.0.0.1:7003'];

function start(urls = [R1, R2, R3]) {
  const harness = createFakeHarness(relayLinkMachine);
  const actor: AnyActor = createActor(
    relayLinkMachine.provide({ actors: harness.actors as never }),
    { input: { urls, timings: defaultRelayLinkTimings, seed: 42 }, clock: harness.clock },
  );
  harness.attach(actor);
  actor.start();
  const step = (event: EventObject) => harness.perform(event, actor);
  const snapshot = () => actor.getSnapshot();
  return {
    harness,
    state: () => stateString(snapshot().value),
    context: () => snapshot().context,
    send: (event: EventObject & Record<string, unknown>) => step(event),
    /** The open and authentication succeed. */
    async connect() {
      await step({ type: 'xstate.done.actor.openSocket', output: { linkId: 'l' } } as EventObject);
      await step({
        type: 'xstate.done.actor.authenticate',
        output: { observedAddress: '127.0.0.1:40000' },
      } as EventObject);
    },
    /** The open fails (connection refused). */
    refuse: () =>
      step({ type: 'xstate.error.actor.openSocket', error: { code: 'ECONNREFUSED' } } as never),
    /** Fires the wait of reconnecting, whichever it is; returns its length (ms). */
    wait() {
      const timer = harness.clock.pending().find((t) => /switchDelay|reconnectBackoff/.test(t))!;
      return harness.clock.fire(timer);
    },
    /** URL of the last connect the chart asked for. */
    dialled: () => (harness.invocations.at(-1)!.input as { url: string }).url,
    stop: () => actor.stop(),
  };
}

describe('relay-link chart over a list of relays', () => {
  it('moves on to the next relay within switchJitterMs, and backs off only after a whole round', async () => {
    const link = start();
    expect(link.dialled()).toBe(R1);
    await link.refuse();
    expect(link.state()).toBe('reconnecting.switching');
    expect(link.context()).toMatchObject({ url: R2, index: 1, failures: 1, attempt: 0 });
    expect(link.context().lastSwitch).toEqual({
      from: R1,
      to: R2,
      reason: RelayLinkReason.RELAY_UNREACHABLE,
    });
    expect(link.wait()).toBeLessThanOrEqual(defaultRelayLinkTimings.switchJitterMs);
    expect(link.context().reason).toBe(RelayLinkReason.NEXT_RELAY);
    expect(link.dialled()).toBe(R2);
    await link.refuse();
    link.wait();
    expect(link.dialled()).toBe(R3);
    // The third failure in a row completes a round: the backoff, then R1 again (wrapped).
    await link.refuse();
    expect(link.state()).toBe('reconnecting.backingOff');
    expect(link.context()).toMatchObject({ url: R1, index: 0, failures: 3, attempt: 1 });
    expect(link.wait()).toBeLessThanOrEqual(defaultRelayLinkTimings.redial.baseMs);
    expect(link.context().reason).toBe(RelayLinkReason.RETRY);
    expect(link.dialled()).toBe(R1);
    expect(link.context().switches).toBe(3);
    link.stop();
  });

  it('stays on the relay that works: no return to the first, and a handover keeps the relay', async () => {
    const link = start();
    await link.refuse();
    link.wait();
    await link.connect();
    expect(link.state()).toBe('connected.steady');
    expect(link.context().url).toBe(R2);
    // Long and stable on R2: the backoff is reset, and nothing moves the link back to R1.
    link.harness.clock.fire('xstate.after.stableAfter.relayLink.connected');
    expect(link.context()).toMatchObject({ url: R2, failures: 0, attempt: 0 });
    expect(link.harness.clock.pending()).toEqual([]);
    // Our addresses change: make before break, on R2.
    await link.send({ type: 'NETWORK_CHANGE' });
    expect(link.state()).toBe('connected.handover');
    expect(link.dialled()).toBe(R2);
    await link.send({
      type: 'xstate.done.actor.replaceLink',
      output: { linkId: 'l2', observedAddress: '127.0.0.1:40001' },
    } as EventObject);
    expect(link.state()).toBe('connected.steady');
    expect(link.context()).toMatchObject({ url: R2, reason: RelayLinkReason.HANDED_OVER });
    // R2 dies: after a stable link that is the first failure of a round, so R3 next.
    await link.send({ type: 'RELAY_DEAD' });
    expect(link.state()).toBe('reconnecting.switching');
    expect(link.context().lastSwitch).toEqual({
      from: R2,
      to: R3,
      reason: RelayLinkReason.RELAY_DEAD,
    });
    link.stop();
  });

  it('a network change while waiting connects the relay it was waiting for, at once', async () => {
    const link = start();
    await link.refuse();
    await link.send({ type: 'NETWORK_CHANGE' });
    expect(link.state()).toBe('connecting');
    expect(link.dialled()).toBe(R2);
    expect(link.context()).toMatchObject({ failures: 0, attempt: 0 });
    link.stop();
  });

  it('a reload keeps the link if its relay is still listed, else moves to the new first', async () => {
    const link = start();
    await link.refuse();
    link.wait();
    await link.connect();
    const connections = link.context().connections;
    await link.send({ type: 'RELAYS_CHANGED', urls: [R3, R2] });
    expect(link.state()).toBe('connected.steady');
    expect(link.context()).toMatchObject({ url: R2, index: 1, urls: [R3, R2], connections });
    await link.send({ type: 'RELAYS_CHANGED', urls: [R1, R3] });
    expect(link.state()).toBe('connecting');
    expect(link.dialled()).toBe(R1);
    expect(link.context()).toMatchObject({
      url: R1,
      index: 0,
      reason: RelayLinkReason.RELAYS_CHANGED,
      lastSwitch: { from: R2, to: R1, reason: RelayLinkReason.RELAYS_CHANGED },
    });
    link.stop();
  });

  it('with one relay, every failure backs off on that relay as before lists', async () => {
    const link = start([R1]);
    await link.refuse();
    expect(link.state()).toBe('reconnecting.backingOff');
    expect(link.context()).toMatchObject({ url: R1, switches: 0, lastSwitch: null, attempt: 1 });
    link.wait();
    expect(link.dialled()).toBe(R1);
    link.stop();
  });
});
