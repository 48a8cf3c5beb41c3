// `switchback relay --cluster …` flags as a user types them: credentials from
// files, one-line usage errors (exit 2), refused credentials (exit 1).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { type NatsServer, natsServerPath, startNats } from '../../support/nats-server.js';
import { killRelays, startRelayProcess, waitFor } from './cluster-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-cluster-cli-'));
let nats: NatsServer | undefined;

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  await killRelays();
  await nats?.kill();
  nats = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secret(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'relay', ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code, stderr };
}

describe('switchback relay --cluster (process)', () => {
  it('lists the cluster flags in --help', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'relay', '--help'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout!.on('data', (chunk) => (stdout += chunk));
    await once(child, 'exit');
    for (const flag of [
      '--cluster URL',
      '--id NAME',
      '--cluster-token-file',
      '--cluster-user',
      '--cluster-password-file',
      '--cluster-creds',
      '--cluster-ca',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it.each([
    [['--cluster', 'nats://127.0.0.1:4222'], '--cluster needs --id NAME'],
    [['--id', 'r1'], '--id names a relay in a cluster'],
    [['--cluster', 'http://x:1', '--id', 'r1'], 'is not nats://HOST:PORT'],
    [['--cluster', 'nats://127.0.0.1:4222', '--id', 'r.1'], 'must be 1-64 letters'],
    [['--cluster-user', 'u'], 'is for a cluster'],
    [['--cluster', 'nats://127.0.0.1:4222', '--id', 'r1', '--cluster-user', 'u'], 'go together'],
    [
      [
        '--cluster',
        'nats://127.0.0.1:4222',
        '--id',
        'r1',
        '--cluster-token-file',
        '/nonexistent/t',
      ],
      'no such file',
    ],
  ])('refuses %j in one line, exit 2', async (args, message) => {
    const { code, stderr } = await run(['--listen', '127.0.0.1:0', ...args]);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(message);
  });

  it('joins with a token or user/password read from files; refused credentials exit 1 in one line', async () => {
    nats = await startNats({ token: 's3cret-token' });
    const good = secret('token', 's3cret-token\n');
    const relay = await startRelayProcess('r1', nats.url, ['--cluster-token-file', good]);
    await relay.logged(/^cluster up: connected to nats/);
    const { code, stderr } = await run([
      '--listen',
      '127.0.0.1:0',
      '--cluster',
      nats.url,
      '--id',
      'r2',
      '--cluster-token-file',
      secret('wrong', 'nope'),
    ]);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('refused our credentials');
    await nats.kill();

    nats = await startNats({ user: 'relays', password: 'pa55 word' });
    const r3 = await startRelayProcess('r3', nats.url, [
      '--cluster-user',
      'relays',
      '--cluster-password-file',
      secret('password', 'pa55 word\n'),
    ]);
    const r4 = await startRelayProcess('r4', nats.url, [
      '--cluster-user',
      'relays',
      '--cluster-password-file',
      secret('password', 'pa55 word\n'),
    ]);
    await waitFor(
      'r3 hears r4',
      async () => (await r3.metric('switchback_relay_cluster_relays')) === 1,
    );
    await waitFor(
      'r4 hears r3',
      async () => (await r4.metric('switchback_relay_cluster_relays')) === 1,
    );
  });

  it('names the package in one line when nats-server is missing', () => {
    expect(natsServerPath()).toMatch(/nats-server$/);
    expect(() => natsServerPath(['/nonexistent'])).toThrow(
      /^nats-server not found: install Debian's package \(apt-get install nats-server\)[^\n]*$/,
    );
  });
});
