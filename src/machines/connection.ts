/**
 * The per-peer connection chart: which path carries this peer's frames, and
 * why. One actor runs per configured peer (src/daemon/peer-chart.ts creates
 * them), so one peer's trouble never touches another's.
 *
 *        retryBackoff / PEER_ADDRESS / NETWORK_CHANGE / PEER_DIALLED
 *           ┌──────────────────────────────────────────────┐
 *           │                                              ▼
 *   ● ─▶ usingRelay              attemptingDirect: listening ─▶ dialing ─▶
 *           ▲                        rehandshaking ─▶ migrating
 *           │                            │ any failure or timeout   │ done
 *           │                            ▼                          ▼
 *           └── fallback done ◀── fallingBack ◀──────── usingDirect: healthy ⇄ suspect
 *                                              deadInterval / QUALITY_POOR / DIRECT_CLOSED
 *
 * healthy ─SILENT─▶ suspect ─ALIVE─▶ healthy: the heartbeat keeps the trust
 * deadline (one timer, renewed by each two-way proof without an event) and
 * sends only these changes; entering suspect asks it for the next proof
 * (askProof → PROVE), whatever made the chart suspect.
 *
 * `context.transport` is the only place that says where frames go: 'relay',
 * 'direct', or 'both' (while suspect: the receiver drops duplicates by
 * sequence number). Every assignment of it is followed by `routeFrames`,
 * which hands it to the data plane; nothing else asks "are we direct?".
 *
 * The chart owns no sockets and no timers: every step is an invoked actor
 * named in `actors`, every effect of a transition a named action in
 * `actions` (src/services/connection-services.ts and connection-effects.ts
 * implement them; src/daemon/peer-chart.ts provides them), and every wait a
 * named delay read from `context.timings` (connection-timings.ts). Live links
 * are referred to by id (`context.linkId`), never held here.
 *
 * The effects, and where they run:
 *   forgetPeerMigrated   entering listening: a marker from an earlier attempt completes nothing
 *   markRelayTail        entering migrating: MIGRATE(attemptId, last seq) is the relay's last frame
 *   markDirectTail       leaving the direct path (usingDirect's exit, migrating's failures):
 *                        MIGRATE(attemptId, last seq) on the direct link, if it still takes one
 *
 * `context.attemptId` names the upgrade attempt both sides know once the
 * re-handshake has proved the link (docs/protocol.md §12): the rehandshake
 * step yields it, MIGRATE carries it, and the migrate step waits for the
 * peer's marker of this attempt only.
 *   resendRecentDirect   entering suspect or fallingBack: frames only the direct path carried
 *                        since its last proof go again via the relay
 *   routeFrames          after every assignment of context.transport
 *   countUpgrade         migration done
 *   countFallback        a working direct path left for the relay (dead, worse, closed)
 *   countFailedAttempt   an upgrade attempt failed (by its reason)
 *   askProof             entering suspect: PROVE to the heartbeat, which reports the next proof (ALIVE)
 */
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import { errorCode } from '../errors.js';
import type { Address } from '../protocol/frames.js';
import { isReason, Reason } from '../reasons.js';
import { nextBackoff } from './backoff.js';
import type { ConnectionTimings } from './connection-timings.js';

export type Transport = 'relay' | 'direct' | 'both';

export interface ConnectionInput {
  /** The peer's name from the config; appears in logs and the inspector. */
  peer: string;
  timings: ConnectionTimings;
  /** Seed of the retry jitter; differs per peer so retries do not align. */
  seed: number;
  /** Where the peer listens for direct links, when already known. */
  peerAddress?: Address | null;
}

export interface ConnectionContext {
  peer: string;
  timings: ConnectionTimings;
  /** Where frames go now. Only the chart changes it. */
  transport: Transport;
  /** Why the chart last changed state. */
  reason: Reason;
  /** Where the peer listens for direct links; null until the relay tells us. */
  peerAddress: Address | null;
  /** Id of the direct link while one is open or being proven; null otherwise. */
  linkId: string | null;
  /** The upgrade attempt's id (hex) from the re-handshake, carried by MIGRATE;
   * null from the start of an attempt until its link is proved. */
  attemptId: string | null;
  /** Direct attempts that failed or ended since the path was last stable. */
  failures: number;
  /** Wait before the next direct attempt, drawn on entry to usingRelay. */
  retryDelayMs: number;
  /** Jitter state (see backoff.ts). */
  seed: number;
  /** A new peer address or network change arrived mid-attempt: retry at once. */
  retryRequested: boolean;
  /** Quick re-probes left after the direct path died (timings.reprobes); 0 when not re-probing. */
  reprobesLeft: number;
  /** The attempt under way is a quick re-probe: its dial gets reprobeDialTimeoutMs. */
  reprobing: boolean;
}

export type ConnectionEvent =
  /** The relay told us where the peer listens (ESTABLISHED). */
  | { type: 'PEER_ADDRESS'; address: Address }
  /** Our own addresses changed (interface up/down, new route). */
  | { type: 'NETWORK_CHANGE' }
  /**
   * The peer opened a direct link to our listener while we were not
   * attempting: it is retrying now, so join it. Each side retries on its own
   * jittered backoff; without this, two peers whose schedules drift apart by
   * more than connectTimeout would never be attempting at the same time.
   */
  | { type: 'PEER_DIALLED' }
  /**
   * The heartbeat keeps the trust deadline (src/services/heartbeat.ts) and
   * reports only its changes: SILENT when no two-way proof came for
   * suspectInterval, ALIVE at the first proof after SILENT or after the
   * chart asked for one (PROVE). Never one event per ping or pong.
   */
  | { type: 'SILENT' }
  | { type: 'ALIVE' }
  /** The direct path has been worse than the relay for a sustained window. */
  | { type: 'QUALITY_POOR' }
  /** The direct link closed under us, or the peer closed it on purpose. */
  | { type: 'DIRECT_CLOSED'; reason: typeof Reason.CLOSED | typeof Reason.PEER_CLOSED }
  | { type: 'STOP' };

/** What the chart tells the heartbeat: stop trusting the path until the next
 * proof, and report it (ALIVE) — sent on entering suspect (askProof). */
export type HeartbeatEvent = { type: 'PROVE' };

export interface DirectLinkRef {
  /** Id the services use to find the live link. */
  linkId: string;
}

/** What the re-handshake proved: the attempt both sides now name the same way. */
export interface ProvedAttempt {
  /** docs/protocol.md §12 attempt id, as hex. */
  attemptId: string;
}

function notProvided(name: string): never {
  throw new Error(`connection chart: actor "${name}" was not provided`);
}

/** Services for one upgrade attempt, one per step; src/services/ has the real ones. */
export const connectionActors = {
  /** Make sure this node's direct listener accepts this peer. */
  listen: fromPromise<void, { peer: string }>(async () => notProvided('listen')),
  /** Open a mutually authenticated TLS link to the peer (tie-break inside). */
  dial: fromPromise<DirectLinkRef, { peer: string; address: Address }>(async () =>
    notProvided('dial'),
  ),
  /** Prove the session both ways on the new link (HMAC challenge/response). */
  rehandshake: fromPromise<ProvedAttempt, { peer: string; linkId: string }>(async () =>
    notProvided('rehandshake'),
  ),
  /** Move traffic onto the direct link without loss or reordering; done when
   * the peer's MIGRATE of this attempt arrived. */
  migrate: fromPromise<void, { peer: string; linkId: string; attemptId: string }>(async () =>
    notProvided('migrate'),
  ),
  /** Ping the direct link, keep its trust deadline; report SILENT, ALIVE,
   * QUALITY_POOR and DIRECT_CLOSED. Takes PROVE. */
  heartbeat: fromCallback<HeartbeatEvent, { peer: string; linkId: string }>(() =>
    notProvided('heartbeat'),
  ),
  /** Keep the relay path measured (RTT, loss) for the whole life of the chart. */
  probeRelay: fromCallback<ConnectionEvent, { peer: string }>(() => notProvided('probeRelay')),
  /** Close the direct link (if any) and confirm traffic flows via the relay. */
  fallback: fromPromise<void, { peer: string; linkId: string | null; reason: Reason }>(async () =>
    notProvided('fallback'),
  ),
};

/** What a transition's effect may read: the context after the transition's assignments. */
export interface ConnectionEffectArgs {
  context: ConnectionContext;
}
type Effect = (args: ConnectionEffectArgs) => void;
const noEffect: Effect = () => {};

/** The chart's effects by name (see the file comment). No-ops here, so the
 * chart stays pure; the daemon provides the real ones. */
export const connectionEffectNames = [
  'routeFrames',
  'markRelayTail',
  'markDirectTail',
  'resendRecentDirect',
  'forgetPeerMigrated',
  'countUpgrade',
  'countFallback',
  'countFailedAttempt',
] as const;
export type ConnectionEffectName = (typeof connectionEffectNames)[number];
export type ConnectionEffects = Record<ConnectionEffectName, Effect>;

/** The reasons that mean "no answer", not "a wrong answer". */
function isTimeout(reason: Reason): boolean {
  return (
    reason === Reason.DIAL_TIMEOUT ||
    reason === Reason.REHANDSHAKE_TIMEOUT ||
    reason === Reason.MIGRATION_TIMEOUT
  );
}

/** The reason a failed step records: the error's own code when it is a known one. */
function failureReason(error: unknown, otherwise: Reason): Reason {
  const code = errorCode(error);
  return isReason(code) ? code : otherwise;
}

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
  },
  actors: connectionActors,
  guards: {
    hasPeerAddress: ({ context }) => context.peerAddress !== null,
    retryRequested: ({ context }) => context.retryRequested && context.peerAddress !== null,
  },
  delays: {
    retryBackoff: ({ context }) => context.retryDelayMs,
    connectTimeout: ({ context }) => context.timings.connectTimeoutMs,
    dialTimeout: ({ context }) =>
      context.reprobing ? context.timings.reprobeDialTimeoutMs : context.timings.connectTimeoutMs,
    migrationTimeout: ({ context }) => context.timings.migrationTimeoutMs,
    // Measured from entering suspect (the heartbeat's SILENT comes
    // suspectIntervalMs after the last proof), so the total silence is deadIntervalMs.
    deadInterval: ({ context }) =>
      Math.max(0, context.timings.deadIntervalMs - context.timings.suspectIntervalMs),
    stableAfter: ({ context }) => context.timings.stableAfterMs,
  },
  actions: {
    routeFrames: noEffect,
    markRelayTail: noEffect,
    markDirectTail: noEffect,
    resendRecentDirect: noEffect,
    forgetPeerMigrated: noEffect,
    countUpgrade: noEffect,
    countFallback: noEffect,
    countFailedAttempt: noEffect,
    drawRetryDelay: assign(({ context }) => {
      if (context.reprobesLeft > 0) return { retryDelayMs: context.timings.reprobeIntervalMs };
      const attempt = Math.max(0, context.failures - 1);
      const step = nextBackoff(context.timings.retry, attempt, context.seed);
      return { retryDelayMs: step.delayMs, seed: step.seed };
    }),
    // The path died rather than refused: look for it again quickly.
    startReprobing: assign(({ context }) => ({ reprobesLeft: context.timings.reprobes })),
    // Each attempt uses up one quick probe, if any are left.
    takeReprobe: assign(({ context }) => ({
      reprobing: context.reprobesLeft > 0,
      reprobesLeft: Math.max(0, context.reprobesLeft - 1),
    })),
    // Only silence (a timeout) keeps re-probing: a refusal or a wrong peer
    // is an answer, and today's backoff applies.
    keepReprobingOnTimeout: assign(({ context }) =>
      isTimeout(context.reason) ? {} : { reprobesLeft: 0 },
    ),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    resetBackoff: assign({ failures: 0 }),
    forgetLink: assign({ linkId: null }),
    // Suspect for whatever reason: the heartbeat reports the next proof (ALIVE).
    askProof: sendTo('heartbeat', { type: 'PROVE' } as HeartbeatEvent),
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    peer: input.peer,
    timings: input.timings,
    transport: 'relay',
    reason: Reason.STARTED,
    peerAddress: input.peerAddress ?? null,
    linkId: null,
    attemptId: null,
    failures: 0,
    retryDelayMs: input.timings.retry.baseMs,
    seed: input.seed >>> 0 || 1,
    retryRequested: input.peerAddress != null,
    reprobesLeft: 0,
    reprobing: false,
  }),
  initial: 'usingRelay',
  // Whatever the state, the relay's RTT and loss stay current: status shows
  // the path in use truthfully, and the quality judge has its yardstick.
  invoke: { id: 'probeRelay', src: 'probeRelay', input: ({ context }) => ({ peer: context.peer }) },
  on: {
    STOP: { target: '.stopped', actions: assign({ reason: Reason.SHUTDOWN }) },
  },
  states: {
    usingRelay: {
      entry: [assign({ transport: 'relay' }), 'routeFrames', 'drawRetryDelay'],
      always: {
        guard: 'retryRequested',
        target: 'attemptingDirect',
        actions: assign({ retryRequested: false }),
      },
      after: {
        retryBackoff: {
          guard: 'hasPeerAddress',
          target: 'attemptingDirect',
          actions: assign({ reason: Reason.RETRY }),
        },
      },
      on: {
        PEER_ADDRESS: {
          target: 'attemptingDirect',
          actions: assign({
            peerAddress: ({ event }) => event.address,
            reason: Reason.PEER_ADDRESS,
            failures: 0,
          }),
        },
        NETWORK_CHANGE: {
          guard: 'hasPeerAddress',
          target: 'attemptingDirect',
          actions: assign({ reason: Reason.NETWORK_CHANGE, failures: 0 }),
        },
        // The backoff is kept: the peer trying is no evidence the path works.
        PEER_DIALLED: {
          guard: 'hasPeerAddress',
          target: 'attemptingDirect',
          actions: assign({ reason: Reason.PEER_DIALLED }),
        },
      },
    },

    attemptingDirect: {
      // Traffic stays on the relay until migration: a failed upgrade never
      // disturbs the working path.
      entry: 'takeReprobe',
      initial: 'listening',
      on: {
        PEER_ADDRESS: {
          actions: assign({
            peerAddress: ({ event }) => event.address,
            retryRequested: true,
          }),
        },
        NETWORK_CHANGE: { actions: assign({ retryRequested: true }) },
      },
      states: {
        listening: {
          entry: [assign({ attemptId: null }), 'forgetPeerMigrated'],
          invoke: {
            id: 'listen',
            src: 'listen',
            input: ({ context }) => ({ peer: context.peer }),
            onDone: { target: 'dialing' },
            onError: {
              target: '#connection.fallingBack',
              actions: [
                assign({
                  reason: ({ event }) => failureReason(event.error, Reason.LISTEN_FAILED),
                }),
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
        },
        dialing: {
          invoke: {
            id: 'dial',
            src: 'dial',
            input: ({ context }) => ({ peer: context.peer, address: context.peerAddress! }),
            onDone: {
              target: 'rehandshaking',
              actions: assign({ linkId: ({ event }) => event.output.linkId }),
            },
            onError: {
              target: '#connection.fallingBack',
              actions: [
                assign({
                  reason: ({ event }) => failureReason(event.error, Reason.DIAL_REFUSED),
                }),
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
          after: {
            dialTimeout: {
              target: '#connection.fallingBack',
              actions: [
                assign({ reason: Reason.DIAL_TIMEOUT }),
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
        },
        rehandshaking: {
          invoke: {
            id: 'rehandshake',
            src: 'rehandshake',
            input: ({ context }) => ({ peer: context.peer, linkId: context.linkId! }),
            onDone: {
              target: 'migrating',
              actions: assign({ attemptId: ({ event }) => event.output.attemptId }),
            },
            onError: {
              target: '#connection.fallingBack',
              actions: [
                assign({
                  reason: ({ event }) => failureReason(event.error, Reason.HMAC_MISMATCH),
                }),
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
          after: {
            connectTimeout: {
              target: '#connection.fallingBack',
              actions: [
                assign({ reason: Reason.REHANDSHAKE_TIMEOUT }),
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
        },
        migrating: {
          // New frames go direct from here; the receiver holds them until the
          // MIGRATE marker closes the relay's sequence (docs/protocol.md).
          entry: ['markRelayTail', assign({ transport: 'direct' }), 'routeFrames'],
          invoke: {
            id: 'migrate',
            src: 'migrate',
            input: ({ context }) => ({
              peer: context.peer,
              linkId: context.linkId!,
              attemptId: context.attemptId!,
            }),
            onDone: {
              target: '#connection.usingDirect',
              actions: [assign({ reason: Reason.UPGRADED }), 'countUpgrade'],
            },
            onError: {
              target: '#connection.fallingBack',
              actions: [
                assign({
                  reason: ({ event }) => failureReason(event.error, Reason.MIGRATION_FAILED),
                }),
                'markDirectTail',
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
          after: {
            migrationTimeout: {
              target: '#connection.fallingBack',
              actions: [
                assign({ reason: Reason.MIGRATION_TIMEOUT }),
                'markDirectTail',
                'countFailedAttempt',
                'keepReprobingOnTimeout',
              ],
            },
          },
        },
      },
    },

    usingDirect: {
      initial: 'healthy',
      // The address that prompted the retry is now in use; the path is found.
      entry: assign({ retryRequested: false, reprobesLeft: 0 }),
      // Whichever way we leave, the direct link's last frame says so.
      exit: 'markDirectTail',
      invoke: {
        id: 'heartbeat',
        src: 'heartbeat',
        input: ({ context }) => ({ peer: context.peer, linkId: context.linkId! }),
      },
      after: {
        // Not reset by healthy ⇄ suspect: only a whole stable stretch counts.
        stableAfter: { actions: 'resetBackoff' },
      },
      on: {
        QUALITY_POOR: {
          target: 'fallingBack',
          actions: [assign({ reason: Reason.QUALITY }), 'countFallback'],
        },
        DIRECT_CLOSED: {
          target: 'fallingBack',
          actions: [assign({ reason: ({ event }) => event.reason }), 'countFallback'],
        },
        // The peer announced a new address (it roamed, or reconnected to the
        // relay from elsewhere): the link to the old one may be dead, which
        // the heartbeat will tell within suspectInterval (and the resend on
        // suspect loses nothing meanwhile). If it does die, retry at once.
        PEER_ADDRESS: {
          actions: assign({ peerAddress: ({ event }) => event.address, retryRequested: true }),
        },
      },
      states: {
        healthy: {
          entry: [assign({ transport: 'direct' }), 'routeFrames'],
          on: {
            // The heartbeat's trust deadline passed: no two-way proof for suspectInterval.
            SILENT: {
              target: 'suspect',
              actions: assign({ reason: Reason.HEARTBEAT_MISSED }),
            },
            // Our own addresses changed: the link may be bound to one that is gone.
            NETWORK_CHANGE: {
              target: 'suspect',
              actions: assign({ reason: Reason.NETWORK_CHANGE, retryRequested: true }),
            },
          },
        },
        suspect: {
          // Send on both paths until the direct one proves itself or dies.
          entry: [assign({ transport: 'both' }), 'routeFrames', 'resendRecentDirect', 'askProof'],
          after: {
            deadInterval: {
              target: '#connection.fallingBack',
              actions: [
                assign({ reason: Reason.HEARTBEAT_TIMEOUT }),
                'countFallback',
                'startReprobing',
              ],
            },
          },
          on: {
            ALIVE: { target: 'healthy', actions: assign({ reason: Reason.HEARTBEAT_OK }) },
          },
        },
      },
    },

    fallingBack: {
      // The relay carries everything from the first instant of a fallback.
      entry: [assign({ transport: 'relay' }), 'routeFrames', 'resendRecentDirect', 'countFailure'],
      exit: 'forgetLink',
      invoke: {
        id: 'fallback',
        src: 'fallback',
        input: ({ context }) => ({
          peer: context.peer,
          linkId: context.linkId,
          reason: context.reason,
        }),
        // The failure reason stays on record: status shows why we are on the relay.
        onDone: { target: 'usingRelay' },
        onError: { target: 'usingRelay' },
      },
      on: {
        PEER_ADDRESS: {
          actions: assign({
            peerAddress: ({ event }) => event.address,
            retryRequested: true,
            failures: 0,
          }),
        },
        NETWORK_CHANGE: { actions: assign({ retryRequested: true, failures: 0 }) },
        PEER_DIALLED: { actions: assign({ retryRequested: true }) },
      },
    },

    stopped: {
      type: 'final',
      entry: [assign({ transport: 'relay' }), 'routeFrames'],
    },
  },
});

export type ConnectionMachine = typeof connectionMachine;
