// The ping-log reader the e2e figures rest on: lost, reordered, duplicated and
// the longest silence, from iputils `ping -D` output (no root needed).
import { describe, expect, it } from 'vitest';
import { longestSilence, parsePingLog } from './ping-log.js';

const line = (at: number, seq: number, dup = false) =>
  `[${at.toFixed(6)}] 64 bytes from 10.232.0.2: icmp_seq=${seq} ttl=64 time=0.52 ms${dup ? ' (DUP!)' : ''}`;

describe('parsePingLog', () => {
  it('counts lost, reordered and duplicated replies between the first and last answered', () => {
    const text = [
      'PING 10.232.0.2 (10.232.0.2) 56(84) bytes of data.',
      line(100.0, 1),
      line(100.05, 2),
      line(100.9, 5), // 3 and 4 lost … then 4 arrives late
      line(100.91, 4),
      line(100.92, 4, true),
      line(101.0, 6),
      '--- 10.232.0.2 ping statistics ---',
      '8 packets transmitted, 5 received, +1 duplicates, 37.5% packet loss, time 350ms',
    ].join('\n');
    const summary = parsePingLog(text);
    expect(summary.sent).toBe(6);
    expect(summary.lost).toEqual([3]);
    expect(summary.reordered).toBe(1);
    expect(summary.duplicates).toBe(1);
    expect(summary.replies).toHaveLength(6);
  });

  it('finds the longest silence inside a window', () => {
    const { replies } = parsePingLog(
      [line(1, 1), line(1.05, 2), line(1.9, 3), line(5, 4)].join('\n'),
    );
    const silence = longestSilence(replies, 0, 2);
    expect(silence.ms).toBeCloseTo(850, 0);
    expect(silence.from).toBe(1.05);
    expect(longestSilence(replies, 0, 6).ms).toBeCloseTo(3100, 0);
  });

  it('says nothing was sent when nothing was answered', () => {
    expect(parsePingLog('PING x\nRequest timeout\n')).toMatchObject({
      sent: 0,
      lost: [],
      reordered: 0,
    });
  });
});
