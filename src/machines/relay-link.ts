/**
 * The relay-link chart: one per configured relay. The relay is where peers
 * meet and the path every peer falls back to, so this link never gives up:
 * any failure waits a capped, jittered backoff and connects again.
 *
 *   ● ─▶ connecting ──open──▶ authenticating ──WELCOME──▶ connected
 *          ▲  │ unreachable /      │ refused / closed /      │ RELAY_CLOSED
 *          │  │ connectTimeout     │ authTimeout             │
 *          │  ▼                    ▼                         ▼
 *          └─── reconnecting (reconnectBackoff: capped, jittered, forever) ◀─┘
 *                 NETWORK_CHANGE ─▶ connecting at once
 *   STOP from anywhere ─▶ stopped (final)
 *
 * The chart owns no sockets and no timers: `openSocket`, `authenticate` and
 * `watchLink` are invoked actors (src/services/ implements them), and every
 * wait is a named delay read from `context.timings`
 * (src/machines/relay-link-timings.ts). The open socket is referred to by
 * `context.linkId`; the services close it when the actor using it stops
 * (authenticate on failure, watchLink on exit from connected).
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { nextBackoff } from './backoff.js';
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
  CONNECTED: 'CONNECTED', //                 WELCOME received
  RETRY: 'RETRY', //                         the reconnect backoff elapsed
  NETWORK_CHANGE: 'NETWORK_CHANGE', //       our addresses changed: reconnect at once
  SHUTDOWN: 'SHUTDOWN', //                   we are stopping
} as const;
export type RelayLinkReason = (typeof RelayLinkReason)[keyof typeof RelayLinkReason];

export interface RelayLinkInput {
  /** The relay's WebSocket URL from the config. */
  url: string;
  timings: RelayLinkTimings;
  /** Seed of the reconnect jitter; differs per node so a relay restart is not a herd. */
  seed: number;
}

export interface RelayLinkContext {
  url: string;
  timings: RelayLinkTimings;
  /** Why the chart last changed state. */
  reason: RelayLinkReason;
  /** Id of the open socket from openSocket until we leave connected; null otherwise. */
  linkId: string | null;
  /** Our address as the relay sees it (WELCOME); null until authenticated. */
  observedAddress: string | null;
  /** Failures since the link was last stable; the backoff exponent. */
  attempt: number;
  /** Wait before the next connect, drawn on entry to reconnecting. */
  retryDelayMs: number;
  /** Jitter state (see backoff.ts). */
  seed: number;
}

export type RelayLinkEvent =
  /** The connected link closed (watchLink reports it). */
  | { type: 'RELAY_CLOSED'; code?: number }
  /** Our own addresses changed: a reconnect now beats waiting out the backoff. */
  | { type: 'NETWORK_CHANGE' }
  | { type: 'STOP' };

export interface RelayLinkRef {
  /** Id the services use to find the open socket. */
  linkId: string;
}

export interface RelayWelcome {
  /** Our address as the relay observed it, "ip:port". */
  observedAddress: string;
}

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
  /** Keep the link open; send RELAY_CLOSED when it closes. Cleanup closes it. */
  watchLink: fromCallback<RelayLinkEvent, { linkId: string }>(() => notProvided('watchLink')),
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
  },
  delays: {
    connectTimeout: ({ context }) => context.timings.connectTimeoutMs,
    authTimeout: ({ context }) => context.timings.authTimeoutMs,
    stableAfter: ({ context }) => context.timings.stableAfterMs,
    reconnectBackoff: ({ context }) => context.retryDelayMs,
  },
  actions: {
    drawRetryDelay: assign(({ context }) => {
      const step = nextBackoff(context.timings.reconnect, context.attempt, context.seed);
      return { retryDelayMs: step.delayMs, seed: step.seed, attempt: context.attempt + 1 };
    }),
    resetBackoff: assign({ attempt: 0 }),
    forgetLink: assign({ linkId: null }),
  },
}).createMachine({
  id: 'relayLink',
  context: ({ input }) => ({
    url: input.url,
    timings: input.timings,
    reason: RelayLinkReason.CONNECTING,
    linkId: null,
    observedAddress: null,
    attempt: 0,
    retryDelayMs: input.timings.reconnect.baseMs,
    seed: input.seed >>> 0 || 1,
  }),
  initial: 'connecting',
  on: {
    STOP: { target: '.stopped', actions: assign({ reason: RelayLinkReason.SHUTDOWN }) },
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
    },

    authenticating: {
      invoke: {
        id: 'authenticate',
        src: 'authenticate',
        input: ({ context }) => ({ linkId: context.linkId! }),
        onDone: {
          target: 'connected',
          actions: assign({
            observedAddress: ({ event }) => event.output.observedAddress,
            reason: RelayLinkReason.CONNECTED,
          }),
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
      on: {
        RELAY_CLOSED: {
          target: 'reconnecting',
          actions: assign({ reason: RelayLinkReason.RELAY_CLOSED }),
        },
      },
    },

    reconnecting: {
      entry: ['forgetLink', 'drawRetryDelay'],
      after: {
        reconnectBackoff: {
          target: 'connecting',
          actions: assign({ reason: RelayLinkReason.RETRY }),
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
