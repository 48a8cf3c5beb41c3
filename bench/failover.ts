// bench:failover — how long a dead direct path interrupts traffic, and what a
// planned switch costs, with the DEFAULT timings (src/machines/connection-timings.ts).
//
// Each trial runs a fresh loopback cluster (relay + nodes a, b + fault proxy;
// src/testing/loopback-cluster.ts) so the retry backoff starts from scratch,
// and a continuous numbered stream a → b (one frame per --every ms):
//   1. upgrade relay → direct under the stream      → planned migration tally
//   2. blackhole the direct path (both directions)  → failoverMs: to the first
//      frame sent after the cut delivered to b's host (it can only come via
//      the relay), lostInFailover: frames of the stream never delivered
//   3. restore as soon as a is on the relay        → recoveryMs: to a healthy
//      direct path again (the first retry is due retry.baseMs ± jitter after
//      the fallback)
// Then --planned trials of a planned direct → relay switch (QUALITY, the
// direct path slowed by the proxy) under the stream.
//
// --netns (root only) adds the same recovery as a user sees it, in network
// namespaces with the real CLI and TAP devices (bench/failover-netns.ts):
// recoveryNetnsMs, from a 10 s blackhole of the direct path ending to both
// nodes direct again, over --netns-trials runs.
//
//   npm run bench:failover [-- --trials 20 --planned 3 --every 1 --json]
//   npm run bench:failover -- --netns [--netns-trials 5 --no-build]
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { defaultConnectionTimings } from '../src/machines/connection-timings.js';
import { LoopbackCluster } from '../src/testing/loopback-cluster.js';
import { frameSeq, macOf, numberedFrame, StreamTally } from '../src/testing/numbered-traffic.js';
import { REPO_ROOT } from '../test/e2e/netns-vpn.js';
import { type NetnsTrial, netnsRecoveryTrials } from './failover-netns.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    planned: { type: 'string', default: '3' },
    every: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    netns: { type: 'boolean', default: false },
    'netns-trials': { type: 'string', default: '5' },
    'no-build': { type: 'boolean', default: false },
  },
});
/** How long the direct path is blackholed in each --netns trial. */
const NETNS_CUT_MS = 10_000;
const TRIALS = Number(values.trials);
const PLANNED = Number(values.planned);
const EVERY_MS = Number(values.every);
const MAC_A = macOf(0xa);
const MAC_B = macOf(0xb);
/** Any one wait in a trial; a trial that exceeds it is reported, not hung. */
const WAIT_LIMIT_MS = 20_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

class Stream {
  readonly tally = new StreamTally();
  sent = 0;
  readonly sentAt: number[] = [];
  readonly #off: () => void;
  readonly #timer: NodeJS.Timeout;
  constructor(readonly cluster: LoopbackCluster) {
    this.#off = cluster.hosts.b.onFrames((frames) => {
      const now = performance.now();
      for (const frame of frames) {
        const seq = frameSeq(frame);
        if (seq !== undefined) this.tally.add(seq, now);
      }
    });
    this.#timer = setInterval(() => {
      this.sentAt.push(performance.now());
      cluster.hosts.a.write(numberedFrame(MAC_A, MAC_B, this.sent++));
    }, EVERY_MS);
  }
  async stop(drainMs = 1_500): Promise<StreamTally> {
    clearInterval(this.#timer);
    const deadline = Date.now() + drainMs;
    while (this.tally.received < this.sent && Date.now() < deadline) await sleep(5);
    this.#off();
    return this.tally;
  }
}

async function until(what: string, test: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_LIMIT_MS} ms`);
    await sleep(1);
  }
}

interface Planned {
  lost: number;
  reordered: number;
  duplicated: number;
}
const planned: Planned = { lost: 0, reordered: 0, duplicated: 0 };
/** Frames a resent via the relay on entering suspect (PeerCounters.resentViaRelay). */
let resent = 0;
const addPlanned = (tally: StreamTally, sent: number) => {
  planned.lost += tally.lost(sent);
  planned.reordered += tally.reordered;
  planned.duplicated += tally.duplicated;
};

async function trial(): Promise<{ failoverMs: number; lost: number; recoveryMs: number }> {
  const cluster = await LoopbackCluster.start();
  try {
    const a = cluster.nodes.a.peer('b')!;
    await until('session', () => a.session() !== null);
    // 1. relay → direct under the stream.
    let stream = new Stream(cluster);
    await until('upgrade', () => cluster.status('a').state === 'usingDirect.healthy');
    await until('upgrade b', () => cluster.status('b').state === 'usingDirect.healthy');
    await sleep(100);
    addPlanned(await stream.stop(), stream.sent);

    // 2. blackhole under the stream.
    stream = new Stream(cluster);
    await sleep(300 + Math.random() * 200); // cut at a random phase of the heartbeat
    const cutSeq = stream.sent;
    const cutAt = performance.now();
    await cluster.cut();
    await until('fallback', () => cluster.status('a').state === 'usingRelay');
    // 3. the path returns as soon as a is on the relay.
    const restoredAt = performance.now();
    await cluster.restore();
    await until('recovery', () => cluster.status('a').state === 'usingDirect.healthy');
    const recoveryMs = performance.now() - restoredAt;
    await until('recovery b', () => cluster.status('b').state === 'usingDirect.healthy');
    await sleep(100);
    const tally = await stream.stop(500);
    let firstAt = Number.POSITIVE_INFINITY;
    for (const [seq, at] of tally.arrivals) if (seq >= cutSeq) firstAt = Math.min(firstAt, at);
    const lost = tally.lost(stream.sent);
    resent += a.counters.resentViaRelay;
    return { failoverMs: firstAt - cutAt, lost, recoveryMs };
  } finally {
    await cluster.close();
  }
}

/** direct → relay on QUALITY: the direct path slowed well past the relay. */
async function plannedFallback(): Promise<void> {
  const cluster = await LoopbackCluster.start();
  try {
    await until('upgrade', () => cluster.status('a').state === 'usingDirect.healthy');
    await until('upgrade b', () => cluster.status('b').state === 'usingDirect.healthy');
    const stream = new Stream(cluster);
    await cluster.cut({ kind: 'delay', ms: 40 });
    await until('QUALITY fallback', () => cluster.status('a').state === 'usingRelay');
    // Whichever node judges first falls back on QUALITY and closes the link;
    // the other then records PEER_CLOSED. Either order is right.
    const reasons = [cluster.status('a').reason, cluster.status('b').reason];
    if (!reasons.includes('QUALITY'))
      throw new Error(`planned fallback ended with ${reasons.join(' / ')}, neither is QUALITY`);
    await sleep(200);
    addPlanned(await stream.stop(), stream.sent);
  } finally {
    await cluster.close();
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}
const round = (n: number) => Math.round(n * 10) / 10;

const failovers: number[] = [];
const losses: number[] = [];
const recoveries: number[] = [];
log(
  `bench:failover — ${TRIALS} trials, default timings (suspect ${defaultConnectionTimings.suspectIntervalMs} ms, dead ${defaultConnectionTimings.deadIntervalMs} ms, heartbeat ${defaultConnectionTimings.heartbeatIntervalMs} ms, retry ${defaultConnectionTimings.retry.baseMs} ms), one frame per ${EVERY_MS} ms`,
);
for (let i = 0; i < TRIALS; i++) {
  const result = await trial();
  failovers.push(result.failoverMs);
  losses.push(result.lost);
  recoveries.push(result.recoveryMs);
  log(
    `  trial ${String(i + 1).padStart(2)}: failover ${round(result.failoverMs)} ms, lost ${result.lost}, recovery ${round(result.recoveryMs)} ms`,
  );
}
for (let i = 0; i < PLANNED; i++) {
  await plannedFallback();
  log(`  planned direct → relay ${i + 1}: done`);
}
let netns: NetnsTrial[] = [];
if (values.netns) {
  if (!values['no-build']) {
    log('building dist/ (npm run build) for the netns trials …');
    execFileSync('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, stdio: 'ignore' });
  }
  netns = await netnsRecoveryTrials({
    trials: Number(values['netns-trials']),
    cutMs: NETNS_CUT_MS,
    log,
  });
}
failovers.sort((x, y) => x - y);
losses.sort((x, y) => x - y);
recoveries.sort((x, y) => x - y);
const netnsRecoveries = netns.map((t) => t.recoveryMs).sort((x, y) => x - y);
const netnsFallbacks = netns.map((t) => t.fallbackMs).sort((x, y) => x - y);
const result = {
  trials: TRIALS,
  failoverMs: { p50: round(percentile(failovers, 50)), p95: round(percentile(failovers, 95)) },
  lostInFailover: { p50: percentile(losses, 50), max: losses.at(-1) ?? 0 },
  recoveryMs: { p50: round(percentile(recoveries, 50)), p95: round(percentile(recoveries, 95)) },
  plannedMigration: planned,
  ...(values.netns
    ? {
        // Network namespaces, real CLI and TAP: a 10 s direct blackhole ended → direct again.
        recoveryNetnsMs: {
          runs: netns.length,
          cutMs: NETNS_CUT_MS,
          p50: round(percentile(netnsRecoveries, 50)),
          p95: round(percentile(netnsRecoveries, 95)),
          max: netnsRecoveries.at(-1) ?? null,
          all: netns.map((t) => t.recoveryMs),
        },
        fallbackNetnsMs: {
          p50: round(percentile(netnsFallbacks, 50)),
          p95: round(percentile(netnsFallbacks, 95)),
        },
      }
    : {}),
};
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const rows: [string, string][] = [
    ['trials', String(result.trials)],
    ['failover p50 / p95 (ms)', `${result.failoverMs.p50} / ${result.failoverMs.p95}`],
    [
      'lost in failover p50 / max (frames)',
      `${result.lostInFailover.p50} / ${result.lostInFailover.max}`,
    ],
    ['recovery p50 / p95 (ms)', `${result.recoveryMs.p50} / ${result.recoveryMs.p95}`],
    ['frames resent via the relay on suspect (all trials)', String(resent)],
    [
      `planned migrations (${TRIALS} up, ${PLANNED} down): lost / reordered / duplicated`,
      `${planned.lost} / ${planned.reordered} / ${planned.duplicated}`,
    ],
  ];
  if (result.recoveryNetnsMs && result.fallbackNetnsMs) {
    rows.push(
      [
        `netns: recovery after a ${NETNS_CUT_MS / 1000} s blackhole, p50 / p95 (ms, ${netns.length} runs)`,
        `${result.recoveryNetnsMs.p50} / ${result.recoveryNetnsMs.p95}`,
      ],
      [
        'netns: fallback after the cut p50 / p95 (ms)',
        `${result.fallbackNetnsMs.p50} / ${result.fallbackNetnsMs.p95}`,
      ],
    );
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
}
