/**
 * TAP offload through the tunnel, end to end: a relay and two `switchback up`
 * nodes in three network namespaces (test/support/netns.ts), real TAP devices,
 * iperf3 TCP across the overlay on the direct path.
 *
 *   1. Both nodes with offload (the default): each node's TAP is offloaded,
 *      OFFLOAD_SUPERFRAMES is negotiated, iperf3 completes a → b and b → a,
 *      and what crossed was super-frames (the DATA frames' mean size is far
 *      above the MTU).
 *   2. A mixed pair, b with `--no-offload`: b's TAP is plain but it still
 *      takes super-frames, so OFFLOAD_SUPERFRAMES is negotiated; iperf3
 *      completes both ways, a's super-frames cross whole and b segments them
 *      (software GSO on receipt); b's plain frames cross as BATCHes (the
 *      frames of one read in one sealed message, BATCHED_DATA) and reach a's
 *      TAP behind an empty virtio-net header each.
 *   3. b with `--no-superframes` (as a peer that predates them): the
 *      capability is not negotiated, iperf3 completes both ways, each side
 *      splits its super-frames by software GSO before sealing (none reaches
 *      the other, which would drop it), and the segments of one read cross
 *      as BATCHes (BATCHED_DATA), not one sealed message each.
 *
 * Behaviour only; speed belongs to `npm run bench:tunnel`. Needs root and
 * /dev/net/tun; without them it fails, it never skips.
 */
import { describe, expect, it } from 'vitest';
import type { PeerStatus } from '../../src/daemon/node-status.js';
import { iperfTcp } from '../support/iperf.js';
import { OVERLAY, type Role, type VpnNodes } from './netns-vpn.js';
import { netnsVpnForFile } from './netns-vpn-suite.js';

/** An MTU-1400 frame sealed: 14 + 1400 (+ 4 VLAN) Ethernet, kind byte, DATA header, tag. */
const LARGEST_PLAIN_DATA_FRAME = 1418 + 1 + 18 + 16;

const suite = netnsVpnForFile('sbo');

async function withNodes(
  label: string,
  upFlags: Partial<Record<Role, readonly string[]>>,
  body: (nodes: VpnNodes) => Promise<void>,
): Promise<void> {
  const nodes = await suite.vpn.startNodes(label, undefined, upFlags);
  try {
    await body(nodes);
  } catch (error) {
    throw nodes.explain(error);
  } finally {
    await nodes.stop();
  }
}

/** iperf3 TCP from `from` to the other node over the overlay; the bytes received. */
async function iperf(from: Role, port: number): Promise<number> {
  const to: Role = from === 'a' ? 'b' : 'a';
  const report = await iperfTcp({
    clientNs: suite.vpn.underlay.ns[from],
    serverNs: suite.vpn.underlay.ns[to],
    serverAddress: OVERLAY[to],
    port,
    seconds: 2,
  });
  const { bytes, bits_per_second } = report.end.sum_received;
  console.log(
    `[e2e offload] iperf3 ${from} -> ${to}: ${(bits_per_second / 1e6).toFixed(1)} Mbit/s, ${(bytes / 1e6).toFixed(1)} MB`,
  );
  return bytes;
}

/** Mean sealed bytes per frame this node sent the peer on the direct path. */
function meanDirectFrame(peer: PeerStatus): number {
  const direct = peer.paths.direct;
  if (direct.framesSent === 0) throw new Error(`nothing sent direct: ${JSON.stringify(peer)}`);
  return direct.bytesSent / direct.framesSent;
}

describe('TAP offload through the tunnel (namespaces, real TAPs, iperf3)', () => {
  it('two offload nodes: OFFLOAD_SUPERFRAMES negotiated, iperf3 both ways on the direct path as super-frames', async () => {
    await withNodes('offload', {}, async (nodes) => {
      const { a, b } = await nodes.bothOnPath('direct', 30_000);
      expect(a.session?.capabilities).toContain('OFFLOAD_SUPERFRAMES');
      expect(b.session?.capabilities).toContain('OFFLOAD_SUPERFRAMES');
      expect((await nodes.status('a')).device.offload).toBe(true);
      expect((await nodes.status('b')).device.offload).toBe(true);
      expect(await iperf('a', 5201)).toBeGreaterThan(1_000_000);
      expect(await iperf('b', 5202)).toBeGreaterThan(1_000_000);
      const after = await nodes.peer('a');
      expect(after.path).toBe('direct');
      // TSO super-frames crossed whole: far more bytes per DATA frame than an MTU allows.
      expect(meanDirectFrame(after)).toBeGreaterThan(2 * LARGEST_PLAIN_DATA_FRAME);
      expect(after.drops.SUPERFRAME_NOT_NEGOTIATED ?? 0).toBe(0);
    });
  }, 120_000);

  it('a mixed pair (b --no-offload): negotiated, a sends super-frames whole, b segments them and batches its own frames', async () => {
    await withNodes('mixed', { b: ['--no-offload'] }, async (nodes) => {
      const { a, b } = await nodes.bothOnPath('direct', 30_000);
      expect(a.session?.capabilities).toContain('OFFLOAD_SUPERFRAMES');
      expect(b.session?.capabilities).toContain('OFFLOAD_SUPERFRAMES');
      expect((await nodes.status('a')).device.offload).toBe(true);
      expect((await nodes.status('b')).device.offload).toBe(false);
      expect(await iperf('a', 5203)).toBeGreaterThan(1_000_000);
      expect(await iperf('b', 5204)).toBeGreaterThan(1_000_000);
      const fromA = await nodes.peer('a');
      const atB = await nodes.peer('b');
      // a's TSO super-frames crossed whole; b's plain TAP gave plain frames,
      // and the frames of each read crossed as one BATCH (BATCHED_DATA).
      expect(a.session?.capabilities).toContain('BATCHED_DATA');
      expect(meanDirectFrame(fromA)).toBeGreaterThan(2 * LARGEST_PLAIN_DATA_FRAME);
      expect(meanDirectFrame(atB)).toBeGreaterThan(2 * LARGEST_PLAIN_DATA_FRAME);
      // b segmented every one of them (a bad one would be counted here).
      expect(atB.drops.GSO_UNSUPPORTED ?? 0).toBe(0);
      expect(atB.drops.GSO_MALFORMED ?? 0).toBe(0);
      expect(atB.drops.SUPERFRAME_NOT_NEGOTIATED ?? 0).toBe(0);
    });
  }, 120_000);

  it('b --no-superframes: not negotiated, iperf3 both ways, no super-frame on the wire, the split segments batched', async () => {
    await withNodes('nosuper', { b: ['--no-superframes'] }, async (nodes) => {
      const { a, b } = await nodes.bothOnPath('direct', 30_000);
      expect(a.session?.capabilities).not.toContain('OFFLOAD_SUPERFRAMES');
      expect(b.session?.capabilities).not.toContain('OFFLOAD_SUPERFRAMES');
      expect(a.session?.capabilities).toContain('BATCHED_DATA');
      expect((await nodes.status('a')).device.offload).toBe(true);
      expect((await nodes.status('b')).device.offload).toBe(true);
      expect(await iperf('a', 5205)).toBeGreaterThan(1_000_000);
      expect(await iperf('b', 5206)).toBeGreaterThan(1_000_000);
      const atA = await nodes.peer('a');
      const atB = await nodes.peer('b');
      // Each side split its TSO super-frames by software GSO: a SUPERFRAME
      // reaching the other would be dropped and counted there (and stall iperf3).
      for (const peer of [atA, atB]) {
        expect(peer.drops.SUPERFRAME_NOT_NEGOTIATED ?? 0).toBe(0);
        expect(peer.drops.GSO_UNSUPPORTED ?? 0).toBe(0);
        expect(peer.drops.GSO_MALFORMED ?? 0).toBe(0);
        // ...and sent the segments of each read as BATCHes, not one message each.
        expect(meanDirectFrame(peer)).toBeGreaterThan(2 * LARGEST_PLAIN_DATA_FRAME);
      }
    });
  }, 120_000);
});
