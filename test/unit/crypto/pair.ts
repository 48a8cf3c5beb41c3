// Two identities and a completed handshake between them, for tests.
import {
  completeHandshake,
  initiateHandshake,
  respondToHandshake,
  type SessionKeys,
} from '../../../src/crypto/handshake.js';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { Session, type SessionOptions } from '../../../src/crypto/session.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';

export async function handshakePair(capabilities: { alice?: number; bob?: number } = {}): Promise<{
  alice: Identity;
  bob: Identity;
  aliceKeys: SessionKeys;
  bobKeys: SessionKeys;
}> {
  await sodiumReady();
  const alice = await generateIdentity();
  const bob = await generateIdentity();
  const pending = initiateHandshake(alice, bob.publicKey, { capabilities: capabilities.alice });
  const { resp, keys: bobKeys } = respondToHandshake(bob, alice.publicKey, pending.init, {
    capabilities: capabilities.bob,
  });
  const aliceKeys = completeHandshake(pending, resp);
  return { alice, bob, aliceKeys, bobKeys };
}

export async function sessionPair(
  options: SessionOptions = {},
  capabilities: { alice?: number; bob?: number } = {},
) {
  const { aliceKeys, bobKeys } = await handshakePair(capabilities);
  return { a: new Session(aliceKeys, options), b: new Session(bobKeys, options) };
}
