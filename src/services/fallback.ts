/**
 * Chart actor `fallback` (fallingBack): the chart has already set
 * transport = relay, so every new frame goes to the relay from the first
 * instant. This closes the direct link — after a MIGRATE marker when it is
 * still open (a planned fallback, e.g. QUALITY), so the far side reorders
 * nothing — and tells the peer why with the close code.
 */
import { fromPromise } from 'xstate';
import type { Reason } from '../reasons.js';
import { LinkCloseCode } from './direct-link.js';
import type { PeerPorts } from './peer-ports.js';

export function fallbackActor(ports: PeerPorts) {
  return fromPromise<void, { peer: string; linkId: string | null; reason: Reason }>(
    async ({ input }) => {
      if (input.linkId !== null) ports.dropLink(input.linkId, LinkCloseCode.FALLBACK, input.reason);
    },
  );
}
