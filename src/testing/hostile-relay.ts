/**
 * A hostile relay for tests: a real relay (src/relay/server.ts) that obeys
 * the relay protocol — HELLO, AUTH, CONNECT, ESTABLISHED — but does to the
 * end-to-end frames it forwards whatever it is told, as an attacker who runs
 * a relay could (docs/protocol.md §5: the relay is untrusted):
 *
 *   every FORWARD ─▶ recorded (bounded) ─▶ the current tamper mode ─▶ the partner
 *       pass | duplicate | reorder | delay | truncate | flip a bit
 *   on command: replay recorded frames (any type, any age, to the current
 *   connection of their destination, paired or not) and inject random
 *   FORWARD payloads in the name of a peer.
 *
 * It sits behind the relay's one seam for forwarding, `PeerDirectory`
 * (HostileDirectory wraps the in-process one), so nothing in src/relay knows
 * about it. Commands come as JSON over HTTP on loopback (HostileControl);
 * hostile-relay-cli.ts runs both as a process. Built and shipped with
 * src/testing, never imported by services or the node.
 *
 * Only loopback is ever bound; frames go only to the relay's own clients.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeForward, forwardHeader, peekFrameType } from '../protocol/codec.js';
import {
  FORWARD_HEADER_BYTES,
  FrameType,
  type PeerGoneReason,
  PROTOCOL_VERSION,
} from '../protocol/frames.js';
import {
  type DeliverResult,
  type DirectoryPeer,
  LocalPeerDirectory,
  type PeerDirectory,
  type PeerId,
  type PeerLocation,
  peerIdOf,
} from '../relay/peer-directory.js';

/** End-to-end frame types a mode or replay may be limited to. */
export type PayloadTypeName = 'HANDSHAKE_INIT' | 'HANDSHAKE_RESP' | 'DATA' | 'CONTROL' | 'OTHER';

export type TamperMode =
  | { kind: 'pass' }
  /** Every `every`-th frame (1: all) is delivered twice. */
  | { kind: 'duplicate'; every?: number }
  /** Frames are held `window` at a time (or `flushMs`) and delivered in reverse order. */
  | { kind: 'reorder'; window?: number; flushMs?: number }
  /** Every frame is delivered `ms` late (order kept). */
  | { kind: 'delay'; ms: number }
  /** Every `every`-th frame loses the tail of its payload (a random cut, never the FORWARD header). */
  | { kind: 'truncate'; every?: number }
  /** Every `every`-th frame has one random bit of its payload flipped. */
  | { kind: 'flip'; every?: number };

export type HostileCommand =
  /** Tamper with every forwarded frame of `types` (all when omitted) from now on. */
  | { op: 'mode'; mode: TamperMode; types?: PayloadTypeName[] }
  /** Deliver recorded frames again: of `types`, sent by `from` (base64url key; any
   * when omitted), the `last` n or all; `copies` times each. */
  | { op: 'replay'; types?: PayloadTypeName[]; from?: string; last?: number; copies?: number }
  /** `count` FORWARDs of random bytes to `to` in the name of its partner `from`
   * (keys base64url); half of them start like a v2 DATA, CONTROL or INIT. */
  | { op: 'inject'; from: string; to: string; count: number }
  | { op: 'stats' }
  /** Forget what was recorded. */
  | { op: 'forget' };

export interface HostileStats {
  forwarded: number;
  recorded: number;
  duplicated: number;
  reordered: number;
  delayed: number;
  truncated: number;
  flipped: number;
  replayed: number;
  injected: number;
  /** Forwarded frames by payload type. */
  byType: Record<PayloadTypeName, number>;
}

interface Recorded {
  from: PeerId;
  to: PeerId;
  type: PayloadTypeName;
  frame: Uint8Array;
}

/** Frames kept for replay (the oldest go first). */
const RECORD_LIMIT = 20_000;

function payloadType(frame: Uint8Array): PayloadTypeName {
  if (frame.length <= FORWARD_HEADER_BYTES) return 'OTHER';
  try {
    switch (peekFrameType(frame.subarray(FORWARD_HEADER_BYTES))) {
      case FrameType.HANDSHAKE_INIT:
        return 'HANDSHAKE_INIT';
      case FrameType.HANDSHAKE_RESP:
        return 'HANDSHAKE_RESP';
      case FrameType.DATA:
        return 'DATA';
      case FrameType.CONTROL:
        return 'CONTROL';
      default:
        return 'OTHER';
    }
  } catch {
    return 'OTHER';
  }
}

/** xorshift32: a seeded, reproducible stream of tampering choices. */
class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state;
  }
  /** An integer in [0, n). */
  below(n: number): number {
    return this.next() % Math.max(1, n);
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }
}

/** The in-process directory, with a hostile forwarder in front of `deliver`. */
export class HostileDirectory implements PeerDirectory {
  readonly stats: HostileStats = {
    forwarded: 0,
    recorded: 0,
    duplicated: 0,
    reordered: 0,
    delayed: 0,
    truncated: 0,
    flipped: 0,
    replayed: 0,
    injected: 0,
    byType: { HANDSHAKE_INIT: 0, HANDSHAKE_RESP: 0, DATA: 0, CONTROL: 0, OTHER: 0 },
  };
  readonly #inner = new LocalPeerDirectory();
  readonly #random: Random;
  readonly #recorded: Recorded[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #mode: TamperMode = { kind: 'pass' };
  #types: Set<PayloadTypeName> | null = null;
  #counter = 0;
  /** Frames a reorder holds: [from, to, frame]. */
  #held: [DirectoryPeer, PeerId, Uint8Array][] = [];
  #flush: NodeJS.Timeout | undefined;

  constructor(options: { seed?: number } = {}) {
    this.#random = new Random(options.seed ?? 0x5eed);
  }

  get peerCount(): number {
    return this.#inner.peerCount;
  }

  get pairCount(): number {
    return this.#inner.pairCount;
  }

  register(peer: DirectoryPeer): void {
    this.#inner.register(peer);
  }

  unregister(peer: DirectoryPeer, reason: PeerGoneReason): void {
    this.#inner.unregister(peer, reason);
  }

  lookup(id: PeerId): DirectoryPeer | undefined {
    return this.#inner.lookup(id);
  }

  locate(id: PeerId): PeerLocation {
    return this.#inner.locate(id);
  }

  connect(from: DirectoryPeer, to: PeerId, listenPort: number): number {
    return this.#inner.connect(from, to, listenPort);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    clearTimeout(this.#flush);
    this.#held = [];
  }

  deliver(from: DirectoryPeer, to: PeerId, frame: Uint8Array): DeliverResult {
    const type = payloadType(frame);
    this.stats.forwarded++;
    this.stats.byType[type]++;
    this.#record({ from: from.id, to, type, frame: frame.slice() });
    if (this.#types !== null && !this.#types.has(type)) return this.#inner.deliver(from, to, frame);
    const mode = this.#mode;
    const nth = (every = 1) => ++this.#counter % Math.max(1, every) === 0;
    switch (mode.kind) {
      case 'pass':
        return this.#inner.deliver(from, to, frame);
      case 'duplicate': {
        const result = this.#inner.deliver(from, to, frame);
        if (nth(mode.every)) {
          this.stats.duplicated++;
          this.#inner.deliver(from, to, frame.slice());
        }
        return result;
      }
      case 'reorder':
        this.#hold(from, to, frame.slice(), mode.window ?? 4, mode.flushMs ?? 10);
        return 'delivered';
      case 'delay': {
        this.stats.delayed++;
        const copy = frame.slice();
        this.#later(mode.ms, () => this.#inner.deliver(from, to, copy));
        return 'delivered';
      }
      case 'truncate': {
        if (!nth(mode.every) || frame.length <= FORWARD_HEADER_BYTES + 1) {
          return this.#inner.deliver(from, to, frame);
        }
        this.stats.truncated++;
        const keep =
          FORWARD_HEADER_BYTES + 1 + this.#random.below(frame.length - FORWARD_HEADER_BYTES - 1);
        return this.#inner.deliver(from, to, frame.slice(0, keep));
      }
      case 'flip': {
        if (!nth(mode.every) || frame.length <= FORWARD_HEADER_BYTES) {
          return this.#inner.deliver(from, to, frame);
        }
        this.stats.flipped++;
        const copy = frame.slice();
        const at = FORWARD_HEADER_BYTES + this.#random.below(copy.length - FORWARD_HEADER_BYTES);
        copy[at]! ^= 1 << this.#random.below(8);
        return this.#inner.deliver(from, to, copy);
      }
    }
  }

  /** Runs one command; the answer is JSON-serialisable. */
  command(command: HostileCommand): unknown {
    switch (command.op) {
      case 'mode':
        this.#release();
        this.#mode = command.mode;
        this.#types = command.types ? new Set(command.types) : null;
        this.#counter = 0;
        return { mode: this.#mode, types: command.types ?? 'all' };
      case 'replay':
        return { replayed: this.#replay(command) };
      case 'inject':
        return { injected: this.#inject(command.from, command.to, command.count) };
      case 'stats':
        return this.stats;
      case 'forget':
        this.#recorded.length = 0;
        return { recorded: 0 };
    }
  }

  #record(entry: Recorded): void {
    if (this.#recorded.length >= RECORD_LIMIT) this.#recorded.shift();
    this.#recorded.push(entry);
    this.stats.recorded = this.#recorded.length;
  }

  #replay(command: Extract<HostileCommand, { op: 'replay' }>): number {
    const types = command.types ? new Set(command.types) : null;
    let picked = this.#recorded.filter(
      (r) => (types === null || types.has(r.type)) && (!command.from || r.from === command.from),
    );
    if (command.last !== undefined) picked = picked.slice(-command.last);
    let replayed = 0;
    for (let copy = 0; copy < (command.copies ?? 1); copy++) {
      for (const entry of picked) {
        // The destination's connection now, paired or not: a relay can send anything.
        if (this.#inner.lookup(entry.to)?.send(entry.frame.slice())) replayed++;
      }
    }
    this.stats.replayed += replayed;
    return replayed;
  }

  #inject(from: string, to: string, count: number): number {
    const receiver = this.#inner.lookup(to);
    if (!receiver) return 0;
    const header = forwardHeader(new Uint8Array(Buffer.from(from, 'base64url')));
    const shapes = [FrameType.DATA, FrameType.CONTROL, FrameType.HANDSHAKE_INIT];
    let injected = 0;
    for (let i = 0; i < count; i++) {
      const payload = this.#random.bytes(1 + this.#random.below(200));
      if (i % 2 === 0 && payload.length >= 2) {
        // Starts like a real v2 frame, so it gets past the header checks.
        payload[0] = PROTOCOL_VERSION;
        payload[1] = shapes[this.#random.below(shapes.length)]!;
      }
      if (receiver.send(encodeForward(header, payload))) injected++;
    }
    this.stats.injected += injected;
    return injected;
  }

  #hold(from: DirectoryPeer, to: PeerId, frame: Uint8Array, window: number, flushMs: number) {
    this.#held.push([from, to, frame]);
    this.stats.reordered++;
    if (this.#held.length >= window) this.#release();
    else if (this.#flush === undefined) {
      this.#flush = setTimeout(() => this.#release(), flushMs);
    }
  }

  /** Deliver what a reorder holds, last first. */
  #release(): void {
    clearTimeout(this.#flush);
    this.#flush = undefined;
    const held = this.#held.reverse();
    this.#held = [];
    for (const [from, to, frame] of held) this.#inner.deliver(from, to, frame);
  }

  #later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    this.#timers.add(timer);
  }
}

/** The command channel: POST /command with a HostileCommand as JSON. Loopback only. */
export class HostileControl {
  private constructor(
    private readonly server: Server,
    /** http://127.0.0.1:port */
    readonly url: string,
  ) {}

  static async start(directory: HostileDirectory, port = 0): Promise<HostileControl> {
    const server = createServer((req, res) => void handle(directory, req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    const { port: bound } = server.address() as AddressInfo;
    return new HostileControl(server, `http://127.0.0.1:${bound}`);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function handle(directory: HostileDirectory, req: IncomingMessage, res: ServerResponse) {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || req.url !== '/command') {
    reply(404, { error: 'POST /command only' });
    return;
  }
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 65_536) {
      reply(413, { error: 'command too large' });
      return;
    }
  }
  try {
    reply(200, directory.command(JSON.parse(text) as HostileCommand));
  } catch (error) {
    reply(400, { error: String(error) });
  }
}

/** The base64url id the relay (and these commands) name a key by. */
export const keyId = (key: Uint8Array): string => peerIdOf(key);
