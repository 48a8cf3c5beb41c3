/**
 * Debian's nats-server for the relay cluster tests and bench: started on a
 * loopback port, read until it says it is ready, killed (SIGKILL), paused
 * (SIGSTOP) and started again on the same port. Only 127.0.0.1 is used: the
 * machine's, or with `netns` that of a network namespace the test made.
 *
 *   const nats = await startNats();            // any free port
 *   await nats.kill(); await nats.restart();   // same port, fresh process
 *   await startNats({ netns: underlay.ns.relay }); // inside a namespace (e2e)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface NatsAuthOptions {
  token?: string;
  user?: string;
  password?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  /** As it reports itself, e.g. "2.9.10". */
  readonly version: string;
  readonly child: ChildProcess;
  /** Everything it logged (stderr), for assertions and failure messages. */
  readonly log: string[];
  kill(): Promise<void>;
  /** A new process on the same port, with the same options. */
  restart(): Promise<NatsServer>;
  pause(): void;
  resume(): void;
}

const SEARCH = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];
const READY_TIMEOUT_MS = 10_000;

/** The nats-server binary, or one line saying which package to install. */
export function natsServerPath(
  dirs: string[] = [...(process.env.PATH ?? '').split(delimiter), ...SEARCH],
): string {
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error(
    "nats-server not found: install Debian's package (apt-get install nats-server); the relay cluster tests need it",
  );
}

/** Starts nats-server on 127.0.0.1 (port 0 = any free port); resolves once it listens. */
export async function startNats(
  options: NatsAuthOptions & {
    port?: number;
    /** Run inside this network namespace (`ip netns exec` execs it: the pid is nats-server's). */
    netns?: string;
  } = {},
): Promise<NatsServer> {
  const binary = natsServerPath();
  const args = ['-a', '127.0.0.1', '-p', String(options.port || -1), '--no_advertise'];
  if (options.token) args.push('--auth', options.token);
  if (options.user) args.push('--user', options.user, '--pass', options.password ?? '');
  const child = options.netns
    ? spawn('ip', ['netns', 'exec', options.netns, binary, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server did not start in ${READY_TIMEOUT_MS} ms:\n${log.join('\n')}`));
    }, READY_TIMEOUT_MS);
    child.stderr!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        log.push(line);
        const match = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`nats-server exited (${code ?? signal}) before listening:\n${log.join('\n')}`),
      );
    });
  });
  child.removeAllListeners('exit');
  const version = log.map((line) => /Version:\s+(\S+)/.exec(line)?.[1]).find(Boolean) ?? 'unknown';
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    version,
    child,
    log,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await server.kill();
      return startNats({ ...options, port });
    },
    pause() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
  };
  return server;
}
