/**
 * bench:tunnel — the VPN as a user measures it, beside tinc, in one run.
 *
 *   npm run bench:tunnel [-- --seconds 10 --rounds 3 --udp-seconds 3
 *                            --idle-seconds 60 --only direct,tinc --json
 *                            --cpu-prof DIR --no-build
 *                            --idle-rounds N --idle-settle S --idle-vs OTHER_TREE
 *                            --vs OTHER_TREE (its Switchback cases beside ours, every round)
 *                            --cpu-prof-case NAME --node-flags "V8 FLAGS"]
 *
 * Three network namespaces (test/support/netns.ts: relay, a, b on one bridge,
 * 10.231.0.0/24, nothing in the root namespace), and from a to b:
 *
 *   underlay  iperf3 / ping straight over the veths (the baseline)
 *   tinc      tinc 1.0 switch mode, TAP tinc0 10.233.0.0/24, defaults, Compression = 0
 *   direct    two `switchback up` (dist/cli.js), TAP sb0 10.232.0.0/24, direct path,
 *             TAP offload on both (the default): OFFLOAD_SUPERFRAMES negotiated
 *   directPlain  the same, b with --no-offload: a mixed pair (b's TAP is
 *             plain; a's super-frames cross whole and b segments them)
 *   directNoSuper  the same, b with --no-superframes: b takes no super-frames,
 *             so a splits them by software GSO before sealing (a peer that
 *             predates them)
 *   directOff the same, both with --no-offload: plain frames, the data path
 *             before offload (the "before" figure)
 *   relay     the same, a↔b underlay dropped by nftables in a and b, so frames go
 *             through `switchback relay` (ws://)
 *   relayWss  the same through a wss:// relay (self-signed certificate, trusted by
 *             the nodes via NODE_EXTRA_CA_CERTS)
 *
 * For each, every round: idle RTT (ping -c 20, median), iperf3 TCP for
 * --seconds, CPU seconds of the VPN processes (both daemons, the relay too on
 * relay runs, both tincds) per GB from /proc/<pid>/stat. Underlay, tinc and
 * direct also get a UDP sweep (iperf3 -u -l N -b 0, N = 64, 512, 1400:
 * datagrams/s that arrive, and loss). Medians of the rounds are reported,
 * each round's figures kept. Last, idle CPU: node a with one peer (b) on the
 * direct path, default timings, for --idle-seconds.
 *
 * --json prints {"meta", "underlay", "tinc", "direct", "directPlain", "directNoSuper",
 * "directOff", "relay", "relayWss", "ratios", "roundRatios", "idle"} on stdout (progress goes to stderr). Every namespace and
 * process goes on every exit path (SIGINT included), bounded in time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  closeUnderlay,
  createUnderlay,
  cutPeer,
  execIn,
  restorePeer,
  type Underlay,
} from '../test/support/netns.js';
import {
  measureRtt,
  measureTcp,
  measureUdp,
  type RttFigures,
  type TcpFigures,
} from './tunnel/measure.js';
import type { IperfUdp } from './tunnel/parse.js';
import { BenchParseError, median } from './tunnel/parse.js';
import { cpuSeconds } from './tunnel/proc-cpu.js';
import { type BenchProcess, startIn, until } from './tunnel/processes.js';
import {
  BENCH_RELAY_LIMITS,
  CLI,
  makeKeys,
  makeRelayCertificate,
  type NodePair,
  peerStatus,
  REPO_ROOT,
  type RelayTls,
  SB_MTU,
  SB_OVERLAY,
  type SwitchbackKeys,
  startNodes,
  startRelay,
  useCli,
  waitForPath,
} from './tunnel/switchback.js';
import { prepareTinc, startTinc, TINC_MTU, TINC_OVERLAY, type TincSetup } from './tunnel/tinc.js';
import { ensureTools } from './tunnel/tools.js';

const CASES = [
  'underlay',
  'tinc',
  'direct',
  'directPlain',
  'directNoSuper',
  'directOff',
  'relay',
  'relayWss',
] as const;
type CaseName = (typeof CASES)[number];
const SWEEP_CASES: readonly CaseName[] = ['underlay', 'tinc', 'direct'];
/** Whole bench, set-up included, is cut off after this (a hung tool must not hang us). */
const OVERALL_LIMIT_MS = 60 * 60 * 1000;

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'udp-seconds': { type: 'string', default: '3' },
    sizes: { type: 'string', default: '64,512,1400' },
    'idle-seconds': { type: 'string', default: '60' },
    'idle-rounds': { type: 'string', default: '1' },
    'idle-settle': { type: 'string', default: '3' },
    'idle-vs': { type: 'string' },
    vs: { type: 'string' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'cpu-prof-case': { type: 'string', default: 'direct' },
    'node-flags': { type: 'string', default: '' },
    'no-build': { type: 'boolean', default: false },
  },
});
const SECONDS = positive('seconds');
const ROUNDS = positive('rounds');
const UDP_SECONDS = positive('udp-seconds');
const IDLE_SECONDS = Number(values['idle-seconds']);
const IDLE_ROUNDS = positive('idle-rounds');
/** Seconds between the direct path coming up and the idle measurement (start-up
 * work: JIT, handshakes, and V8's memory-reducing GCs some 15 s after start). */
const IDLE_SETTLE = positive('idle-settle');
/** Another build's dist/cli.js to measure idle beside this tree's, alternating. */
const IDLE_VS = values['idle-vs'] ? join(resolve(values['idle-vs']), 'dist', 'cli.js') : undefined;
if (IDLE_VS && !existsSync(IDLE_VS)) usage(`--idle-vs: ${IDLE_VS} does not exist (build it first)`);
/** Another build's dist/cli.js whose Switchback cases run beside this tree's
 * in every round, back to back, the order swapped each round (before/after). */
const VS = values.vs ? join(resolve(values.vs), 'dist', 'cli.js') : undefined;
if (VS && !existsSync(VS)) usage(`--vs: ${VS} does not exist (build it first)`);
/** Extra flags for node itself in this build's daemons (e.g. V8 tiering
 * experiments), space-separated; not given to the --idle-vs build. */
const NODE_FLAGS = values['node-flags'].split(' ').filter((flag) => flag !== '');
const SIZES = values.sizes.split(',').map(Number);
const ONLY = new Set((values.only ?? [...CASES, 'sweep', 'idle'].join(',')).split(','));
for (const name of ONLY) {
  if (![...CASES, 'sweep', 'idle'].includes(name)) usage(`--only: unknown part "${name}"`);
}
if (SIZES.some((n) => !Number.isInteger(n) || n < 16 || n > 65_000)) usage('--sizes: 16..65000');
const CPU_PROF = values['cpu-prof'];

function positive(name: keyof typeof values): number {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value <= 0) usage(`--${name} must be a positive number`);
  return value;
}
function usage(message: string): never {
  process.stderr.write(`bench:tunnel: ${message}\n`);
  process.exit(2);
}
const log = (line: string) => process.stderr.write(`${line}\n`);

interface RoundFigures extends Omit<TcpFigures, 'cpuSec'> {
  cpuSec: number | null;
  rttMs: number;
  rttMinMs: number;
  udp?: Record<string, IperfUdp>;
  /** iperf3 UDP runs that failed (each size is tried twice). */
  udpFailures?: string[];
  /** Direct and relay runs: frames each node counted on the path used. */
  frames?: Record<string, number>;
}

interface CaseResult {
  mbps: number;
  rttMs: number;
  cpuSecPerGB: number | null;
  /** Median per datagram size of the UDP sweep. */
  udp?: Record<string, { receivedPps: number; sentPps: number; loss: number }>;
  /** Which processes cpuSecPerGB counts. */
  cpuOf: string;
  rounds: RoundFigures[];
  [extra: string]: unknown;
}

interface Context {
  underlay: Underlay;
  dir: string;
  keys: SwitchbackKeys;
  tinc: TincSetup;
  tls: RelayTls;
}

/** Everything a case starts, so it is stopped whatever happens. */
const running = new Set<BenchProcess>();
async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(5_000)));
  running.clear();
}
function track<T extends BenchProcess>(p: T): T {
  running.add(p);
  return p;
}

interface Target {
  address: string;
  pids: number[];
  frames?: () => Promise<Record<string, number>>;
}

/** Brings a case up and says where to send and which pids to count. */
async function setUp(name: CaseName, ctx: Context): Promise<Target> {
  const { underlay } = ctx;
  switch (name) {
    case 'underlay':
      return { address: underlay.addr.b, pids: [] };
    case 'tinc': {
      const [b, a] = startTinc(ctx.tinc, underlay).map(track);
      await until('tinc overlay answers ping', 30_000, async () => {
        for (const p of [a!, b!])
          if (p.exited) throw new Error(`${p.label} exited:\n${p.output()}`);
        const r = await execIn(underlay.ns.a, 'ping', ['-n', '-c', '1', '-W', '1', TINC_OVERLAY.b]);
        return r.code === 0;
      });
      return { address: TINC_OVERLAY.b, pids: [a!.pid, b!.pid] };
    }
    case 'direct':
    case 'directPlain':
    case 'directNoSuper':
    case 'directOff':
    case 'relay':
    case 'relayWss': {
      const wss = name === 'relayWss';
      const viaRelay = name === 'relay' || name === 'relayWss';
      if (viaRelay) {
        await cutPeer(underlay.ns.a, underlay.addr.b);
        await cutPeer(underlay.ns.b, underlay.addr.a);
      }
      const relay = track(await startRelay(underlay, wss ? ctx.tls : undefined));
      const nodeArgs = [
        ...NODE_FLAGS,
        ...(name === values['cpu-prof-case'] && CPU_PROF
          ? ['--cpu-prof', '--cpu-prof-interval', '250', '--cpu-prof-dir', CPU_PROF]
          : []),
      ];
      const pair: NodePair = await startNodes(ctx.dir, ctx.keys, underlay, {
        scheme: wss ? 'wss' : 'ws',
        tls: wss ? ctx.tls : undefined,
        nodeArgs,
        upFlags:
          name === 'directPlain'
            ? { b: ['--no-offload'] }
            : name === 'directNoSuper'
              ? { b: ['--no-superframes'] }
              : name === 'directOff'
                ? { a: ['--no-offload'], b: ['--no-offload'] }
                : {},
        label: name,
      });
      track(pair.a);
      track(pair.b);
      await waitForPath(underlay, pair, viaRelay ? 'relay' : 'direct');
      await until('switchback overlay answers ping', 20_000, async () => {
        const r = await execIn(underlay.ns.a, 'ping', ['-n', '-c', '1', '-W', '1', SB_OVERLAY.b]);
        return r.code === 0;
      });
      const path = viaRelay ? 'relay' : 'direct';
      return {
        address: SB_OVERLAY.b,
        pids: viaRelay ? [pair.a.pid, pair.b.pid, relay.pid] : [pair.a.pid, pair.b.pid],
        frames: async () => {
          const [a, b] = await Promise.all([
            peerStatus(underlay, pair, 'a'),
            peerStatus(underlay, pair, 'b'),
          ]);
          return {
            aSent: a.paths[path].framesSent,
            aReceived: a.paths[path].framesReceived,
            bSent: b.paths[path].framesSent,
            bReceived: b.paths[path].framesReceived,
            aBytesSent: a.paths[path].bytesSent,
            bBytesSent: b.paths[path].bytesSent,
            drops:
              Object.values(a.drops).reduce((x, y) => x + y, 0) +
              Object.values(b.drops).reduce((x, y) => x + y, 0),
            // …and by reason and node (aDrop.GSO_MALFORMED, bDrop.REPLAY, …)
            ...Object.fromEntries(Object.entries(a.drops).map(([k, v]) => [`aDrop.${k}`, v])),
            ...Object.fromEntries(Object.entries(b.drops).map(([k, v]) => [`bDrop.${k}`, v])),
          };
        },
      };
    }
  }
}

async function tearDown(name: CaseName, ctx: Context): Promise<void> {
  await stopAll();
  if (name === 'relay' || name === 'relayWss') {
    await restorePeer(ctx.underlay.ns.a);
    await restorePeer(ctx.underlay.ns.b);
  }
}

async function runCase(name: CaseName, ctx: Context): Promise<RoundFigures> {
  const target = await setUp(name, ctx);
  try {
    const rtt: RttFigures = await measureRtt(ctx.underlay.ns.a, target.address);
    const before = target.frames ? await target.frames() : undefined;
    const tcp = await measureTcp(ctx.underlay.ns.a, target.address, SECONDS, target.pids);
    const figures: RoundFigures = { ...tcp, rttMs: rtt.rttMs, rttMinMs: rtt.minMs };
    if (target.frames && before) {
      const after = await target.frames();
      figures.frames = Object.fromEntries(
        Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]),
      );
    }
    if (ONLY.has('sweep') && SWEEP_CASES.includes(name)) {
      figures.udp = {};
      for (const size of SIZES) {
        // A flood (-b 0) through a VPN can cost iperf3 its control connection
        // (it crosses the same tunnel): say so, try once more, and leave the
        // size out of this round rather than lose the whole run.
        for (let attempt = 1; attempt <= 2; attempt++) {
          try {
            figures.udp[size] = await measureUdp(
              ctx.underlay.ns.a,
              target.address,
              size,
              UDP_SECONDS,
            );
            break;
          } catch (error) {
            if (!(error instanceof BenchParseError)) throw error;
            figures.udpFailures = [...(figures.udpFailures ?? []), `${size} B: ${error.message}`];
            log(`  ${name} udp ${size} B, attempt ${attempt}: ${error.message}`);
          }
        }
      }
    }
    return figures;
  } finally {
    await tearDown(name, ctx);
  }
}

function summarise(name: CaseName, rounds: RoundFigures[]): CaseResult {
  const perGB = rounds.map((r) => r.cpuSecPerGB).filter((v): v is number => v !== null);
  const result: CaseResult = {
    mbps: round1(median(rounds.map((r) => r.mbps))),
    rttMs: round3(median(rounds.map((r) => r.rttMs))),
    cpuSecPerGB: perGB.length > 0 ? round2(median(perGB)) : null,
    cpuOf: {
      underlay: 'nothing (no VPN process)',
      tinc: 'tincd a + tincd b',
      direct: 'switchback up a + b',
      directPlain: 'switchback up a + b (b --no-offload)',
      directNoSuper: 'switchback up a + b (b --no-superframes)',
      directOff: 'switchback up a + b (both --no-offload)',
      relay: 'switchback up a + b + switchback relay',
      relayWss: 'switchback up a + b + switchback relay (wss)',
    }[name],
    rounds,
  };
  if (rounds.some((r) => r.udp)) {
    result.udp = {};
    for (const size of SIZES) {
      const runs = rounds.map((r) => r.udp?.[size]).filter((u): u is IperfUdp => u !== undefined);
      if (runs.length === 0) continue; // every attempt failed (udpFailures says why)
      result.udp[size] = {
        receivedPps: Math.round(median(runs.map((u) => u.receivedPps))),
        sentPps: Math.round(median(runs.map((u) => u.sentPps))),
        loss: round3(median(runs.map((u) => u.loss))),
      };
    }
  }
  return result;
}

/** Idle CPU: node a, one peer (b), direct path, default timings, nothing sent. */
async function measureIdleOnce(ctx: Context, comparing: boolean): Promise<IdleRound> {
  const relay = track(await startRelay(ctx.underlay, undefined));
  // --cpu-prof: this build's idle daemons too (not the --idle-vs one's).
  const nodeArgs = comparing
    ? []
    : [
        ...NODE_FLAGS,
        ...(CPU_PROF
          ? ['--cpu-prof', '--cpu-prof-interval', '1000', '--cpu-prof-dir', CPU_PROF]
          : []),
      ];
  const pair = await startNodes(ctx.dir, ctx.keys, ctx.underlay, {
    scheme: 'ws',
    label: 'idle',
    nodeArgs,
  });
  track(pair.a);
  track(pair.b);
  try {
    await waitForPath(ctx.underlay, pair, 'direct');
    await sleep(IDLE_SETTLE * 1000); // let start-up work (JIT, handshakes) finish
    const pids = { a: pair.a.pid, b: pair.b.pid, relay: relay.pid };
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const t0 = performance.now();
    await sleep(IDLE_SECONDS * 1000);
    const elapsed = (performance.now() - t0) / 1000;
    const percent = (k: keyof typeof pids) =>
      round3(((cpuSeconds(pids[k]) - before[k]!) / elapsed) * 100);
    return {
      seconds: round1(elapsed),
      nodeRssMiB: rssMiB(pids.a),
      nodePercentOfCore: percent('a'),
      peerPercentOfCore: percent('b'),
      relayPercentOfCore: percent('relay'),
    };
  } finally {
    await stopAll();
  }
}

/** Resident memory of `pid` (VmRSS from /proc/<pid>/status), MiB. */
function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kib === undefined ? Number.NaN : round1(Number(kib) / 1024);
}

interface IdleRound {
  seconds: number;
  nodeRssMiB: number;
  nodePercentOfCore: number;
  peerPercentOfCore: number;
  relayPercentOfCore: number;
}

/**
 * --idle-rounds N of measureIdleOnce; with --idle-vs DIR, each round measures
 * this tree and DIR's build back to back, the order swapped every round (ABBA),
 * so a drift of the shared machine hits both alike. Medians, and the ratio.
 */
async function measureIdle(ctx: Context): Promise<Record<string, unknown>> {
  const ours: IdleRound[] = [];
  const theirs: IdleRound[] = [];
  for (let round = 0; round < IDLE_ROUNDS; round++) {
    const order =
      IDLE_VS && round % 2 === 1 ? (['vs', 'this'] as const) : (['this', 'vs'] as const);
    for (const build of order) {
      if (build === 'vs' && !IDLE_VS) continue;
      useCli(build === 'vs' ? IDLE_VS : undefined);
      try {
        const r = await measureIdleOnce(ctx, build === 'vs');
        (build === 'vs' ? theirs : ours).push(r);
        log(
          `idle round ${round + 1} ${build === 'vs' ? 'vs' : 'this'}: node ${r.nodePercentOfCore}% (RSS ${r.nodeRssMiB} MiB) peer ${r.peerPercentOfCore}% relay ${r.relayPercentOfCore}%`,
        );
      } finally {
        useCli();
      }
    }
  }
  const med = (rounds: IdleRound[], k: keyof IdleRound) => round3(median(rounds.map((r) => r[k])));
  const summary = (rounds: IdleRound[]) => ({
    nodePercentOfCore: med(rounds, 'nodePercentOfCore'),
    nodeRssMiB: med(rounds, 'nodeRssMiB'),
    peerPercentOfCore: med(rounds, 'peerPercentOfCore'),
    relayPercentOfCore: med(rounds, 'relayPercentOfCore'),
    rounds,
  });
  const result: Record<string, unknown> = {
    seconds: IDLE_SECONDS,
    settleSeconds: IDLE_SETTLE,
    timings: 'defaults (no [timings] section)',
    ...summary(ours),
  };
  if (IDLE_VS) {
    const vs = summary(theirs);
    result.vs = { cli: IDLE_VS, ...vs };
    result.nodeRatioVs =
      vs.nodePercentOfCore > 0
        ? round3((result.nodePercentOfCore as number) / vs.nodePercentOfCore)
        : null;
  }
  return result;
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;
const round3 = (n: number) => Math.round(n * 1000) / 1000;

function ratios(results: Partial<Record<CaseName, CaseResult>>): Record<string, number | null> {
  const { underlay, tinc, direct, directPlain, directNoSuper, directOff, relay, relayWss } =
    results;
  const div = (x?: number | null, y?: number | null) =>
    x != null && y != null && y !== 0 ? round3(x / y) : null;
  const added = (r?: CaseResult) => (r && underlay ? round3(r.rttMs - underlay.rttMs) : null);
  const addedTinc = added(tinc);
  const addedDirect = added(direct);
  return {
    directOverTincMbps: div(direct?.mbps, tinc?.mbps),
    directPlainOverTincMbps: div(directPlain?.mbps, tinc?.mbps),
    directNoSuperOverTincMbps: div(directNoSuper?.mbps, tinc?.mbps),
    directOffOverTincMbps: div(directOff?.mbps, tinc?.mbps),
    directOverDirectOffMbps: div(direct?.mbps, directOff?.mbps),
    relayOverDirectMbps: div(relay?.mbps, direct?.mbps),
    relayWssOverDirectMbps: div(relayWss?.mbps, direct?.mbps),
    tincOverUnderlayMbps: div(tinc?.mbps, underlay?.mbps),
    directOverUnderlayMbps: div(direct?.mbps, underlay?.mbps),
    tincAddedRttMs: addedTinc,
    directAddedRttMs: addedDirect,
    relayAddedRttMs: added(relay),
    relayWssAddedRttMs: added(relayWss),
    directAddedRttOverTinc: div(addedDirect, addedTinc),
    directOverTincCpuPerGB: div(direct?.cpuSecPerGB, tinc?.cpuSecPerGB),
    directPlainOverTincCpuPerGB: div(directPlain?.cpuSecPerGB, tinc?.cpuSecPerGB),
    directNoSuperOverTincCpuPerGB: div(directNoSuper?.cpuSecPerGB, tinc?.cpuSecPerGB),
    directOffOverTincCpuPerGB: div(directOff?.cpuSecPerGB, tinc?.cpuSecPerGB),
  };
}

/** Each round's case / tinc throughput (the targets are per round, not only medians). */
function roundRatios(results: Partial<Record<CaseName, CaseResult>>): Record<string, number[]> {
  const tinc = results.tinc?.rounds;
  const out: Record<string, number[]> = {};
  if (!tinc) return out;
  for (const name of ['direct', 'directPlain', 'directNoSuper', 'directOff'] as const) {
    const rounds = results[name]?.rounds;
    if (!rounds) continue;
    out[`${name}OverTincMbps`] = rounds.map((r, i) =>
      round3(r.mbps / Math.max(1e-9, tinc[i]?.mbps ?? Number.NaN)),
    );
  }
  return out;
}

/** This build over the --vs build, per case: throughput, CPU per GB, added RTT. */
function vsRatios(
  ours: Partial<Record<CaseName, CaseResult>>,
  theirs: Partial<Record<CaseName, CaseResult>>,
): Record<string, Record<string, number | null>> {
  const out: Record<string, Record<string, number | null>> = {};
  const div = (x?: number | null, y?: number | null) =>
    x != null && y != null && y !== 0 ? round3(x / y) : null;
  for (const name of CASES) {
    const [a, b] = [ours[name], theirs[name]];
    if (!a || !b) continue;
    out[name] = {
      mbps: div(a.mbps, b.mbps),
      cpuSecPerGB: div(a.cpuSecPerGB, b.cpuSecPerGB),
      rttMs: div(a.rttMs, b.rttMs),
    };
    for (const size of SIZES) {
      const [x, y] = [a.udp?.[size], b.udp?.[size]];
      if (x && y) out[name][`udp${size}Pps`] = div(x.receivedPps, y.receivedPps);
    }
  }
  return out;
}

function vsText(
  ours: Partial<Record<CaseName, CaseResult>>,
  theirs: Partial<Record<CaseName, CaseResult>>,
): string {
  const lines = [`beside ${VS} (--vs), the same rounds, back to back:`];
  const fmt = (n: number | null | undefined, d = 1) => (n == null ? '—' : n.toFixed(d));
  for (const [name, r] of Object.entries(vsRatios(ours, theirs))) {
    const b = theirs[name as CaseName]!;
    lines.push(
      `  ${name.padEnd(14)} --vs ${fmt(b.mbps)} Mbit/s (${b.rounds.map((x) => x.mbps.toFixed(0)).join(' / ')}), ${fmt(b.cpuSecPerGB, 2)} CPU s/GB; this/vs: ${Object.entries(
        r,
      )
        .map(([k, v]) => `${k} ${fmt(v, 2)}`)
        .join(', ')}`,
    );
  }
  return lines.join('\n');
}

function tableText(
  results: Partial<Record<CaseName, CaseResult>>,
  rat: Record<string, number | null>,
  idle: Record<string, unknown> | undefined,
): string {
  const lines: string[] = [];
  const fmt = (n: number | null | undefined, d = 1) => (n == null ? '—' : n.toFixed(d));
  lines.push(
    `tunnel bench: iperf3 TCP ${SECONDS} s a → b, ${ROUNDS} round(s), medians; node ${process.version}, ${cpus().length} cores`,
  );
  lines.push(
    `${'case'.padEnd(12)}${'Mbit/s'.padStart(10)}${'RTT ms'.padStart(9)}${'+RTT ms'.padStart(9)}${'CPU s/GB'.padStart(10)}   rounds (Mbit/s)`,
  );
  for (const name of CASES) {
    const r = results[name];
    if (!r) continue;
    const addedRtt = results.underlay ? r.rttMs - results.underlay.rttMs : null;
    lines.push(
      `${name.padEnd(12)}${fmt(r.mbps).padStart(10)}${fmt(r.rttMs, 3).padStart(9)}${fmt(addedRtt, 3).padStart(9)}${fmt(r.cpuSecPerGB, 2).padStart(10)}   ${r.rounds.map((x) => x.mbps.toFixed(0)).join(' / ')}`,
    );
  }
  lines.push('ratios (same run):');
  for (const [k, v] of Object.entries(rat)) if (v !== null) lines.push(`  ${k.padEnd(28)} ${v}`);
  for (const [k, v] of Object.entries(roundRatios(results)))
    lines.push(`  ${k.padEnd(28)} by round: ${v.join(' / ')}`);
  const swept = SWEEP_CASES.filter((name) => results[name]?.udp);
  if (swept.length > 0) {
    lines.push(`UDP sweep (iperf3 -u -b 0 -t ${UDP_SECONDS}): datagrams/s arrived (loss)`);
    lines.push(`${'case'.padEnd(10)}${SIZES.map((s) => `${s} B`.padStart(20)).join('')}`);
    for (const name of swept) {
      const udp = results[name]!.udp!;
      lines.push(
        `${name.padEnd(10)}${SIZES.map((s) => (udp[s] ? `${udp[s].receivedPps} (${(udp[s].loss * 100).toFixed(1)}%)` : 'failed').padStart(20)).join('')}`,
      );
    }
    if (results.tinc?.udp && results.direct?.udp) {
      lines.push(
        `  direct/tinc datagrams/s: ${SIZES.map((s) => {
          const [ours, theirs] = [results.direct!.udp![s], results.tinc!.udp![s]];
          return `${s} B ${ours && theirs ? (ours.receivedPps / Math.max(1, theirs.receivedPps)).toFixed(2) : '—'}`;
        }).join(', ')}`,
      );
    }
  }
  if (idle) {
    lines.push(
      `idle, ${idle.seconds} s, default timings: node ${idle.nodePercentOfCore}% of a core (peer ${idle.peerPercentOfCore}%, relay ${idle.relayPercentOfCore}%)`,
    );
    const vs = idle.vs as { cli: string; nodePercentOfCore: number } | undefined;
    if (vs) {
      lines.push(
        `  beside ${vs.cli} in the same run: node ${vs.nodePercentOfCore}% (ratio ${idle.nodeRatioVs})`,
      );
    }
  }
  lines.push(
    `relay limits raised for the bench: ${Object.entries(BENCH_RELAY_LIMITS)
      .map(([k, v]) => `--${k} ${v}`)
      .join(' ')} (send buffer per receiver at its default)`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  ensureTools();
  if (!values['no-build'] || !existsSync(CLI)) {
    log('building dist/ (npm run build) …');
    execFileSync('npm', ['run', '-s', 'build'], {
      cwd: REPO_ROOT,
      stdio: 'inherit',
      timeout: 300_000,
    });
  }
  const underlay = await createUnderlay({ prefix: 'sbt' });
  const dir = await mkdtemp(join(tmpdir(), 'switchback-bench-tunnel-'));
  // Namespaces and processes are netns.ts's exit hooks' job; the keys and
  // configs here are ours, also on SIGINT (its handler re-raises the signal).
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, removeDir);
  try {
    const iperfServer = startIn('iperf3 -s', underlay.ns.b, 'iperf3', ['-s']);
    await sleep(300);
    const ctx: Context = {
      underlay,
      dir,
      keys: await makeKeys(dir, underlay),
      tinc: await prepareTinc(dir, underlay),
      tls: await makeRelayCertificate(dir, underlay.addr.relay),
    };
    const selected = CASES.filter((name) => ONLY.has(name));
    const perCase = new Map<CaseName, RoundFigures[]>(selected.map((n) => [n, []]));
    const perCaseVs = new Map<CaseName, RoundFigures[]>();
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round so a busy spell of the machine does not
      // always fall on the same case.
      const order = selected.map((_, i) => selected[(i + r) % selected.length]!);
      for (const name of order) {
        const builds =
          VS && name !== 'underlay' && name !== 'tinc'
            ? r % 2 === 0
              ? (['this', 'vs'] as const)
              : (['vs', 'this'] as const)
            : (['this'] as const);
        for (const build of builds) {
          const label = build === 'vs' ? `${name} (--vs)` : name;
          log(`round ${r + 1}/${ROUNDS}: ${label} …`);
          useCli(build === 'vs' ? VS : undefined);
          let figures: RoundFigures;
          try {
            figures = await runCase(name, ctx);
          } finally {
            useCli();
          }
          const into = build === 'vs' ? perCaseVs : perCase;
          if (!into.has(name)) into.set(name, []);
          into.get(name)!.push(figures);
          log(
            `  ${label}: ${figures.mbps.toFixed(1)} Mbit/s, rtt ${figures.rttMs.toFixed(3)} ms, ${figures.cpuSecPerGB === null ? '—' : figures.cpuSecPerGB.toFixed(2)} CPU s/GB`,
          );
        }
      }
    }
    const results: Partial<Record<CaseName, CaseResult>> = {};
    for (const [name, rounds] of perCase) results[name] = summarise(name, rounds);
    const vsResults: Partial<Record<CaseName, CaseResult>> = {};
    for (const [name, rounds] of perCaseVs) vsResults[name] = summarise(name, rounds);
    if (results.tinc) results.tinc.config = ctx.tinc.config;
    let idle: Record<string, unknown> | undefined;
    if (ONLY.has('idle') && IDLE_SECONDS > 0) {
      log(`idle CPU for ${IDLE_SECONDS} s …`);
      idle = await measureIdle(ctx);
    }
    await iperfServer.stop();
    const rat = ratios(results);
    const output = {
      meta: {
        seconds: SECONDS,
        rounds: ROUNDS,
        udpSeconds: UDP_SECONDS,
        sizes: SIZES,
        node: process.version,
        cores: cpus().length,
        mtu: { switchback: SB_MTU, tinc: TINC_MTU, underlay: 1500 },
        relayLimits: BENCH_RELAY_LIMITS,
        relayKeys: 'relay: ws:// relay; relayWss: wss:// relay (separate keys)',
        // Node flags this tree's daemons ran with (--node-flags; not the --vs builds').
        nodeFlags: NODE_FLAGS.join(' '),
        tool: versions(),
        at: new Date().toISOString(),
      },
      ...results,
      ratios: rat,
      roundRatios: roundRatios(results),
      vs: VS
        ? {
            cli: VS,
            ...vsResults,
            thisOverVs: vsRatios(results, vsResults),
            // The other build's rounds over this run's tinc rounds.
            roundRatios: roundRatios({ ...vsResults, tinc: results.tinc }),
          }
        : null,
      idle: idle ?? null,
    };
    if (values.json) process.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    else {
      console.log(tableText(results, rat, idle));
      if (VS) console.log(vsText(results, vsResults));
    }
  } finally {
    await stopAll();
    await closeUnderlay(underlay);
    await rm(dir, { recursive: true, force: true });
  }
}

function versions(): Record<string, string> {
  const first = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5_000 }).split('\n')[0]!.trim();
    } catch {
      return 'unknown';
    }
  };
  return { iperf3: first('iperf3', ['--version']), tincd: first('tincd', ['--version']) };
}

const watchdog = setTimeout(() => {
  log(`bench:tunnel: still running after ${OVERALL_LIMIT_MS / 60_000} min, giving up`);
  process.exit(1); // the exit hook in test/support/netns.ts removes namespaces and processes
}, OVERALL_LIMIT_MS);
watchdog.unref();

await main();
