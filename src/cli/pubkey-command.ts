import { encodeKey } from '../crypto/identity.js';
import { loadIdentity } from '../crypto/key-file.js';
import { errorCode } from '../errors.js';
import { type Command, UsageError } from './command.js';

// `switchback pubkey --key FILE`: the public key of a key file, alone on stdout.

export const pubkeyCommand: Command = {
  name: 'pubkey',
  summary: 'Print the public key of a key file.',
  description: [
    'Prints the public key of the identity in FILE (made by switchback keygen), the',
    "line to put in the other nodes' [[peers]] publicKey. The file must be",
    'readable only by you, as ssh requires of its keys.',
    '',
    'Exit codes: 0 printed, 1 the file is missing, unsafe or not a key, 2 usage error.',
  ].join('\n'),
  options: [{ name: 'key', value: 'FILE', description: 'The key file. Required.' }],

  async run(values, io) {
    const file = values.key as string | undefined;
    if (!file) throw new UsageError('--key is required; write e.g. --key node.key');
    try {
      const identity = await loadIdentity(file);
      io.stdout.write(`${encodeKey(identity.publicKey)}\n`);
      return 0;
    } catch (error) {
      if (errorCode(error) === 'KEY_FILE_NOT_FOUND') {
        throw new Error(
          `key file ${file} does not exist; make one with: switchback keygen --out ${file}`,
          { cause: error },
        );
      }
      throw error;
    }
  },
};
