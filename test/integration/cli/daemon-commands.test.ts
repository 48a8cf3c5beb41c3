// `switchback status` and `switchback ping` as real processes against a real
// control server (in this test process, backed by an in-memory observer).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlServer, startControlServer } from '../../../src/daemon/control-server.js';
import { createLogger } from '../../../src/daemon/logger.js';
import { createNodeMetrics, type NodeMetrics } from '../../../src/daemon/metrics.js';
import { FakeObserver, KEY_A } from '../control/fake-observer.js';
import { runCli } from './run-cli.js';

const observer = new FakeObserver();
let metrics: NodeMetrics;
let server: ControlServer;
let control: string;
let dir: string;

beforeAll(async () => {
  metrics = createNodeMetrics(observer);
  server = await startControlServer({
    host: '127.0.0.1',
    port: 0,
    observer,
    metrics: metrics.registry,
    token: 'secret-token-for-tests',
    logger: createLogger({ level: 'silent', pretty: false }),
  });
  control = `127.0.0.1:${server.port}`;
  dir = await mkdtemp(join(tmpdir(), 'switchback-cli-daemon-'));
});
afterAll(async () => {
  await server?.close();
  metrics?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('switchback status', () => {
  it('prints a header and a table of peers', async () => {
    const result = await runCli(['status', '--control', control]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe(`node    ${KEY_A}`);
    expect(lines[1]).toBe(
      'relay   ws://127.0.0.1:7000  connected  (STARTED)  seen as 127.0.0.1:53422',
    );
    expect(lines[2]).toBe('listen  127.0.0.1:7443');
    expect(lines[4]).toBe('uptime  1h 02m');
    const header = lines[6]!;
    for (const column of [
      'NAME',
      'PATH',
      'STATE',
      'REASON',
      'RTT DIRECT/RELAY',
      'LOSS',
      'HANDSHAKE',
      'TRANSITIONS',
      'BYTES IN/OUT',
    ]) {
      expect(header).toContain(column);
    }
    const b = lines[7]!.split(/\s{2,}/);
    expect(b).toEqual([
      'b',
      'direct',
      'usingDirect.healthy',
      'UPGRADED',
      '0.42ms/1.80ms',
      '0%',
      expect.stringMatching(/^1[2-9]s ago$/),
      '6',
      '1.1MiB/1.4MiB',
    ]);
    const c = lines[8]!.split(/\s{2,}/);
    expect(c).toEqual([
      'c',
      'relay',
      'usingRelay',
      'DIAL_REFUSED',
      '-/2.50ms',
      '25%',
      'never',
      '4',
      '0B/0B',
    ]);
  });

  it('prints the NodeStatus as is with --json', async () => {
    const result = await runCli(['status', '--control', control, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(observer.current);
  });

  it('reads the control address from the node config with --config', async () => {
    const config = join(dir, 'node.toml');
    await writeFile(
      config,
      `key = "a.key"\nrelay = "ws://127.0.0.1:7000"\ncontrol = "${control}"\n`,
    );
    const result = await runCli(['status', '--config', config, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).publicKey).toBe(KEY_A);
  });

  it('says in one line when no daemon answers, and exits 3', async () => {
    const port = await closedPort();
    const result = await runCli(['status', '--control', `127.0.0.1:${port}`]);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `switchback status: no daemon answering on 127.0.0.1:${port} (start one with: switchback up --config FILE)\n`,
    );
  });

  it('is a usage error (exit 2) for a bad address, both flags, or a bad config', async () => {
    const bad = await runCli(['status', '--control', 'nowhere']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^switchback status: --control "nowhere" is not HOST:PORT; write e\.g\./,
    );
    const both = await runCli(['status', '--control', control, '--config', 'x.toml']);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe(
      'switchback status: --control and --config both name the daemon; give one of them\n',
    );
    const config = join(dir, 'bad.toml');
    await writeFile(config, 'key = "a.key"\nrelay = "http://x"\n');
    const invalid = await runCli(['status', '--config', config]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toBe(
      `switchback status: ${config}: relay: must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:7000\n`,
    );
  });
});

describe('switchback ping', () => {
  it('prints one line per ping with the path and RTT', async () => {
    observer.pingAnswer = (peer) => [
      { peer, path: 'direct', rttMs: 0.42, error: null },
      { peer, path: 'relay', rttMs: null, error: 'timeout' },
      { peer, path: 'direct', rttMs: 12.345, error: null },
    ];
    const result = await runCli(['ping', 'b', '--count', '3', '--control', control]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(
      [
        'pong from b via direct in 0.42 ms',
        'no answer from b via relay (timeout)',
        'pong from b via direct in 12.3 ms',
        '',
      ].join('\n'),
    );
    expect(observer.pings.at(-1)).toEqual({ peer: 'b', count: 3, timeoutMs: 1000 });
  });

  it('exits 1 when no ping was answered, and prints JSON with --json', async () => {
    observer.pingAnswer = (peer, count) =>
      Array.from({ length: count }, () => ({ peer, path: 'relay', rttMs: null, error: 'timeout' }));
    const result = await runCli([
      'ping',
      'c',
      '--count',
      '2',
      '--timeout',
      '200',
      '--control',
      control,
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('no answer from c via relay (timeout)\n'.repeat(2));
    expect(observer.pings.at(-1)).toEqual({ peer: 'c', count: 2, timeoutMs: 200 });

    const json = await runCli(['ping', 'c', '--count', '1', '--control', control, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual([
      { peer: 'c', path: 'relay', rttMs: null, error: 'timeout' },
    ]);
  });

  it('names the known peers for an unknown one (exit 2)', async () => {
    const result = await runCli(['ping', 'zed', '--control', control]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'switchback ping: no peer named "zed" (peers: b, c); see switchback status\n',
    );
  });

  it('is a usage error without PEER or with a bad count', async () => {
    const missing = await runCli(['ping', '--control', control]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      'switchback ping: PEER is missing; write switchback ping PEER [options]\n',
    );
    const extra = await runCli(['ping', 'b', 'c']);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/^switchback ping: unexpected argument "c"/);
    const count = await runCli(['ping', 'b', '--count', '0']);
    expect(count.code).toBe(2);
    expect(count.stderr).toBe('switchback ping: --count "0" must be a positive whole number\n');
  });

  it('exits 3 when no daemon answers', async () => {
    const port = await closedPort();
    const result = await runCli(['ping', 'b', '--control', `127.0.0.1:${port}`]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `switchback ping: no daemon answering on 127.0.0.1:${port} (start one with: switchback up --config FILE)\n`,
    );
  });
});
