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

  it('says when a direct peer is idle (its heartbeat at the idle pace)', () => {
    const now = Date.now();
    expect(pathCell(samplePeer({ path: 'direct', idle: true }), now)).toBe('direct, idle');
    expect(pathCell(samplePeer({ path: 'direct', idle: false }), now)).toBe('direct');
  });
});

describe('the relay lines', () => {
  it('with one relay: its URL, state, reason and our address, no position or move', () => {
    const lines = formatStatus(sampleStatus()).split('\n');
    expect(lines[1]).toBe(
      'relay   ws://127.0.0.1:7000  connected  (STARTED)  seen as 127.0.0.1:53422',
    );
    expect(lines.some((line) => line.startsWith('moved'))).toBe(false);
  });

  it('with a list: which relay of how many, and the last move between them', () => {
    const now = Date.now();
    const status = sampleStatus();
    status.relay = {
      ...status.relay,
      url: 'ws://127.0.0.1:7002',
      index: 1,
      relays: [
        {
          url: 'ws://127.0.0.1:7001',
          state: 'failed',
          lastError: 'RELAY_CLOSED',
          lastErrorAt: now,
        },
        { url: 'ws://127.0.0.1:7002', state: 'current', lastError: null, lastErrorAt: null },
        { url: 'ws://127.0.0.1:7003', state: 'standby', lastError: null, lastErrorAt: null },
      ],
      switches: 1,
      lastSwitch: {
        from: 'ws://127.0.0.1:7001',
        to: 'ws://127.0.0.1:7002',
        reason: 'RELAY_CLOSED',
        at: now - 3_000,
      },
    };
    const lines = formatStatus(status, now).split('\n');
    expect(lines[1]).toBe(
      'relay   ws://127.0.0.1:7002 (2/3)  connected  (STARTED)  seen as 127.0.0.1:53422',
    );
    expect(lines[2]).toBe('moved   from ws://127.0.0.1:7001 (RELAY_CLOSED) 3s ago, 1 move so far');
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
