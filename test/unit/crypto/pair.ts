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

export async function handshakePair(): Promise<{
  alice: Identity;
  bob: Identity;
  aliceKeys: SessionKeys;
  bobKeys: SessionKeys;
}> {
  await sodiumReady();
  const alice = await generateIdentity();
  const bob = await generateIdentity();
  const pending = initiateHandshake(alice, bob.publicKey);
  const { resp, keys: bobKeys } = respondToHandshake(bob, alice.publicKey, pending.init);
  const aliceKeys = completeHandshake(pending, resp);
  return { alice, bob, aliceKeys, bobKeys };
}

export async function sessionPair(options: SessionOptions = {}) {
  const { aliceKeys, bobKeys } = await handshakePair();
  return { a: new Session(aliceKeys, options), b: new Session(bobKeys, options) };
}
