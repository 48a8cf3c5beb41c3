/**
 * Chart actor `migrate` (attemptingDirect.migrating): the chart has already
 * set transport = direct, so the peer link sent MIGRATE(attemptId, lastSeq)
 * as the relay's last frame and sends new frames directly; the far side's
 * InOrderReceiver holds direct frames until the relay's tail has arrived.
 * This step ends when the PEER's marker of this attempt arrives (on the
 * relay, or on the direct link when the peer's relay was down), i.e. both
 * directions have moved; a marker of another attempt is ignored
 * (docs/protocol.md §12). migrationTimeout in the chart bounds it.
 */
import { fromPromise } from 'xstate';
import { LinkClosedError } from './errors.js';
import type { PeerPorts } from './peer-ports.js';

export function migrateActor(ports: PeerPorts) {
  return fromPromise<void, { peer: string; linkId: string; attemptId: string }>(
    async ({ input, signal }) => {
      const link = ports.link(input.linkId);
      if (!link?.isOpen) {
        throw new LinkClosedError(`${ports.name}: direct link closed during migration`);
      }
      // A link that closes mid-switch fails the step at once, not at migrationTimeout.
      const closed = link.closed.then(() => {
        throw new LinkClosedError(`${ports.name}: direct link closed during migration`);
      });
      closed.catch(() => {}); // handled by the race below, or moot once migrated
      const attemptId = new Uint8Array(Buffer.from(input.attemptId, 'hex'));
      await Promise.race([ports.waitPeerMigrated(attemptId, signal), closed]);
    },
  );
}
