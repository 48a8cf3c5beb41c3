/**
 * Chart actor `dial` (attemptingDirect.dialing): open the direct link to the
 * address the relay reported, with the smaller-key-dials-first tie-break
 * (src/services/dial.ts establishDirect), and hand it to the peer.
 * Leaving the state (connectTimeout) aborts the signal, which closes every
 * socket the attempt opened.
 */
import { fromPromise } from 'xstate';
import type { DirectLinkRef } from '../machines/connection.js';
import type { Address } from '../protocol/frames.js';
import type { PeerPorts } from './peer-ports.js';

export function dialActor(ports: PeerPorts) {
  return fromPromise<DirectLinkRef, { peer: string; address: Address }>(
    async ({ input, signal }) => {
      const link = await ports.establish(input.address.host, input.address.port, signal);
      if (signal.aborted) {
        link.terminate();
        signal.throwIfAborted();
      }
      return { linkId: ports.adoptLink(link) };
    },
  );
}
