import { PROTOCOL_VERSION } from '../protocol/frames.js';

// Every way the relay ends a connection on purpose, one WebSocket close code
// each (the 4000-4999 range is for applications, RFC 6455 §7.4.2). Clients and
// tests branch on the number; the reason text is for people and stays short
// (a close reason must fit in 123 bytes). The `metric` label is what
// switchback_relay_refusals_total{reason} counts.
//
// Like ws's receiver, every malformed input ends in its own code: a client
// learns what it did wrong, an operator sees which abuse is happening, and no
// other client is touched.

export const CloseCode = {
  BAD_FRAME: 4000, //            junk bytes, a text message, or a frame the codec cannot decode
  FRAME_TOO_LARGE: 4001, //      a message larger than limits.maxFrameBytes
  INVALID_MESSAGE: 4002, //      decodes, but is not something a client may send the relay
  NOT_AUTHENTICATED: 4003, //    CONNECT/FORWARD before WELCOME, or AUTH before HELLO
  BAD_SIGNATURE: 4004, //        AUTH signature does not verify for this key, nonce and relay
  AUTH_REPLAYED: 4005, //        an AUTH seen before, or a second HELLO/AUTH after WELCOME
  AUTH_TIMEOUT: 4006, //         no WELCOME within limits.authTimeoutMs
  SELF_CONNECT: 4007, //         CONNECT or FORWARD naming the client's own key
  RATE_LIMITED: 4008, //         exceeded the per-connection byte or frame token bucket
  TOO_MANY_CONNECTIONS: 4009, // the relay holds limits.maxConnections already
  REPLACED: 4010, //             a newer connection authenticated with the same key
  SHUTTING_DOWN: 4011, //        the relay is stopping
  KEEPALIVE_TIMEOUT: 4012, //    no pong to the last keepalive ping (the socket is destroyed,
  //                             so the peer rarely sees this code; it is counted all the same)
  TOO_MANY_PEERS: 4013, //       CONNECT to more distinct peers than limits.maxPeersPerConnection
  VERSION_MISMATCH: 4014, //     a frame of another protocol version (a v1 node's HELLO): the
  //                             reason names the relay's version; the node must upgrade
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
export type CloseKind = keyof typeof CloseCode;

interface CloseInfo {
  reason: string;
  metric: string;
}

/** Reason text sent in the close frame, and the metrics label. */
export const CLOSE_INFO: Record<CloseKind, CloseInfo> = {
  BAD_FRAME: { reason: 'bad frame', metric: 'bad_frame' },
  FRAME_TOO_LARGE: { reason: 'frame too large', metric: 'frame_too_large' },
  INVALID_MESSAGE: { reason: 'invalid message', metric: 'invalid_message' },
  NOT_AUTHENTICATED: { reason: 'not authenticated', metric: 'not_authenticated' },
  BAD_SIGNATURE: { reason: 'bad signature', metric: 'bad_signature' },
  AUTH_REPLAYED: { reason: 'auth replayed', metric: 'auth_replayed' },
  AUTH_TIMEOUT: { reason: 'auth timeout', metric: 'auth_timeout' },
  SELF_CONNECT: { reason: 'cannot connect to self', metric: 'self_connect' },
  RATE_LIMITED: { reason: 'rate limit exceeded', metric: 'rate_limited' },
  TOO_MANY_CONNECTIONS: { reason: 'too many connections', metric: 'too_many_connections' },
  REPLACED: { reason: 'replaced by a newer connection', metric: 'replaced' },
  SHUTTING_DOWN: { reason: 'relay shutting down', metric: 'shutting_down' },
  KEEPALIVE_TIMEOUT: { reason: 'keepalive timeout', metric: 'keepalive_timeout' },
  TOO_MANY_PEERS: { reason: 'too many peers', metric: 'too_many_peers' },
  VERSION_MISMATCH: {
    reason: `relay speaks switchback protocol v${PROTOCOL_VERSION}; upgrade the node`,
    metric: 'version_mismatch',
  },
};

/** The close kind for a numeric code, or undefined for codes the relay never sends. */
export function closeKindOf(code: number): CloseKind | undefined {
  for (const [kind, value] of Object.entries(CloseCode)) {
    if (value === code) return kind as CloseKind;
  }
  return undefined;
}

/** NOTICE codes: non-fatal answers the relay sends without closing. */
export const NoticeCode = {
  NOT_PAIRED: 1, // FORWARD to a key that is not paired with the sender: not forwarded
} as const;
export type NoticeCode = (typeof NoticeCode)[keyof typeof NoticeCode];
