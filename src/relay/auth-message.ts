import { CAPABILITIES_BYTES, KEY_BYTES, NONCE_BYTES } from '../protocol/frames.js';

// The bytes a client signs in step 2 of the relay flow (docs/protocol.md §5, AUTH):
//
//   AUTH_CONTEXT (utf8) | relayId(32) | nonce(32) | client key(32)
//     | client capabilities u32 | relay capabilities u32
//
// The context label keeps this signature from ever being valid as any other
// Switchback signature (handshake transcripts use their own labels) or in
// another protocol version. The relayId binds it to one relay process, the
// nonce to one challenge, the key to the identity that said HELLO, and the two
// capability sets to what each side announced — so an AUTH captured from one
// connection is useless on another connection or at another relay, and
// neither capability set can be changed on the way unnoticed.

export const AUTH_CONTEXT = 'switchback/v2 relay auth';
export const RELAY_ID_BYTES = 32;

const contextBytes = new TextEncoder().encode(AUTH_CONTEXT);

export function authMessage(
  relayId: Uint8Array,
  nonce: Uint8Array,
  key: Uint8Array,
  clientCapabilities: number,
  relayCapabilities: number,
): Uint8Array {
  if (relayId.length !== RELAY_ID_BYTES) throw new RangeError('relayId must be 32 bytes');
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonce must be 32 bytes');
  if (key.length !== KEY_BYTES) throw new RangeError('key must be 32 bytes');
  const message = new Uint8Array(
    contextBytes.length + RELAY_ID_BYTES + NONCE_BYTES + KEY_BYTES + 2 * CAPABILITIES_BYTES,
  );
  let offset = 0;
  message.set(contextBytes, offset);
  offset += contextBytes.length;
  message.set(relayId, offset);
  offset += RELAY_ID_BYTES;
  message.set(nonce, offset);
  offset += NONCE_BYTES;
  message.set(key, offset);
  offset += KEY_BYTES;
  const view = new DataView(message.buffer);
  view.setUint32(offset, clientCapabilities >>> 0);
  view.setUint32(offset + CAPABILITIES_BYTES, relayCapabilities >>> 0);
  return message;
}
