// `switchback demo` as a new user runs it: the real CLI, the whole story
// (direct, cut, fallback, relay, restore, direct again), and a summary that
// must agree with the transitions and the frame counts it reports.
import { describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../../src/daemon/demo/demo-summary.js';
import { runCli } from '../cli/run-cli.js';
import { runDemoCli } from './run-demo-cli.js';

/** The connection-chart states node `node` went through, in order. */
function path(summary: DemoSummary, node: 'a' | 'b'): string[] {
  return summary.transitions
    .filter((t) => t.node === node && t.machine === 'connection')
    .map((t) => `${t.from} -> ${t.to}`);
}

describe('switchback demo', () => {
  it('runs the whole story by itself and prints a summary that matches it', {
    timeout: 90_000,
  }, async () => {
    const result = await runDemoCli(['--json', '--duration', '15'], { timeoutMs: 80_000 });
    expect(result.stderr).toContain('inspector (node a): http://127.0.0.1:');
    expect(result.stderr).toMatch(/inspector\?token=\S+/);
    expect(result.code).toBe(0);
    // --json: stdout is the summary and nothing else.
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]!) as DemoSummary;

    expect(summary.verdict).toBe('PASS');
    expect(summary.problems).toEqual([]);
    expect(summary.durationS).toBe(15);
    expect(summary.phases.map((p) => p.name)).toEqual([
      'start',
      'direct',
      'cut',
      'restored',
      'drain',
    ]);

    // The story, per node: up direct, suspect, fall back on HEARTBEAT_TIMEOUT,
    // and back to usingDirect.healthy after the restore.
    for (const node of ['a', 'b'] as const) {
      const steps = path(summary, node);
      const firstDirect = steps.indexOf('attemptingDirect.migrating -> usingDirect.healthy');
      const suspect = steps.indexOf('usingDirect.healthy -> usingDirect.suspect', firstDirect);
      const fallingBack = steps.indexOf('usingDirect.suspect -> fallingBack', suspect);
      const onRelay = steps.indexOf('fallingBack -> usingRelay', fallingBack);
      const backDirect = steps.lastIndexOf('attemptingDirect.migrating -> usingDirect.healthy');
      expect(firstDirect).toBeGreaterThanOrEqual(0);
      expect(suspect).toBeGreaterThan(firstDirect);
      expect(fallingBack).toBeGreaterThan(suspect);
      expect(onRelay).toBe(fallingBack + 1);
      expect(backDirect).toBeGreaterThan(onRelay);
      const fallback = summary.transitions.find(
        (t) => t.node === node && t.from === 'usingDirect.suspect' && t.to === 'fallingBack',
      );
      expect(fallback?.reason).toBe('HEARTBEAT_TIMEOUT');
      // The timings agree with the transitions they were taken from.
      expect(summary.failover.chartOnRelayMs[node]).toBe(
        summary.transitions.find(
          (t) => t.node === node && t.to === 'usingRelay' && t.atMs >= summary.cutAtMs!,
        )!.atMs - summary.cutAtMs!,
      );
      expect(summary.recovery.directHealthyMs[node]).toBeGreaterThan(0);
    }
    expect(summary.failover.reason).toBe('HEARTBEAT_TIMEOUT');
    expect(summary.cutAtMs).toBeGreaterThan(0);
    expect(summary.restoredAtMs).toBeGreaterThan(summary.cutAtMs!);

    // Failover: frames sent after the cut reached the far host (via the relay,
    // the only path left) and no later than the chart settled on the relay.
    expect(summary.failover.failoverMs).toBeGreaterThan(0);
    for (const direction of ['aToB', 'bToA'] as const) {
      const first = summary.failover.firstFrameViaRelayMs[direction]!;
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(summary.failover.failoverMs!);
    }
    expect(summary.recovery.recoveryMs).toBe(
      Math.max(summary.recovery.directHealthyMs.a!, summary.recovery.directHealthyMs.b!),
    );

    // Frame counts add up, and every loss falls in the failover window.
    for (const direction of ['aToB', 'bToA'] as const) {
      const s = summary.streams[direction];
      expect(s.sent).toBeGreaterThan(1_000);
      expect(s.delivered + s.lost).toBe(s.sent);
      expect(s.lostInFailover + s.lostElsewhere).toBe(s.lost);
      expect(s.lostElsewhere).toBe(0);
      expect(s.duplicated).toBe(0);
      expect(s.reordered).toBe(0);
    }
  });

  it('--help lists every option and the exit codes', async () => {
    const result = await runCli(['demo', '--help']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: switchback demo /);
    for (const flag of ['--duration SECONDS', '--json', '--help'])
      expect(result.stdout).toContain(flag);
    expect(result.stdout).toMatch(/Exit codes: 0 /);
  });

  it('refuses a --duration out of range in one line, exit 2', async () => {
    const result = await runCli(['demo', '--duration', '5']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^switchback demo: --duration 5 is out of range; write .* 15 to 600\n$/,
    );
  });

  it('refuses an unknown flag in one line, exit 2', async () => {
    const result = await runCli(['demo', '--netns']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^switchback demo: .*--netns.*; see switchback demo --help\n$/);
  });

  it('stops, cleans up and exits 130 on Ctrl-C', { timeout: 30_000 }, async () => {
    const result = await runDemoCli(['--duration', '15'], {
      timeoutMs: 20_000,
      interruptWhen: 'phase 2/5',
    });
    // Exited by itself (not killed by the timeout) with the interrupted code.
    expect(result).toMatchObject({ code: 130, signal: null });
    expect(result.stderr).toBe('switchback demo: interrupted; everything it started is stopped\n');
    expect(result.stdout).not.toContain('summary:');
  });
});
