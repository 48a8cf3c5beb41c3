// `switchback keygen` and `switchback pubkey` as real processes on real files.
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKey } from '../../../src/crypto/identity.js';
import { loadIdentity } from '../../../src/crypto/key-file.js';
import { runCli } from './run-cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchback-cli-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const KEY_LINE = /^[A-Za-z0-9_-]{43}\n$/;

describe('switchback keygen', () => {
  it('writes a 0600 key file and prints its public key alone', async () => {
    const file = join(dir, 'a.key');
    const result = await runCli(['keygen', '--out', file]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(KEY_LINE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(encodeKey((await loadIdentity(file)).publicKey)).toBe(result.stdout.trim());
  });

  it('refuses to overwrite a key without --force, and replaces it with --force', async () => {
    const file = join(dir, 'b.key');
    const first = await runCli(['keygen', '--out', file]);
    const before = await readFile(file, 'utf8');
    const refused = await runCli(['keygen', '--out', file]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toBe(
      `switchback keygen: key file ${file} already exists; refusing to overwrite it (pass --force to replace it, or choose another --out)\n`,
    );
    expect(await readFile(file, 'utf8')).toBe(before);

    const forced = await runCli(['keygen', '--out', file, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).not.toBe(first.stdout);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('is a usage error (exit 2) without --out', async () => {
    const result = await runCli(['keygen']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('switchback keygen: --out is required; write e.g. --out node.key\n');
  });
});

describe('switchback pubkey', () => {
  it('prints the same public key keygen printed', async () => {
    const file = join(dir, 'c.key');
    const made = await runCli(['keygen', '--out', file]);
    const shown = await runCli(['pubkey', '--key', file]);
    expect(shown).toMatchObject({ code: 0, stdout: made.stdout, stderr: '' });
  });

  it('refuses a key readable by others, saying how to fix it', async () => {
    const file = join(dir, 'd.key');
    await runCli(['keygen', '--out', file]);
    await chmod(file, 0o644);
    const result = await runCli(['pubkey', '--key', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `switchback pubkey: key file ${file} is readable by group or others (mode 0644); fix it with: chmod 600 ${file}\n`,
    );
  });

  it('names a missing file and how to make one', async () => {
    const file = join(dir, 'missing.key');
    const result = await runCli(['pubkey', '--key', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `switchback pubkey: key file ${file} does not exist; make one with: switchback keygen --out ${file}\n`,
    );
  });

  it('refuses a file that is not a key', async () => {
    const file = join(dir, 'junk.key');
    await writeFile(file, 'hello\n', { mode: 0o600 });
    const result = await runCli(['pubkey', '--key', file]);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')).toHaveLength(2); // one line
    expect(result.stderr).toMatch(/is not a switchback-key-v1 file/);
  });
});
