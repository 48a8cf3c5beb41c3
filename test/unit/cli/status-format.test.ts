import { describe, expect, it } from 'vitest';
import { formatStatus, pathCell } from '../../../src/cli/status-command.js';
import { samplePeer, sampleStatus } from '../../integration/control/fake-observer.js';

describe('status table', () => {
  it('shows a peer the relay has not paired as offline, without stale RTT or loss', () => {
    const status = { ...sampleStatus(), peers: [samplePeer({ name: 'gone', paired: false })] };
    const row = formatStatus(status)
      .split('\n')
      .find((line) => line.startsWith('gone'))!;
    expect(row.split(/\s{2,}/).slice(0, 2)).toEqual(['gone', 'offline']);
    expect(row).not.toMatch(/ms\//);
  });

  it('shows a paired peer with its path and RTTs', () => {
    const status = { ...sampleStatus(), peers: [samplePeer({ name: 'here', paired: true })] };
    const row = formatStatus(status)
      .split('\n')
      .find((line) => line.startsWith('here'))!;
    expect(row).not.toContain('offline');
    expect(row).toMatch(/ms\//);
  });
});

describe('the PATH cell on the relay', () => {
  const now = 1_000_000;

  it('keeps the fallback reason and its age beside the next retry', () => {
    const peer = samplePeer({
      path: 'relay',
      state: 'usingRelay',
      reason: 'DIAL_TIMEOUT', // a later failed retry: the chart's latest reason
      lastFallback: { reason: 'HEARTBEAT_TIMEOUT', at: now - 12_000 },
      nextAttemptAt: now + 8_000,
    });
    expect(pathCell(peer, now)).toBe('relay 12s (HEARTBEAT_TIMEOUT), next try in 8s');
  });

  it('says when an attempt is under way, and shows no fallback that never happened', () => {
    const peer = samplePeer({
      path: 'relay',
      state: 'attemptingDirect.dialing',
      lastFallback: null,
      nextAttemptAt: null,
    });
    expect(pathCell(peer, now)).toBe('relay, trying direct');
  });

  it('is the path alone when direct', () => {
    expect(pathCell(samplePeer({ path: 'direct' }), now)).toBe('direct');
  });
});

describe('RTT cells', () => {
  it('say "stale" for a path that stopped answering, not its old figure', () => {
    const base = samplePeer();
    const peer = samplePeer({
      paths: {
        ...base.paths,
        direct: { ...base.paths.direct, rttMs: null, jitterMs: null, loss: null, stale: true },
      },
    });
    const row = formatStatus({ ...sampleStatus(), peers: [peer] })
      .split('\n')
      .find((line) => line.startsWith(peer.name))!;
    expect(row).toMatch(/stale\/\d/);
  });
});
