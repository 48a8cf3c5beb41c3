/**
 * Chart actor `listen` (attemptingDirect.listening): make sure this node's
 * one direct listener accepts this peer's certificate. The listener itself is
 * per node (src/services/direct-listener.ts); this only adds the peer's key.
 */
import { fromPromise } from 'xstate';
import type { PeerPorts } from './peer-ports.js';

export function listenActor(ports: PeerPorts) {
  return fromPromise<void, { peer: string }>(async ({ signal }) => {
    signal.throwIfAborted();
    ports.allowInbound();
  });
}
