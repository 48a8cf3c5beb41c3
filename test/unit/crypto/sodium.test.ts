import { describe, expect, it } from 'vitest';

// Runs in its own worker (vitest forks per file), so libsodium is not ready
// until this file awaits it.
describe('sodium readiness', () => {
  it('sync crypto before sodiumReady() throws SODIUM_NOT_READY, after it works', async () => {
    const { signDetached } = await import('../../../src/crypto/identity.js');
    const { sodiumReady } = await import('../../../src/crypto/sodium.js');
    expect(() => signDetached(new Uint8Array(64), new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'SODIUM_NOT_READY' }),
    );
    const sodium = await sodiumReady();
    expect(await sodiumReady()).toBe(sodium);
    expect(signDetached(sodium.crypto_sign_keypair().privateKey, new Uint8Array(1))).toHaveLength(
      64,
    );
  });
});
