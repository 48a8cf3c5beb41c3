// The real `switchback relay` process: started as a user would, serving a pair,
// answering /healthz, and stopping cleanly on SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { CloseCode } from '../../../src/relay/close-codes.js';
import { assertForwards, pair } from './helpers.js';

const children: ChildProcess[] = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function cli(args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

async function output(
  child: ChildProcess,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

/** Reads JSON log lines until one matches, bounded in time. */
async function logLine(child: ChildProcess, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => lines.close(), timeoutMs);
  try {
    for await (const line of lines) {
      const msg = (JSON.parse(line) as { msg: string }).msg;
      if (pattern.test(msg)) return msg;
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`no log line matching ${pattern}`);
}

describe('switchback relay (process)', () => {
  it('prints where it listens, serves a pair and /healthz, and exits 0 on SIGTERM', async () => {
    const child = cli(['relay', '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0']);
    const started = await logLine(child, /^relay listening on /);
    const url = /ws:\/\/127\.0\.0\.1:\d+/.exec(started)![0];
    const metricsUrl = /http:\/\/127\.0\.0\.1:\d+/.exec(started)![0];

    const { a, b } = await pair(url);
    await assertForwards(a, b);
    expect(await (await fetch(`${metricsUrl}/healthz`)).text()).toBe('ok\n');
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/^switchback_relay_pairs 1$/m);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [closedA] = await Promise.all([a.closed, b.closed]);
    expect(closedA.code).toBe(CloseCode.SHUTTING_DOWN);
    const [code] = await exited;
    expect(code).toBe(0);
  });

  it('explains every option in --help', async () => {
    const { code, stdout } = await output(cli(['relay', '--help']));
    expect(code).toBe(0);
    for (const flag of [
      '--listen',
      '--metrics',
      '--tls-cert',
      '--tls-key',
      '--max-frame-bytes',
      '--max-connections',
      '--auth-timeout-ms',
      '--rate-bytes',
      '--burst-bytes',
      '--rate-frames',
      '--burst-frames',
      '--send-buffer-bytes',
      '--keepalive-ms',
      '--max-peers',
      '--log-level',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it('names a bad flag and the fix in one line, exit code 2', async () => {
    const { code, stderr } = await output(cli(['relay', '--listen', 'localhost']));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('--listen');
    expect(stderr).toContain('127.0.0.1:7300');
  });

  it('reports an address in use in one line, exit code 1', async () => {
    const first = cli(['relay', '--listen', '127.0.0.1:0']);
    const started = await logLine(first, /^relay listening on /);
    const port = /:(\d+)$/.exec(started)![1];
    const { code, stderr } = await output(cli(['relay', '--listen', `127.0.0.1:${port}`]));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('in use');
    first.kill('SIGTERM');
    await once(first, 'exit');
  });
});
