// Steps 1-3 of the relay flow on the client side (docs/protocol.md §5):
// HELLO(key, caps) → CHALLENGE(nonce, relayId, caps) → AUTH(signature) →
// WELCOME(observed). RelayClient.connect runs it on a fresh socket and owns
// the socket after WELCOME; a relay of another protocol version fails here
// with RelayError VERSION_MISMATCH and one line naming both versions (§13).
import type WebSocket from 'ws';
import { type Identity, signDetached } from '../crypto/identity.js';
import { errorCode } from '../errors.js';
import {
  KNOWN_RELAY_CAPABILITIES,
  LOCAL_RELAY_CAPABILITIES,
  negotiateCapabilities,
} from '../protocol/capabilities.js';
import { decodeFrame, encodeFrame } from '../protocol/codec.js';
import { VersionMismatchError, versionMismatchLine } from '../protocol/errors.js';
import {
  type Address,
  type Frame,
  FrameType,
  PREVIOUS_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
} from '../protocol/frames.js';
import { authMessage, RELAY_ID_BYTES } from './auth-message.js';
import { CloseCode } from './close-codes.js';
import { RelayClosedError, RelayError } from './errors.js';

/** What the relay told us by WELCOME. */
export interface RelayWelcome {
  /** The relay this client authenticated to (CHALLENGE's relayId). */
  relayId: Uint8Array;
  /** Our address and port as the relay sees them (WELCOME). */
  observed: Address;
  /** What the relay advertised in CHALLENGE (unknown flags included). */
  relayCapabilities: number;
  /** The negotiated node ↔ relay capabilities (ours ∩ the relay's ∩ known). */
  capabilities: number;
}

/** Walks steps 1-3 on `ws` (not yet open); resolves at WELCOME. `signal`
 * ends it (`timeout` is the part of it that means "too slow"). */
export function authenticate(
  ws: WebSocket,
  identity: Identity,
  url: string,
  signal: AbortSignal,
  timeout: AbortSignal,
  options: { signal?: AbortSignal; capabilities?: number },
): Promise<RelayWelcome> {
  const ourCapabilities = (options.capabilities ?? LOCAL_RELAY_CAPABILITIES) >>> 0;
  return new Promise<RelayWelcome>((resolve, reject) => {
    let opened = false;
    let relayId: Uint8Array | undefined;
    let relayCapabilities = 0;
    const cleanup = () => {
      signal.removeEventListener('abort', aborted);
      ws.off('open', opening);
      ws.off('message', message);
      ws.off('close', closing);
      ws.off('unexpected-response', unexpected);
      // Keep an error listener: a late socket error must not crash the process.
    };
    const fail = (error: RelayError) => {
      cleanup();
      ws.on('error', () => {});
      ws.terminate();
      reject(error);
    };
    const aborted = () => {
      const timedOut = timeout.aborted && !options.signal?.aborted;
      fail(
        timedOut
          ? new RelayError('TIMEOUT', `relay ${url} did not welcome us in time`)
          : new RelayError('ABORTED', 'relay connect aborted', { cause: signal.reason }),
      );
    };
    // 1. HELLO(key, capabilities)
    const opening = () => {
      opened = true;
      ws.send(
        encodeFrame({
          type: FrameType.HELLO,
          key: identity.publicKey,
          capabilities: ourCapabilities,
        }),
      );
    };
    const message = (data: WebSocket.RawData, isBinary: boolean) => {
      let frame: Frame;
      try {
        if (!isBinary) throw new RelayError('UNEXPECTED_FRAME', 'relay sent a text message');
        frame = decodeFrame(data as Buffer);
      } catch (cause) {
        if (cause instanceof VersionMismatchError) {
          return fail(new RelayError('VERSION_MISMATCH', cause.line('relay'), { cause }));
        }
        return fail(
          new RelayError(
            'UNEXPECTED_FRAME',
            `relay sent an undecodable frame (${errorCode(cause)})`,
            {
              cause,
            },
          ),
        );
      }
      // 2. CHALLENGE(nonce, relayId, capabilities) → AUTH(signature)
      if (frame.type === FrameType.CHALLENGE && !relayId) {
        relayId = frame.relayId;
        relayCapabilities = frame.capabilities;
        if (relayId.length !== RELAY_ID_BYTES) {
          return fail(new RelayError('UNEXPECTED_FRAME', 'relay id has the wrong length'));
        }
        const signed = authMessage(
          relayId,
          frame.nonce,
          identity.publicKey,
          ourCapabilities,
          relayCapabilities,
        );
        ws.send(
          encodeFrame({
            type: FrameType.AUTH,
            signature: signDetached(identity.secretKey, signed),
          }),
        );
        return;
      }
      // 3. WELCOME(observed): from here on the client object owns the socket.
      if (frame.type === FrameType.WELCOME && relayId) {
        cleanup();
        ws.on('error', () => {}); // errors end in 'close', which the client reports
        const negotiated = negotiateCapabilities(
          ourCapabilities,
          relayCapabilities,
          KNOWN_RELAY_CAPABILITIES,
        );
        resolve({
          relayId,
          observed: frame.observed,
          relayCapabilities,
          capabilities: negotiated,
        });
        return;
      }
      fail(new RelayError('UNEXPECTED_FRAME', `relay sent frame type ${frame.type} during auth`));
    };
    const closing = (code: number, reason: Buffer) => {
      cleanup();
      const closed = new RelayClosedError('AUTH_REJECTED', code, reason.toString());
      const version = relayVersionFromClose(code, reason.toString(), relayId !== undefined);
      if (version !== undefined) {
        reject(new RelayError('VERSION_MISMATCH', version, { cause: closed }));
        return;
      }
      reject(closed);
    };
    const unexpected = (_req: unknown, res: { statusCode?: number }) => {
      fail(
        new RelayError(
          'CONNECT_FAILED',
          `relay ${url} answered HTTP ${res.statusCode} instead of a websocket`,
        ),
      );
    };
    ws.on('error', (cause) => {
      if (!opened) {
        const timedOut = errorCode(cause) === 'DIAL_TIMEOUT';
        const why = `cannot reach relay ${url}: ${cause.message}`;
        fail(timedOut ? (cause as RelayError) : new RelayError('CONNECT_FAILED', why, { cause }));
      }
    });
    ws.on('open', opening);
    ws.on('message', message);
    ws.on('close', closing);
    ws.on('unexpected-response', unexpected);
    signal.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * The version line for a close before WELCOME that means "another protocol
 * version" (docs/protocol.md §13), or undefined:
 *   - 4014 VERSION_MISMATCH: a relay of a later version refused our HELLO;
 *   - 4000 BAD_FRAME before any CHALLENGE: our HELLO is well formed, so a relay
 *     that cannot decode it speaks an earlier version — a v1 relay refuses a
 *     v2 HELLO exactly so (it has no version close code of its own).
 */
export function relayVersionFromClose(
  code: number,
  reason: string,
  challenged: boolean,
): string | undefined {
  if (code === CloseCode.VERSION_MISMATCH) {
    return `relay refused this node's switchback protocol v${PROTOCOL_VERSION} (4014 ${reason})`;
  }
  if (code === CloseCode.BAD_FRAME && !challenged) {
    return versionMismatchLine('relay', PREVIOUS_PROTOCOL_VERSION);
  }
  return undefined;
}
