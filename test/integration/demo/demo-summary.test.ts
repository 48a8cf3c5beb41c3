// The summary's arithmetic on hand-made streams: which losses the cut
// explains, which it does not, and that the verdict turns FAIL when the story
// did not happen. (Fast layer under the CLI run in demo-cli.test.ts.)
import { describe, expect, it } from 'vitest';
import { DEMO_TIMINGS } from '../../../src/daemon/demo/demo-plan.js';
import {
  type DemoTransition,
  formatSummary,
  type SummaryInput,
  summarize,
} from '../../../src/daemon/demo/demo-summary.js';
import type { DemoStream } from '../../../src/daemon/demo/demo-traffic.js';
import { StreamTally } from '../../../src/testing/numbered-traffic.js';

/** 100 frames, one every 10 ms from t=0; `arrive(seq)` gives its arrival time or null if lost. */
function stream(
  from: 'a' | 'b',
  arrive: (seq: number, sentAt: number) => number | null,
): DemoStream {
  const s: DemoStream = {
    from,
    to: from === 'a' ? 'b' : 'a',
    sent: 0,
    sendTimes: [],
    tally: new StreamTally(),
  };
  for (let seq = 0; seq < 100; seq++) {
    const sentAt = seq * 10;
    s.sent++;
    s.sendTimes.push(sentAt);
    const at = arrive(seq, sentAt);
    if (at !== null) s.tally.add(seq, at);
  }
  return s;
}

const CUT = 300;
const RESTORE = 700;
const fullStory: DemoTransition[] = (['a', 'b'] as const).flatMap((node) => [
  {
    atMs: 50,
    node,
    machine: 'connection',
    from: 'attemptingDirect.migrating',
    to: 'usingDirect.healthy',
    reason: 'UPGRADED',
  },
  {
    atMs: 400,
    node,
    machine: 'connection',
    from: 'usingDirect.healthy',
    to: 'usingDirect.suspect',
    reason: 'HEARTBEAT_MISSED',
  },
  {
    atMs: 550,
    node,
    machine: 'connection',
    from: 'usingDirect.suspect',
    to: 'fallingBack',
    reason: 'HEARTBEAT_TIMEOUT',
  },
  {
    atMs: 551,
    node,
    machine: 'connection',
    from: 'fallingBack',
    to: 'usingRelay',
    reason: 'HEARTBEAT_TIMEOUT',
  },
  {
    atMs: 820,
    node,
    machine: 'connection',
    from: 'attemptingDirect.migrating',
    to: 'usingDirect.healthy',
    reason: 'UPGRADED',
  },
]);

function input(streams: SummaryInput['streams'], transitions = fullStory): SummaryInput {
  return {
    durationS: 15,
    elapsedMs: 1_000,
    traffic: { framesPerSecond: 100, frameBytes: 300 },
    timingOverrides: DEMO_TIMINGS,
    phases: [],
    startedAt: 0,
    cutAt: CUT,
    restoredAt: RESTORE,
    streams,
    transitions,
  };
}

// Frames sent in [300, 400) vanish into the blackhole; from 400 on they take
// the relay and the first of them arrives at 450.
const cutLoses = (_seq: number, sentAt: number) =>
  sentAt >= CUT && sentAt < 400 ? null : Math.max(sentAt + 1, sentAt >= 400 ? 450 : 0);

describe('demo summary', () => {
  it('times failover and recovery and blames the cut for the frames it swallowed', () => {
    const summary = summarize(input({ aToB: stream('a', cutLoses), bToA: stream('b', cutLoses) }));
    expect(summary.verdict).toBe('PASS');
    expect(summary.failover).toMatchObject({
      reason: 'HEARTBEAT_TIMEOUT',
      firstFrameViaRelayMs: { aToB: 150, bToA: 150 },
      chartOnRelayMs: { a: 251, b: 251 },
      failoverMs: 150,
    });
    expect(summary.recovery).toEqual({ directHealthyMs: { a: 120, b: 120 }, recoveryMs: 120 });
    expect(summary.streams.aToB).toMatchObject({
      sent: 100,
      delivered: 90,
      lost: 10,
      lostInFailover: 10,
      lostElsewhere: 0,
    });
    expect(summary.verdictLine).toMatch(
      /^PASS: .* 20 of 200 frames lost, all sent between the cut/,
    );
    expect(formatSummary(summary)).toContain('usingDirect.suspect → fallingBack');
  });

  it('fails on frames lost outside the failover window, and on duplicates', () => {
    const alsoLate = (seq: number, sentAt: number) => (seq === 90 ? null : cutLoses(seq, sentAt));
    const aToB = stream('a', alsoLate);
    aToB.tally.add(95, 960); // a second copy
    const summary = summarize(input({ aToB, bToA: stream('b', cutLoses) }));
    expect(summary.verdict).toBe('FAIL');
    expect(summary.streams.aToB).toMatchObject({
      lost: 11,
      lostInFailover: 10,
      lostElsewhere: 1,
      duplicated: 1,
    });
    expect(summary.problems).toEqual([
      '1 frame(s) a→b lost outside the failover window',
      '1 frame(s) a→b delivered twice',
    ]);
  });

  it('fails when a node never fell back or never came back', () => {
    const withoutB = fullStory.filter((t) => t.node === 'a');
    const summary = summarize(
      input({ aToB: stream('a', cutLoses), bToA: stream('b', cutLoses) }, withoutB),
    );
    expect(summary.verdict).toBe('FAIL');
    expect(summary.problems).toEqual([
      'node b never fell back to the relay',
      'node b did not come back to usingDirect.healthy',
    ]);
    expect(summary.recovery.recoveryMs).toBeNull();
  });

  it('fails when nothing sent after the cut got through', () => {
    const blackout = (_seq: number, sentAt: number) => (sentAt >= CUT ? null : sentAt + 1);
    const summary = summarize(input({ aToB: stream('a', blackout), bToA: stream('b', cutLoses) }));
    expect(summary.verdict).toBe('FAIL');
    expect(summary.failover.firstFrameViaRelayMs.aToB).toBeNull();
    expect(summary.problems).toContain('no frame a→b sent after the cut was delivered');
  });
});
