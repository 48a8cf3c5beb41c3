/**
 * What the connection chart's named actions do to one peer's data plane
 * (src/machines/connection.ts lists where each runs). Each is one call on
 * the part that owns the effect; none looks at what changed, because the
 * chart already says so by where the action sits.
 */
import { NO_ATTEMPT } from '../crypto/rehandshake.js';
import type { ConnectionEffects } from '../machines/connection.js';
import type { PeerCounters } from './peer-counters.js';
import type { PeerMigration } from './peer-migration.js';
import type { PeerSender } from './peer-sender.js';

/** The parts of a peer's data plane the chart's effects reach. */
export interface EffectPorts {
  readonly sender: Pick<
    PeerSender,
    'routeVia' | 'markTail' | 'markRelayTail' | 'resendRecentDirect'
  >;
  readonly migration: Pick<PeerMigration, 'forget'>;
  readonly counters: Pick<PeerCounters, 'upgraded' | 'fellBack' | 'attemptFailed'>;
}

export function connectionEffects(plane: EffectPorts): ConnectionEffects {
  return {
    routeFrames: ({ context }) => plane.sender.routeVia(context.transport),
    markRelayTail: ({ context }) => plane.sender.markRelayTail(attemptBytes(context.attemptId)),
    markDirectTail: ({ context }) =>
      plane.sender.markTail('direct', attemptBytes(context.attemptId)),
    resendRecentDirect: () => {
      plane.sender.resendRecentDirect();
    },
    forgetPeerMigrated: () => plane.migration.forget(),
    countUpgrade: () => plane.counters.upgraded(),
    countFallback: ({ context }) => plane.counters.fellBack(context.reason),
    countFailedAttempt: ({ context }) => plane.counters.attemptFailed(context.reason),
  };
}

/** The chart's attempt id (hex) as MIGRATE carries it; NO_ATTEMPT before a proof. */
function attemptBytes(hex: string | null): Uint8Array {
  return hex === null ? NO_ATTEMPT : new Uint8Array(Buffer.from(hex, 'hex'));
}
