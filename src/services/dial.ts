// Opening the direct path (docs/protocol.md §10): dialDirect() makes one
// outgoing mutual-TLS WebSocket and pins the server's key; establishDirect()
// is the tie-break that runs our dial and the peer's inbound link side by side
// and leaves exactly one link standing, the same one on both sides.
import type { Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { certificateMatchesKey, type TlsCredentials } from '../crypto/certificate.js';
import { compareKeys, encodeKey } from '../crypto/identity.js';
import { MAX_FRAME_BYTES } from '../protocol/frames.js';
import { DirectLink, LinkCloseCode } from './direct-link.js';
import {
  CertMismatchError,
  DialRefusedError,
  DialTimeoutError,
  LinkClosedError,
  TlsFailedError,
} from './errors.js';

export const DIAL_DEFAULTS = {
  /** Whole dial: TCP + TLS + WebSocket upgrade. Loopback and LAN finish in
   * a few ms, a far WAN peer in ~3 RTT; past this the path is not worth it. */
  timeoutMs: 5000,
  /** Largest message accepted from the peer (one sealed frame). */
  maxPayload: MAX_FRAME_BYTES,
} as const;

/** HTTP status our listener answers when it refuses a client certificate, and
 * the header naming why; the dialler turns it into CERT_MISMATCH. */
export const REFUSED_STATUS = 403;
export const REFUSAL_HEADER = 'x-switchback-refused';

const TCP_REFUSED = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);

export interface DialOptions {
  host: string;
  port: number;
  /** Our certificate (createTlsCredentials(identity)). */
  credentials: TlsCredentials;
  /** The identity key the server must prove. */
  expectedPeer: Uint8Array;
  timeoutMs?: number;
  signal?: AbortSignal;
  maxPayload?: number;
  maxBufferedBytes?: number;
}

// Client frames must be masked (RFC 6455 §5.3) but an all-zero mask is a
// valid mask that ws does not apply: inside TLS masking protects nothing.
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/**
 * Dials the peer's direct endpoint and resolves with an open DirectLink whose
 * far end proved `expectedPeer`. Rejects with DialRefusedError,
 * DialTimeoutError, CertMismatchError or TlsFailedError, or with
 * `signal.reason` when aborted; on every failure the socket is destroyed.
 */
export function dialDirect(options: DialOptions): Promise<DirectLink> {
  const { host, port, credentials, expectedPeer, signal } = options;
  const timeoutMs = options.timeoutMs ?? DIAL_DEFAULTS.timeoutMs;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const target = `${host}:${port}`;

  return new Promise<DirectLink>((resolve, reject) => {
    let socket: TLSSocket | undefined;
    let ws: WebSocket | undefined;
    let done = false;

    const finish = (error: unknown, link?: DirectLink): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket?.off('error', onSocketError);
      socket?.off('close', onSocketClose);
      if (link !== undefined) {
        resolve(link);
        return;
      }
      ws?.terminate();
      socket?.destroy();
      reject(error);
    };
    const onAbort = (): void => finish(signal?.reason);
    const timer = setTimeout(
      () =>
        finish(new DialTimeoutError(`direct dial to ${target} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });

    const onSocketError = (error: NodeJS.ErrnoException): void => finish(classify(error, target));
    const onSocketClose = (): void =>
      finish(new DialRefusedError(`direct dial to ${target}: connection closed during handshake`));

    // 1. TCP + TLS 1.3 with our certificate. The peer's certificate is
    //    self-signed, so chain checks are off and the pin below replaces them.
    socket = tls.connect({
      host,
      port,
      cert: credentials.cert,
      key: credentials.key,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    });
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.once('secureConnect', () => {
      if (done || socket === undefined) return;
      // 2. Pin: the server proved (CertificateVerify) the key in its
      //    certificate; it must be the peer we meant to reach.
      if (!certificateMatchesKey(socket.getPeerX509Certificate(), expectedPeer)) {
        finish(
          new CertMismatchError(
            `direct dial to ${target}: server certificate is not peer ${encodeKey(expectedPeer)}`,
          ),
        );
        return;
      }
      // 3. WebSocket upgrade on the verified socket. From here ws owns the
      //    socket's errors; ours would double-report them.
      socket.off('error', onSocketError);
      socket.off('close', onSocketClose);
      const verified = socket;
      ws = new WebSocket(`wss://${host.includes(':') ? `[${host}]` : host}:${port}/`, {
        createConnection: () => verified as unknown as Socket,
        perMessageDeflate: false,
        maxPayload: options.maxPayload ?? DIAL_DEFAULTS.maxPayload,
        followRedirects: false,
        generateMask: zeroMask,
      });
      ws.on('unexpected-response', (_req, res) => {
        const why = res.headers[REFUSAL_HEADER];
        res.resume();
        finish(
          res.statusCode === REFUSED_STATUS
            ? new CertMismatchError(
                `direct dial to ${target}: peer refused our certificate (${String(why ?? 'refused')})`,
              )
            : new TlsFailedError(`direct dial to ${target}: upgrade answered ${res.statusCode}`),
        );
      });
      ws.on('error', (error: NodeJS.ErrnoException) => finish(classify(error, target)));
      ws.on('close', () =>
        finish(new DialRefusedError(`direct dial to ${target}: closed during upgrade`)),
      );
      ws.once('open', () => {
        if (done || ws === undefined) return;
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        ws.removeAllListeners('close');
        finish(
          undefined,
          new DirectLink(
            ws,
            expectedPeer,
            true,
            { address: verified.remoteAddress ?? host, port: verified.remotePort ?? port },
            { maxBufferedBytes: options.maxBufferedBytes },
          ),
        );
      });
    });
  });
}

function classify(error: NodeJS.ErrnoException, target: string): Error {
  const code = error.code ?? '';
  if (TCP_REFUSED.has(code)) {
    return new DialRefusedError(`direct dial to ${target}: ${code}`, { cause: error });
  }
  if (code === 'ETIMEDOUT') {
    return new DialTimeoutError(`direct dial to ${target}: ${code}`, { cause: error });
  }
  return new TlsFailedError(`direct dial to ${target}: ${error.message}`, { cause: error });
}

// ---------------------------------------------------------------------------
// Tie-break

/** Where inbound links for ONE peer arrive (DirectListener.onLink bound to the
 * peer). Returns the unsubscribe function. */
export type InboundLinks = (handler: (link: DirectLink) => void) => () => void;

export interface EstablishOptions {
  localKey: Uint8Array;
  peerKey: Uint8Array;
  inbound: InboundLinks;
  /** One dial attempt to the peer (usually dialDirect bound to its address). */
  dial: (signal: AbortSignal) => Promise<DirectLink>;
  /** How long the larger key waits for the smaller key's link before dialling. */
  dialDelayMs: number;
  /** establishDirect settles within this. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Ping payload by which the smaller key tells the larger key "I keep your
 * link" when its own dial failed (control frame: never mixes with data). */
export const SELECT_PING = Buffer.from('switchback-select-1');

/**
 * The dial tie-break (docs/protocol.md §10.1):
 *  1. The peer with the smaller key (byte-wise) dials at once; the larger one
 *     waits dialDelayMs for that link and dials only if none arrived (the
 *     smaller one may be unable to reach it).
 *  2. When both links open, the one the smaller key initiated survives, on
 *     both sides; the other closes with LinkCloseCode.DUPLICATE.
 *  3. The smaller key keeps the larger key's link only when its own dial
 *     failed, and says so with a SELECT ping; the larger key commits to its
 *     own link only on that ping, so the two sides never pick different links.
 * Resolves with the surviving link; rejects with the dial's error (or
 * DialTimeoutError) after timeoutMs, or `signal.reason` when aborted. Every
 * link not returned is closed; no timer or listener outlives the call.
 */
export function establishDirect(options: EstablishOptions): Promise<DirectLink> {
  const { localKey, peerKey, signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const order = compareKeys(localKey, peerKey);
  if (order === 0) {
    return Promise.reject(new TypeError('establishDirect: local and peer key are the same'));
  }
  const smaller = order < 0;
  const peer = encodeKey(peerKey);

  return new Promise<DirectLink>((resolve, reject) => {
    const dialAbort = new AbortController();
    let settled = false;
    let dialStarted = false;
    let dialPending = false;
    let dialError: unknown;
    /** Our own dialled link, open, while the larger key awaits SELECT. */
    let ownLink: DirectLink | undefined;
    let stopPingWatch: (() => void) | undefined;
    /** Smaller key only: the peer's link, held while our own dial is in flight. */
    let held: DirectLink | undefined;
    let unsubscribe: (() => void) | undefined;
    let delayTimer: NodeJS.Timeout | undefined;
    /** After our dial failed: how long we still wait for the peer's link. */
    let graceTimer: NodeJS.Timeout | undefined;

    const settle = (link: DirectLink | undefined, error?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(delayTimer);
      clearTimeout(graceTimer);
      clearTimeout(deadline);
      unsubscribe?.();
      stopPingWatch?.();
      signal?.removeEventListener('abort', onAbort);
      dialAbort.abort();
      const aborted = signal?.aborted === true;
      for (const other of [ownLink, held]) {
        if (other === undefined || other === link) continue;
        if (aborted) other.terminate();
        else other.close(LinkCloseCode.DUPLICATE, 'tie-break');
      }
      if (link !== undefined) resolve(link);
      else reject(error);
    };

    const onAbort = (): void => settle(undefined, signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });

    const deadline = setTimeout(() => {
      const why =
        dialError ??
        new DialTimeoutError(`peer ${peer}: no direct link within ${options.timeoutMs} ms`);
      settle(undefined, why);
    }, options.timeoutMs);

    const startDial = (): void => {
      if (settled || dialStarted) return;
      dialStarted = true;
      dialPending = true;
      options.dial(dialAbort.signal).then(
        (link) => {
          dialPending = false;
          if (settled) {
            // Lost a race with settle(): never leak a socket.
            link.close(LinkCloseCode.DUPLICATE, 'tie-break');
            return;
          }
          onDialled(link);
        },
        (error: unknown) => {
          dialPending = false;
          if (settled) return;
          dialError = error;
          if (smaller && held !== undefined) {
            select(held);
            return;
          }
          // Fix (issue 5): report the dial's own error (DIAL_REFUSED,
          // CERT_MISMATCH…) instead of waiting for the deadline, which ties
          // with the chart's connectTimeout and lost the reason to
          // DIAL_TIMEOUT. Either side still waits a little for the peer's
          // own link: the larger key dials dialDelayMs after its attempt
          // starts, and the peer's attempt may have started a little later.
          const grace = 2 * Math.max(0, options.dialDelayMs);
          graceTimer = setTimeout(() => settle(undefined, dialError), grace);
        },
      );
    };

    const onDialled = (link: DirectLink): void => {
      if (smaller) {
        // 2. Our own link always wins: take it, drop any held peer link.
        settle(link);
        return;
      }
      // 3. Larger key: our link stands only once the smaller key selects it.
      ownLink = link;
      stopPingWatch = link.onPing((payload) => {
        if (payload.equals(SELECT_PING)) settle(link);
      });
      void link.closed.then((info) => {
        if (settled || ownLink !== link) return;
        stopPingWatch?.();
        stopPingWatch = undefined;
        ownLink = undefined;
        dialError = new LinkClosedError(
          `peer ${peer}: our direct link closed before selection (${info.code} ${info.reason})`,
        );
      });
    };

    const select = (link: DirectLink): void => {
      if (!link.isOpen) {
        held = undefined;
        return;
      }
      link.ping(SELECT_PING);
      settle(link);
    };

    const onInbound = (link: DirectLink): void => {
      if (settled) {
        link.close(LinkCloseCode.DUPLICATE, 'tie-break');
        return;
      }
      if (!smaller) {
        // 2. The smaller key initiated it: it wins, whatever we were doing.
        settle(link);
        return;
      }
      if (dialPending || !dialStarted) {
        // Our own dial may still win; keep the newest peer link until we know.
        held?.close(LinkCloseCode.DUPLICATE, 'tie-break');
        held = link;
        void link.closed.then(() => {
          if (held === link) held = undefined;
        });
        return;
      }
      select(link); // our dial failed: the peer's link is all there is
    };

    unsubscribe = options.inbound(onInbound);
    if (settled) {
      unsubscribe();
      return;
    }

    // 1. Who dials when.
    if (smaller) startDial();
    else delayTimer = setTimeout(startDial, Math.max(0, options.dialDelayMs));
  });
}
