/**
 * The quiet heartbeat on a real network, end to end: a relay and two
 * `switchback up` nodes in three network namespaces, real TAP devices. A LAN
 * is never silent — router solicitations, MLD reports, mDNS, broadcasts now
 * and then — and that chatter must not hold a peer's heartbeat at its busy
 * pace, or an idle node would never be idle (docs/protocol.md §10.2):
 *
 *   1. Both nodes on the direct path, `idleAfterMs` 2 s. From a, a broadcast
 *      ping every 1.5 s across the overlay (b ignores broadcast echoes, so
 *      nothing unicast answers): the peer still turns idle on both sides and
 *      stays idle while the chatter goes on — `status` says so.
 *   2. One unicast ping a → b: both sides are busy again at once.
 *
 * Behaviour only; idle CPU is measured by `npm run bench:tunnel -- --only
 * idle`. Needs root and /dev/net/tun; without them it fails, it never skips.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { execIn, spawnIn, stopProcess } from '../support/netns.js';
import { OVERLAY, until } from './netns-vpn.js';
import { netnsVpnForFile } from './netns-vpn-suite.js';

const suite = netnsVpnForFile('sbq');

/** The overlay's broadcast address (OVERLAY is a /24 in the test's namespaces). */
const OVERLAY_BROADCAST = OVERLAY.a.replace(/\.\d+$/, '.255');

describe('the quiet heartbeat on real TAPs', () => {
  it('broadcast chatter leaves an idle peer idle; one unicast ping wakes it', async () => {
    const { vpn } = suite;
    const { underlay } = vpn;
    // b must not answer the broadcast echoes (the kernel's default, made sure).
    const sysctl = await execIn(underlay.ns.b, 'sysctl', [
      '-w',
      'net.ipv4.icmp_echo_ignore_broadcasts=1',
    ]);
    expect(sysctl.code, sysctl.stderr).toBe(0);
    const nodes = await vpn.startNodes('idle', { idleAfterMs: 2_000 });
    // 40 × 1.5 s bounds the chatter to 60 s; it is stopped well before that.
    const chatter = spawnIn(underlay.ns.a, 'ping', [
      '-b',
      '-n',
      '-i',
      '1.5',
      '-c',
      '40',
      OVERLAY_BROADCAST,
    ]);
    try {
      await nodes.bothOnPath('direct', 30_000);
      const idle = async () =>
        (await nodes.peer('a')).idle && (await nodes.peer('b')).idle ? true : undefined;
      await until('both sides idle despite the chatter', 15_000, idle);
      // Still idle over the next 4.5 s: three more broadcasts went by.
      for (let i = 0; i < 3; i++) {
        await sleep(1_500);
        const [a, b] = [await nodes.peer('a'), await nodes.peer('b')];
        expect([a.idle, b.idle, a.path]).toEqual([true, true, 'direct']);
      }
      const ping = await execIn(underlay.ns.a, 'ping', ['-n', '-c', '1', '-W', '2', OVERLAY.b]);
      expect(ping.code, ping.stdout).toBe(0);
      const [a, b] = [await nodes.peer('a'), await nodes.peer('b')];
      expect([a.idle, b.idle]).toEqual([false, false]);
    } catch (error) {
      throw nodes.explain(error);
    } finally {
      await stopProcess(chatter, { signal: 'SIGINT' });
      await nodes.stop();
    }
  }, 90_000);
});
