/**
 * The three measurements, each run from namespace a towards an address in b:
 * idle RTT (ping), bulk TCP (iperf3) and a UDP frame-size sweep (iperf3 -u
 * -b 0). An iperf3 server runs in b for the whole bench.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { execIn } from '../../test/support/netns.js';
import {
  type IperfTcp,
  type IperfUdp,
  median,
  parseIperfTcp,
  parseIperfUdp,
  parsePingTimes,
} from './parse.js';
import { totalCpuSeconds } from './proc-cpu.js';

export const PING_COUNT = 20;
const PING_INTERVAL_S = 0.2;

export interface RttFigures {
  /** Median of the replies. */
  rttMs: number;
  minMs: number;
  replies: number;
}

/** `ping -c 20 -i 0.2` on an idle link; the median reply time. */
export async function measureRtt(ns: string, target: string): Promise<RttFigures> {
  const result = await execIn(
    ns,
    'ping',
    ['-n', '-c', String(PING_COUNT), '-i', String(PING_INTERVAL_S), '-W', '2', target],
    { timeoutMs: (PING_COUNT * PING_INTERVAL_S + 10) * 1000 },
  );
  const times = parsePingTimes(result.stdout);
  if (times.length === 0)
    throw new Error(`ping ${target}: no replies\n${result.stdout}${result.stderr}`);
  return { rttMs: median(times), minMs: Math.min(...times), replies: times.length };
}

/** Runs iperf3 (client) with retries while the server is not yet listening. */
async function iperf(ns: string, args: string[], seconds: number): Promise<string> {
  let last = '';
  for (let attempt = 0; attempt < 4; attempt++) {
    const result = await execIn(ns, 'iperf3', [...args, '--json'], {
      timeoutMs: (seconds + 20) * 1000,
    });
    if (result.code === 0) return result.stdout;
    last = result.stdout + result.stderr;
    // "the server is busy" or "unable to connect": the server is between tests.
    await sleep(500);
  }
  throw new Error(`iperf3 ${args.join(' ')} failed:\n${last.slice(-2000)}`);
}

export interface TcpFigures extends IperfTcp {
  /** CPU seconds used by the VPN processes during the run (null: none measured). */
  cpuSec: number | null;
  /** cpuSec per GB (1e9 bytes) received. */
  cpuSecPerGB: number | null;
}

/** iperf3 TCP a → b for `seconds`, with the CPU the VPN processes used meanwhile. */
export async function measureTcp(
  ns: string,
  target: string,
  seconds: number,
  vpnPids: readonly number[],
): Promise<TcpFigures> {
  const before = totalCpuSeconds(vpnPids);
  const text = await iperf(ns, ['-c', target, '-t', String(seconds)], seconds);
  const cpuSec = vpnPids.length > 0 ? totalCpuSeconds(vpnPids) - before : null;
  const tcp = parseIperfTcp(text);
  return {
    ...tcp,
    cpuSec,
    cpuSecPerGB: cpuSec === null || tcp.bytes === 0 ? null : cpuSec / (tcp.bytes / 1e9),
  };
}

/** iperf3 UDP a → b, datagrams of `length` bytes, as fast as the sender can. */
export async function measureUdp(
  ns: string,
  target: string,
  length: number,
  seconds: number,
): Promise<IperfUdp> {
  const text = await iperf(
    ns,
    ['-c', target, '-u', '-l', String(length), '-b', '0', '-t', String(seconds)],
    seconds,
  );
  return parseIperfUdp(text, length);
}
