/**
 * bench:tap-offload — what TAP offload (IFF_VNET_HDR + TSO) buys before any
 * crypto or socket: iperf3 TCP a → b through two TAP devices joined by this
 * process, which copies every read of one into a write on the other (the
 * "wire" of test/integration/tap/tap-offload.test.ts). Plain frames and
 * offloaded super-frames, alternating rounds in the same run; Mbit/s, reads
 * per second, mean read size and this process's CPU per GB.
 *
 *   npm run bench:tap-offload [-- --seconds 5 --rounds 3 --json]
 *
 * Every address lives in the namespaces made here (test/support/netns.ts).
 */
import { parseArgs } from 'node:util';
import { openTapDevice, type TapDevice } from '../src/tap/tap-device.js';
import {
  closeUnderlay,
  createUnderlay,
  execIn,
  spawnIn,
  stopProcess,
  type Underlay,
} from '../test/support/netns.js';
import { median, parseIperfTcp } from './tunnel/parse.js';
import { ensureTools } from './tunnel/tools.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const MTU = 1500;
const ADDR = { a: '10.234.0.1', b: '10.234.0.2' };

interface Run {
  mbps: number;
  readsPerSec: number;
  meanReadBytes: number;
  cpuSecPerGB: number;
}

async function runOnce(underlay: Underlay, offload: boolean, tag: string): Promise<Run> {
  const suffix = `${tag}${process.pid % 100_000}`;
  const devices: TapDevice[] = [];
  try {
    for (const role of ['a', 'b'] as const) {
      devices.push(
        await openTapDevice({
          name: `sw${role}${suffix}`,
          netns: underlay.ns[role],
          addresses: [`${ADDR[role]}/24`],
          mtu: MTU,
          offload,
        }),
      );
    }
    const [a, b] = devices as [TapDevice, TapDevice];
    let reads = 0;
    let bytes = 0;
    const copy = (to: TapDevice) => (frames: Uint8Array[]) => {
      reads += frames.length;
      for (const frame of frames) bytes += frame.byteLength;
      to.writeBatch(frames);
    };
    a.onFrames(copy(b));
    b.onFrames(copy(a));
    const server = spawnIn(underlay.ns.b, 'iperf3', ['-s', '-1', '-B', ADDR.b]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      reads = 0;
      bytes = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const result = await execIn(
        underlay.ns.a,
        'iperf3',
        ['-c', ADDR.b, '-t', String(SECONDS), '--json'],
        { timeoutMs: (SECONDS + 20) * 1000 },
      );
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const tcp = parseIperfTcp(result.stdout);
      return {
        mbps: Math.round(tcp.mbps),
        readsPerSec: Math.round(reads / elapsed),
        meanReadBytes: Math.round(bytes / Math.max(1, reads)),
        cpuSecPerGB: Math.round(((cpu.user + cpu.system) / 1e6 / (tcp.bytes / 1e9)) * 100) / 100,
      };
    } finally {
      await stopProcess(server, { graceMs: 2_000 });
    }
  } finally {
    for (const device of devices) await device.close();
  }
}

ensureTools();
const underlay = await createUnderlay({ prefix: 'sbw' });
try {
  const runs: Record<'plain' | 'offload', Run[]> = { plain: [], offload: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 === 0
      ? (['plain', 'offload'] as const)
      : (['offload', 'plain'] as const)) {
      const run = await runOnce(underlay, mode === 'offload', `${mode[0]}${r}`);
      runs[mode].push(run);
      process.stderr.write(`round ${r + 1}: ${mode} ${JSON.stringify(run)}\n`);
    }
  }
  const summary = (list: Run[]) => ({
    mbps: median(list.map((x) => x.mbps)),
    readsPerSec: median(list.map((x) => x.readsPerSec)),
    meanReadBytes: median(list.map((x) => x.meanReadBytes)),
    cpuSecPerGB: median(list.map((x) => x.cpuSecPerGB)),
    rounds: list,
  });
  const plain = summary(runs.plain);
  const offload = summary(runs.offload);
  const result = {
    seconds: SECONDS,
    rounds: ROUNDS,
    mtu: MTU,
    plain,
    offload,
    offloadOverPlainMbps: Math.round((offload.mbps / plain.mbps) * 100) / 100,
    offloadOverPlainCpuPerGB: Math.round((offload.cpuSecPerGB / plain.cpuSecPerGB) * 100) / 100,
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    console.log(`TAP → JS copy → TAP, iperf3 TCP ${SECONDS} s, medians of ${ROUNDS}:`);
    for (const [name, s] of [
      ['plain', plain],
      ['offload', offload],
    ] as const) {
      console.log(
        `  ${name.padEnd(8)} ${String(s.mbps).padStart(7)} Mbit/s ${String(s.readsPerSec).padStart(8)} reads/s  mean read ${s.meanReadBytes} B  ${s.cpuSecPerGB} CPU s/GB (this process)`,
      );
    }
    console.log(
      `  offload/plain: ${result.offloadOverPlainMbps}× Mbit/s, ${result.offloadOverPlainCpuPerGB}× CPU per GB`,
    );
  }
} finally {
  await closeUnderlay(underlay);
}
