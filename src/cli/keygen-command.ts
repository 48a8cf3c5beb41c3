import { encodeKey, generateIdentity } from '../crypto/identity.js';
import { saveIdentity } from '../crypto/key-file.js';
import { errorCode } from '../errors.js';
import { type Command, UsageError } from './command.js';

// `switchback keygen --out FILE`: a new node identity, written mode 0600, its
// public key printed alone on stdout so scripts can capture it.

export const keygenCommand: Command = {
  name: 'keygen',
  summary: 'Make a node identity key and print its public key.',
  description: [
    'Writes a new Ed25519 identity key to FILE, readable only by you (mode 0600),',
    "and prints its public key — the line to put in the other nodes' [[peers]]",
    'publicKey. An existing file is never replaced unless you pass --force.',
    '',
    'Exit codes: 0 written, 1 could not write (e.g. the file exists), 2 usage error.',
  ].join('\n'),
  options: [
    { name: 'out', value: 'FILE', description: 'Where to write the key. Required.' },
    { name: 'force', description: 'Replace FILE if it exists (the old key is lost).' },
  ],

  async run(values, io) {
    const out = values.out as string | undefined;
    if (!out) throw new UsageError('--out is required; write e.g. --out node.key');
    const identity = await generateIdentity();
    try {
      await saveIdentity(out, identity, { overwrite: values.force === true });
    } catch (error) {
      if (errorCode(error) === 'KEY_FILE_EXISTS') {
        throw new Error(
          `key file ${out} already exists; refusing to overwrite it (pass --force to replace it, or choose another --out)`,
          { cause: error },
        );
      }
      throw error;
    }
    io.stdout.write(`${encodeKey(identity.publicKey)}\n`);
    return 0;
  },
};
