// Identity key files (docs/protocol.md §1.1). Format, UTF-8 text, LF line ends:
//
//   switchback-key-v1
//   <seed: 32 bytes, base64url, no padding>
//   <public key: 32 bytes, base64url, no padding>
//
// The public key line is for people (and `cat`); loading re-derives it from the
// seed and refuses the file if the two disagree. Files are created with mode
// 0600 and a key readable by group or others is refused, as ssh does.
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { KeyFileError } from './errors.js';
import { encodeKey, type Identity, identityFromSeed, SEED_BYTES } from './identity.js';
import { sodiumReady } from './sodium.js';

export const KEY_FILE_HEADER = 'switchback-key-v1';
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

export interface SaveIdentityOptions {
  /** Replace an existing file (default false: an existing file is an error). */
  overwrite?: boolean;
}

export async function saveIdentity(
  path: string,
  identity: Identity,
  options: SaveIdentityOptions = {},
): Promise<void> {
  const seed = identity.secretKey.subarray(0, SEED_BYTES);
  const text = `${KEY_FILE_HEADER}\n${encodeKey(seed)}\n${encodeKey(identity.publicKey)}\n`;
  // Write a private temporary file, then move it into place in one step, so a
  // crash never leaves a half-written key and the mode is 0600 from birth.
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(tmp, 'wx', 0o600);
    try {
      await handle.chmod(0o600); // a umask may have removed bits; never added any
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.overwrite) {
      await fs.rename(tmp, path);
    } else {
      await fs.link(tmp, path); // atomic "create unless it exists"
      await fs.unlink(tmp);
    }
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyFileError(
        'KEY_FILE_EXISTS',
        path,
        `key file ${path} already exists; refusing to overwrite it`,
        { cause: error },
      );
    }
    throw new KeyFileError(
      'KEY_FILE_IO',
      path,
      `cannot write key file ${path}: ${writeFailure(path, error)}`,
      {
        cause: error,
      },
    );
  }
}

/** Why a key could not be written, about `path` itself: the temporary file is ours, not the user's. */
function writeFailure(path: string, error: unknown): string {
  const dir = dirname(path);
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return `directory ${dir} does not exist (create it first: mkdir -p ${dir})`;
    case 'ENOTDIR':
      return `${dir} is not a directory`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied in directory ${dir}`;
    case 'EROFS':
      return `${dir} is on a read-only file system`;
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EISDIR':
      return `${path} is a directory`;
    default: {
      // Name the error, never the temporary file's name.
      const { code, syscall } = error as NodeJS.ErrnoException;
      return code ? `${code}${syscall ? ` (${syscall})` : ''}` : String(error);
    }
  }
}

export async function loadIdentity(path: string): Promise<Identity> {
  await sodiumReady();
  let text: string;
  try {
    const handle = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) {
        throw new KeyFileError('KEY_FILE_FORMAT', path, `key file ${path} is not a regular file`);
      }
      // Check the mode of the file we actually opened (no race with a rename).
      if ((stat.mode & 0o077) !== 0) {
        const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
        throw new KeyFileError(
          'KEY_FILE_PERMISSIONS',
          path,
          `key file ${path} is readable by group or others (mode ${mode}); fix it with: chmod 600 ${path}`,
        );
      }
      if (stat.size > 4096) {
        throw new KeyFileError(
          'KEY_FILE_FORMAT',
          path,
          `key file ${path} is too large to be a key`,
        );
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof KeyFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new KeyFileError('KEY_FILE_NOT_FOUND', path, `key file ${path} does not exist`, {
        cause: error,
      });
    }
    if (code === 'ELOOP') {
      throw new KeyFileError('KEY_FILE_FORMAT', path, `key file ${path} is a symbolic link`, {
        cause: error,
      });
    }
    throw new KeyFileError('KEY_FILE_IO', path, `cannot read key file ${path}: ${String(error)}`, {
      cause: error,
    });
  }
  return parseKeyFile(path, text);
}

function parseKeyFile(path: string, text: string): Identity {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const [header, seedText, publicText] = lines.map((line) => line.trimEnd());
  const bad = (why: string) =>
    new KeyFileError(
      'KEY_FILE_FORMAT',
      path,
      `key file ${path} is not a ${KEY_FILE_HEADER} file: ${why}`,
    );
  if (header !== KEY_FILE_HEADER) throw bad(`first line must be "${KEY_FILE_HEADER}"`);
  if (lines.length !== 3) throw bad('expected exactly 3 lines');
  if (!seedText || !KEY_TEXT.test(seedText)) throw bad('line 2 must be a base64url seed');
  if (!publicText || !KEY_TEXT.test(publicText)) throw bad('line 3 must be a base64url public key');
  const identity = identityFromSeed(new Uint8Array(Buffer.from(seedText, 'base64url')));
  if (encodeKey(identity.publicKey) !== publicText) {
    throw bad('the public key on line 3 does not belong to the seed on line 2');
  }
  return identity;
}
