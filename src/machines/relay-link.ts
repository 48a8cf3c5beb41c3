/**
 * The relay-link chart: the node's one link to a relay, over a list of
 * relays (`relays` in the config; one relay is a list of one). The relay is
 * where peers meet and the path every peer falls back to, so this link never
 * gives up: a failure moves on to the next relay of the list, and only a
 * whole round of failures waits a capped, jittered backoff.
 *
 *   ● ─▶ connecting(urls[index]) ─open─▶ authenticating ─WELCOME─▶ connected: steady ⇄ handover
 *          ▲  │ unreachable /      │ refused / closed /      │ RELAY_CLOSED / RELAY_DEAD
 *          │  │ connectTimeout     │ authTimeout             │ (or a failed handover)
 *          │  ▼                    ▼                         ▼
 *          │  reconnecting ── entry: nextRelay (index + 1, wrapping; failures + 1) ◀─┘
 *          │    choosing ─ a whole round failed (roundFailed) ─▶ backingOff ─ reconnectBackoff ─┐
 *          │       └───── otherwise ─▶ switching ─ switchDelay (0…switchJitterMs) ─┐           │
 *          └──────────────────────────────────────────────────────────────────────┴───────────┘
 *          NETWORK_CHANGE in reconnecting ─▶ connecting (that relay) at once, backoff reset
 *   RELAYS_CHANGED (reload): the relay in use is still listed → stay; else → connecting(new first)
 *   STOP from anywhere ─▶ stopped (final)
 *
 * - Move on at once, back off per round. In a cluster the relays are
 *   equivalent and the one that just failed is the least likely to answer,
 *   so any failure (unreachable, timed out, refused, RELAY_CLOSED,
 *   RELAY_DEAD, a failed handover) goes to the next relay after a short
 *   jittered switchDelay: the nodes of a dead relay do not all land on the
 *   next one in the same millisecond. Only when as many relays have failed
 *   in a row as the list holds does the backoff apply (`attempt` counts
 *   rounds). With one relay every failure is a whole round: the chart
 *   behaves as it did before lists.
 * - No automatic return to the first relay: a node stays on the relay that
 *   works (flapping between relays costs every relay-path peer a re-pairing).
 *   `failures` and `attempt` are reset only by stableAfter or a
 *   NETWORK_CHANGE, so a relay that accepts and drops us at once still ends
 *   in the backoff after a round.
 * - One registration at a time: the newest registration of our key wins
 *   cluster-wide, so the chart never holds a second authenticated link to
 *   another relay. The handover's second link goes to the same relay.
 * - The link proves itself: while connected, watchLink pings the relay
 *   connection every pingInterval and reports RELAY_DEAD when no pong came
 *   for deadAfter — a dead link is noticed even when idle and even when no
 *   socket says so (an address that went away, a NAT that forgot us).
 * - Make before break: when our addresses change while connected, `handover`
 *   opens and authenticates a new link from the current addresses while the
 *   old one still carries traffic; only then does the chart re-enter
 *   `connected` with the new link, which retires the old. The old link dying
 *   meanwhile (its address is gone, or the relay replaced it with the new
 *   registration) is expected there, not a RELAY_CLOSED.
 * - The backoff depends on the cause: a refusal (AUTH_REFUSED) backs off to
 *   30 s; a dead, unreachable or timed-out relay is redialled at most a
 *   second apart, so the link is back within seconds of the relay returning.
 *   An attempt that timed out (CONNECT_TIMEOUT) already waited longer than
 *   that, dialling again every dialTimeout (the service): it reconnects at once.
 *
 * The chart owns no sockets and no timers: `openSocket`, `authenticate`,
 * `watchLink` and `replaceLink` are invoked actors (src/services/relay-link.ts
 * implements them), and every wait is a named delay read from
 * `context.timings` (src/machines/relay-link-timings.ts). The open socket is
 * referred to by `context.linkId`; the services close it when the actor using
 * it stops (authenticate on failure, watchLink on exit from connected).
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { nextBackoff, uniformDelay } from './backoff.js';
import type { RelayLinkTimings } from './relay-link-timings.js';

/** Why the relay-link chart last changed state. */
export const RelayLinkReason = {
  CONNECTING: 'CONNECTING', //               started, or retrying now
  AUTHENTICATING: 'AUTHENTICATING', //       the socket is open: HELLO sent
  RELAY_UNREACHABLE: 'RELAY_UNREACHABLE', // TCP/TLS/WebSocket open failed
  CONNECT_TIMEOUT: 'CONNECT_TIMEOUT', //     the open did not finish within connectTimeout
  AUTH_REFUSED: 'AUTH_REFUSED', //           the relay refused our key or signature
  AUTH_TIMEOUT: 'AUTH_TIMEOUT', //           no WELCOME within authTimeout
  RELAY_CLOSED: 'RELAY_CLOSED', //           the link closed (during auth or while connected)
  RELAY_DEAD: 'RELAY_DEAD', //               no pong to our pings for deadAfter
  CONNECTED: 'CONNECTED', //                 WELCOME received
  HANDED_OVER: 'HANDED_OVER', //             a new link from our new addresses replaced the old one
  RETRY: 'RETRY', //                         the reconnect backoff elapsed (a whole round failed)
  NEXT_RELAY: 'NEXT_RELAY', //               the switch delay elapsed: trying the next relay of the list
  RELAYS_CHANGED: 'RELAYS_CHANGED', //       the config's relay list changed and no longer has ours
  NETWORK_CHANGE: 'NETWORK_CHANGE', //       our addresses changed: reconnect at once
  SHUTDOWN: 'SHUTDOWN', //                   we are stopping
} as const;
export type RelayLinkReason = (typeof RelayLinkReason)[keyof typeof RelayLinkReason];

export interface RelayLinkInput {
  /** The relays' WebSocket URLs from the config, in the order tried; not empty. */
  urls: readonly string[];
  timings: RelayLinkTimings;
  /** Seed of the reconnect jitter; differs per node so a relay restart is not a herd. */
  seed: number;
}

/** The link's last move from one relay of the list to another. */
export interface RelaySwitch {
  from: string;
  to: string;
  /** Why it moved: the failure that ended the link to `from`, or RELAYS_CHANGED. */
  reason: RelayLinkReason;
}

export interface RelayLinkContext {
  /** The relays, in the order tried. */
  urls: readonly string[];
  /** Position of `url` in `urls`. */
  index: number;
  /** The relay in use, or the one tried next while reconnecting: urls[index]. */
  url: string;
  timings: RelayLinkTimings;
  /** Why the chart last changed state. */
  reason: RelayLinkReason;
  /** Id of the open socket from openSocket until we leave connected; null otherwise. */
  linkId: string | null;
  /** Our address as the relay sees it (WELCOME); null until authenticated. */
  observedAddress: string | null;
  /** Whole rounds of the list failed since the link was last stable; the backoff exponent. */
  attempt: number;
  /** Relays failed in a row since the link was last stable (a round is urls.length of them). */
  failures: number;
  /** Wait before the next connect: the switch delay or the backoff, drawn in reconnecting. */
  retryDelayMs: number;
  /** Jitter state (see backoff.ts). */
  seed: number;
  /** Links authenticated so far, handovers included (reconnects = connections − 1). */
  connections: number;
  /** Moves to another relay of the list so far. */
  switches: number;
  /** The last move; null before the first. */
  lastSwitch: RelaySwitch | null;
}

export type RelayLinkEvent =
  /** The connected link closed (watchLink reports it). */
  | { type: 'RELAY_CLOSED'; code?: number }
  /** The connected link answered no ping for deadAfter (watchLink reports it). */
  | { type: 'RELAY_DEAD' }
  /** Our own addresses changed: a reconnect now beats waiting out the backoff. */
  | { type: 'NETWORK_CHANGE' }
  /** The config was reloaded with this relay list (not empty). */
  | { type: 'RELAYS_CHANGED'; urls: readonly string[] }
  | { type: 'STOP' };

export interface RelayLinkRef {
  /** Id the services use to find the open socket. */
  linkId: string;
}

export interface RelayWelcome {
  /** Our address as the relay observed it, "ip:port". */
  observedAddress: string;
}

/** A second link, opened and authenticated while the first still works. */
export type RelayHandover = RelayLinkRef & RelayWelcome;

/** Error shape the services reject with. */
export interface RelayLinkError {
  code?: string;
  message?: string;
}

function notProvided(name: string): never {
  throw new Error(`relay-link chart: actor "${name}" was not provided`);
}

/** The services this chart invokes; src/services/ has the real ones. */
export const relayLinkActors = {
  /** Open the WebSocket (TCP, TLS, upgrade) to the relay. */
  openSocket: fromPromise<RelayLinkRef, { url: string }>(async () => notProvided('openSocket')),
  /** Protocol steps 1–3: HELLO → CHALLENGE → AUTH → WELCOME. */
  authenticate: fromPromise<RelayWelcome, { linkId: string }>(async () =>
    notProvided('authenticate'),
  ),
  /** Keep the link open and pinged; send RELAY_CLOSED or RELAY_DEAD. Cleanup closes it. */
  watchLink: fromCallback<RelayLinkEvent, { linkId: string }>(() => notProvided('watchLink')),
  /** Open and authenticate a new link from the current addresses (steps 1–3), old one untouched. */
  replaceLink: fromPromise<RelayHandover, { url: string }>(async () => notProvided('replaceLink')),
};

export const relayLinkMachine = setup({
  types: {
    context: {} as RelayLinkContext,
    events: {} as RelayLinkEvent,
    input: {} as RelayLinkInput,
  },
  actors: relayLinkActors,
  guards: {
    // Branch on the stable code, never on message text (STYLE.md).
    authRefused: ({ event }) =>
      (event as { error?: RelayLinkError }).error?.code === RelayLinkReason.AUTH_REFUSED,
    // Every relay of the list has failed once since the last stable link.
    roundFailed: ({ context }) => context.failures % context.urls.length === 0,
    relayStillListed: ({ context, event }) =>
      event.type === 'RELAYS_CHANGED' && event.urls.includes(context.url),
  },
  delays: {
    connectTimeout: ({ context }) => context.timings.connectTimeoutMs,
    authTimeout: ({ context }) => context.timings.authTimeoutMs,
    stableAfter: ({ context }) => context.timings.stableAfterMs,
    reconnectBackoff: ({ context }) => context.retryDelayMs,
    switchDelay: ({ context }) => context.retryDelayMs,
    // A handover is one connect plus one authentication.
    handoverTimeout: ({ context }) =>
      context.timings.connectTimeoutMs + context.timings.authTimeoutMs,
  },
  actions: {
    drawRetryDelay: assign(({ context }) => {
      const policy =
        context.reason === RelayLinkReason.AUTH_REFUSED
          ? context.timings.reconnect
          : context.timings.redial;
      const step = nextBackoff(policy, context.attempt, context.seed);
      // A timed-out attempt has already waited its connectTimeout (redialling
      // every dialTimeout meanwhile): only what is left of the delay remains,
      // so a relay back from a blackhole hears a SYN within ~dialTimeout.
      const waited =
        context.reason === RelayLinkReason.CONNECT_TIMEOUT ? context.timings.connectTimeoutMs : 0;
      return {
        retryDelayMs: Math.max(0, step.delayMs - waited),
        seed: step.seed,
        attempt: context.attempt + 1,
      };
    }),
    drawSwitchDelay: assign(({ context }) => {
      const step = uniformDelay(context.timings.switchJitterMs, context.seed);
      return { retryDelayMs: step.delayMs, seed: step.seed };
    }),
    // Entering reconnecting: the next relay of the list, wrapping around.
    nextRelay: assign(({ context }) => {
      const index = (context.index + 1) % context.urls.length;
      const to = context.urls[index]!;
      const moved = to !== context.url;
      return {
        index,
        url: to,
        failures: context.failures + 1,
        switches: context.switches + (moved ? 1 : 0),
        lastSwitch: moved ? { from: context.url, to, reason: context.reason } : context.lastSwitch,
      };
    }),
    // A reload kept the relay in use: only its position may have changed.
    keepRelay: assign(({ context, event }) => {
      const urls = (event as Extract<RelayLinkEvent, { type: 'RELAYS_CHANGED' }>).urls;
      return { urls, index: urls.indexOf(context.url) };
    }),
    // A reload dropped the relay in use: start again from the new list's first.
    takeRelays: assign(({ context, event }) => {
      const urls = (event as Extract<RelayLinkEvent, { type: 'RELAYS_CHANGED' }>).urls;
      const to = urls[0]!;
      return {
        urls,
        index: 0,
        url: to,
        attempt: 0,
        failures: 0,
        switches: context.switches + 1,
        lastSwitch: { from: context.url, to, reason: RelayLinkReason.RELAYS_CHANGED },
        reason: RelayLinkReason.RELAYS_CHANGED,
      };
    }),
    resetBackoff: assign({ attempt: 0, failures: 0 }),
    countConnection: assign({ connections: ({ context }) => context.connections + 1 }),
    forgetLink: assign({ linkId: null }),
  },
}).createMachine({
  id: 'relayLink',
  context: ({ input }) => ({
    urls: input.urls,
    index: 0,
    url: input.urls[0]!,
    timings: input.timings,
    reason: RelayLinkReason.CONNECTING,
    linkId: null,
    observedAddress: null,
    attempt: 0,
    failures: 0,
    retryDelayMs: input.timings.redial.baseMs,
    seed: input.seed >>> 0 || 1,
    connections: 0,
    switches: 0,
    lastSwitch: null,
  }),
  initial: 'connecting',
  on: {
    STOP: { target: '.stopped', actions: assign({ reason: RelayLinkReason.SHUTDOWN }) },
    RELAYS_CHANGED: [
      { guard: 'relayStillListed', actions: 'keepRelay' },
      // Leaves whatever link or attempt there is (its actor's cleanup closes it).
      { target: '.connecting', actions: 'takeRelays' },
    ],
  },
  states: {
    connecting: {
      invoke: {
        id: 'openSocket',
        src: 'openSocket',
        input: ({ context }) => ({ url: context.url }),
        onDone: {
          target: 'authenticating',
          actions: assign({
            linkId: ({ event }) => event.output.linkId,
            reason: RelayLinkReason.AUTHENTICATING,
          }),
        },
        onError: {
          target: 'reconnecting',
          actions: assign({ reason: RelayLinkReason.RELAY_UNREACHABLE }),
        },
      },
      after: {
        connectTimeout: {
          target: 'reconnecting',
          actions: assign({ reason: RelayLinkReason.CONNECT_TIMEOUT }),
        },
      },
      on: {
        // An attempt from addresses we no longer have may never finish: start over.
        NETWORK_CHANGE: {
          target: 'connecting',
          reenter: true,
          actions: assign({ reason: RelayLinkReason.NETWORK_CHANGE }),
        },
      },
    },

    authenticating: {
      invoke: {
        id: 'authenticate',
        src: 'authenticate',
        input: ({ context }) => ({ linkId: context.linkId! }),
        onDone: {
          target: 'connected',
          actions: [
            assign({
              observedAddress: ({ event }) => event.output.observedAddress,
              reason: RelayLinkReason.CONNECTED,
            }),
            'countConnection',
          ],
        },
        onError: [
          {
            guard: 'authRefused',
            target: 'reconnecting',
            actions: assign({ reason: RelayLinkReason.AUTH_REFUSED }),
          },
          {
            target: 'reconnecting',
            actions: assign({ reason: RelayLinkReason.RELAY_CLOSED }),
          },
        ],
      },
      after: {
        authTimeout: {
          target: 'reconnecting',
          actions: assign({ reason: RelayLinkReason.AUTH_TIMEOUT }),
        },
      },
    },

    connected: {
      invoke: {
        id: 'watchLink',
        src: 'watchLink',
        input: ({ context }) => ({ linkId: context.linkId! }),
        // A watcher that dies cannot tell us about a close: treat it as one.
        onError: {
          target: 'reconnecting',
          actions: assign({ reason: RelayLinkReason.RELAY_CLOSED }),
        },
      },
      after: {
        stableAfter: { actions: 'resetBackoff' },
      },
      initial: 'steady',
      states: {
        steady: {
          on: {
            RELAY_CLOSED: {
              target: '#relayLink.reconnecting',
              actions: assign({ reason: RelayLinkReason.RELAY_CLOSED }),
            },
            RELAY_DEAD: {
              target: '#relayLink.reconnecting',
              actions: assign({ reason: RelayLinkReason.RELAY_DEAD }),
            },
            NETWORK_CHANGE: {
              target: 'handover',
              actions: assign({ reason: RelayLinkReason.NETWORK_CHANGE }),
            },
          },
        },
        handover: {
          invoke: {
            id: 'replaceLink',
            src: 'replaceLink',
            input: ({ context }) => ({ url: context.url }),
            // Re-entering connected retires the old link (watchLink's cleanup)
            // and watches the new one.
            onDone: {
              target: '#relayLink.connected',
              reenter: true,
              actions: [
                assign({
                  linkId: ({ event }) => event.output.linkId,
                  observedAddress: ({ event }) => event.output.observedAddress,
                  reason: RelayLinkReason.HANDED_OVER,
                }),
                'countConnection',
              ],
            },
            onError: [
              {
                guard: 'authRefused',
                target: '#relayLink.reconnecting',
                actions: assign({ reason: RelayLinkReason.AUTH_REFUSED }),
              },
              {
                target: '#relayLink.reconnecting',
                actions: assign({ reason: RelayLinkReason.RELAY_UNREACHABLE }),
              },
            ],
          },
          after: {
            handoverTimeout: {
              target: '#relayLink.reconnecting',
              actions: assign({ reason: RelayLinkReason.CONNECT_TIMEOUT }),
            },
          },
          on: {
            // The old link may die now: its address is gone, or the relay
            // replaced it with our new registration. Expected; not a failure.
            RELAY_CLOSED: {},
            RELAY_DEAD: {},
            // Changed again before the new link was up: start from the newest addresses.
            NETWORK_CHANGE: { target: 'handover', reenter: true },
          },
        },
      },
    },

    reconnecting: {
      // The reason stays the failure's (RELAY_CLOSED, RELAY_DEAD, …) until the wait ends.
      entry: ['forgetLink', 'nextRelay'],
      initial: 'choosing',
      states: {
        choosing: {
          always: [{ guard: 'roundFailed', target: 'backingOff' }, { target: 'switching' }],
        },
        switching: {
          entry: 'drawSwitchDelay',
          after: {
            switchDelay: {
              target: '#relayLink.connecting',
              actions: assign({ reason: RelayLinkReason.NEXT_RELAY }),
            },
          },
        },
        backingOff: {
          entry: 'drawRetryDelay',
          after: {
            reconnectBackoff: {
              target: '#relayLink.connecting',
              actions: assign({ reason: RelayLinkReason.RETRY }),
            },
          },
        },
      },
      on: {
        NETWORK_CHANGE: {
          target: 'connecting',
          actions: [assign({ reason: RelayLinkReason.NETWORK_CHANGE }), 'resetBackoff'],
        },
      },
    },

    stopped: {
      type: 'final',
      entry: 'forgetLink',
    },
  },
});

export type RelayLinkMachine = typeof relayLinkMachine;
