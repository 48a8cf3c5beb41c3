/**
 * A relay cluster end to end, in network namespaces, as users run it:
 * Debian's nats-server and two `switchback relay --cluster` processes in the
 * relay namespace, two `switchback up` nodes in a and b with real TOML
 * configs listing both relays in opposite orders (a on r1, b on r2), real
 * TAP devices, the direct a↔b path dropped by nftables from the start.
 *
 *   1. ping a → b over the overlay goes node a → r1 → nats → r2 → node b;
 *   2. r1 is killed (SIGKILL): node a moves to r2, the ping resumes within 5 s;
 *      `switchback status` says a is on r2 and why it moved.
 *
 * Needs root, /dev/net/tun and nats-server; without them it fails, never
 * skips. Every address used lives inside the namespaces made here
 * (test/support/netns.ts); nats-server listens on the relay namespace's own
 * 127.0.0.1.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NatsServer, natsServerPath, startNats } from '../support/nats-server.js';
import {
  assertNamespaceCapable,
  closeUnderlay,
  createUnderlay,
  cutPeer,
  execIn,
  listNamespaces,
  spawnIn,
  stopProcess,
  type Underlay,
} from '../support/netns.js';
import { longestSilence, parsePingLog } from './ping-log.js';
import { until, type WatchedProcess, watchOutput } from './process-output.js';
import { nodeStatus, peerStatus, spawnSwitchback, switchback } from './switchback-cli.js';

const OVERLAY = { a: '10.232.0.1', b: '10.232.0.2' };
const RELAY_PORTS = { r1: 7000, r2: 7001 };
const CONTROL = '127.0.0.1:7900';
/** ping -i: one echo request every 100 ms. */
const PING_INTERVAL_S = 0.1;
/** The issue's bound: after its relay is killed, a node's relay-path ping is back within this. */
const RESUME_WITHIN_MS = 5_000;

let underlay: Underlay;
let dir: string;
let nats: NatsServer | undefined;
const relays: Partial<Record<'r1' | 'r2', WatchedProcess>> = {};
const nodes: Partial<Record<'a' | 'b', WatchedProcess>> = {};
const keys = { a: '', b: '' };

const relayUrl = (name: 'r1' | 'r2') => `ws://${underlay.addr.relay}:${RELAY_PORTS[name]}`;

function nodeConfig(role: 'a' | 'b'): string {
  const other = role === 'a' ? 'b' : 'a';
  const list = role === 'a' ? ['r1', 'r2'] : ['r2', 'r1'];
  return [
    `key = "${role}.key"`,
    `relays = [${list.map((name) => `"${relayUrl(name as 'r1' | 'r2')}"`).join(', ')}]`,
    'listen = "0.0.0.0:7443"',
    `control = "${CONTROL}"`,
    '',
    '[tap]',
    'name = "sb0"',
    `address = "${OVERLAY[role]}/24"`,
    'mtu = 1400',
    '',
    '[[peers]]',
    `name = "${other}"`,
    `publicKey = "${keys[other]}"`,
    '',
  ].join('\n');
}

function startRelay(name: 'r1' | 'r2'): WatchedProcess {
  const relay = watchOutput(
    spawnSwitchback(underlay.ns.relay, [
      'relay',
      '--listen',
      `${underlay.addr.relay}:${RELAY_PORTS[name]}`,
      '--cluster',
      nats!.url,
      '--id',
      name,
    ]),
  );
  relays[name] = relay;
  return relay;
}

beforeAll(async () => {
  // Fails (never skips) where root, /dev/net/tun or nats-server is missing.
  assertNamespaceCapable();
  natsServerPath();
  underlay = await createUnderlay({ prefix: 'sbc' });
  dir = await mkdtemp(join(tmpdir(), 'switchback-e2e-cluster-'));
  for (const role of ['a', 'b'] as const) {
    const made = await switchback(underlay.ns[role], ['keygen', '--out', join(dir, `${role}.key`)]);
    expect(made.code, made.stderr).toBe(0);
    keys[role] = made.stdout.trim();
  }
  nats = await startNats({ netns: underlay.ns.relay });
  const [r1, r2] = [startRelay('r1'), startRelay('r2')];
  await r1.waitFor(/relay listening on/, 20_000);
  await r2.waitFor(/relay listening on/, 20_000);
  await r1.waitFor(/relay r2 joined the cluster/, 20_000);
  await r2.waitFor(/relay r1 joined the cluster/, 20_000);
}, 60_000);

afterAll(async () => {
  try {
    for (const daemon of [...Object.values(nodes), ...Object.values(relays)]) {
      await stopProcess(daemon!.child);
    }
    await nats?.kill();
  } finally {
    if (underlay) await closeUnderlay(underlay);
    if (dir) await rm(dir, { recursive: true, force: true });
  }
  if (underlay) expect(await listNamespaces(underlay.id)).toEqual([]);
});

describe('a relay cluster end to end across network namespaces', () => {
  it('ping over the overlay through two clustered relays; the first relay killed, the ping resumes within 5 s', async () => {
    const { ns, addr } = underlay;
    // The direct path is gone from the start: everything goes through the relays.
    await cutPeer(ns.a, addr.b);
    await cutPeer(ns.b, addr.a);
    const configs = { a: join(dir, 'a.toml'), b: join(dir, 'b.toml') };
    for (const role of ['a', 'b'] as const) {
      await writeFile(configs[role], nodeConfig(role));
      nodes[role] = watchOutput(spawnSwitchback(ns[role], ['up', '--config', configs[role]]));
    }
    let pinger: ReturnType<typeof spawnIn> | undefined;
    let log = '';
    try {
      await nodes.a!.waitFor(/"msg":"node up: /, 20_000);
      await nodes.b!.waitFor(/"msg":"node up: /, 20_000);
      // Each node on the first relay of its list; paired across the cluster, a session made.
      for (const [role, other] of [
        ['a', 'b'],
        ['b', 'a'],
      ] as const) {
        await until(`${role} paired with ${other} through the cluster`, 30_000, async () => {
          const peer = await peerStatus(ns[role], configs[role], other);
          return peer.paired && peer.lastHandshake !== null ? peer : undefined;
        });
      }
      const before = { a: await nodeStatus(ns.a, configs.a), b: await nodeStatus(ns.b, configs.b) };
      expect(before.a.relay.url).toBe(relayUrl('r1'));
      expect(before.b.relay.url).toBe(relayUrl('r2'));
      expect(before.a.peers[0]!.path).toBe('relay');
      // Bounded: ping stops on its own after 90 s even if never signalled.
      pinger = spawnIn(ns.a, 'ping', [
        '-D',
        '-i',
        String(PING_INTERVAL_S),
        '-W',
        '1',
        '-w',
        '90',
        OVERLAY.b,
      ]);
      pinger.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
      await until('ping replies through r1 and r2', 20_000, async () =>
        parsePingLog(log).replies.length >= 10 ? true : undefined,
      );

      // r1 dies without a goodbye.
      const killedAt = Date.now() / 1000;
      await stopProcess(relays.r1!.child, { signal: 'SIGKILL' });
      await until('ping replies after the kill', 20_000, async () =>
        parsePingLog(log).replies.some((reply) => reply.at > killedAt + 0.2) ? true : undefined,
      );
      await sleep(2_000);
      const after = await nodeStatus(ns.a, configs.a);
      await stopProcess(pinger, { signal: 'SIGINT' });

      const summary = parsePingLog(log);
      const silence = longestSilence(summary.replies, killedAt - 1, Date.now() / 1000);
      const firstAfter = summary.replies.find((reply) => reply.at > silence.from);
      console.log(
        [
          `[e2e relay cluster] r1 killed: longest ping silence ${silence.ms.toFixed(0)} ms (${(silence.from - killedAt).toFixed(2)} s → ${(silence.to - killedAt).toFixed(2)} s after the kill)`,
          `[e2e relay cluster] a now on ${after.relay.url} (${after.relay.state}), moved ${after.relay.switches}× from ${after.relay.lastSwitch?.from} (${after.relay.lastSwitch?.reason}); first reply after the gap: icmp_seq=${firstAfter?.seq} ${firstAfter?.rttMs} ms`,
          `[e2e relay cluster] pings: ${summary.sent} sent every ${PING_INTERVAL_S * 1000} ms, ${summary.lost.length} lost, ${summary.reordered} reordered, ${summary.duplicates} duplicated`,
        ].join('\n'),
      );
      expect(silence.ms).toBeLessThan(RESUME_WITHIN_MS);
      expect(after.relay).toMatchObject({
        url: relayUrl('r2'),
        state: 'connected.steady',
        switches: 1,
        lastSwitch: { from: relayUrl('r1'), to: relayUrl('r2'), reason: 'RELAY_CLOSED' },
      });
      expect(after.relay.relays.map((relay) => relay.state)).toEqual(['failed', 'current']);
      // The same session carried on through the move (no new end-to-end handshake).
      expect(after.peers[0]!.lastHandshake).toBe(before.a.peers[0]!.lastHandshake);
      expect(after.peers[0]!.path).toBe('relay');
      expect(summary.duplicates).toBe(0);
      // b never moved: its relay stayed up.
      expect((await nodeStatus(ns.b, configs.b)).relay).toMatchObject({
        url: relayUrl('r2'),
        switches: 0,
      });
      // Seen from b's namespace, through the overlay: the TAP path works both ways.
      const back = await execIn(ns.b, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', OVERLAY.a], {
        timeoutMs: 15_000,
      });
      expect(back.stdout).toMatch(/3 received/);
    } catch (error) {
      const tail = (text: string | undefined) => (text ?? '').split('\n').slice(-30).join('\n');
      throw new Error(
        `${(error as Error).message}\n--- node a ---\n${tail(nodes.a?.output())}\n--- node b ---\n${tail(nodes.b?.output())}\n--- r2 ---\n${tail(relays.r2?.output())}`,
        { cause: error },
      );
    } finally {
      if (pinger) await stopProcess(pinger, { signal: 'SIGINT' });
    }
  }, 120_000);
});
