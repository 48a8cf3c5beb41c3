/**
 * The relay-link chart's actors, over RelayClient (src/relay/client.ts).
 *
 * RelayClient.connect opens the socket and authenticates in one call, so
 * `openSocket` does both (protocol steps 1–3) and `authenticate` hands over
 * the WELCOME it already holds; `replaceLink` does the same for a second link
 * while the first still works (the chart's handover). A refusal is reported
 * with the chart's AUTH_REFUSED code, every other failure as
 * RELAY_UNREACHABLE.
 *
 * `watchLink` runs while connected:
 *   1. it announces the client to the node (onConnected), which routes frames to it;
 *   2. every pingInterval it sends a WebSocket ping (the relay's ws answers);
 *      a pong renews the link's trust and measures node ↔ relay RTT;
 *   3. no pong for deadAfter (a deadline renewed by each pong): RELAY_DEAD;
 *      the socket closing: RELAY_CLOSED;
 *   4. its cleanup tells the node (onDisconnected) and closes the socket.
 */
import { fromCallback, fromPromise } from 'xstate';
import type { Identity } from '../crypto/identity.js';
import { errorCode, SwitchbackError } from '../errors.js';
import {
  type RelayHandover,
  type RelayLinkEvent,
  RelayLinkReason,
  type RelayLinkRef,
  type RelayWelcome,
} from '../machines/relay-link.js';
import type { RelayLinkTimings } from '../machines/relay-link-timings.js';
import { RelayClient } from '../relay/client.js';

export interface RelayLinkServicesOptions {
  identity: Identity;
  timings: RelayLinkTimings;
  /** The link is up: send CONNECT for every peer, route FORWARDs. */
  onConnected(client: RelayClient): void;
  /** The link is gone (closed, or we are leaving connected). */
  onDisconnected(client: RelayClient): void;
  /** Where the link's own health is kept (status: relayLink). */
  health?: RelayLinkHealth;
}

/** The node ↔ relay link as its pings see it (not the peer-to-peer relay path). */
export class RelayLinkHealth {
  /** Smoothed RTT node ↔ relay in ms (RFC 6298 weights); null before the first pong. */
  rttMs: number | null = null;
  /** When the last pong arrived (ms since the epoch); null before the first. */
  lastPongAt: number | null = null;
  /** Where the current link goes out from, "host:port"; null while not connected. */
  localAddress: string | null = null;

  pong(rttMs: number, at = Date.now()): void {
    this.rttMs = this.rttMs === null ? rttMs : 0.875 * this.rttMs + 0.125 * rttMs;
    this.lastPongAt = at;
  }
}

class RelayLinkError extends SwitchbackError<
  typeof RelayLinkReason.AUTH_REFUSED | typeof RelayLinkReason.RELAY_UNREACHABLE
> {}

export function relayLinkServices(options: RelayLinkServicesOptions) {
  const clients = new Map<string, RelayClient>();
  let nextId = 1;
  const health = options.health ?? new RelayLinkHealth();

  /**
   * One connect: a TCP connect unanswered within dialTimeoutMs (a SYN lost in
   * a blackhole, an address just gone) is dialled again at once, until the
   * chart's connectTimeout (or handoverTimeout) aborts the attempt. The
   * deadline here is only a backstop, later than either.
   */
  const dial = async (url: string, signal: AbortSignal): Promise<RelayClient> => {
    const { connectTimeoutMs, authTimeoutMs, dialTimeoutMs } = options.timings;
    const deadline = performance.now() + connectTimeoutMs + authTimeoutMs;
    for (;;) {
      try {
        return await RelayClient.connect(url, options.identity, {
          signal,
          timeoutMs: connectTimeoutMs,
          dialTimeoutMs,
        });
      } catch (error) {
        const again = errorCode(error) === 'DIAL_TIMEOUT' && performance.now() < deadline;
        if (!again || signal.aborted) throw error;
      }
    }
  };

  const connect = async (url: string, signal: AbortSignal): Promise<RelayHandover> => {
    let client: RelayClient;
    try {
      client = await dial(url, signal);
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
    const { host, port, family } = client.observed;
    return { linkId, observedAddress: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
  };

  return {
    openSocket: fromPromise<RelayLinkRef, { url: string }>(async ({ input, signal }) => {
      const { linkId } = await connect(input.url, signal);
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

    replaceLink: fromPromise<RelayHandover, { url: string }>(async ({ input, signal }) =>
      connect(input.url, signal),
    ),

    watchLink: fromCallback<RelayLinkEvent, { linkId: string }>(({ input, sendBack }) => {
      const client = clients.get(input.linkId);
      if (!client?.isOpen) {
        sendBack({ type: 'RELAY_CLOSED' });
        return () => {};
      }
      let watching = true;
      options.onConnected(client); // 1.
      health.localAddress = client.localAddress;

      // 2. Pings; the payload is the send time, so a pong needs no bookkeeping.
      const { pingIntervalMs, deadAfterMs } = options.timings;
      // 3. Dead: nothing answered for deadAfter since the last proof, whatever
      //    the socket says. A deadline of its own, renewed by each pong, so a
      //    dead link is declared deadAfter after its last pong, not at the
      //    next ping tick after that.
      const dead = setTimeout(() => {
        clearInterval(ping);
        if (watching) sendBack({ type: 'RELAY_DEAD' });
      }, deadAfterMs);
      const offPong = client.onPong((payload) => {
        if (payload.length !== 8) return;
        dead.refresh();
        health.pong(Math.max(0, performance.now() - payload.readDoubleBE(0)));
      });
      const ping = setInterval(() => {
        const payload = Buffer.allocUnsafe(8);
        payload.writeDoubleBE(performance.now(), 0);
        client.ping(payload);
      }, pingIntervalMs);
      client.closed.then((info) => {
        if (watching) sendBack({ type: 'RELAY_CLOSED', code: info.code });
      });

      return () => {
        // 4.
        watching = false;
        clearInterval(ping);
        clearTimeout(dead);
        offPong();
        health.localAddress = null;
        options.onDisconnected(client);
        client.close(1000, 'leaving').catch(() => {});
        clients.delete(input.linkId);
      };
    }),
  };
}
