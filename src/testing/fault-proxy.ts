// A loopback TCP proxy between two peers' direct endpoints, for fault
// injection. It fronts each peer's listener with a port of its own: A dials
// `toB` to reach B's listener, B dials `toA` to reach A's. Bytes A sends to B
// travel 'aToB' whichever side dialled, so a fault can hit one direction only
// (an asymmetric blackhole) while the other keeps flowing.
//
// Modes, switchable at runtime with set():
//   pass       forward as is
//   delay      forward every chunk `ms` later (order kept)
//   drop       discard each chunk with `probability` (seeded; corrupts TLS)
//   blackhole  read and discard everything, FIN included; TCP stays open
//   stall      hold everything (an outage TCP would ride out); switching to
//              any other mode releases the held bytes in order
//   refuse     connection-level: the front that carries new connections in
//              this direction stops listening (the dialler sees ECONNREFUSED);
//              bytes on existing connections pass
//   (redirect) not a mode: redirect(direction, port) sends NEW connections in
//              that direction to another loopback port (an impostor with
//              another identity), existing ones stay where they are
//   reset      connection-level: connections dialled in this direction are
//              reset (RST) now, and new ones are reset on accept; bytes on
//              other connections pass
// Only 127.0.0.1 is ever bound or dialled.
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export type Direction = 'aToB' | 'bToA';

export type FaultMode =
  | { kind: 'pass' }
  | { kind: 'delay'; ms: number }
  | { kind: 'drop'; probability: number; seed?: number }
  | { kind: 'blackhole' }
  | { kind: 'stall' }
  | { kind: 'refuse' }
  | { kind: 'reset' };

export interface FaultProxyOptions {
  /** Port of A's direct listener on 127.0.0.1 (fronted by `toA`). */
  a?: number;
  /** Port of B's direct listener on 127.0.0.1 (fronted by `toB`). */
  b?: number;
}

export interface FaultProxyStats {
  /** Bytes forwarded per direction. */
  bytes: Record<Direction, number>;
  /** Bytes discarded per direction (blackhole, drop). */
  dropped: Record<Direction, number>;
  /** Connections accepted, per the direction they were dialled in. */
  connections: Record<Direction, number>;
  /** Connections reset by the proxy (reset mode, or upstream refused). */
  resets: number;
}

const LOOPBACK = '127.0.0.1';

interface Front {
  direction: Direction; // direction of bytes from the dialler to the listener
  upstreamPort: number;
  /** Set by redirect(): where new connections go instead of upstreamPort. */
  redirectPort?: number | undefined;
  port: number;
  server: Server | undefined;
}

interface Pair {
  direction: Direction; // dialled in this direction
  client: Socket;
  upstream: Socket;
}

export class FaultProxy {
  readonly #fronts = new Map<Direction, Front>();
  readonly #modes: Record<Direction, FaultMode> = {
    aToB: { kind: 'pass' },
    bToA: { kind: 'pass' },
  };
  readonly #pairs = new Set<Pair>();
  /** Per direction, a release for each pump holding bytes under 'stall'. */
  readonly #stalled: Record<Direction, Set<() => void>> = { aToB: new Set(), bToA: new Set() };
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #random: Record<Direction, () => number> = {
    aToB: xorshift(1),
    bToA: xorshift(2),
  };
  readonly #stats: FaultProxyStats = {
    bytes: { aToB: 0, bToA: 0 },
    dropped: { aToB: 0, bToA: 0 },
    connections: { aToB: 0, bToA: 0 },
    resets: 0,
  };
  #closed = false;

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy();
    if (options.b !== undefined) await proxy.#addFront('aToB', options.b);
    if (options.a !== undefined) await proxy.#addFront('bToA', options.a);
    return proxy;
  }

  private constructor() {}

  /** Port A dials to reach B. */
  get toB(): number {
    return this.#frontPort('aToB');
  }

  /** Port B dials to reach A. */
  get toA(): number {
    return this.#frontPort('bToA');
  }

  mode(direction: Direction): FaultMode {
    return this.#modes[direction];
  }

  /** Switches one direction (or both). Resolves once the change is in effect. */
  async set(direction: Direction | 'both', mode: FaultMode): Promise<void> {
    const directions: Direction[] = direction === 'both' ? ['aToB', 'bToA'] : [direction];
    for (const d of directions) {
      const before = this.#modes[d];
      this.#modes[d] = mode;
      if (before.kind === 'stall' && mode.kind !== 'stall') {
        for (const release of [...this.#stalled[d]]) release();
      }
      if (mode.kind === 'drop') this.#random[d] = xorshift(mode.seed ?? 1);
      const front = this.#fronts.get(d);
      if (front !== undefined) {
        if (mode.kind === 'refuse' && front.server !== undefined) {
          // Stop listening now; connections it accepted live on (their
          // close callback would wait for them, so it is not awaited).
          front.server.close();
          front.server = undefined;
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (mode.kind !== 'refuse' && front.server === undefined) await this.#listen(front);
      }
      if (mode.kind === 'reset') {
        for (const pair of [...this.#pairs]) if (pair.direction === d) this.#reset(pair);
      }
      // Chunks already queued by a delay keep their due times and order.
    }
  }

  /**
   * New connections dialled in `direction` go to `port` on 127.0.0.1 instead
   * of the peer's listener (an impostor, for CERT_MISMATCH tests); undefined
   * points them back at the peer.
   */
  redirect(direction: Direction, port: number | undefined): void {
    const front = this.#fronts.get(direction);
    if (front !== undefined) front.redirectPort = port;
  }

  stats(): FaultProxyStats {
    return structuredClone(this.#stats);
  }

  /** Connections currently open through the proxy. */
  get openConnections(): number {
    return this.#pairs.size;
  }

  /** Connections whose dialling side has neither closed nor sent FIN (a
   * leak probe for diallers, valid under blackhole too). */
  get openDiallers(): number {
    let open = 0;
    for (const pair of this.#pairs) {
      if (!pair.client.destroyed && !pair.client.readableEnded) open++;
    }
    return open;
  }

  /** Closes both fronts and every connection; clears every timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
    await Promise.all([...this.#fronts.values()].map((front) => this.#stopFront(front)));
  }

  #frontPort(direction: Direction): number {
    const front = this.#fronts.get(direction);
    if (front === undefined) throw new Error(`fault proxy has no front for ${direction}`);
    return front.port;
  }

  async #addFront(direction: Direction, upstreamPort: number): Promise<void> {
    const front: Front = { direction, upstreamPort, port: 0, server: undefined };
    this.#fronts.set(direction, front);
    await this.#listen(front);
  }

  /** (Re)opens a front, on the same port after a refuse. */
  async #listen(front: Front): Promise<void> {
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) =>
      this.#accept(front, socket),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: LOOPBACK, port: front.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    front.server = server;
    front.port = (server.address() as AddressInfo).port;
  }

  async #stopFront(front: Front): Promise<void> {
    const server = front.server;
    front.server = undefined;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(front: Front, client: Socket): void {
    const direction = front.direction;
    this.#stats.connections[direction]++;
    if (this.#closed || this.#modes[direction].kind === 'reset') {
      this.#stats.resets++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({
      host: LOOPBACK,
      port: front.redirectPort ?? front.upstreamPort,
      allowHalfOpen: true,
    });
    const pair: Pair = { direction, client, upstream };
    this.#pairs.add(pair);
    client.on('error', () => {});
    upstream.on('error', () => {});
    const back: Direction = direction === 'aToB' ? 'bToA' : 'aToB';
    const ended = { client: false, upstream: false };
    upstream.once('connect', () => {
      this.#pump(client, upstream, direction, () => {
        ended.client = true;
      });
      this.#pump(upstream, client, back, () => {
        ended.upstream = true;
      });
      client.resume();
    });
    const onClose = (from: Socket, hadError: boolean): void => {
      const to = from === client ? upstream : client;
      const d = from === client ? direction : back; // bytes from `from` travel in d
      const gotEnd = from === client ? ended.client : ended.upstream;
      // A reset travels on as a reset (upstream refused included: the dialler
      // sees ECONNRESET); a FIN was already passed on by the pump; a socket
      // behind a blackhole never learns either.
      if (!to.destroyed && this.#modes[d].kind !== 'blackhole') {
        if (hadError) {
          this.#stats.resets++;
          to.resetAndDestroy();
        } else if (!gotEnd) {
          to.destroy();
        }
      }
      if (client.destroyed && upstream.destroyed) this.#pairs.delete(pair);
    };
    client.once('close', (hadError) => onClose(client, hadError));
    upstream.once('close', (hadError) => onClose(upstream, hadError));
  }

  /** Moves bytes `from` → `to` under the mode of `direction`; onEnd when a FIN passed. */
  #pump(from: Socket, to: Socket, direction: Direction, onEnd: () => void): void {
    const queue: { chunk: Buffer; due: number }[] = [];
    let timer: NodeJS.Timeout | undefined;
    let ended = false;

    const write = (chunk: Buffer): void => {
      if (to.destroyed) return;
      this.#stats.bytes[direction] += chunk.length;
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    };
    const flush = (): void => {
      if (timer !== undefined) {
        this.#timers.delete(timer);
        timer = undefined;
      }
      const now = Date.now();
      while (queue.length > 0 && queue[0]!.due <= now) write(queue.shift()!.chunk);
      if (queue.length > 0 && !Number.isFinite(queue[0]!.due)) return; // stalled: wait for release
      if (queue.length > 0) {
        timer = setTimeout(flush, queue[0]!.due - now);
        this.#timers.add(timer);
      } else if (ended && !to.destroyed) {
        to.end();
      }
    };

    from.on('data', (chunk: Buffer) => {
      const mode = this.#modes[direction];
      if (mode.kind === 'blackhole') {
        this.#stats.dropped[direction] += chunk.length;
        return;
      }
      if (mode.kind === 'drop' && this.#random[direction]() < mode.probability) {
        this.#stats.dropped[direction] += chunk.length;
        return;
      }
      const due =
        mode.kind === 'stall'
          ? Number.POSITIVE_INFINITY
          : Date.now() + (mode.kind === 'delay' ? mode.ms : 0);
      if (queue.length === 0 && mode.kind !== 'delay' && mode.kind !== 'stall') {
        write(chunk);
        return;
      }
      queue.push({ chunk, due: Math.max(due, queue.at(-1)?.due ?? 0) });
      if (timer === undefined) flush();
    });
    const release = (): void => {
      const now = Date.now();
      for (const entry of queue) if (!Number.isFinite(entry.due)) entry.due = now;
      flush();
    };
    this.#stalled[direction].add(release);
    from.once('close', () => this.#stalled[direction].delete(release));
    from.on('end', () => {
      if (this.#modes[direction].kind === 'blackhole') return;
      ended = true;
      onEnd();
      if (queue.length === 0 && !to.destroyed) to.end();
    });
  }

  #reset(pair: Pair): void {
    this.#pairs.delete(pair);
    this.#stats.resets++;
    pair.client.resetAndDestroy();
    pair.upstream.resetAndDestroy();
  }
}

/** Small seeded PRNG (xorshift32) so drop patterns repeat run to run. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}
