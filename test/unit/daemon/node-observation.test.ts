// NodeObservation's transition log and inspection fan-out, with fake charts
// whose snapshot the test sets (status() is covered by the node tests).
import type { Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import {
  NodeObservation,
  type NodeView,
  type ObservedPeer,
  type RelayLinkView,
} from '../../../src/daemon/node-observation.js';
import type { TransitionRecord } from '../../../src/daemon/node-status.js';

interface FakeSnapshot {
  value: unknown;
  context: { reason: string; transport: string };
}

/** A peer whose chart is wherever the test last moved it. */
function fakePeer(name: string) {
  const snapshot: FakeSnapshot = {
    value: 'usingRelay',
    context: { reason: 'STARTED', transport: 'relay' },
  };
  const peer = {
    config: { name },
    chart: { getSnapshot: () => snapshot },
  } as unknown as ObservedPeer;
  return {
    peer,
    move(value: unknown, reason: string, transport = 'relay') {
      snapshot.value = value;
      snapshot.context = { reason, transport };
    },
  };
}

function observation() {
  const info = vi.fn();
  const logger = { info } as unknown as Logger;
  const view = {} as NodeView; // the transition log reads nothing of the node
  return { obs: new NodeObservation(view, logger), info };
}

const R1 = 'ws://127.0.0.1:7001';
const R2 = 'ws://127.0.0.1:7002';

/** The relay-link chart's context as followRelay reads it: on R1 of [R1, R2] unless told. */
function relayLink(reason: string, moved?: { from: string; to: string }): RelayLinkView {
  const url = moved?.to ?? R1;
  return {
    reason,
    urls: [R1, R2],
    index: url === R1 ? 0 : 1,
    url,
    switches: moved ? 1 : 0,
    lastSwitch: moved ? { ...moved, reason: reason as never } : null,
  };
}

/** An inspection event of the chart's root actor taking `type`. */
function rootEvent(type: string): InspectionEvent {
  return {
    type: '@xstate.event',
    rootId: 'x:0',
    actorRef: { sessionId: 'x:0' },
    event: { type },
    sourceRef: undefined,
  } as unknown as InspectionEvent;
}

describe('NodeObservation transitions', () => {
  it('the first look is where a chart starts, not a transition; later changes are', () => {
    const { obs, info } = observation();
    const bob = fakePeer('bob');
    obs.followPeer(bob.peer);
    expect(obs.recentTransitions()).toEqual([]);

    obs.inspection('bob', rootEvent('PEER_ADDRESS'));
    bob.move({ attemptingDirect: 'listening' }, 'PEER_ADDRESS');
    obs.followPeer(bob.peer);
    const [record] = obs.recentTransitions();
    expect(record).toMatchObject({
      peer: 'bob',
      machine: 'connection',
      from: 'usingRelay',
      to: 'attemptingDirect.listening',
      event: 'PEER_ADDRESS',
      reason: 'PEER_ADDRESS',
      transport: 'relay',
    });
    expect(typeof record!.at).toBe('number');
    expect(info).toHaveBeenCalledTimes(1);
    expect(info.mock.calls[0]![1]).toBe(
      'bob: usingRelay -> attemptingDirect.listening (PEER_ADDRESS)',
    );
  });

  it('records nothing when a look finds the state unchanged (context changes are not transitions)', () => {
    const { obs } = observation();
    const bob = fakePeer('bob');
    obs.followPeer(bob.peer);
    bob.move({ usingDirect: 'healthy' }, 'UPGRADED', 'direct');
    obs.followPeer(bob.peer);
    bob.move({ usingDirect: 'healthy' }, 'HEARTBEAT_OK', 'direct'); // ALIVE re-entered healthy
    obs.followPeer(bob.peer);
    obs.followPeer(bob.peer);
    expect(obs.recentTransitions().map((r) => r.to)).toEqual(['usingDirect.healthy']);
  });

  it('follows each peer and the relay separately', () => {
    const { obs } = observation();
    const bob = fakePeer('bob');
    const carol = fakePeer('carol');
    obs.followPeer(bob.peer);
    obs.followPeer(carol.peer);
    obs.followRelay('connecting', relayLink('CONNECTING'));
    bob.move('fallingBack', 'CLOSED');
    obs.followPeer(bob.peer);
    obs.followRelay('connected', relayLink('AUTHENTICATED'));
    obs.followPeer(carol.peer); // unchanged
    expect(
      obs.recentTransitions().map(({ peer, machine, from, to, reason }) => ({
        peer,
        machine,
        from,
        to,
        reason,
      })),
    ).toEqual([
      {
        peer: 'bob',
        machine: 'connection',
        from: 'usingRelay',
        to: 'fallingBack',
        reason: 'CLOSED',
      },
      {
        peer: 'relay',
        machine: 'relayLink',
        from: 'connecting',
        to: 'connected',
        reason: 'AUTHENTICATED',
      },
    ]);
    expect(obs.recentTransitions()[1]).not.toHaveProperty('transport');
  });

  it('takes the event from the chart’s own root actor only', () => {
    const { obs } = observation();
    const bob = fakePeer('bob');
    obs.followPeer(bob.peer);
    obs.inspection('bob', rootEvent('QUALITY_POOR'));
    // An event inside an invoked child (its own sessionId) is not the chart's.
    obs.inspection('bob', {
      ...rootEvent('xstate.done.actor.heartbeat'),
      actorRef: { sessionId: 'x:5' },
    } as unknown as InspectionEvent);
    // Other inspection kinds do not count either.
    obs.inspection('bob', { ...rootEvent('ignored'), type: '@xstate.snapshot' } as InspectionEvent);
    bob.move('fallingBack', 'QUALITY');
    obs.followPeer(bob.peer);
    expect(obs.recentTransitions()[0]!.event).toBe('QUALITY_POOR');
  });

  it('forgetPeer: a peer that comes back starts afresh (its first look is no transition)', () => {
    const { obs } = observation();
    const bob = fakePeer('bob');
    obs.followPeer(bob.peer);
    obs.forgetPeer('bob');
    bob.move({ usingDirect: 'healthy' }, 'UPGRADED', 'direct');
    obs.followPeer(bob.peer);
    expect(obs.recentTransitions()).toEqual([]);
  });

  it('keeps the newest 500 transitions', () => {
    const { obs } = observation();
    const bob = fakePeer('bob');
    obs.followPeer(bob.peer);
    for (let i = 1; i <= 620; i++) {
      bob.move(i % 2 === 1 ? 'fallingBack' : 'usingRelay', `R${i}`);
      obs.followPeer(bob.peer);
    }
    const recent = obs.recentTransitions();
    expect(recent).toHaveLength(500);
    expect(recent[0]!.reason).toBe('R121');
    expect(recent.at(-1)!.reason).toBe('R620');
    // A copy: the caller cannot change the log.
    recent.length = 0;
    expect(obs.recentTransitions()).toHaveLength(500);
  });

  it('fans each transition out to every listener, until it unsubscribes', () => {
    const { obs } = observation();
    const bob = fakePeer('bob');
    const first: TransitionRecord[] = [];
    const second: TransitionRecord[] = [];
    const offFirst = obs.onTransition((r) => first.push(r));
    obs.onTransition((r) => second.push(r));
    obs.followPeer(bob.peer);
    bob.move('fallingBack', 'CLOSED');
    obs.followPeer(bob.peer);
    offFirst();
    bob.move('usingRelay', 'CLOSED');
    obs.followPeer(bob.peer);
    expect(first.map((r) => r.to)).toEqual(['fallingBack']);
    expect(second.map((r) => r.to)).toEqual(['fallingBack', 'usingRelay']);
    expect(second[1]).toEqual(obs.recentTransitions()[1]);
  });
});

describe('NodeObservation relay list', () => {
  function observed() {
    const view = {
      publicKey: 'k',
      relayObserved: () => null,
      relayHealth: { rttMs: null, lastPongAt: null, localAddress: null },
      relayConnections: () => 1,
      listen: { host: '127.0.0.1', port: 1 },
      device: { name: 'sb0', kind: 'memory', mtu: 1400 },
      peers: () => [],
      peer: () => undefined,
    } as unknown as NodeView;
    return new NodeObservation(view, { info: vi.fn() } as unknown as Logger);
  }

  it('shows the relay in use, the list with the one that failed, and the last move', () => {
    const obs = observed();
    obs.followRelay('connected.steady', relayLink('CONNECTED'));
    expect(obs.status().relay).toMatchObject({
      url: R1,
      index: 0,
      switches: 0,
      lastSwitch: null,
      relays: [
        { url: R1, state: 'current', lastError: null },
        { url: R2, state: 'standby', lastError: null },
      ],
    });
    const before = Date.now();
    // R1 closed: the chart moved on to R2 and waits its switch delay.
    obs.followRelay('reconnecting.switching', relayLink('RELAY_CLOSED', { from: R1, to: R2 }));
    const status = obs.status().relay;
    expect(status).toMatchObject({
      url: R2,
      index: 1,
      state: 'reconnecting.switching',
      switches: 1,
      lastSwitch: { from: R1, to: R2, reason: 'RELAY_CLOSED' },
      relays: [
        { url: R1, state: 'failed', lastError: 'RELAY_CLOSED' },
        { url: R2, state: 'current', lastError: null },
      ],
    });
    expect(status.lastSwitch!.at).toBeGreaterThanOrEqual(before);
    expect(status.relays[0]!.lastErrorAt).toBeGreaterThanOrEqual(before);
    const [record] = obs.recentTransitions();
    expect(record).toMatchObject({
      peer: 'relay',
      machine: 'relayLink',
      from: 'connected.steady',
      to: 'reconnecting.switching',
      reason: 'RELAY_CLOSED',
      relay: { from: R1, to: R2 },
    });
    // R2 answers; R1 stays failed (it has not worked since), with its error on record.
    obs.followRelay('connecting', relayLink('NEXT_RELAY', { from: R1, to: R2 }));
    obs.followRelay('connected.steady', relayLink('CONNECTED', { from: R1, to: R2 }));
    expect(obs.status().relay.relays.map((r) => r.state)).toEqual(['failed', 'current']);
    // Transitions on the same relay carry no move.
    expect(
      obs
        .recentTransitions()
        .slice(1)
        .every((r) => r.relay === undefined),
    ).toBe(true);
  });
});

describe('NodeObservation inspection fan-out', () => {
  it('passes every inspection event on, with its peer, to every listener until it unsubscribes', () => {
    const { obs } = observation();
    const a: [string, unknown][] = [];
    const b: [string, unknown][] = [];
    const offA = obs.onInspection((peer, event) => a.push([peer, event]));
    obs.onInspection((peer, event) => b.push([peer, event]));
    const e1 = rootEvent('PEER_ADDRESS');
    const e2 = { ...rootEvent('x'), type: '@xstate.snapshot' } as InspectionEvent;
    obs.inspection('bob', e1);
    offA();
    obs.inspection('relay', e2);
    expect(a).toEqual([['bob', e1]]);
    expect(b).toEqual([
      ['bob', e1],
      ['relay', e2],
    ]);
  });
});
