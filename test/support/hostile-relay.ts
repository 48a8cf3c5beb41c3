/**
 * The hostile relay (src/testing/hostile-relay.ts) as a real process on
 * loopback, and a client for its command channel:
 *
 *   const relay = await startHostileRelay();
 *   await relay.command({ op: 'mode', mode: { kind: 'duplicate' } });
 *   await relay.command({ op: 'replay', types: ['HANDSHAKE_INIT'] });
 *   await relay.stop();
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { HostileCommand, HostileStats } from '../../src/testing/hostile-relay.js';

export interface HostileRelay {
  /** ws://127.0.0.1:port: what the nodes connect to. */
  readonly url: string;
  readonly child: ChildProcess;
  command(command: HostileCommand): Promise<Record<string, unknown>>;
  stats(): Promise<HostileStats>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;

export async function startHostileRelay(options: { seed?: number } = {}): Promise<HostileRelay> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/testing/hostile-relay-cli.ts', '--seed', String(options.seed ?? 1)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stderr: string[] = [];
  child.stderr!.on('data', (chunk) => stderr.push(String(chunk)));
  const ready = await new Promise<{ url: string; control: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hostile relay did not start: ${stderr.join('')}`));
    }, READY_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as { url: string; control: string });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hostile relay exited (${code}): ${stderr.join('')}`));
    });
  });
  const command = async (body: HostileCommand) => {
    const res = await fetch(`${ready.control}/command`, {
      method: 'POST',
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const answer = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`hostile relay refused ${body.op}: ${JSON.stringify(answer)}`);
    return answer;
  };
  return {
    url: ready.url,
    child,
    command,
    stats: async () => (await command({ op: 'stats' })) as unknown as HostileStats,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
