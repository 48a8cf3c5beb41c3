/**
 * Chart actor `migrate` (attemptingDirect.migrating): the chart has already
 * set transport = direct, so the peer link sent MIGRATE(lastSeq) as the
 * relay's last frame and sends new frames directly; the far side's
 * InOrderReceiver holds direct frames until the relay's tail has arrived.
 * This step ends when the PEER's marker arrives on the relay, i.e. both
 * directions have moved. migrationTimeout in the chart bounds it.
 */
import { fromPromise } from 'xstate';
import { LinkClosedError } from './errors.js';
import type { PeerPorts } from './peer-ports.js';

export function migrateActor(ports: PeerPorts) {
  return fromPromise<void, { peer: string; linkId: string }>(async ({ input, signal }) => {
    if (!ports.link(input.linkId)?.isOpen) {
      throw new LinkClosedError(`${ports.name}: direct link closed during migration`);
    }
    await ports.waitPeerMigrated(signal);
  });
}
