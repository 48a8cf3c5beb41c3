import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyFileError, KeyFormatError } from '../../../src/crypto/errors.js';
import {
  decodeKey,
  encodeKey,
  generateIdentity,
  signDetached,
  verifyDetached,
} from '../../../src/crypto/identity.js';
import { loadIdentity, saveIdentity } from '../../../src/crypto/key-file.js';
import { sodiumReady } from '../../../src/crypto/sodium.js';

let dir: string;
beforeAll(async () => {
  await sodiumReady();
  dir = await mkdtemp(join(tmpdir(), 'switchback-identity-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('identity keys', () => {
  it('signs and verifies; a changed message or key does not verify', async () => {
    const a = await generateIdentity();
    const b = await generateIdentity();
    expect(a.publicKey).toHaveLength(32);
    expect(a.secretKey).toHaveLength(64);
    const message = new TextEncoder().encode('switchback');
    const signature = signDetached(a.secretKey, message);
    expect(verifyDetached(a.publicKey, message, signature)).toBe(true);
    expect(verifyDetached(b.publicKey, message, signature)).toBe(false);
    expect(verifyDetached(a.publicKey, new TextEncoder().encode('switchbacK'), signature)).toBe(
      false,
    );
    expect(verifyDetached(a.publicKey, message, signature.subarray(1))).toBe(false);
  });

  it('encodes public keys as 43-character base64url and back', async () => {
    const { publicKey } = await generateIdentity();
    const text = encodeKey(publicKey);
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decodeKey(text)).toEqual(publicKey);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (key) => {
        expect(decodeKey(encodeKey(key))).toEqual(key);
      }),
    );
  });

  it.each([
    ['too short', 'AAAA'],
    ['padding', `${'A'.repeat(43)}=`],
    ['standard base64 alphabet', `${'A'.repeat(42)}+`],
    ['non-canonical last character', `${'A'.repeat(42)}B`],
    ['empty', ''],
  ])('decodeKey refuses %s with KEY_FORMAT', (_name, text) => {
    expect(() => decodeKey(text)).toThrow(KeyFormatError);
    expect(() => decodeKey(text)).toThrow(expect.objectContaining({ code: 'KEY_FORMAT' }));
  });
});

describe('key files', () => {
  it('saves with mode 0600 and loads the same identity', async () => {
    const path = join(dir, 'a.key');
    const identity = await generateIdentity();
    await saveIdentity(path, identity);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')[0]).toBe('switchback-key-v1');
    expect(text.split('\n')[2]).toBe(encodeKey(identity.publicKey));
    const loaded = await loadIdentity(path);
    expect(loaded.publicKey).toEqual(identity.publicKey);
    expect(loaded.secretKey).toEqual(identity.secretKey);
  });

  it('refuses to overwrite unless asked to', async () => {
    const path = join(dir, 'b.key');
    const first = await generateIdentity();
    const second = await generateIdentity();
    await saveIdentity(path, first);
    await expect(saveIdentity(path, second)).rejects.toMatchObject({ code: 'KEY_FILE_EXISTS' });
    expect((await loadIdentity(path)).publicKey).toEqual(first.publicKey);
    await saveIdentity(path, second, { overwrite: true });
    expect((await loadIdentity(path)).publicKey).toEqual(second.publicKey);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('refuses a group/world-readable key file, naming the file and the fix', async () => {
    const path = join(dir, 'c.key');
    await saveIdentity(path, await generateIdentity());
    await chmod(path, 0o644);
    const error = await loadIdentity(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyFileError);
    expect(error).toMatchObject({ code: 'KEY_FILE_PERMISSIONS', path });
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toContain('chmod 600');
    await chmod(path, 0o640);
    await expect(loadIdentity(path)).rejects.toMatchObject({ code: 'KEY_FILE_PERMISSIONS' });
    await chmod(path, 0o600);
    await expect(loadIdentity(path)).resolves.toBeDefined();
  });

  it('reports a missing file and a malformed file with their codes', async () => {
    await expect(loadIdentity(join(dir, 'missing.key'))).rejects.toMatchObject({
      code: 'KEY_FILE_NOT_FOUND',
    });
    const path = join(dir, 'bad.key');
    for (const text of [
      'not-a-key\n',
      'switchback-key-v1\nAAAA\nBBBB\n',
      `switchback-key-v1\n${'A'.repeat(43)}\n${'A'.repeat(43)}\n`, // public key does not match seed
      `switchback-key-v1\n${'A'.repeat(43)}\n`,
    ]) {
      await writeFile(path, text, { mode: 0o600 });
      await expect(loadIdentity(path)).rejects.toMatchObject({ code: 'KEY_FILE_FORMAT' });
    }
  });
});
