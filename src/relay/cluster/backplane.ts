import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type Msg,
  type NatsConnection,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { ClusterAuth, ClusterTimings } from './cluster-options.js';
import { CLUSTER_LIMITS } from './cluster-options.js';
import { ClusterError } from './errors.js';

// The relay's one connection to NATS, kept up for as long as the relay runs:
//
//   start ──first attempt──▶ up ◀──reconnect── down (client retries every reconnectWaitMs)
//     │ refused credentials: start() throws AUTH_REFUSED (the relay exits 1)
//     └ unreachable: down at once; the relay serves its local peers meanwhile
//
// While down, nothing is queued: frames are dropped (cluster_down) and
// control messages are dropped too (presence is re-synced on the way up).
// While up, frames handed to NATS but not yet confirmed by a PING/PONG
// round trip are bounded by maxInFlightBytes; beyond it they are dropped
// (cluster_backlog), so a slow NATS costs a bounded amount of memory and
// never holds up local forwarding.

export type FrameSendResult = 'sent' | 'cluster_down' | 'cluster_backlog';

export interface BackplaneOptions {
  servers: string[];
  /** The relay's name: the NATS client name is switchback-relay-<name>. */
  name: string;
  auth?: ClusterAuth;
  ca?: string | Buffer;
  timings: ClusterTimings;
  log: Logger;
  /** Told when the connection comes up (first = the first time ever) and goes down. */
  onUp(first: boolean): void;
  onDown(): void;
}

export type MessageHandler = (subject: string, data: Uint8Array, reply?: string) => void;

export class Backplane {
  up = false;
  /** Wall-clock ms since when NATS is unreachable; undefined while up. */
  downSince: number | undefined = Date.now();
  downReason = 'not connected yet';
  /** Which server we are connected to, while up. */
  server = '';
  readonly counters = {
    framesSent: 0,
    bytesSent: 0,
    controlSent: 0,
    /** Control messages not sent because NATS was down. */
    controlDropped: 0,
    disconnects: 0,
    slowConsumer: 0,
  };
  private nc?: NatsConnection;
  private readonly subscriptions: { subject: string; handler: MessageHandler }[] = [];
  private everUp = false;
  private stopped = false;
  private readonly stop = new AbortController();
  private loop?: Promise<void>;
  // Flow control (bytes since the current connection came up).
  private generation = 0;
  private sentBytes = 0;
  private confirmedBytes = 0;
  private probedAt = 0;

  constructor(private readonly options: BackplaneOptions) {}

  /** Subjects to subscribe to on every connection (call before start). */
  subscribe(subject: string, handler: MessageHandler): void {
    this.subscriptions.push({ subject, handler });
  }

  /** One bounded attempt to connect; then the connection is kept up in the background. */
  async start({ signal }: { signal?: AbortSignal } = {}): Promise<void> {
    signal?.throwIfAborted();
    try {
      this.attach(await this.open(this.options.timings.firstConnectTimeoutMs));
    } catch (cause) {
      if (isAuthError(cause)) {
        throw new ClusterError(
          'AUTH_REFUSED',
          `nats-server ${this.options.servers.join(',')} refused our credentials (${(cause as Error).message}); check the --cluster-token-file, --cluster-user/--cluster-password-file or --cluster-creds given`,
          { cause },
        );
      }
      this.markDown(`cannot reach ${this.options.servers.join(',')} (${reasonOf(cause)})`);
    }
    signal?.throwIfAborted();
    this.loop = this.keepUp();
  }

  /** A small control message; false (and counted) when NATS is down. */
  publish(subject: string, data: Uint8Array): boolean {
    const nc = this.nc;
    if (!this.up || !nc) {
      this.counters.controlDropped += 1;
      return false;
    }
    try {
      nc.publish(subject, data);
    } catch {
      this.counters.controlDropped += 1;
      return false;
    }
    this.counters.controlSent += 1;
    return true;
  }

  /** A forwarded frame: sent, or dropped because NATS is down or not keeping up. */
  publishFrame(subject: string, frame: Uint8Array): FrameSendResult {
    const nc = this.nc;
    if (!this.up || !nc) return 'cluster_down';
    if (this.sentBytes - this.confirmedBytes + frame.length > CLUSTER_LIMITS.maxInFlightBytes) {
      return 'cluster_backlog';
    }
    try {
      nc.publish(subject, frame);
    } catch {
      return 'cluster_down';
    }
    this.sentBytes += frame.length;
    this.counters.framesSent += 1;
    this.counters.bytesSent += frame.length;
    if (this.sentBytes - this.probedAt >= CLUSTER_LIMITS.probeEveryBytes) this.probe(nc);
    return 'sent';
  }

  /** A request answered by the first relay that replies; undefined on timeout or when down. */
  async request(
    subject: string,
    data: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array | undefined> {
    const nc = this.nc;
    if (!this.up || !nc) return undefined;
    try {
      return (await nc.request(subject, data, { timeout: timeoutMs })).data;
    } catch {
      return undefined;
    }
  }

  /** Bytes handed to NATS and not yet confirmed (for tests and metrics). */
  get inFlightBytes(): number {
    return this.sentBytes - this.confirmedBytes;
  }

  /** Sends what is queued and closes; bounded to one second. */
  async close(): Promise<void> {
    this.stopped = true;
    this.stop.abort();
    const nc = this.nc;
    if (nc) {
      const closing = (async () => {
        await nc.flush().catch(() => {});
        await nc.close().catch(() => {});
      })();
      const grace = new AbortController();
      await Promise.race([closing, sleep(1_000, grace.signal)]);
      grace.abort();
    }
    await this.loop;
    this.up = false;
  }

  // --- internals -----------------------------------------------------------

  private async open(timeoutMs: number): Promise<NatsConnection> {
    const { servers, name, auth, ca, timings } = this.options;
    const options: ConnectionOptions & { tls?: unknown } = {
      servers,
      name: `switchback-relay-${name}`,
      // Our own broadcasts (presence, locate) never come back to us.
      noEcho: true,
      timeout: timeoutMs,
      maxReconnectAttempts: -1,
      reconnectTimeWait: timings.reconnectWaitMs,
      reconnectJitter: 100,
      pingInterval: timings.natsPingIntervalMs,
      maxPingOut: 2,
    };
    if (auth?.kind === 'token') options.token = auth.token;
    if (auth?.kind === 'user') {
      options.user = auth.user;
      options.pass = auth.password;
    }
    if (auth?.kind === 'creds') options.authenticator = credsAuthenticator(auth.creds);
    if (ca || servers.some((server) => server.startsWith('tls://'))) {
      options.tls = ca ? { ca: ca.toString() } : {};
    }
    return connect(options);
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc;
    for (const { subject, handler } of this.subscriptions) {
      nc.subscribe(subject, {
        callback: (error, msg: Msg) => {
          if (error) return;
          // Handlers count and drop bad input themselves; this is the backstop.
          try {
            handler(msg.subject, msg.data, msg.reply);
          } catch (cause) {
            this.options.log.warn(`cluster message on ${msg.subject} failed: ${reasonOf(cause)}`);
          }
        },
      });
    }
    void this.watch(nc);
    this.markUp(nc.getServer());
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') this.markDown(`lost nats ${status.server}`);
      else if (status.type === 'reconnect') this.markUp(status.server);
      else if (status.type === 'slowConsumer') {
        this.counters.slowConsumer += 1;
        this.options.log.warn('cluster: falling behind on messages from nats (slow consumer)');
      } else if (status.type === 'error') {
        this.options.log.warn(`cluster: nats error: ${reasonOf(status.error)}`);
      }
    }
  }

  /** Reconnects after a connection ended for good (the client gave up, e.g. refused credentials). */
  private async keepUp(): Promise<void> {
    while (!this.stopped) {
      const nc = this.nc;
      if (nc) {
        await nc.closed();
        if (this.stopped) return;
        this.nc = undefined;
        this.markDown('nats connection closed');
        continue;
      }
      await sleep(this.options.timings.reconnectWaitMs, this.stop.signal);
      if (this.stopped) return;
      try {
        this.attach(await this.open(this.options.timings.firstConnectTimeoutMs));
      } catch (cause) {
        this.markDown(
          isAuthError(cause)
            ? `nats refused our credentials (${reasonOf(cause)})`
            : `cannot reach ${this.options.servers.join(',')} (${reasonOf(cause)})`,
        );
      }
    }
  }

  private probe(nc: NatsConnection): void {
    const mark = this.sentBytes;
    const generation = this.generation;
    this.probedAt = mark;
    nc.flush().then(
      () => {
        if (generation === this.generation && mark > this.confirmedBytes)
          this.confirmedBytes = mark;
      },
      () => {},
    );
  }

  private resetWindow(): void {
    this.generation += 1;
    this.sentBytes = 0;
    this.confirmedBytes = 0;
    this.probedAt = 0;
  }

  private markUp(server: string): void {
    if (this.up || this.stopped) return;
    this.up = true;
    this.server = server;
    this.downSince = undefined;
    this.resetWindow();
    const first = !this.everUp;
    this.everUp = true;
    this.options.log.info(`cluster up: connected to nats ${server} as ${this.options.name}`);
    this.options.onUp(first);
  }

  private markDown(why: string): void {
    if (this.stopped) return;
    const wasUp = this.up;
    if (!wasUp && why === this.downReason) return;
    this.up = false;
    this.downReason = why;
    this.downSince ??= Date.now();
    this.resetWindow();
    if (wasUp) this.counters.disconnects += 1;
    this.options.log.warn(`cluster down: ${why}; serving local peers only`);
    if (wasUp) this.options.onDown();
  }
}

function isAuthError(error: unknown): boolean {
  const name = (error as Error | undefined)?.name ?? '';
  return (
    name === 'AuthorizationError' ||
    name === 'UserAuthenticationExpiredError' ||
    /authorization violation/i.test((error as Error | undefined)?.message ?? '')
  );
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
