/**
 * Every statechart Switchback runs, in one list: `npm run statecharts` draws
 * each one into statecharts/, and the model tests check each one is covered.
 * A new machine is added here, or it is neither drawn nor tested.
 */
import type { AnyStateMachine } from 'xstate';
import { connectionMachine } from './connection.js';
import { relayLinkMachine } from './relay-link.js';

export interface MachineEntry {
  /** The machine's own id; also the statecharts/<id>.* file name. */
  id: string;
  /** One line for statecharts/README.md. */
  summary: string;
  machine: AnyStateMachine;
}

export const machineRegistry: readonly MachineEntry[] = [
  {
    id: connectionMachine.id,
    summary: 'Per-peer path: relay, upgrade to direct, heartbeat, fall back, retry.',
    machine: connectionMachine,
  },
  {
    id: relayLinkMachine.id,
    summary:
      'The link to one relay of the list: connect, authenticate, move on to the next when it fails, back off after a whole round, forever.',
    machine: relayLinkMachine,
  },
];
