/**
 * bench:latency — where an idle ping waits. Timestamps from tcpdump at four
 * points split each round trip through the tunnel into what each daemon
 * holds a frame and what the kernels and the wire take:
 *
 *   a: sb0 request out ─(a out)─▶ va: sealed record a→b ─(b in)─▶ b: sb0 request in
 *   b: sb0 reply out   ─(b out)─▶ va: sealed record b→a ─(a in)─▶ a: sb0 reply in
 *
 * "a out" is the daemon in a reading the TAP, sealing, framing and writing
 * the socket (plus the kernel's TCP/TLS send up to the veth); "b in" is the
 * far kernel's receive plus the daemon reading, opening and writing the TAP.
 * Same for tinc (tinc0, UDP 655) in the same namespaces. Medians of --count
 * pings at --interval s.
 *
 * Beside the split, the CPU each daemon spends on one ping (request in or
 * out, reply out or in) from /proc: utime+stime over the pings, less what
 * the same daemon used over as long a quiet stretch just before.
 *
 * Switchback is measured twice: "direct", just after the path is up (V8
 * still runs the per-frame code in its baseline tier), and "directWarm", the
 * same pings after a flood of --warm pings has carried traffic (V8 has
 * compiled it: a node that has been up a while). And the floor any Node
 * daemon stands on here, "nodeEcho": a plain UDP echo between two Node
 * processes in a and b (bench/tunnel/node-echo.ts).
 *
 *   npm run bench:latency [-- --count 20 --interval 0.2 --warm 20000 --json
 *                             --no-build --node-flags=V8_FLAGS]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { closeUnderlay, createUnderlay, execIn, type Underlay } from '../test/support/netns.js';
import { nodeEcho } from './tunnel/node-echo.js';
import { median, parseTcpdumpLine } from './tunnel/parse.js';
import { cpuSeconds } from './tunnel/proc-cpu.js';
import { type BenchProcess, startIn, until } from './tunnel/processes.js';
import {
  CLI,
  makeKeys,
  peerStatus,
  REPO_ROOT,
  SB_OVERLAY,
  startNodes,
  startRelay,
  waitForPath,
} from './tunnel/switchback.js';
import { prepareTinc, startTinc, TINC_OVERLAY } from './tunnel/tinc.js';
import { ensureTools } from './tunnel/tools.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '20' },
    interval: { type: 'string', default: '0.2' },
    json: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' },
    warm: { type: 'string', default: '20000' },
  },
});
const COUNT = Number(values.count);
const INTERVAL = Number(values.interval);
const WARM = Number(values.warm);
const NODE_FLAGS = values['node-flags'].split(' ').filter((flag) => flag !== '');
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Capture {
  process: BenchProcess;
  lines(): { t: number; text: string }[];
}

async function capture(ns: string, iface: string, filter: string): Promise<Capture> {
  const p = startIn(`tcpdump ${iface}`, ns, 'tcpdump', [
    '-i',
    iface,
    '-n',
    '-tt',
    '-l',
    '--immediate-mode',
    '-s',
    '128',
    filter,
  ]);
  await p.waitFor(/listening on/, 10_000);
  return {
    process: p,
    lines: () =>
      p
        .output()
        .split('\n')
        .map(parseTcpdumpLine)
        .filter((x): x is { t: number; text: string } => x !== undefined),
  };
}

interface Split {
  rttMs: number;
  aOutMs: number;
  bInMs: number;
  bKernelMs: number;
  bOutMs: number;
  aInMs: number;
}

/**
 * Matches, for each echo sequence, the request/reply on both TAPs and the
 * first underlay packet each way carrying more than `minUnderlayBytes` after
 * it (heartbeats are smaller than a sealed ping).
 */
function splits(
  tapA: Capture,
  tapB: Capture,
  wire: Capture,
  from: string,
  minUnderlayBytes: number,
): Split[] {
  const echo = (c: Capture, kind: 'request' | 'reply') => {
    const bySeq = new Map<number, number>();
    for (const { t, text } of c.lines()) {
      const m = new RegExp(`ICMP echo ${kind}, id \\d+, seq (\\d+)`).exec(text);
      if (m && !bySeq.has(Number(m[1]))) bySeq.set(Number(m[1]), t);
    }
    return bySeq;
  };
  const reqA = echo(tapA, 'request');
  const repA = echo(tapA, 'reply');
  const reqB = echo(tapB, 'request');
  const repB = echo(tapB, 'reply');
  const underlay = wire.lines().map(({ t, text }) => {
    const length = Number(/length (\d+)/.exec(text)?.[1] ?? 0);
    const outbound = text.includes(`IP ${from}.`);
    return { t, length, outbound };
  });
  const firstAfter = (t0: number, outbound: boolean) =>
    underlay.find((u) => u.t >= t0 && u.outbound === outbound && u.length > minUnderlayBytes)?.t;
  const result: Split[] = [];
  for (const [seq, t1] of reqA) {
    const t2 = firstAfter(t1, true);
    const t3 = reqB.get(seq);
    const t4 = repB.get(seq);
    const t5 = t4 === undefined ? undefined : firstAfter(t4, false);
    const t6 = repA.get(seq);
    if ([t2, t3, t4, t5, t6].some((t) => t === undefined)) continue;
    const ms = (x: number, y: number) => (y - x) * 1000;
    result.push({
      rttMs: ms(t1, t6!),
      aOutMs: ms(t1, t2!),
      bInMs: ms(t2!, t3!),
      bKernelMs: ms(t3!, t4!),
      bOutMs: ms(t4!, t5!),
      aInMs: ms(t5!, t6!),
    });
  }
  return result;
}

function summarise(rows: Split[]): Record<string, number> {
  const out: Record<string, number> = { pings: rows.length };
  for (const key of ['rttMs', 'aOutMs', 'bInMs', 'bKernelMs', 'bOutMs', 'aInMs'] as const) {
    out[key] = Math.round(median(rows.map((r) => r[key])) * 1000) / 1000;
  }
  return out;
}

async function pingAndSplit(
  underlay: Underlay,
  iface: string,
  target: string,
  wireFilter: string,
  minUnderlayBytes: number,
): Promise<Record<string, number>> {
  const tapA = await capture(underlay.ns.a, iface, 'icmp');
  const tapB = await capture(underlay.ns.b, iface, 'icmp');
  const wire = await capture(underlay.ns.relay, 'va', wireFilter);
  try {
    await execIn(
      underlay.ns.a,
      'ping',
      ['-n', '-c', String(COUNT), '-i', String(INTERVAL), '-W', '2', target],
      { timeoutMs: (COUNT * INTERVAL + 10) * 1000 },
    );
    await sleep(300); // let the last lines arrive
  } finally {
    for (const c of [tapA, tapB, wire]) await c.process.stop(2_000);
  }
  return summarise(splits(tapA, tapB, wire, underlay.addr.a, minUnderlayBytes));
}

/** Quiet CPU over as long as the pings take, then the pings, split; and the
 * CPU each daemon spent per ping above its quiet rate. */
async function directPass(underlay: Underlay, daemons: number[]): Promise<Record<string, unknown>> {
  const quietMs = COUNT * INTERVAL * 1000;
  const q0 = daemons.map(cpuSeconds);
  await sleep(quietMs);
  const q1 = daemons.map(cpuSeconds);
  const t0 = performance.now();
  const split = await pingAndSplit(underlay, 'sb0', SB_OVERLAY.b, 'tcp port 7443', 120);
  const busyMs = performance.now() - t0;
  const p1 = daemons.map(cpuSeconds);
  const perPingUs = daemons.map((_, i) => {
    const idlePerMs = (q1[i]! - q0[i]!) / quietMs;
    const busy = p1[i]! - q1[i]! - idlePerMs * busyMs;
    return Math.round((busy / COUNT) * 1e6);
  });
  return { ...split, cpuUsPerPing: { a: perPingUs[0], b: perPingUs[1] } };
}

async function main(): Promise<void> {
  ensureTools({ extra: { tcpdump: 'tcpdump' } });
  if (!values['no-build'] || !existsSync(CLI)) {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }
  const underlay = await createUnderlay({ prefix: 'sbl' });
  const dir = await mkdtemp(join(tmpdir(), 'switchback-bench-latency-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const started: BenchProcess[] = [];
  try {
    const result: Record<string, unknown> = { count: COUNT, intervalS: INTERVAL };
    // Underlay: the same capture points, nothing in between.
    {
      const r = await execIn(
        underlay.ns.a,
        'ping',
        ['-n', '-c', String(COUNT), '-i', String(INTERVAL), underlay.addr.b],
        {
          timeoutMs: (COUNT * INTERVAL + 10) * 1000,
        },
      );
      const times = [...r.stdout.matchAll(/time=([\d.]+)/g)].map((m) => Number(m[1]));
      result.underlay = { rttMs: median(times) };
    }
    log('node echo …');
    // Settle as the Switchback warm pass does: 2 s, then its quiet stretch.
    result.nodeEcho = await nodeEcho(
      underlay,
      COUNT,
      INTERVAL,
      WARM,
      2_000 + COUNT * INTERVAL * 1000,
    );
    log('tinc …');
    const tinc = await prepareTinc(dir, underlay);
    started.push(...startTinc(tinc, underlay));
    await until('tinc up', 30_000, async () => {
      const r = await execIn(underlay.ns.a, 'ping', ['-n', '-c', '1', '-W', '1', TINC_OVERLAY.b]);
      return r.code === 0;
    });
    result.tinc = await pingAndSplit(underlay, 'tinc0', TINC_OVERLAY.b, 'udp port 655', 100);
    for (const p of started.splice(0)) await p.stop();

    log('switchback direct …');
    const keys = await makeKeys(dir, underlay);
    started.push(await startRelay(underlay, undefined));
    const pair = await startNodes(dir, keys, underlay, {
      scheme: 'ws',
      label: 'latency',
      nodeArgs: NODE_FLAGS,
    });
    started.push(pair.a, pair.b);
    await waitForPath(underlay, pair, 'direct');
    await sleep(2_000);
    result.direct = await directPass(underlay, [pair.a.pid, pair.b.pid]);
    // The same idle pings once the data path has carried traffic: a flood
    // first, so V8 has compiled the per-frame path (a daemon that has been
    // up a while is in this state; one just started runs it in V8's
    // baseline tier), then as long a quiet stretch as before.
    const flood = await execIn(
      underlay.ns.a,
      'ping',
      ['-n', '-q', '-f', '-c', String(WARM), SB_OVERLAY.b],
      { timeoutMs: 120_000 },
    );
    const floodLoss = /([\d.]+)% packet loss/.exec(flood.stdout)?.[1];
    if (flood.code !== 0 || floodLoss === undefined) {
      throw new Error(`the warm-up flood failed (${flood.code}): ${flood.stdout}${flood.stderr}`);
    }
    const after = await Promise.all([
      peerStatus(underlay, pair, 'a'),
      peerStatus(underlay, pair, 'b'),
    ]);
    if (after.some((peer) => peer.path !== 'direct')) {
      throw new Error(`the flood moved the path: ${after.map((peer) => peer.path).join(', ')}`);
    }
    await sleep(2_000);
    result.directWarm = {
      warmPings: WARM,
      warmLossPercent: Number(floodLoss),
      ...(await directPass(underlay, [pair.a.pid, pair.b.pid])),
    };
    if (NODE_FLAGS.length > 0) result.nodeFlags = NODE_FLAGS.join(' ');
    if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      console.log(`idle ping a → b, ${COUNT} × every ${INTERVAL} s, medians (ms):`);
      console.log(JSON.stringify(result, null, 2));
    }
  } finally {
    for (const p of started) await p.stop();
    await closeUnderlay(underlay);
    removeDir();
  }
}

await main();
