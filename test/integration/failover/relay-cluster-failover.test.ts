/**
 * Nodes on a relay cluster: Debian's nats-server and three `switchback
 * relay --cluster` processes on loopback, two real nodes (in this process,
 * in-memory devices) with their own relay lists, on different relays.
 *
 *   1. Relay path (direct blocked): numbered frames both ways arrive exactly
 *      once, in order; a's relay is SIGKILLed: a moves to the next relay of
 *      its list, the cluster pairs the nodes again, traffic resumes under the
 *      same session; status, metrics and the inspector say where a is, and
 *      the dead relay leaves the others' presence within the expiry.
 *   2. Direct path: a's relay is killed while the peers talk directly; the
 *      link moves and their connection charts notice nothing.
 *   3. NATS killed and restarted: the nodes stay on their relays and the
 *      cross-relay traffic resumes by itself once NATS is back.
 *   4. The path to a's relay goes silent (a blackhole, no socket says so):
 *      a's pings go unanswered, RELAY_DEAD, and it moves on all the same.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sodiumReady } from '../../../src/crypto/sodium.js';
import { createNodeMetrics } from '../../../src/daemon/metrics.js';
import type { Node } from '../../../src/daemon/node.js';
import { defaultRelayLinkTimings } from '../../../src/machines/relay-link-timings.js';
import { FaultProxy } from '../../../src/testing/fault-proxy.js';
import type { StreamTally } from '../../../src/testing/numbered-traffic.js';
import {
  type ClusterNodes,
  type NumberedStream,
  startClusterNodes,
} from '../../support/cluster-nodes.js';
import {
  launchInspectorBrowser,
  openInspector,
  readEventLog,
} from '../../support/inspector-page.js';
import { type NatsServer, startNats } from '../../support/nats-server.js';
import { serveInspector } from '../inspector/helpers.js';
import {
  killRelays,
  type RelayProcess,
  startRelayProcess,
  waitFor,
} from '../relay/cluster-helpers.js';

let nats: NatsServer | undefined;
let nodes: ClusterNodes | undefined;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await sodiumReady();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await nodes?.close();
  nodes = undefined;
  await killRelays();
  await nats?.kill();
  nats = undefined;
});

/** nats-server and `count` relays that have all heard each other. */
async function cluster(count: number): Promise<RelayProcess[]> {
  nats = await startNats();
  const url = nats.url;
  const relays = await Promise.all(
    Array.from({ length: count }, (_, i) => startRelayProcess(`r${i + 1}`, url)),
  );
  for (const relay of relays) {
    await waitFor(
      `${relay.name} to hear the others`,
      async () => (await relay.metric('switchback_relay_cluster_relays')) === count - 1,
      20_000,
    );
  }
  return relays;
}

/** Both nodes paired through the relays, with a session. */
async function paired(cluster: ClusterNodes, path: 'relay' | 'direct' = 'relay'): Promise<void> {
  for (const name of ['a', 'b'] as const) {
    await cluster.waitFor(
      name,
      (p) =>
        p.paired &&
        p.lastHandshake !== null &&
        (path === 'relay' ? p.path === 'relay' : p.state === 'usingDirect.healthy'),
      30_000,
    );
  }
}

async function nodeMetrics(node: Node): Promise<string> {
  const metrics = createNodeMetrics(node);
  try {
    return await metrics.registry.metrics();
  } finally {
    metrics.close();
  }
}

/** The first frame written after `at` that arrived, and how long after `at` it arrived. */
function resumedAfter(stream: NumberedStream, at: number): { seq: number; ms: number } | null {
  for (let seq = 0; seq < stream.sent; seq++) {
    if (stream.sentAt[seq]! <= at) continue;
    const arrived = stream.tally.arrivals.get(seq);
    if (arrived !== undefined) return { seq, ms: arrived - at };
  }
  return null;
}

/** Frames numbered from `seq` on that never arrived. */
function lostFrom(tally: StreamTally, seq: number, sent: number): number {
  let lost = 0;
  for (let n = seq; n < sent; n++) if (!tally.has(n)) lost++;
  return lost;
}

describe('nodes on a relay cluster (nats-server, three relay processes, two nodes)', () => {
  it('relay path: exact streams both ways; the relay of one node is killed, it moves on and traffic resumes', async () => {
    const [r1, r2, r3] = await cluster(3);
    nodes = await startClusterNodes({
      a: [r1!.url, r2!.url, r3!.url],
      b: [r2!.url, r3!.url, r1!.url],
    });
    const { nodes: n } = nodes;
    await paired(nodes);
    // Each node on the first relay of its own list: a on r1, b on r2.
    expect(n.a.status().relay).toMatchObject({ url: r1!.url, index: 0, switches: 0 });
    expect(n.a.status().relay.relays.map((r) => r.state)).toEqual([
      'current',
      'standby',
      'standby',
    ]);
    expect(n.b.status().relay.url).toBe(r2!.url);
    expect(await nodeMetrics(n.a)).toMatch(
      new RegExp(`^switchback_relay_link_current\\{url="${r1!.url}"\\} 1$`, 'm'),
    );

    // 1. Numbered frames both ways through r1 → nats → r2: none lost, duplicated, reordered.
    const forth = nodes.stream('a');
    const back = nodes.stream('b');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const [there, here] = await Promise.all([forth.stop(), back.stop()]);
    for (const [tally, sent] of [
      [there, forth.sent],
      [here, back.sent],
    ] as const) {
      expect(sent).toBeGreaterThan(100);
      expect(tally.lost(sent)).toBe(0);
      expect(tally.duplicated).toBe(0);
      expect(tally.reordered).toBe(0);
    }
    // The relays say they carried it through the cluster.
    expect(await r1!.metric('switchback_relay_cluster_frames_sent_total')).toBeGreaterThan(100);
    expect(await r1!.metric('switchback_relay_cluster_bytes_received_total')).toBeGreaterThan(0);
    expect(await r2!.metric('switchback_relay_cluster_presence_entries')).toBeGreaterThanOrEqual(1);

    const handshakes = { a: nodes.peer('a').lastHandshake, b: nodes.peer('b').lastHandshake };
    const served = await serveInspector(n.a);
    cleanups.push(() => served.close());
    const browser = await launchInspectorBrowser();
    cleanups.push(() => browser.close());
    const page = await openInspector(browser, served.pageUrl);

    // 2. r1 dies without a goodbye while both streams run.
    const forth2 = nodes.stream('a');
    const back2 = nodes.stream('b');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = performance.now();
    await r1!.kill('SIGKILL');
    await waitFor(
      'a on r2',
      () => n.a.status().relay.url === r2!.url && n.a.status().relay.state === 'connected.steady',
      10_000,
    );
    await waitFor(
      'frames both ways again',
      () => resumedAfter(forth2, killedAt) !== null && resumedAfter(back2, killedAt) !== null,
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const resumed = {
      forth: resumedAfter(forth2, killedAt)!,
      back: resumedAfter(back2, killedAt)!,
    };
    const [there2, here2] = await Promise.all([forth2.stop(), back2.stop()]);
    console.log(
      `[relay cluster] r1 killed: a → b resumed after ${resumed.forth.ms.toFixed(0)} ms, b → a after ${resumed.back.ms.toFixed(0)} ms; lost a → b ${there2.lost(forth2.sent)} of ${forth2.sent}, b → a ${here2.lost(back2.sent)} of ${back2.sent}`,
    );
    for (const [tally, stream, first] of [
      [there2, forth2, resumed.forth.seq],
      [here2, back2, resumed.back.seq],
    ] as const) {
      expect(tally.duplicated).toBe(0);
      expect(tally.reordered).toBe(0);
      // Only frames around the kill are lost; everything from the first resumed one on arrives.
      expect(lostFrom(tally, first, stream.sent)).toBe(0);
      expect(stream.sent - first).toBeGreaterThan(100);
    }
    // The same session carried on: no new handshake, and nothing failed to open.
    expect(nodes.peer('a').lastHandshake).toBe(handshakes.a);
    expect(nodes.peer('b').lastHandshake).toBe(handshakes.b);
    for (const name of ['a', 'b'] as const) {
      for (const reason of Object.keys(nodes.peer(name).drops)) {
        expect(['RELAY_UNAVAILABLE', 'NO_PATH', 'GAP_SKIPPED']).toContain(reason);
      }
    }

    // 3. Status, metrics, the transition log and the inspector say where a went and why.
    const relay = n.a.status().relay;
    expect(relay).toMatchObject({
      url: r2!.url,
      index: 1,
      switches: 1,
      lastSwitch: { from: r1!.url, to: r2!.url, reason: 'RELAY_CLOSED' },
    });
    expect(relay.relays.map((r) => [r.state, r.lastError])).toEqual([
      ['failed', 'RELAY_CLOSED'],
      ['current', null],
      ['standby', null],
    ]);
    expect(n.b.status().relay).toMatchObject({ url: r2!.url, switches: 0 });
    const text = await nodeMetrics(n.a);
    expect(text).toMatch(
      new RegExp(`^switchback_relay_link_current\\{url="${r2!.url}"\\} 1$`, 'm'),
    );
    expect(text).toMatch(
      new RegExp(`^switchback_relay_link_current\\{url="${r1!.url}"\\} 0$`, 'm'),
    );
    expect(n.a.recentTransitions().filter((t) => t.relay)).toEqual([
      expect.objectContaining({
        machine: 'relayLink',
        from: 'connected.steady',
        reason: 'RELAY_CLOSED',
        relay: { from: r1!.url, to: r2!.url },
      }),
    ]);
    await page.waitForSelector(`#relay-list li[data-relay-url="${r2!.url}"][data-state="current"]`);
    expect(
      await page.$eval(`#relay-list li[data-relay-url="${r1!.url}"]`, (li) => li.textContent),
    ).toBe(`${r1!.url} · failed (RELAY_CLOSED)`);
    expect(await page.$eval('#relay-move', (el) => el.textContent)).toMatch(
      new RegExp(`^last move: ${r1!.url} → ${r2!.url}, RELAY_CLOSED, `),
    );
    expect((await readEventLog(page)).some((row) => row.chart === 'relay')).toBe(true);
    expect(
      await page.$$eval('#event-log .relay-moved', (els) => els.map((e) => e.textContent)),
    ).toContain(`${r1!.url} → ${r2!.url}`);

    // 4. The killed relay leaves the others' presence within the expiry (2 s + one 250 ms check).
    for (const relay of [r2!, r3!]) {
      const ms = await waitFor(
        `${relay.name} to forget r1`,
        async () => (await relay.metric('switchback_relay_cluster_relays')) === 1,
        10_000,
      );
      expect(performance.now() - killedAt).toBeGreaterThan(ms); // measured from the kill
    }
    expect(
      await r2!.metric('switchback_relay_cluster_relays_forgotten_total', 'cause="expired"'),
    ).toBe(1);
  }, 120_000);

  it('direct path: the relay of one node is killed; its link moves and the peers notice nothing', async () => {
    const [r1, r2, r3] = await cluster(3);
    nodes = await startClusterNodes(
      { a: [r1!.url, r2!.url, r3!.url], b: [r2!.url, r3!.url, r1!.url] },
      { direct: true },
    );
    await paired(nodes, 'direct');
    const before = { a: nodes.peer('a'), b: nodes.peer('b') };
    const forth = nodes.stream('a');
    const back = nodes.stream('b');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await r1!.kill('SIGKILL');
    await waitFor(
      'a on r2 and paired again',
      () =>
        nodes!.nodes.a.status().relay.url === r2!.url &&
        nodes!.nodes.a.status().relay.state === 'connected.steady' &&
        nodes!.peer('a').paired &&
        nodes!.peer('b').paired,
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [there, here] = await Promise.all([forth.stop(), back.stop()]);
    for (const [tally, sent] of [
      [there, forth.sent],
      [here, back.sent],
    ] as const) {
      expect(tally.lost(sent)).toBe(0);
      expect(tally.duplicated).toBe(0);
      expect(tally.reordered).toBe(0);
    }
    for (const name of ['a', 'b'] as const) {
      const now = nodes.peer(name);
      expect(now.state).toBe('usingDirect.healthy');
      expect(now.transitions).toBe(before[name].transitions);
      expect(now.fallbacks).toBe(before[name].fallbacks);
      expect(now.lastHandshake).toBe(before[name].lastHandshake);
    }
    expect(nodes.nodes.a.status().relay.switches).toBe(1);
  }, 120_000);

  it('NATS killed and restarted: the nodes stay on their relays; cross-relay traffic resumes by itself', async () => {
    const [r1, r2] = await cluster(2);
    nodes = await startClusterNodes({ a: [r1!.url, r2!.url], b: [r2!.url, r1!.url] });
    await paired(nodes);
    const forth = nodes.stream('a');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await nats!.kill();
    // The relays notice and, after the expiry, forget each other: the pair is gone.
    await waitFor(
      'r1 to lose nats',
      async () => (await r1!.metric('switchback_relay_cluster_up')) === 0,
    );
    await nodes.waitFor('a', (p) => !p.paired, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    nats = await nats!.restart();
    const backAt = performance.now();
    await waitFor('frames a → b again', () => resumedAfter(forth, backAt) !== null, 15_000);
    const resumed = resumedAfter(forth, backAt)!;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const tally = await forth.stop();
    console.log(
      `[relay cluster] nats restarted: a → b resumed ${resumed.ms.toFixed(0)} ms after nats was ready`,
    );
    // The bound: within 10 s of NATS returning.
    expect(resumed.ms).toBeLessThan(10_000);
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
    expect(lostFrom(tally, resumed.seq, forth.sent)).toBe(0);
    // A NATS outage is the relays' business: neither node moved.
    for (const name of ['a', 'b'] as const) {
      expect(nodes.nodes[name].status().relay.switches).toBe(0);
      expect(nodes.nodes[name].status().relay.state).toBe('connected.steady');
    }
  }, 120_000);

  it('a silent relay path (blackhole): no pong for deadAfter, RELAY_DEAD, the node moves on and traffic resumes', async () => {
    const [r1, r2] = await cluster(2);
    // Between node a and r1: a proxy that can swallow everything, FIN included.
    const proxy = await FaultProxy.start({ a: Number(new URL(r1!.url).port) });
    cleanups.push(() => proxy.close());
    const viaProxy = `ws://127.0.0.1:${proxy.toA}`;
    nodes = await startClusterNodes({ a: [viaProxy, r2!.url], b: [r2!.url] });
    await paired(nodes);
    const handshake = nodes.peer('a').lastHandshake;
    const forth = nodes.stream('a');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cutAt = performance.now();
    await proxy.set('both', { kind: 'blackhole' });
    await waitFor('frames a → b through r2', () => resumedAfter(forth, cutAt) !== null, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const resumed = resumedAfter(forth, cutAt)!;
    const tally = await forth.stop();
    const relay = nodes.nodes.a.status().relay;
    console.log(
      `[relay cluster] a's relay path blackholed: ${relay.lastSwitch?.reason}, a → b resumed after ${resumed.ms.toFixed(0)} ms (deadAfter ${defaultRelayLinkTimings.deadAfterMs} ms)`,
    );
    expect(relay).toMatchObject({
      url: r2!.url,
      state: 'connected.steady',
      lastSwitch: { from: viaProxy, to: r2!.url, reason: 'RELAY_DEAD' },
    });
    // Noticed by the link's own pings: deadAfter after the last pong, which
    // came at most one ping interval before the cut.
    expect(resumed.ms).toBeGreaterThan(
      defaultRelayLinkTimings.deadAfterMs - defaultRelayLinkTimings.pingIntervalMs,
    );
    expect(tally.duplicated).toBe(0);
    expect(tally.reordered).toBe(0);
    expect(lostFrom(tally, resumed.seq, forth.sent)).toBe(0);
    expect(nodes.peer('a').lastHandshake).toBe(handshake);
  }, 120_000);
});
