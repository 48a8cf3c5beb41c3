/**
 * Issue 14: an untrusted relay can cause no outage. A hostile relay — a real
 * relay process on loopback that obeys the relay protocol but, on command,
 * records and replays any frame, duplicates, reorders, delays, truncates,
 * flips bits and injects random FORWARD payloads — between two real nodes
 * (TLS direct path through a fault proxy, in-memory devices). Over numbered
 * streams both ways, on the relay path and on the direct path:
 *   - no frame is delivered that was not sent, none twice, none out of order;
 *   - what the relay only delays, duplicates, reorders, replays or adds loses
 *     nothing; what it destroys (truncate, flip) loses at most those frames;
 *   - a replayed INIT — at once, after REPLAY_WAIT_MS (60 s by default), and
 *     after the responder restarted — loses 0 frames and changes no session;
 *   - every refusal is counted under a named reason, the same in the node's
 *     /status and /metrics (over its control API), and documented.
 *
 * REPLAY_WAIT_MS (env SWITCHBACK_REPLAY_WAIT_MS) may be shortened while
 * developing; the suite runs the real 60 s once: longer than every timer a
 * replay could meet — the previous session's grace (10 s), the slots' race
 * window (5 s), the handshake retry cap (30 s), the INIT guard's 20 ms and
 * 1 s budget — and a whole reservation of the initiator's timestamp clock.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type ControlServer, startControlServer } from '../../../src/daemon/control-server.js';
import { createNodeMetrics, type NodeMetrics } from '../../../src/daemon/metrics.js';
import type { Node } from '../../../src/daemon/node.js';
import type { NodeStatus, PeerStatus } from '../../../src/daemon/node-status.js';
import { keyId } from '../../../src/testing/hostile-relay.js';
import {
  LoopbackCluster,
  type LoopbackClusterOptions,
  type NodeName,
} from '../../../src/testing/loopback-cluster.js';
import {
  frameSeq,
  macOf,
  numberedFrame,
  StreamTally,
} from '../../../src/testing/numbered-traffic.js';
import { type HostileRelay, startHostileRelay } from '../../support/hostile-relay.js';

const REPLAY_WAIT_MS = Number(process.env.SWITCHBACK_REPLAY_WAIT_MS ?? 60_000);
const docs = readFileSync(resolve(import.meta.dirname, '../../../docs/cli.md'), 'utf8');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let relay: HostileRelay | undefined;
let cluster: LoopbackCluster | undefined;
const observers: Observer[] = [];

afterEach(async () => {
  for (const observer of observers.splice(0)) await observer.close();
  await cluster?.close();
  await relay?.stop();
  cluster = undefined;
  relay = undefined;
});

async function start(options: LoopbackClusterOptions = {}) {
  relay = await startHostileRelay();
  // a has the smaller key: its INIT wins first contact, so b is the responder.
  cluster = await LoopbackCluster.start({ relayUrl: relay.url, smallerKey: 'a', ...options });
  await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy');
  await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
  return { relay, cluster };
}

/** Move both to the relay path and keep them there (direct links reset, new ones too). */
async function onRelayOnly(c: LoopbackCluster) {
  await c.cut({ kind: 'reset' });
  await c.waitFor('a', (p) => p.state === 'usingRelay');
  await c.waitFor('b', (p) => p.state === 'usingRelay');
}

// --- observing a node through its control API ----------------------------

interface Observer {
  status(): Promise<PeerStatus>;
  metrics(): Promise<string>;
  close(): Promise<void>;
}

async function observe(node: Node): Promise<Observer> {
  const metrics: NodeMetrics = createNodeMetrics(node);
  const server: ControlServer = await startControlServer({
    host: '127.0.0.1',
    port: 0,
    observer: node,
    metrics: metrics.registry,
    token: 'hostile-relay-test',
    logger: pino({ level: 'silent' }),
  });
  const observer: Observer = {
    async status() {
      const status = (await (await fetch(`${server.url}/status`)).json()) as NodeStatus;
      return status.peers[0]!;
    },
    async metrics() {
      return (await fetch(`${server.url}/metrics`)).text();
    },
    async close() {
      metrics.close();
      await server.close();
    },
  };
  observers.push(observer);
  return observer;
}

/** Every drop and refusal in /status has a named UPPER_SNAKE reason, is
 * documented, and /metrics says the same count. Returns the drops. */
async function expectNamedRefusals(observer: Observer): Promise<Record<string, number>> {
  const { name, drops } = await observer.status();
  const text = await observer.metrics();
  for (const [reason, count] of Object.entries(drops)) {
    expect(reason).toMatch(/^[A-Z][A-Z0-9_]*$/);
    expect(docs, `${reason} is documented in docs/cli.md`).toContain(`\`${reason}\``);
    expect(text).toContain(
      `switchback_peer_drops_total{peer="${name}",reason="${reason}"} ${count}`,
    );
  }
  return drops;
}

// --- numbered streams both ways --------------------------------------------

interface Flow {
  tally: StreamTally;
  /** Frames that reached the host but carry no number of ours: never sent. */
  alien: number;
  /** Numbered frames with a number that was never sent. */
  unsent: number;
  sent: number;
}

/**
 * Sends `count` numbered frames each way, one every `intervalMs`, calling
 * `during(i)` before frame i; waits `settleMs` for stragglers.
 */
async function streams(
  c: LoopbackCluster,
  count: number,
  during?: (i: number) => unknown,
  { intervalMs = 3, settleMs = 800 } = {},
): Promise<Record<'aToB' | 'bToA', Flow>> {
  const flows = {
    aToB: { tally: new StreamTally(), alien: 0, unsent: 0, sent: 0 },
    bToA: { tally: new StreamTally(), alien: 0, unsent: 0, sent: 0 },
  };
  const tallyInto = (flow: Flow) => (frames: readonly Uint8Array[]) => {
    for (const frame of frames) {
      const seq = frameSeq(frame);
      if (seq === undefined) flow.alien++;
      else if (seq >= count) flow.unsent++;
      else flow.tally.add(seq);
    }
  };
  const offB = c.hosts.b.onFrames(tallyInto(flows.aToB));
  const offA = c.hosts.a.onFrames(tallyInto(flows.bToA));
  try {
    for (let i = 0; i < count; i++) {
      await during?.(i);
      c.hosts.a.write(numberedFrame(macOf(0xa), macOf(0xb), i));
      c.hosts.b.write(numberedFrame(macOf(0xb), macOf(0xa), i));
      flows.aToB.sent++;
      flows.bToA.sent++;
      await sleep(intervalMs);
    }
    await sleep(settleMs);
  } finally {
    offA();
    offB();
  }
  return flows;
}

/** Nothing unsent, nothing twice, nothing out of order; at most `maxLost` lost. */
function expectIntact(flows: Record<string, Flow>, maxLost = 0): void {
  for (const [direction, flow] of Object.entries(flows)) {
    const summary = {
      direction,
      alien: flow.alien,
      unsent: flow.unsent,
      duplicated: flow.tally.duplicated,
      reordered: flow.tally.reordered,
    };
    expect(summary).toEqual({ direction, alien: 0, unsent: 0, duplicated: 0, reordered: 0 });
    expect(flow.tally.lost(flow.sent), `${direction} lost`).toBeLessThanOrEqual(maxLost);
  }
}

const sessionOf = (c: LoopbackCluster, name: NodeName) =>
  c.nodes[name].peer(name === 'a' ? 'b' : 'a')!.session();

describe('a hostile relay between two real nodes', () => {
  it('on the relay path: duplicated, reordered, delayed, replayed and injected frames lose nothing', async () => {
    const { relay, cluster } = await start();
    await onRelayOnly(cluster);
    const [atA, atB] = [await observe(cluster.nodes.a), await observe(cluster.nodes.b)];
    const sessions = [sessionOf(cluster, 'a'), sessionOf(cluster, 'b')];
    const keys = {
      a: keyId(cluster.identities.a.publicKey),
      b: keyId(cluster.identities.b.publicKey),
    };

    for (const mode of [
      { kind: 'duplicate' },
      { kind: 'reorder', window: 4, flushMs: 10 },
      { kind: 'delay', ms: 40 },
    ] as const) {
      await relay.command({ op: 'mode', mode });
      const flows = await streams(cluster, 150);
      await relay.command({ op: 'mode', mode: { kind: 'pass' } });
      expectIntact(flows);
    }
    // Replays of everything recorded so far, and random FORWARDs, mid-stream.
    const flows = await streams(cluster, 200, async (i) => {
      if (i === 50) await relay.command({ op: 'replay', types: ['DATA', 'CONTROL'], last: 400 });
      if (i === 100) {
        await relay.command({ op: 'inject', from: keys.a, to: keys.b, count: 100 });
        await relay.command({ op: 'inject', from: keys.b, to: keys.a, count: 100 });
      }
    });
    expectIntact(flows);

    const stats = await relay.stats();
    expect(stats.duplicated).toBeGreaterThan(100);
    expect(stats.reordered).toBeGreaterThan(100);
    expect(stats.delayed).toBeGreaterThan(100);
    expect(stats.replayed).toBeGreaterThan(100);
    expect(stats.injected).toBe(200);
    // The copies and replays were refused by the replay windows, the junk by
    // the codec and the slots, each under its name, in status and /metrics.
    const dropsB = await expectNamedRefusals(atB);
    await expectNamedRefusals(atA);
    expect(dropsB.REPLAY).toBeGreaterThan(50);
    expect(Object.keys(dropsB).length).toBeGreaterThan(2);
    // Nothing the relay did replaced a session.
    expect([sessionOf(cluster, 'a'), sessionOf(cluster, 'b')]).toEqual(sessions);
  });

  it('on the relay path: truncated and bit-flipped frames are lost, never delivered wrong', async () => {
    const { relay, cluster } = await start();
    await onRelayOnly(cluster);
    const atB = await observe(cluster.nodes.b);
    let destroyed = 0;
    for (const mode of [
      { kind: 'truncate', every: 7 },
      { kind: 'flip', every: 7 },
    ] as const) {
      const before = await relay.stats();
      await relay.command({ op: 'mode', mode, types: ['DATA'] });
      const flows = await streams(cluster, 150);
      await relay.command({ op: 'mode', mode: { kind: 'pass' } });
      const after = await relay.stats();
      const hit = after.truncated + after.flipped - before.truncated - before.flipped;
      destroyed += hit;
      expect(hit).toBeGreaterThan(10);
      expectIntact(flows, hit);
    }
    const drops = await expectNamedRefusals(atB);
    const refused = Object.entries(drops)
      .filter(([reason]) => reason !== 'GAP_SKIPPED')
      .reduce((sum, [, n]) => sum + n, 0);
    expect(refused).toBeGreaterThan(destroyed / 4); // b refused its share, by name
    expect(drops.DECRYPT_FAILED ?? 0).toBeGreaterThan(0);
  });

  it('on the direct path: whatever the relay replays, duplicates, flips or injects, the stream is intact', async () => {
    const { relay, cluster } = await start();
    const [atA, atB] = [await observe(cluster.nodes.a), await observe(cluster.nodes.b)];
    const handshakes = [(await atA.status()).lastHandshake, (await atB.status()).lastHandshake];
    const keys = {
      a: keyId(cluster.identities.a.publicKey),
      b: keyId(cluster.identities.b.publicKey),
    };
    await relay.command({ op: 'mode', mode: { kind: 'duplicate' } });
    const flows = await streams(cluster, 300, async (i) => {
      if (i === 60) await relay.command({ op: 'replay' }); // every frame it ever carried
      if (i === 120) await relay.command({ op: 'mode', mode: { kind: 'flip', every: 2 } });
      if (i === 180) await relay.command({ op: 'inject', from: keys.a, to: keys.b, count: 150 });
      if (i === 240) await relay.command({ op: 'replay', types: ['HANDSHAKE_INIT'], copies: 3 });
    });
    await relay.command({ op: 'mode', mode: { kind: 'pass' } });
    expectIntact(flows);
    expect((await atA.status()).state).toMatch(/^usingDirect/);
    expect((await atB.status()).state).toMatch(/^usingDirect/);
    expect([(await atA.status()).lastHandshake, (await atB.status()).lastHandshake]).toEqual(
      handshakes,
    );
    const drops = await expectNamedRefusals(atB);
    await expectNamedRefusals(atA);
    expect(drops.INIT_REPLAYED ?? 0).toBeGreaterThan(0);
  });
});

describe('a replayed INIT loses 0 frames', () => {
  /** Streams both ways while the relay replays every INIT (and RESP) it recorded. */
  async function replayDuringStreams(relay: HostileRelay, c: LoopbackCluster) {
    const sessions = [sessionOf(c, 'a'), sessionOf(c, 'b')];
    const flows = await streams(c, 300, async (i) => {
      if (i === 100) await relay.command({ op: 'replay', types: ['HANDSHAKE_INIT'] });
      if (i === 150)
        await relay.command({
          op: 'replay',
          types: ['HANDSHAKE_INIT', 'HANDSHAKE_RESP'],
          copies: 5,
        });
    });
    expectIntact(flows);
    // Current sessions unchanged both sides: nothing to recover from.
    expect([sessionOf(c, 'a'), sessionOf(c, 'b')]).toEqual(sessions);
  }

  it('at once, on the direct path and on the relay path', async () => {
    const { relay, cluster } = await start();
    const atB = await observe(cluster.nodes.b);
    await replayDuringStreams(relay, cluster);
    await onRelayOnly(cluster);
    await replayDuringStreams(relay, cluster);
    const drops = await expectNamedRefusals(atB);
    expect(drops.INIT_REPLAYED ?? 0).toBeGreaterThan(0);
    expect(drops.UNKNOWN_SESSION ?? 0).toBe(0);
    expect(drops.DECRYPT_FAILED ?? 0).toBe(0);
  });

  it(`after ${REPLAY_WAIT_MS / 1000} s`, { timeout: REPLAY_WAIT_MS + 60_000 }, async () => {
    const { relay, cluster } = await start();
    const atB = await observe(cluster.nodes.b);
    await sleep(REPLAY_WAIT_MS);
    await replayDuringStreams(relay, cluster);
    const drops = await expectNamedRefusals(atB);
    expect(drops.INIT_REPLAYED ?? 0).toBeGreaterThan(0);
    expect(drops.UNKNOWN_SESSION ?? 0).toBe(0);
  });

  it('after the responder restarted', { timeout: 60_000 }, async () => {
    const { relay, cluster } = await start();
    // a's INIT won first contact: b answered it. b restarts (new process
    // state, same key): its INIT guard no longer knows a's old timestamp.
    expect(sessionOf(cluster, 'b')!.role).toBe('responder');
    await cluster.restart('b');
    await cluster.waitFor('a', (p) => p.state === 'usingDirect.healthy' && p.upgrades >= 2);
    await cluster.waitFor('b', (p) => p.state === 'usingDirect.healthy');
    const [atA, atB] = [await observe(cluster.nodes.a), await observe(cluster.nodes.b)];
    await replayDuringStreams(relay, cluster);
    // The old INIT was new to b: answered and held in next, which nobody can
    // promote; its RESP answered no INIT of a's.
    expect((await atB.status()).session?.holdsNext).toBe(true);
    const dropsA = await expectNamedRefusals(atA);
    expect(dropsA.HANDSHAKE_STATE ?? 0).toBeGreaterThan(0);
    await expectNamedRefusals(atB);
    // And on the relay path too.
    await onRelayOnly(cluster);
    await replayDuringStreams(relay, cluster);
    await expectNamedRefusals(atB);
  });
});
