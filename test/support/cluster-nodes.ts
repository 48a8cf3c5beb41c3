/**
 * Two real nodes, "a" and "b", in this process on loopback, each with its
 * own list of relays (relay processes of a cluster, started by the caller),
 * an in-memory device whose far end is the caller's "host", and the direct
 * path blocked by advertising a closed loopback port: every direct attempt
 * is refused, so their traffic goes through the relays. Numbered streams
 * between the hosts count what arrives. For the relay-cluster failover test
 * and bench/relay-cluster.ts.
 *
 *   host a ═ node a ─ws─▶ relay (a's list) ─nats─▶ relay (b's list) ◀─ws─ node b ═ host b
 *
 * Only 127.0.0.1 is ever bound or dialled.
 */
import { createServer } from 'node:net';
import pino, { type Logger } from 'pino';
import { encodeKey, generateIdentity, type Identity } from '../../src/crypto/identity.js';
import { sodiumReady } from '../../src/crypto/sodium.js';
import type { NodeConfig } from '../../src/daemon/config.js';
import { Node } from '../../src/daemon/node.js';
import type { PeerStatus } from '../../src/daemon/node-status.js';
import { defaultConnectionTimings } from '../../src/machines/connection-timings.js';
import {
  defaultRelayLinkTimings,
  type RelayLinkTimings,
} from '../../src/machines/relay-link-timings.js';
import { defaultQualityPolicy } from '../../src/services/path-quality.js';
import { createMemoryDevicePair, type MemoryDevice } from '../../src/tap/memory-device.js';
import { frameSeq, macOf, numberedFrame, StreamTally } from '../../src/testing/numbered-traffic.js';

export type NodeName = 'a' | 'b';

export interface ClusterNodes {
  nodes: Record<NodeName, Node>;
  hosts: Record<NodeName, MemoryDevice>;
  identities: Record<NodeName, Identity>;
  /** The node's one peer's status (a's view of b, b's of a). */
  peer(name: NodeName): PeerStatus;
  /** Resolves once `test` holds for `name`'s peer; polls every 20 ms. */
  waitFor(name: NodeName, test: (peer: PeerStatus) => boolean, timeoutMs?: number): Promise<void>;
  /** A numbered stream from `from`'s host to the other's, one frame every `everyMs`. */
  stream(from: NodeName, everyMs?: number): NumberedStream;
  close(): Promise<void>;
}

export interface NumberedStream {
  readonly tally: StreamTally;
  /** Frames written so far (the next sequence number). */
  readonly sent: number;
  /** When each frame was written (performance.now()), by sequence number. */
  readonly sentAt: number[];
  /** Stop writing; resolves once every frame arrived or `drainMs` passed. */
  stop(drainMs?: number): Promise<StreamTally>;
}

const MAC: Record<NodeName, Uint8Array> = { a: macOf(0xa), b: macOf(0xb) };

/** A loopback port nothing listens on: bound, then closed at once. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startClusterNodes(
  relays: Record<NodeName, string[]>,
  options: {
    relayTimings?: Partial<RelayLinkTimings>;
    logger?: Logger;
    /** Leave the direct path open (the nodes upgrade to it); blocked by default. */
    direct?: boolean;
  } = {},
): Promise<ClusterNodes> {
  await sodiumReady();
  const logger = options.logger ?? pino({ level: 'silent' });
  const identities = { a: await generateIdentity(), b: await generateIdentity() };
  const made: Partial<Record<NodeName, Node>> = {};
  const hosts: Partial<Record<NodeName, MemoryDevice>> = {};
  try {
    for (const name of ['a', 'b'] as const) {
      const other = name === 'a' ? 'b' : 'a';
      const [device, host] = createMemoryDevicePair({ names: [`sb-${name}`, `host-${name}`] });
      hosts[name] = host;
      const config: NodeConfig = {
        file: `(cluster node ${name})`,
        keyFile: '',
        relays: relays[name],
        listen: { host: '127.0.0.1', port: 0 },
        control: { host: '127.0.0.1', port: 0 },
        controlAllowRemote: false,
        device: 'memory',
        tap: { name: `sb-${name}`, mtu: 1500 },
        peers: [
          {
            name: other,
            publicKey: identities[other].publicKey,
            publicKeyText: encodeKey(identities[other].publicKey),
          },
        ],
        timings: defaultConnectionTimings,
        relayTimings: { ...defaultRelayLinkTimings, ...options.relayTimings },
        quality: defaultQualityPolicy,
      };
      made[name] = await Node.start(config, {
        logger: logger.child({ node: name }),
        device,
        identity: identities[name],
        deferRelay: true,
      });
    }
  } catch (error) {
    await Promise.allSettled(Object.values(made).map((node) => node.close()));
    throw error;
  }
  const nodes = made as Record<NodeName, Node>;
  // The direct path is blocked unless asked: each tells its peer to dial a closed port.
  for (const node of Object.values(nodes)) {
    node.startRelay(options.direct ? undefined : await closedPort());
  }

  const peer = (name: NodeName): PeerStatus => nodes[name].status().peers[0]!;
  const streams = new Set<NumberedStream>();
  return {
    nodes,
    hosts: hosts as Record<NodeName, MemoryDevice>,
    identities,
    peer,
    async waitFor(name, test, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!test(peer(name))) {
        if (Date.now() > deadline) {
          const p = peer(name);
          throw new Error(
            `node ${name}: not within ${timeoutMs} ms (state ${p.state}, reason ${p.reason}, paired ${p.paired}, relay ${nodes[name].status().relay.url} ${nodes[name].status().relay.state})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stream(from, everyMs = 2) {
      const to = from === 'a' ? 'b' : 'a';
      const host = hosts[from]!;
      const tally = new StreamTally();
      const off = hosts[to]!.onFrames((frames) => {
        const now = performance.now();
        for (const frame of frames) {
          // Only this stream's frames: the other direction's carry the other source MAC.
          if (frame[11] !== MAC[from][5]) continue;
          const seq = frameSeq(frame);
          if (seq !== undefined) tally.add(seq, now);
        }
      });
      const sentAt: number[] = [];
      const timer = setInterval(() => {
        sentAt.push(performance.now());
        host.write(numberedFrame(MAC[from], MAC[to], sentAt.length - 1));
      }, everyMs);
      const stream: NumberedStream = {
        tally,
        sentAt,
        get sent() {
          return sentAt.length;
        },
        async stop(drainMs = 3_000) {
          clearInterval(timer);
          const deadline = Date.now() + drainMs;
          while (tally.highest < sentAt.length - 1 && Date.now() < deadline)
            await new Promise((resolve) => setTimeout(resolve, 10));
          off();
          streams.delete(stream);
          return tally;
        },
      };
      streams.add(stream);
      return stream;
    },
    async close() {
      await Promise.allSettled([...streams].map((s) => s.stop(0)));
      await Promise.allSettled([nodes.a.close(), nodes.b.close()]);
    },
  };
}
