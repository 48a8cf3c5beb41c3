/**
 * Where the daemon joins one peer's connection chart to its data plane: the
 * pure chart (src/machines/connection.ts), `provide()`d with the peer's
 * invoked actors (src/services/connection-services.ts) and its named effects
 * (src/services/connection-effects.ts), started as an actor.
 *
 * Node takes the starter as an option (NodeOptions.startChart), so the model
 * tests can hand a peer's data plane to the chart their driver runs, with the
 * same services and effects, without anything test-only in src/.
 */
import {
  createActor,
  type InspectionEvent,
  type Observer,
  type SnapshotFrom,
  type Subscription,
} from 'xstate';
import {
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionMachine,
  connectionMachine,
} from '../machines/connection.js';
import { connectionEffects } from '../services/connection-effects.js';
import { connectionServices } from '../services/connection-services.js';
import type { PeerLink } from '../services/peer-link.js';

export type ConnectionSnapshot = SnapshotFrom<ConnectionMachine>;

/** What the node needs of a running connection chart (an xstate Actor is one). */
export interface PeerChart {
  send(event: ConnectionEvent): void;
  getSnapshot(): ConnectionSnapshot;
  subscribe(observer: Observer<ConnectionSnapshot>): Subscription;
  subscribe(next: (snapshot: ConnectionSnapshot) => void): Subscription;
  stop(): void;
}

export interface PeerChartParts {
  link: PeerLink;
  input: ConnectionInput;
  /** XState inspection events (inspector, Stately bridge). */
  inspect?: (event: InspectionEvent) => void;
}

export type StartPeerChart = (parts: PeerChartParts) => PeerChart;

/** The chart, wired to `link`, running. */
export function providedConnectionMachine(link: PeerLink): ConnectionMachine {
  return connectionMachine.provide({
    actors: connectionServices(link),
    actions: connectionEffects(link),
  });
}

export const startPeerChart: StartPeerChart = ({ link, input, inspect }) =>
  createActor(providedConnectionMachine(link), { input, inspect }).start();
