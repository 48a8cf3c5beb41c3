/**
 * Test-side ways to start a peer's connection chart (NodeOptions.startChart),
 * so no test hook lives in src/:
 *
 * - tamperedProofs(): the real chart, real services and effects, except that
 *   the re-handshake frames this node sends pass through a function the test
 *   sets (HMAC_MISMATCH made true on the wire).
 * - deferredChart(): no chart of the node's own; the node's data plane is
 *   handed to the chart a model test's driver runs (DeferredChart.attach),
 *   and every event the node would send its chart is recorded for the test.
 */
import { type AnyActorLogic, createActor, type Observer, type Subscription } from 'xstate';
import {
  type ConnectionSnapshot,
  type PeerChart,
  providedConnectionMachine,
  type StartPeerChart,
} from '../../src/daemon/peer-chart.js';
import { type ConnectionEvent, connectionMachine } from '../../src/machines/connection.js';
import { type Frame, FrameType } from '../../src/protocol/frames.js';
import { connectionEffects } from '../../src/services/connection-effects.js';
import { connectionServices } from '../../src/services/connection-services.js';
import type { PeerLink } from '../../src/services/peer-link.js';
import type { PeerPorts } from '../../src/services/peer-ports.js';

/** `ports`, with `overrides` in place of some members (private fields stay reachable). */
export function portsWith(ports: PeerLink, overrides: Partial<PeerPorts>): PeerPorts {
  return new Proxy(ports, {
    get(target, property) {
      if (property in overrides) return overrides[property as keyof PeerPorts];
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A tamper that flips one bit of every re-handshake MAC (RESPONSE, CONFIRM): HMAC_MISMATCH. */
export function wrongMac(frame: Frame): Frame {
  if (frame.type !== FrameType.REHANDSHAKE_RESPONSE && frame.type !== FrameType.REHANDSHAKE_CONFIRM)
    return frame;
  const mac = Uint8Array.from(frame.mac);
  mac[0]! ^= 0x01;
  return { ...frame, mac };
}

export interface TamperedProofs {
  startChart: StartPeerChart;
  /** Rewrite each re-handshake frame this node sends from now on; undefined stops. */
  tamper: ((frame: Frame) => Frame) | undefined;
}

export function tamperedProofs(): TamperedProofs {
  const handle: TamperedProofs = {
    tamper: undefined,
    startChart: ({ link, input, inspect }) => {
      const ports = portsWith(link, {
        sendRaw: (linkId, frame) =>
          link.sendRaw(linkId, handle.tamper ? handle.tamper(frame) : frame),
      });
      const machine = connectionMachine.provide({
        actors: connectionServices(ports),
        actions: connectionEffects(link),
      });
      return createActor(machine, { input, inspect }).start();
    },
  };
  return handle;
}

/** A node's peer chart that a model test's driver runs (see the file comment). */
export class DeferredChart implements PeerChart {
  /** The node's data plane for this peer. */
  readonly link: PeerLink;
  /** Its real services, for the driver's actor (wrap them to gate outcomes). */
  readonly services: Record<string, AnyActorLogic>;
  /** Its real effects (the chart's named actions), for the driver's actor. */
  readonly effects: ReturnType<typeof connectionEffects>;
  /** Events the node would have sent its chart, in order (the test decides when they reach it). */
  readonly told: ConnectionEvent[] = [];
  readonly #unstarted: ConnectionSnapshot;
  /** Each observer of the node's, with its subscription to the driver's actor once attached. */
  readonly #observers = new Map<Observer<ConnectionSnapshot>, Subscription | undefined>();
  #actor: PeerChart | undefined;

  constructor(link: PeerLink) {
    this.link = link;
    this.services = connectionServices(link) as unknown as Record<string, AnyActorLogic>;
    this.effects = connectionEffects(link);
    this.#unstarted = createActor(providedConnectionMachine(link), {
      input: { peer: link.name, timings: link.timings, seed: 1 },
    }).getSnapshot();
  }

  /** From now on the node reads `actor` as this peer's chart. */
  attach(actor: PeerChart): void {
    this.#actor = actor;
    for (const observer of this.#observers.keys()) {
      this.#observers.set(observer, actor.subscribe(observer));
    }
  }

  send(event: ConnectionEvent): void {
    this.told.push(event);
  }

  getSnapshot(): ConnectionSnapshot {
    return this.#actor?.getSnapshot() ?? this.#unstarted;
  }

  subscribe(observer: Observer<ConnectionSnapshot>): Subscription;
  subscribe(next: (snapshot: ConnectionSnapshot) => void): Subscription;
  subscribe(
    observer: Observer<ConnectionSnapshot> | ((snapshot: ConnectionSnapshot) => void),
  ): Subscription {
    const full = typeof observer === 'function' ? { next: observer } : observer;
    this.#observers.set(full, this.#actor?.subscribe(full));
    return {
      unsubscribe: () => {
        this.#observers.get(full)?.unsubscribe();
        this.#observers.delete(full);
      },
    };
  }

  /** The driver stops its own actor. */
  stop(): void {
    for (const subscription of this.#observers.values()) subscription?.unsubscribe();
    this.#observers.clear();
  }
}

/** A StartPeerChart that hands each chart to a DeferredChart, kept in `charts` by peer name. */
export function deferredCharts(): {
  startChart: StartPeerChart;
  charts: Map<string, DeferredChart>;
} {
  const charts = new Map<string, DeferredChart>();
  return {
    charts,
    startChart: ({ link }) => {
      const chart = new DeferredChart(link);
      charts.set(link.name, chart);
      return chart;
    },
  };
}
