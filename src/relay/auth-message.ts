import { KEY_BYTES, NONCE_BYTES } from '../protocol/frames.js';

// The bytes a client signs in step 2 of docs/protocol.md (AUTH):
//
//   AUTH_CONTEXT (utf8) | relayId(32) | nonce(32) | client key(32)
//
// The context label keeps this signature from ever being valid as any other
// Switchback signature (handshake transcripts use their own labels). The
// relayId binds it to one relay process, the nonce to one challenge, and the
// key to the identity that said HELLO — so an AUTH captured from one
// connection is useless on another connection or at another relay.

export const AUTH_CONTEXT = 'switchback relay auth v1';
export const RELAY_ID_BYTES = 32;

const contextBytes = new TextEncoder().encode(AUTH_CONTEXT);

export function authMessage(relayId: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  if (relayId.length !== RELAY_ID_BYTES) throw new RangeError('relayId must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 32 bytes');
  if (key.length !== KEY_BYTES) throw new RangeError('key must be 32 bytes');
  const message = new Uint8Array(contextBytes.length + RELAY_ID_BYTES + NONCE_BYTES + KEY_BYTES);
  let offset = 0;
  message.set(contextBytes, offset);
  offset += contextBytes.length;
  message.set(relayId, offset);
  offset += RELAY_ID_BYTES;
  message.set(nonce, offset);
  offset += NONCE_BYTES;
  message.set(key, offset);
  return message;
}
