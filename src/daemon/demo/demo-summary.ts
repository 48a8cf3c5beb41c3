/**
 * The demo's summary: what the run measured, computed from the numbered
 * streams and the transitions the nodes recorded, plus its plain-text form.
 * `switchback demo --json` prints DemoSummary as is; docs/demo.md explains
 * each field.
 */
import type { ConnectionTimings } from '../../machines/connection-timings.js';
import type { NodeName } from '../../testing/loopback-cluster.js';
import type { TransitionRecord } from '../node-status.js';
import { type DemoStream, DIRECTIONS, type DirectionName } from './demo-traffic.js';

/** One chart transition, timed from the start of the demo. */
export interface DemoTransition {
  /** ms since the demo started. */
  atMs: number;
  node: NodeName;
  machine: TransitionRecord['machine'];
  from: string;
  to: string;
  reason: string;
}

export interface StreamSummary {
  from: NodeName;
  to: NodeName;
  sent: number;
  /** Distinct frames that reached the far host. */
  delivered: number;
  /** sent − delivered. */
  lost: number;
  /** Of `lost`, frames sent while the cut was not yet worked around (see failoverWindow). */
  lostInFailover: number;
  /** Of `lost`, all others: a planned switch or a steady path should lose nothing. */
  lostElsewhere: number;
  /** Copies delivered twice (both paths while suspect; the replay window should stop them). */
  duplicated: number;
  /** Frames delivered after a later-numbered one. */
  reordered: number;
}

export interface DemoPhaseRecord {
  name: string;
  startMs: number;
  endMs: number;
}

export interface DemoSummary {
  /** PASS when the story happened as designed (see `problems` otherwise). */
  verdict: 'PASS' | 'FAIL';
  /** One line for people. */
  verdictLine: string;
  /** Why the verdict is FAIL; empty on PASS. */
  problems: string[];
  durationS: number;
  /** Wall time of the whole run, start-up included. */
  elapsedMs: number;
  traffic: { framesPerSecond: number; frameBytes: number };
  /** Timings changed from the daemon's defaults for the demo. */
  timingOverrides: Partial<ConnectionTimings>;
  phases: DemoPhaseRecord[];
  /** ms since start when the direct path was blackholed / restored; null if never. */
  cutAtMs: number | null;
  restoredAtMs: number | null;
  failover: {
    /** Why the chart left the direct path (HEARTBEAT_TIMEOUT for a blackhole). */
    reason: string | null;
    /** Cut → first frame sent after the cut delivered (it can only have come via the relay). */
    firstFrameViaRelayMs: Record<DirectionName, number | null>;
    /** Cut → the node's chart in usingRelay. */
    chartOnRelayMs: Record<NodeName, number | null>;
    /** The larger of firstFrameViaRelayMs: traffic flows both ways again. */
    failoverMs: number | null;
  };
  recovery: {
    /** Restore → the node's chart in usingDirect.healthy. */
    directHealthyMs: Record<NodeName, number | null>;
    /** The larger of directHealthyMs. */
    recoveryMs: number | null;
  };
  streams: Record<DirectionName, StreamSummary>;
  transitions: DemoTransition[];
}

/**
 * Frames sent this long before the cut may still have been on their way
 * through the direct path's sockets when it went dark; their loss is the
 * cut's, not a bug.
 */
export const IN_FLIGHT_MS = 100;

export interface SummaryInput {
  durationS: number;
  elapsedMs: number;
  traffic: { framesPerSecond: number; frameBytes: number };
  timingOverrides: Partial<ConnectionTimings>;
  phases: DemoPhaseRecord[];
  /** performance.now() of the demo's start, the cut, the restore. */
  startedAt: number;
  cutAt: number | null;
  restoredAt: number | null;
  streams: Record<DirectionName, DemoStream>;
  transitions: DemoTransition[];
}

export function summarize(input: SummaryInput): DemoSummary {
  const { startedAt, cutAt, restoredAt, transitions } = input;
  const rel = (at: number | null) => (at === null ? null : Math.round(at - startedAt));
  const cutAtMs = rel(cutAt);
  const restoredAtMs = rel(restoredAt);

  const firstFrameViaRelayMs = {} as Record<DirectionName, number | null>;
  const streams = {} as Record<DirectionName, StreamSummary>;
  for (const direction of DIRECTIONS) {
    const stream = input.streams[direction];
    const firstRelay = cutAt === null ? null : firstArrivalSentAfter(stream, cutAt);
    firstFrameViaRelayMs[direction] =
      firstRelay === null || cutAt === null ? null : round1(firstRelay - cutAt);
    streams[direction] = summarizeStream(stream, cutAt, firstRelay ?? restoredAt);
  }

  const firstAfter = (node: NodeName, to: string, since: number | null) =>
    since === null
      ? undefined
      : transitions.find(
          (t) => t.node === node && t.machine === 'connection' && t.to === to && t.atMs >= since,
        );
  const chartOnRelayMs = {} as Record<NodeName, number | null>;
  const directHealthyMs = {} as Record<NodeName, number | null>;
  let reason: string | null = null;
  for (const node of ['a', 'b'] as const) {
    const onRelay = firstAfter(node, 'usingRelay', cutAtMs);
    chartOnRelayMs[node] = onRelay && cutAtMs !== null ? onRelay.atMs - cutAtMs : null;
    const fallingBack = firstAfter(node, 'fallingBack', cutAtMs);
    reason ??= fallingBack?.reason ?? null;
    const healthy = firstAfter(node, 'usingDirect.healthy', restoredAtMs);
    directHealthyMs[node] = healthy && restoredAtMs !== null ? healthy.atMs - restoredAtMs : null;
  }
  const failoverMs = maxOrNull(Object.values(firstFrameViaRelayMs));
  const recoveryMs = maxOrNull(Object.values(directHealthyMs));

  const problems = findProblems({
    cutAtMs,
    restoredAtMs,
    chartOnRelayMs,
    firstFrameViaRelayMs,
    directHealthyMs,
    streams,
  });
  const summary: DemoSummary = {
    verdict: problems.length === 0 ? 'PASS' : 'FAIL',
    verdictLine: '',
    problems,
    durationS: input.durationS,
    elapsedMs: Math.round(input.elapsedMs),
    traffic: input.traffic,
    timingOverrides: input.timingOverrides,
    phases: input.phases,
    cutAtMs,
    restoredAtMs,
    failover: { reason, firstFrameViaRelayMs, chartOnRelayMs, failoverMs },
    recovery: { directHealthyMs, recoveryMs },
    streams,
    transitions,
  };
  summary.verdictLine = verdictLine(summary);
  return summary;
}

/** Earliest arrival of a frame sent at or after `since`; null when none arrived. */
function firstArrivalSentAfter(stream: DemoStream, since: number): number | null {
  let earliest: number | null = null;
  for (let seq = firstSentAtOrAfter(stream, since); seq < stream.sent; seq++) {
    const arrived = stream.tally.arrivals.get(seq);
    if (arrived !== undefined && (earliest === null || arrived < earliest)) earliest = arrived;
  }
  return earliest;
}

function firstSentAtOrAfter(stream: DemoStream, at: number): number {
  // sendTimes only grows, so binary search.
  let low = 0;
  let high = stream.sent;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((stream.sendTimes[mid] ?? Number.POSITIVE_INFINITY) < at) low = mid + 1;
    else high = mid;
  }
  return low;
}

function summarizeStream(
  stream: DemoStream,
  cutAt: number | null,
  failoverEnd: number | null,
): StreamSummary {
  let lost = 0;
  let lostInFailover = 0;
  for (let seq = 0; seq < stream.sent; seq++) {
    if (stream.tally.has(seq)) continue;
    lost++;
    const sentAt = stream.sendTimes[seq] ?? 0;
    if (
      cutAt !== null &&
      failoverEnd !== null &&
      sentAt >= cutAt - IN_FLIGHT_MS &&
      sentAt <= failoverEnd
    )
      lostInFailover++;
  }
  return {
    from: stream.from,
    to: stream.to,
    sent: stream.sent,
    delivered: stream.tally.received,
    lost,
    lostInFailover,
    lostElsewhere: lost - lostInFailover,
    duplicated: stream.tally.duplicated,
    reordered: stream.tally.reordered,
  };
}

function findProblems(s: {
  cutAtMs: number | null;
  restoredAtMs: number | null;
  chartOnRelayMs: Record<NodeName, number | null>;
  firstFrameViaRelayMs: Record<DirectionName, number | null>;
  directHealthyMs: Record<NodeName, number | null>;
  streams: Record<DirectionName, StreamSummary>;
}): string[] {
  const problems: string[] = [];
  if (s.cutAtMs === null) return ['the direct path was never cut (the demo stopped early)'];
  for (const node of ['a', 'b'] as const) {
    if (s.chartOnRelayMs[node] === null) problems.push(`node ${node} never fell back to the relay`);
  }
  for (const direction of DIRECTIONS) {
    const { from, to } = s.streams[direction];
    if (s.firstFrameViaRelayMs[direction] === null)
      problems.push(`no frame ${from}→${to} sent after the cut was delivered`);
  }
  if (s.restoredAtMs === null) problems.push('the direct path was never restored');
  else {
    for (const node of ['a', 'b'] as const) {
      if (s.directHealthyMs[node] === null)
        problems.push(`node ${node} did not come back to usingDirect.healthy`);
    }
  }
  for (const direction of DIRECTIONS) {
    const stream = s.streams[direction];
    const name = `${stream.from}→${stream.to}`;
    if (stream.lostElsewhere > 0)
      problems.push(`${stream.lostElsewhere} frame(s) ${name} lost outside the failover window`);
    if (stream.duplicated > 0)
      problems.push(`${stream.duplicated} frame(s) ${name} delivered twice`);
    if (stream.reordered > 0) problems.push(`${stream.reordered} frame(s) ${name} out of order`);
  }
  return problems;
}

function verdictLine(s: DemoSummary): string {
  if (s.verdict === 'FAIL') return `FAIL: ${s.problems.join('; ')}`;
  const sent = s.streams.aToB.sent + s.streams.bToA.sent;
  const lost = s.streams.aToB.lost + s.streams.bToA.lost;
  const lossText =
    lost === 0
      ? `none of ${sent} frames lost`
      : `${lost} of ${sent} frames lost, all sent between the cut and the first frame via the relay`;
  return (
    `PASS: traffic flowed via the relay ${seconds(s.failover.failoverMs)} after the cut, ` +
    `and direct again ${seconds(s.recovery.recoveryMs)} after the restore; ` +
    `${lossText}; none duplicated or reordered`
  );
}

function maxOrNull(values: (number | null)[]): number | null {
  if (values.some((v) => v === null)) return null;
  return Math.max(...(values as number[]));
}

function round1(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** 412 → "0.41 s"; null → "-". */
export function seconds(ms: number | null): string {
  return ms === null ? '-' : `${(ms / 1000).toFixed(2)} s`;
}

/** The summary as the terminal shows it at the end of a run. */
export function formatSummary(s: DemoSummary): string {
  const at = (ms: number | null) => (ms === null ? 'never' : `t+${(ms / 1000).toFixed(2)}s`);
  const lines: string[] = [];
  lines.push(
    `summary: ${s.durationS} s planned, ${(s.elapsedMs / 1000).toFixed(1)} s run, ` +
      `${s.traffic.framesPerSecond} frames/s each way of ${s.traffic.frameBytes} bytes`,
  );
  lines.push('');
  lines.push(`failover   direct path cut at ${at(s.cutAtMs)}`);
  lines.push(
    `           first frame via the relay  a→b ${seconds(s.failover.firstFrameViaRelayMs.aToB)}` +
      `   b→a ${seconds(s.failover.firstFrameViaRelayMs.bToA)}`,
  );
  lines.push(
    `           chart on the relay         a ${seconds(s.failover.chartOnRelayMs.a)}` +
      `     b ${seconds(s.failover.chartOnRelayMs.b)}   (reason ${s.failover.reason ?? '-'})`,
  );
  lines.push(`recovery   direct path restored at ${at(s.restoredAtMs)}`);
  lines.push(
    `           usingDirect.healthy again  a ${seconds(s.recovery.directHealthyMs.a)}` +
      `     b ${seconds(s.recovery.directHealthyMs.b)}`,
  );
  lines.push('');
  const header = [
    'traffic',
    'sent',
    'delivered',
    'lost',
    'in failover',
    'elsewhere',
    'duplicated',
    'reordered',
  ];
  const rows = DIRECTIONS.map((d) => {
    const t = s.streams[d];
    return [
      `${t.from} → ${t.to}`,
      t.sent,
      t.delivered,
      t.lost,
      t.lostInFailover,
      t.lostElsewhere,
      t.duplicated,
      t.reordered,
    ].map(String);
  });
  lines.push(...table([header, ...rows]));
  lines.push('');
  lines.push('transitions (connection chart; steps within 50 ms joined; every one in --json)');
  for (const chain of chains(s.transitions)) {
    const first = chain[0]!;
    const states = [first.from, ...chain.map((t) => t.to)];
    const reasons = [...new Set(chain.map((t) => t.reason))].join(', ');
    lines.push(`  ${at(first.atMs).padEnd(9)}  ${first.node}  ${joinStates(states)}  (${reasons})`);
  }
  lines.push('');
  lines.push(s.verdictLine);
  return `${lines.join('\n')}\n`;
}

/** Steps of one node's chart that follow each other within this are one line. */
const CHAIN_MS = 50;

/** Connection-chart transitions grouped into runs of back-to-back steps of one node. */
function chains(transitions: DemoTransition[]): DemoTransition[][] {
  const out: DemoTransition[][] = [];
  const open = new Map<NodeName, DemoTransition[]>();
  for (const t of transitions) {
    if (t.machine !== 'connection') continue;
    const chain = open.get(t.node);
    const last = chain?.at(-1);
    if (chain && last && last.to === t.from && t.atMs - last.atMs <= CHAIN_MS) {
      chain.push(t);
      continue;
    }
    const fresh = [t];
    open.set(t.node, fresh);
    out.push(fresh);
  }
  return out;
}

/** "attemptingDirect.listening → .dialing": a sibling state shows only its own name. */
function joinStates(states: string[]): string {
  return states
    .map((state, i) => {
      const parent = state.includes('.') ? state.slice(0, state.lastIndexOf('.')) : undefined;
      const before = states[i - 1];
      return parent && before?.startsWith(`${parent}.`) ? state.slice(parent.length) : state;
    })
    .join(' → ');
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string[] {
  const widths =
    rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
      .join('  '),
  );
}
