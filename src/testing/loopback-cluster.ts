/**
 * A relay and two nodes, "a" and "b", in one process on loopback, each node
 * with an in-memory device whose other end is the caller's "host" handle, and
 * a FaultProxy between the nodes' direct listeners so the direct path can be
 * cut and restored while the relay stays reachable. The demo, the failover
 * benchmark and the integration tests all run on it.
 *
 * Only 127.0.0.1 is ever bound or dialled.
 */
import type { Logger } from 'pino';
import pino from 'pino';
import { compareKeys, encodeKey, generateIdentity, type Identity } from '../crypto/identity.js';
import { sodiumReady } from '../crypto/sodium.js';
import type { NodeConfig } from '../daemon/config.js';
import { Node, type NodeOptions } from '../daemon/node.js';
import type { PeerStatus } from '../daemon/node-status.js';
import type { StartPeerChart } from '../daemon/peer-chart.js';
import {
  type ConnectionTimings,
  defaultConnectionTimings,
} from '../machines/connection-timings.js';
import { defaultRelayLinkTimings } from '../machines/relay-link-timings.js';
import { RelayServer } from '../relay/server.js';
import { defaultQualityPolicy, type QualityPolicy } from '../services/path-quality.js';
import { createMemoryDevicePair, type MemoryDevice } from '../tap/memory-device.js';
import { type FaultMode, FaultProxy } from './fault-proxy.js';

export type NodeName = 'a' | 'b';

export interface LoopbackClusterOptions {
  timings?: Partial<ConnectionTimings>;
  /** Per-node overrides on top of `timings` (e.g. retry schedules that drift apart). */
  nodeTimings?: Partial<Record<NodeName, Partial<ConnectionTimings>>>;
  logger?: Logger;
  gapTimeoutMs?: number;
  /** Control addresses are not started here; the caller may start them. */
  mtu?: number;
  /** Overrides of the quality judge's policy (both nodes). */
  quality?: Partial<QualityPolicy>;
  /** How a node's peer chart is started (the model tests hand node a's to their driver). */
  startChart?: Partial<Record<NodeName, StartPeerChart>>;
  /** Which node gets the smaller key (it dials first in the tie-break); random when unset. */
  smallerKey?: NodeName;
  /**
   * Put a second FaultProxy between node b and the relay (`relayProxy`):
   * direction 'bToA' carries b → relay, 'aToB' relay → b.
   */
  relayProxyForB?: boolean;
  /** Use this relay (e.g. a hostile one in its own process) instead of starting one here. */
  relayUrl?: string;
}

export class LoopbackCluster {
  /** The relay started here; null when the nodes use options.relayUrl. */
  readonly relay: RelayServer | null;
  readonly relayUrl: string;
  readonly nodes: Record<NodeName, Node>;
  /** The far end of each node's device: write frames "from the host", read what arrives. */
  readonly hosts: Record<NodeName, MemoryDevice>;
  readonly proxy: FaultProxy;
  readonly identities: Record<NodeName, Identity>;
  /** Between node b and the relay when `relayProxyForB` was set. */
  relayProxy: FaultProxy | undefined;

  readonly #configs: Partial<Record<NodeName, NodeConfig>> = {};
  readonly #nodeOptions: Partial<Record<NodeName, NodeOptions>> = {};

  private constructor(
    relay: RelayServer | null,
    relayUrl: string,
    nodes: Record<NodeName, Node>,
    hosts: Record<NodeName, MemoryDevice>,
    proxy: FaultProxy,
    identities: Record<NodeName, Identity>,
  ) {
    this.relay = relay;
    this.relayUrl = relayUrl;
    this.nodes = nodes;
    this.hosts = hosts;
    this.proxy = proxy;
    this.identities = identities;
  }

  static async start(options: LoopbackClusterOptions = {}): Promise<LoopbackCluster> {
    await sodiumReady();
    const logger = options.logger ?? pino({ level: 'silent' });
    const relay = options.relayUrl
      ? null
      : new RelayServer({
          listen: { host: '127.0.0.1', port: 0 },
          logger: logger.child({ component: 'relay' }),
        });
    const { url, port: relayPort } = relay
      ? await relay.start()
      : { url: options.relayUrl!, port: Number(new URL(options.relayUrl!).port) };
    let identities = { a: await generateIdentity(), b: await generateIdentity() };
    if (
      options.smallerKey &&
      compareKeys(identities.a.publicKey, identities.b.publicKey) < 0 !==
        (options.smallerKey === 'a')
    )
      identities = { a: identities.b, b: identities.a };
    const relayProxy = options.relayProxyForB
      ? await FaultProxy.start({ a: relayPort })
      : undefined;
    const timings = { ...defaultConnectionTimings, ...options.timings };
    const made: Partial<Record<NodeName, Node>> = {};
    const configs: Partial<Record<NodeName, NodeConfig>> = {};
    const nodeOptions: Partial<Record<NodeName, NodeOptions>> = {};
    const hosts: Partial<Record<NodeName, MemoryDevice>> = {};
    let proxy: FaultProxy | undefined;
    try {
      for (const name of ['a', 'b'] as const) {
        const other = name === 'a' ? 'b' : 'a';
        const [device, host] = createMemoryDevicePair({
          names: [`sb-${name}`, `host-${name}`],
          mtu: options.mtu ?? 1500,
        });
        hosts[name] = host;
        const config: NodeConfig = {
          file: `(loopback cluster node ${name})`,
          keyFile: '',
          relays: [name === 'b' && relayProxy ? `ws://127.0.0.1:${relayProxy.toA}` : url],
          listen: { host: '127.0.0.1', port: 0 },
          control: { host: '127.0.0.1', port: 0 },
          controlAllowRemote: false,
          device: 'memory',
          tap: { name: `sb-${name}`, mtu: options.mtu ?? 1500 },
          peers: [
            {
              name: other,
              publicKey: identities[other].publicKey,
              publicKeyText: encodeKey(identities[other].publicKey),
            },
          ],
          timings: { ...timings, ...options.nodeTimings?.[name] },
          relayTimings: defaultRelayLinkTimings,
          quality: { ...defaultQualityPolicy, ...options.quality },
        };
        nodeOptions[name] = {
          logger: logger.child({ node: name }),
          identity: identities[name],
          deferRelay: true,
          gapTimeoutMs: options.gapTimeoutMs,
          startChart: options.startChart?.[name],
        };
        made[name] = await Node.start(config, { ...nodeOptions[name], device });
        // A restart listens where this node did: the fault proxy points there.
        configs[name] = {
          ...config,
          listen: { host: '127.0.0.1', port: made[name]!.listener.port },
        };
      }
      const nodes = made as Record<NodeName, Node>;
      proxy = await FaultProxy.start({ a: nodes.a.listener.port, b: nodes.b.listener.port });
      // Each node tells the relay the proxy's front for it, so the peer dials through the proxy.
      nodes.a.startRelay(proxy.toA);
      nodes.b.startRelay(proxy.toB);
      const cluster = new LoopbackCluster(
        relay,
        url,
        nodes,
        hosts as Record<NodeName, MemoryDevice>,
        proxy,
        identities,
      );
      cluster.relayProxy = relayProxy;
      Object.assign(cluster.#configs, configs);
      Object.assign(cluster.#nodeOptions, nodeOptions);
      return cluster;
    } catch (error) {
      await Promise.allSettled([
        ...Object.values(made).map((n) => n.close()),
        proxy?.close(),
        relayProxy?.close(),
        relay?.close(),
      ]);
      throw error;
    }
  }

  status(name: NodeName): PeerStatus {
    const peer = this.nodes[name].status().peers[0];
    if (!peer) throw new Error(`node ${name} has no peer`);
    return peer;
  }

  /** Resolves once `test` holds for node `name`'s peer, polling its status. */
  async waitFor(
    name: NodeName,
    test: (peer: PeerStatus) => boolean,
    timeoutMs = 20_000,
  ): Promise<PeerStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = this.status(name);
      if (test(status)) return status;
      if (Date.now() > deadline) {
        throw new Error(
          `node ${name}: condition not met within ${timeoutMs} ms (state ${status.state}, reason ${status.reason})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Restart node `name` as its process would: the same identity, config and
   * listen port, everything else new (sessions, handshake state, a fresh
   * device whose far end replaces hosts[name]). Resolves once it is started;
   * it connects to the relay as at first.
   */
  async restart(name: NodeName): Promise<Node> {
    await this.nodes[name].close();
    const [device, host] = createMemoryDevicePair({
      names: [`sb-${name}`, `host-${name}`],
      mtu: this.#configs[name]!.tap.mtu,
    });
    const node = await Node.start(this.#configs[name]!, { ...this.#nodeOptions[name]!, device });
    this.nodes[name] = node;
    this.hosts[name] = host;
    node.startRelay(name === 'a' ? this.proxy.toA : this.proxy.toB);
    return node;
  }

  /** Cut the direct path silently in both directions (the relay stays up). */
  cut(
    mode: FaultMode = { kind: 'blackhole' },
    direction: 'aToB' | 'bToA' | 'both' = 'both',
  ): Promise<void> {
    return this.proxy.set(direction, mode);
  }

  restore(): Promise<void> {
    return this.proxy.set('both', { kind: 'pass' });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.nodes.a.close(), this.nodes.b.close()]);
    await Promise.allSettled([this.proxy.close(), this.relayProxy?.close(), this.relay?.close()]);
  }
}
