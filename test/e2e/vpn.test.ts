/**
 * Switchback end to end: a relay and two `switchback up` nodes as real
 * processes in three network namespaces, real TOML configs, real TAP devices
 * with overlay addresses, real ping and iperf3 across the overlay.
 *
 *   1. Both nodes meet through the relay and upgrade to the direct path:
 *      ping and iperf3 work, `switchback status --json` says "direct".
 *   2. nftables in a and b drop a↔b underlay traffic (the relay stays
 *      reachable): a continuous ping keeps going via the relay, status says
 *      "relay" and why.
 *   3. The rules go: the nodes go back to "direct" on their own.
 *
 * Run twice: once with short [timings] (fast), once on the defaults.
 * Needs root and /dev/net/tun; without them it fails, it never skips.
 * Every address used lives inside the namespaces this file creates (see
 * test/support/netns.ts); docs/e2e.md has the figures seen.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { PeerStatus, TransitionRecord } from '../../src/daemon/node-status.js';
import { defaultConnectionTimings } from '../../src/machines/connection-timings.js';
import { iperfTcp } from '../support/iperf.js';
import { cutPeer, execIn, restorePeer, spawnIn, stopProcess } from '../support/netns.js';
import { OVERLAY, until, type VpnNodes } from './netns-vpn.js';
import { netnsVpnForFile } from './netns-vpn-suite.js';
import { longestSilence, parsePingLog } from './ping-log.js';
import { peerStatus, switchback } from './switchback-cli.js';

/** Continuous ping interval during cut and restore (seconds, as ping -i takes it). */
const PING_INTERVAL_S = 0.05;

/** Short timings so a cut is noticed and healed in seconds (one of the two runs). */
const FAST_TIMINGS = {
  heartbeatIntervalMs: 100,
  suspectIntervalMs: 300,
  deadIntervalMs: 1_000,
  connectTimeoutMs: 1_000,
  dialDelayMs: 100,
  migrationTimeoutMs: 1_000,
  stableAfterMs: 5_000,
  retry: { baseMs: 500, capMs: 2_000, jitter: 0.2 },
};

const suite = netnsVpnForFile();
/** The nodes of the scenario running now (for transitions()). */
let running: VpnNodes | undefined;

/** The transition log (GET /transitions) of the node in `ns`. */
async function transitions(ns: string): Promise<TransitionRecord[]> {
  if (!running) throw new Error('no nodes running');
  return running.transitions(ns === suite.vpn.underlay.ns.a ? 'a' : 'b');
}

/** Starts both nodes with `timings` (undefined: defaults); stops them when `body` ends. */
async function withNodes(
  label: string,
  timings: typeof FAST_TIMINGS | undefined,
  body: (configs: { a: string; b: string }) => Promise<void>,
): Promise<void> {
  const nodes = await suite.vpn.startNodes(label, timings);
  running = nodes;
  try {
    await body(nodes.configs);
  } catch (error) {
    throw nodes.explain(error);
  } finally {
    running = undefined;
    await nodes.stop();
    for (const role of ['a', 'b'] as const) {
      const child = nodes.procs[role].child;
      expect(child.exitCode ?? child.signalCode).not.toBeNull();
    }
  }
}

/** Waits until a's view of b (and b's of a) has `path`; returns a's view. */
async function bothOnPath(
  configs: { a: string; b: string },
  path: PeerStatus['path'],
  ms: number,
): Promise<PeerStatus> {
  return until(`both nodes on path "${path}"`, ms, async () => {
    const a = await peerStatus(suite.vpn.underlay.ns.a, configs.a, 'b');
    if (a.path !== path) return undefined;
    const b = await peerStatus(suite.vpn.underlay.ns.b, configs.b, 'a');
    return b.path === path ? a : undefined;
  });
}

/** One ping burst over the overlay, a → b; returns how many came back. */
async function overlayPing(count: number): Promise<number> {
  const result = await execIn(
    suite.vpn.underlay.ns.a,
    'ping',
    ['-c', String(count), '-i', '0.2', '-W', '2', OVERLAY.b],
    { timeoutMs: 20_000 },
  );
  return Number(/(\d+) received/.exec(result.stdout)?.[1] ?? 0);
}

/**
 * The cut-and-restore scenario, with a ping every 50 ms running through it.
 * Returns the figures it printed.
 */
async function cutAndRestore(
  label: string,
  configs: { a: string; b: string },
  deadIntervalMs: number,
): Promise<void> {
  const { ns, addr } = suite.vpn.underlay;
  // Bounded: ping stops on its own after 60 s even if we never signal it.
  const pinger = spawnIn(ns.a, 'ping', [
    '-D',
    '-i',
    String(PING_INTERVAL_S),
    '-W',
    '1',
    '-w',
    '60',
    OVERLAY.b,
  ]);
  let log = '';
  pinger.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  try {
    await until('first continuous ping reply', 10_000, async () =>
      parsePingLog(log).replies.length > 0 ? true : undefined,
    );
    await sleep(1_000);

    // 2. Cut: a and b drop each other's underlay packets; both still reach the relay.
    const cutAt = Date.now() / 1000;
    await cutPeer(ns.a, addr.b);
    await cutPeer(ns.b, addr.a);
    const onRelay = await until('a falls back to the relay', deadIntervalMs + 15_000, async () => {
      const status = await peerStatus(ns.a, configs.a, 'b');
      return status.path === 'relay' ? status : undefined;
    });
    const fellBackAt = Date.now() / 1000;
    // The ping must keep going via the relay: fresh replies after the fallback.
    await until('ping replies via the relay', 10_000, async () =>
      parsePingLog(log).replies.some((reply) => reply.at > fellBackAt) ? true : undefined,
    );
    const relayPing = await switchback(ns.a, [
      'ping',
      'b',
      '--config',
      configs.a,
      '--json',
      '--count',
      '2',
    ]);
    // Hold the cut until a retry of the direct path has failed: a failed
    // upgrade must leave the relay path (and the ping on it) undisturbed.
    const history = await until('a retries the direct path and fails', 30_000, async () => {
      const all = await transitions(ns.a);
      const fellBack = all.findIndex((t) => t.at >= cutAt * 1000 && t.to.startsWith('fallingBack'));
      const retried = all
        .slice(fellBack + 1)
        .some((t) => t.from.startsWith('attemptingDirect') && t.to.startsWith('fallingBack'));
      return fellBack >= 0 && retried ? all : undefined;
    });
    const fallback = history.find((t) => t.at >= cutAt * 1000 && t.to.startsWith('fallingBack'));
    const failedRetry = history
      .filter((t) => t.at > (fallback?.at ?? 0) && t.from.startsWith('attemptingDirect'))
      .find((t) => t.to.startsWith('fallingBack'));

    // 3. Restore: the direct path comes back on its own (next retry).
    const restoreAt = Date.now() / 1000;
    await restorePeer(ns.a);
    await restorePeer(ns.b);
    const direct = await bothOnPath(configs, 'direct', 40_000);
    const directAt = Date.now() / 1000;
    await sleep(1_000);
    pinger.kill('SIGINT');
    await new Promise((resolve) => pinger.once('exit', resolve));

    const summary = parsePingLog(log);
    const cutGap = longestSilence(summary.replies, cutAt - 0.5, restoreAt);
    const restoreGap = longestSilence(summary.replies, restoreAt, directAt + 1);
    // A lost request belongs to the phase its neighbours' replies arrived in.
    const lastSeqBeforeRestore = Math.max(
      0,
      ...summary.replies.filter((r) => r.at < restoreAt).map((r) => r.seq),
    );
    // …and the relay phase starts with the first reply after the fallback completed.
    const firstSeqOnRelay = Math.min(
      Number.MAX_SAFE_INTEGER,
      ...summary.replies.filter((r) => r.at * 1000 > (fallback?.at ?? 0) + 200).map((r) => r.seq),
    );
    const lostAtCut = summary.lost.filter((seq) => seq < firstSeqOnRelay).length;
    const lostOnRelay = summary.lost.filter(
      (seq) => seq >= firstSeqOnRelay && seq <= lastSeqBeforeRestore,
    ).length;
    const lostAtRestore = summary.lost.filter((seq) => seq > lastSeqBeforeRestore).length;
    console.log(
      [
        `[e2e ${label}] cut: status "${onRelay.path}" ${onRelay.state} reason ${onRelay.reason} ${((fellBackAt - cutAt) * 1000).toFixed(0)} ms after the cut (status poll included)`,
        `[e2e ${label}] cut: fallback transition ${fallback ? `${fallback.from} -> ${fallback.to} (${fallback.reason}) ${(fallback.at - cutAt * 1000).toFixed(0)} ms after the cut` : 'not found'}`,
        `[e2e ${label}] cut: failed retry while cut ${failedRetry ? `${failedRetry.from} -> ${failedRetry.to} (${failedRetry.reason})` : 'not found'}; cut held ${(restoreAt - cutAt).toFixed(1)} s`,
        `[e2e ${label}] cut: longest ping silence ${cutGap.ms.toFixed(0)} ms; switchback ping via relay: ${relayPing.stdout.replace(/\s+/g, ' ').trim()}`,
        `[e2e ${label}] restore: "${direct.path}" ${direct.state} (${direct.reason}) ${((directAt - restoreAt) * 1000).toFixed(0)} ms after the restore; longest ping silence ${restoreGap.ms.toFixed(0)} ms`,
        `[e2e ${label}] pings: ${summary.sent} sent every ${PING_INTERVAL_S * 1000} ms, ${summary.lost.length} lost (${lostAtCut} at the cut, ${lostOnRelay} on the relay while retries failed, ${lostAtRestore} at the restore), ${summary.reordered} reordered, ${summary.duplicates} duplicated`,
      ].join('\n'),
    );

    expect(onRelay.path).toBe('relay');
    // Status keeps the failure on record; a retry already under way says RETRY or why it failed.
    expect(['HEARTBEAT_TIMEOUT', 'PEER_CLOSED', 'CLOSED', 'RETRY', 'DIAL_TIMEOUT']).toContain(
      onRelay.reason,
    );
    expect(
      fallback,
      `a fallingBack transition after the cut in ${JSON.stringify(history)}`,
    ).toBeDefined();
    expect(['HEARTBEAT_TIMEOUT', 'PEER_CLOSED', 'CLOSED']).toContain(fallback?.reason);
    expect(relayPing.code, relayPing.stderr).toBe(0);
    expect(relayPing.stdout).toContain('"path": "relay"');
    expect(direct.state).toMatch(/^usingDirect/);
    // The ping went on through the cut: silence bounded by the failover window
    // (dead interval plus slack for a loaded CI machine), not by the cut's length.
    expect(cutGap.ms).toBeLessThan(deadIntervalMs + 3_000);
    expect(summary.sent).toBeGreaterThan(50);
    // Loss bound: frames go on both paths from suspectInterval on, so fewer
    // pings are lost than were sent during the dead interval (what a node that
    // only switched at deadInterval would lose), however long the cut lasts.
    expect(lostAtCut).toBeLessThan(deadIntervalMs / (PING_INTERVAL_S * 1000));
    // A failed retry must not disturb the relay path, and a planned switch back
    // to direct (MIGRATE) should lose next to nothing.
    expect(lostOnRelay).toBeLessThanOrEqual(3);
    expect(lostAtRestore).toBeLessThanOrEqual(3);
  } finally {
    await stopProcess(pinger, { signal: 'SIGINT' });
    await restorePeer(ns.a).catch(() => {});
    await restorePeer(ns.b).catch(() => {});
  }
}

describe('switchback end to end across network namespaces', () => {
  it('short timings: ping and iperf3 over the direct path, fall back on a cut, return on restore', async () => {
    await withNodes('fast', FAST_TIMINGS, async (configs) => {
      // 1. Upgrade: relay first, then direct.
      const upgraded = await bothOnPath(configs, 'direct', 30_000);
      expect(upgraded.state).toMatch(/^usingDirect/);
      expect(upgraded.upgrades).toBeGreaterThanOrEqual(1);
      expect(await overlayPing(5)).toBe(5);

      const viaCli = await switchback(suite.vpn.underlay.ns.a, [
        'ping',
        'b',
        '--config',
        configs.a,
        '--count',
        '2',
      ]);
      expect(viaCli.code, viaCli.stderr).toBe(0);
      expect(viaCli.stdout).toMatch(/pong from b via direct/);

      // iperf3 over the overlay, bounded; retried while the server starts
      // or after a run that ended in an error (test/support/iperf.ts).
      {
        const report = await iperfTcp({
          clientNs: suite.vpn.underlay.ns.a,
          serverNs: suite.vpn.underlay.ns.b,
          serverAddress: OVERLAY.b,
          seconds: 3,
        });
        const mbps = report.end.sum_received.bits_per_second / 1e6;
        console.log(
          `[e2e fast] iperf3 a -> b over the direct path: ${mbps.toFixed(1)} Mbit/s received, ${(report.end.sum_received.bytes / 1e6).toFixed(1)} MB in ${report.end.sum_received.seconds.toFixed(1)} s, ${report.end.sum_sent.retransmits ?? 0} retransmits`,
        );
        expect(report.end.sum_received.bytes).toBeGreaterThan(0);
      }
      const after = await peerStatus(suite.vpn.underlay.ns.a, configs.a, 'b');
      console.log(
        `[e2e fast] after iperf3: path ${after.path} ${after.state} (${after.reason}), fallbacks ${after.fallbacks}`,
      );
      expect(after.path).toBe('direct');

      await cutAndRestore('fast', configs, FAST_TIMINGS.deadIntervalMs);
    });
  }, 100_000);

  it('default timings: direct after the upgrade, relay on a cut, direct again on restore', async () => {
    await withNodes('defaults', undefined, async (configs) => {
      const upgraded = await bothOnPath(configs, 'direct', 30_000);
      expect(upgraded.state).toMatch(/^usingDirect/);
      expect(await overlayPing(3)).toBe(3);
      await cutAndRestore('defaults', configs, defaultConnectionTimings.deadIntervalMs);
    });
  }, 100_000);
});
