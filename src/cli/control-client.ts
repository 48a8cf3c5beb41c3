/**
 * The small HTTP client `switchback status` and `switchback ping` use to talk
 * to a running node's control API (src/daemon/control-server.ts). Every
 * failure is one of three typed errors, so commands can map them to exit codes:
 *
 *   ControlUnreachableError  nothing answers on the address (exit 3)
 *   ControlTimeoutError      connected, but no answer in time (exit 3)
 *   ControlApiError          the node answered with an error ({error:{code,message}})
 */
import { request } from 'node:http';
import type { NodeStatus, PingResult, TransitionRecord } from '../daemon/node-status.js';
import { SwitchbackError } from '../errors.js';
import { type CommandIo, type OptionSpec, type OptionValues, UsageError } from './command.js';
import { hostPort } from './values.js';

export class ControlUnreachableError extends SwitchbackError<'CONTROL_UNREACHABLE'> {
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      'CONTROL_UNREACHABLE',
      `no daemon answering on ${address} (start one with: switchback up --config FILE)`,
      options,
    );
  }
}

export class ControlTimeoutError extends SwitchbackError<'CONTROL_TIMEOUT'> {
  constructor(
    readonly address: string,
    readonly timeoutMs: number,
  ) {
    super(
      'CONTROL_TIMEOUT',
      `the daemon on ${address} did not answer within ${formatSeconds(timeoutMs)} (is it stuck? see its log)`,
    );
  }
}

export class ControlApiError extends SwitchbackError<'CONTROL_API_ERROR'> {
  constructor(
    readonly status: number,
    /** The node's error code, e.g. UNKNOWN_PEER, UNAUTHORIZED, BAD_REQUEST. */
    readonly remoteCode: string,
    message: string,
  ) {
    super('CONTROL_API_ERROR', message);
  }
}

export interface ControlClientOptions {
  host: string;
  port: number;
  /** Per request (default 5000 ms); ping adds the time its pings may take. */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer …` (needed only off loopback). */
  token?: string;
  signal?: AbortSignal;
}

export const DEFAULT_CONTROL_TIMEOUT_MS = 5000;

export class ControlClient {
  /** "host:port" as the user would write it, for messages. */
  readonly address: string;
  private readonly host: string;

  constructor(private readonly options: ControlClientOptions) {
    const bracketed = options.host.includes(':') ? `[${options.host}]` : options.host;
    this.address = `${bracketed}:${options.port}`;
    // A node listening on "all interfaces" is reachable on loopback; dialling
    // 0.0.0.0 would also send a Host header the API does not count as local.
    this.host =
      options.host === '0.0.0.0' ? '127.0.0.1' : options.host === '::' ? '::1' : options.host;
  }

  status(): Promise<NodeStatus> {
    return this.json<NodeStatus>('GET', '/status');
  }

  transitions(): Promise<TransitionRecord[]> {
    return this.json<TransitionRecord[]>('GET', '/transitions');
  }

  ping(peer: string, options: { count: number; timeoutMs: number }): Promise<PingResult[]> {
    const query = new URLSearchParams({
      peer,
      count: String(options.count),
      timeoutMs: String(options.timeoutMs),
    });
    // The node answers after the last ping: allow for all of them.
    const extra = options.count * options.timeoutMs;
    return this.json<PingResult[]>('POST', `/ping?${query}`, extra);
  }

  async metrics(): Promise<string> {
    return (await this.send('GET', '/metrics', 0)).body;
  }

  async json<T>(method: string, path: string, extraTimeoutMs = 0): Promise<T> {
    const { status, body } = await this.send(method, path, extraTimeoutMs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new ControlApiError(
        status,
        'BAD_RESPONSE',
        `${this.address} answered ${method} ${path} with something that is not JSON (is it a Switchback node?)`,
      );
    }
    if (status >= 400) {
      const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
      const code = typeof error?.code === 'string' ? error.code : `HTTP_${status}`;
      const message = typeof error?.message === 'string' ? error.message : `HTTP ${status}`;
      throw new ControlApiError(status, code, message);
    }
    return parsed as T;
  }

  private send(
    method: string,
    path: string,
    extraTimeoutMs: number,
  ): Promise<{ status: number; body: string }> {
    const timeoutMs = (this.options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS) + extraTimeoutMs;
    const signal = this.options.signal;
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
      const req = request({
        host: this.host,
        port: this.options.port,
        method,
        path,
        headers,
        signal,
        agent: false, // one request per command: no socket left open afterwards
      });
      const timer = setTimeout(() => {
        req.destroy(new ControlTimeoutError(this.address, timeoutMs));
      }, timeoutMs);
      const done = () => clearTimeout(timer);
      req.once('error', (error: NodeJS.ErrnoException) => {
        done();
        if (error instanceof ControlTimeoutError || error.name === 'AbortError') reject(error);
        else reject(new ControlUnreachableError(this.address, { cause: error }));
      });
      req.once('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.once('end', () => {
          done();
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.once('error', (error) => {
          done();
          reject(new ControlUnreachableError(this.address, { cause: error }));
        });
      });
      req.end();
    });
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------
// What the commands that talk to a daemon share: the --control/--config
// options, picking the address, and exit code 3 when nobody answers.

/** Where a node's control API listens unless its config says otherwise. */
export const DEFAULT_CONTROL = { host: '127.0.0.1', port: 7900 } as const;

export const EXIT_UNREACHABLE = 3;

export const CONTROL_OPTIONS: OptionSpec[] = [
  {
    name: 'control',
    value: 'HOST:PORT',
    description: "The node's control API address.",
    defaultText: `${DEFAULT_CONTROL.host}:${DEFAULT_CONTROL.port}`,
  },
  {
    name: 'config',
    value: 'FILE',
    description: "Read the control address from the node's config file instead.",
  },
];

/** A client for the daemon named by --control or --config (or the default). */
export async function clientFromOptions(
  values: OptionValues,
  io: CommandIo,
  extra: { timeoutMs?: number } = {},
): Promise<ControlClient> {
  const control = values.control as string | undefined;
  const configFile = values.config as string | undefined;
  if (control !== undefined && configFile !== undefined) {
    throw new UsageError('--control and --config both name the daemon; give one of them');
  }
  let address: { host: string; port: number } = DEFAULT_CONTROL;
  if (control !== undefined) address = hostPort('control', control);
  if (configFile !== undefined) {
    const { loadConfig } = await import('../daemon/config.js');
    try {
      address = (await loadConfig(configFile)).control;
    } catch (error) {
      // The config names the daemon; if it cannot be read, the command line cannot run.
      if (error instanceof SwitchbackError) throw new UsageError(error.message);
      throw error;
    }
  }
  return new ControlClient({
    ...address,
    timeoutMs: extra.timeoutMs,
    token: process.env.SWITCHBACK_TOKEN || undefined,
    signal: io.signal,
  });
}

/**
 * Runs `work`; a daemon that is not there (or does not answer) becomes one line
 * on stderr and exit code 3, so scripts can tell "not running" from "failed".
 */
export async function withDaemon(
  command: string,
  io: CommandIo,
  work: () => Promise<number>,
): Promise<number> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ControlUnreachableError || error instanceof ControlTimeoutError) {
      io.stderr.write(`switchback ${command}: ${error.message}\n`);
      return EXIT_UNREACHABLE;
    }
    throw error;
  }
}
