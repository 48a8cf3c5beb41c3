// libsodium-wrappers loads a WebAssembly module asynchronously. Everything in
// src/crypto/ that runs on the hot path is synchronous, so the daemon (and each
// test file) awaits sodiumReady() once at start-up, and the sync functions call
// requireSodium(), which fails loudly instead of crashing deep inside libsodium.
import sodium from 'libsodium-wrappers';
import { SodiumNotReadyError } from './errors.js';

export type Sodium = typeof sodium;

let readyPromise: Promise<Sodium> | undefined;
let isReady = false;

/** Resolves once libsodium is initialised; cheap to call again. */
export async function sodiumReady(): Promise<Sodium> {
  readyPromise ??= sodium.ready.then(() => {
    isReady = true;
    return sodium;
  });
  return readyPromise;
}

/** libsodium, if sodiumReady() has completed; otherwise a SodiumNotReadyError. */
export function requireSodium(): Sodium {
  if (!isReady) throw new SodiumNotReadyError();
  return sodium;
}
