import { describe, expect, it } from 'vitest';
import { formatStatus } from '../../../src/cli/status-command.js';
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
