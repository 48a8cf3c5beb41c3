/**
 * The relay-link chart's actors, over RelayClient (src/relay/client.ts).
 *
 * RelayClient.connect opens the socket and authenticates in one call, so
 * `openSocket` does both (protocol steps 1–3) and `authenticate` hands over
 * the WELCOME it already holds. A refusal is reported with the chart's
 * AUTH_REFUSED code, every other failure as RELAY_UNREACHABLE.
 * `watchLink` runs while connected: it announces the client to the node and
 * reports RELAY_CLOSED when the socket goes; its cleanup closes the socket.
 */
import { fromCallback, fromPromise } from 'xstate';
import type { Identity } from '../crypto/identity.js';
import { errorCode, SwitchbackError } from '../errors.js';
import {
  type RelayLinkEvent,
  RelayLinkReason,
  type RelayLinkRef,
  type RelayWelcome,
} from '../machines/relay-link.js';
import { RelayClient } from '../relay/client.js';

export interface RelayLinkServicesOptions {
  identity: Identity;
  /** Budget of one connect + authenticate. */
  connectTimeoutMs: number;
  /** The link is up: send CONNECT for every peer, route FORWARDs. */
  onConnected(client: RelayClient): void;
  /** The link is gone (closed, or we are leaving connected). */
  onDisconnected(client: RelayClient): void;
}

class RelayLinkError extends SwitchbackError<
  typeof RelayLinkReason.AUTH_REFUSED | typeof RelayLinkReason.RELAY_UNREACHABLE
> {}

export function relayLinkServices(options: RelayLinkServicesOptions) {
  const clients = new Map<string, RelayClient>();
  let nextId = 1;

  return {
    openSocket: fromPromise<RelayLinkRef, { url: string }>(async ({ input, signal }) => {
      let client: RelayClient;
      try {
        client = await RelayClient.connect(input.url, options.identity, {
          signal,
          timeoutMs: options.connectTimeoutMs,
        });
      } catch (error) {
        // A relay of another protocol version refuses us as surely as a bad key.
        const code = errorCode(error);
        const refused = code === 'AUTH_REJECTED' || code === 'VERSION_MISMATCH';
        throw new RelayLinkError(
          refused ? RelayLinkReason.AUTH_REFUSED : RelayLinkReason.RELAY_UNREACHABLE,
          error instanceof Error ? error.message : String(error),
          { cause: error },
        );
      }
      if (signal.aborted) {
        client.terminate();
        signal.throwIfAborted();
      }
      const linkId = `relay#${nextId++}`;
      clients.set(linkId, client);
      client.closed.then(() => clients.delete(linkId));
      return { linkId };
    }),

    authenticate: fromPromise<RelayWelcome, { linkId: string }>(async ({ input }) => {
      const client = clients.get(input.linkId);
      if (!client?.isOpen) {
        throw new RelayLinkError(
          RelayLinkReason.RELAY_UNREACHABLE,
          'relay link closed before WELCOME',
        );
      }
      const { host, port, family } = client.observed;
      return { observedAddress: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
    }),

    watchLink: fromCallback<RelayLinkEvent, { linkId: string }>(({ input, sendBack }) => {
      const client = clients.get(input.linkId);
      if (!client?.isOpen) {
        sendBack({ type: 'RELAY_CLOSED' });
        return () => {};
      }
      let watching = true;
      options.onConnected(client);
      client.closed.then((info) => {
        if (watching) sendBack({ type: 'RELAY_CLOSED', code: info.code });
      });
      return () => {
        watching = false;
        options.onDisconnected(client);
        client.close(1000, 'leaving').catch(() => {});
        clients.delete(input.linkId);
      };
    }),
  };
}
