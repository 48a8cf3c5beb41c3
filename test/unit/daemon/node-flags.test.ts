// The flags node starts the daemons with (src/daemon/node-flags.ts) are the
// same in the `switchback` bin's shebang and in the example systemd units,
// and this node accepts them (an unknown flag would stop the daemon at start:
// `node: bad option`).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS } from '../../../src/daemon/node-flags.js';

const ROOT = join(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('DAEMON_NODE_FLAGS', () => {
  it('are the flags of the switchback bin shebang', () => {
    const shebang = read('src/cli.ts').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
  });

  it.each([
    ['docs/examples/switchback.service', 'up'],
    ['docs/examples/relay.service', 'relay'],
  ])('are given to node by %s', (path, command) => {
    const exec = /^ExecStart=(.*)$/m.exec(read(path))?.[1];
    expect(exec).toMatch(
      new RegExp(
        `^/usr/bin/node ${DAEMON_NODE_FLAGS.join(' ')} /opt/switchback/dist/cli.js ${command} `,
      ),
    );
  });

  it('are accepted by this node', () => {
    const argv = execFileSync(process.execPath, [
      ...DAEMON_NODE_FLAGS,
      '-e',
      'process.stdout.write(JSON.stringify(process.execArgv))',
    ]).toString();
    expect(JSON.parse(argv)).toEqual([...DAEMON_NODE_FLAGS, '-e', expect.any(String)]);
  });
});
