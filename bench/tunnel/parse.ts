/**
 * Parsers for what the tunnel bench reads from other programs: /proc/<pid>/stat,
 * iperf3 --json (TCP and UDP), ping and tcpdump -tt. Pure functions over text, so they are
 * unit-tested on captured output (test/unit/bench/tunnel-parse.test.ts).
 */

export class BenchParseError extends Error {
  readonly code = 'BENCH_PARSE';
  override readonly name = 'BenchParseError';
}

/** CPU time a process has used, in clock ticks (USER_HZ, 100 on Linux). */
export interface ProcCpu {
  utime: number;
  stime: number;
}

/**
 * utime and stime (fields 14 and 15 of proc(5)) from the text of
 * /proc/<pid>/stat. The command name (field 2) is in parentheses and may hold
 * spaces or parentheses itself, so fields are counted from the LAST ")".
 */
export function parseProcStat(text: string): ProcCpu {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new BenchParseError('/proc stat: no ")" after the command name');
  // After ") " come field 3 (state), 4 (ppid), … so field n is index n - 3.
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new BenchParseError(`/proc stat: utime/stime not integers in "${text.slice(0, 80)}"`);
  }
  return { utime, stime };
}

/** One iperf3 TCP run: what the receiver got. */
export interface IperfTcp {
  /** Receiver-side goodput. */
  mbps: number;
  /** Bytes the receiver got. */
  bytes: number;
  seconds: number;
  /** TCP retransmissions the sender counted (0 when iperf3 does not say). */
  retransmits: number;
}

/** One iperf3 UDP run: what was offered and what arrived. */
export interface IperfUdp {
  /** Datagram payload size (-l). */
  length: number;
  sentPps: number;
  /** Datagrams that arrived, per second. */
  receivedPps: number;
  /** Share lost, 0..1. */
  loss: number;
  receivedMbps: number;
}

function iperfEnd(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new BenchParseError(`iperf3 output is not JSON: ${(cause as Error).message}`);
  }
  const record = doc as { error?: unknown; end?: Record<string, unknown> };
  if (typeof record.error === 'string') throw new BenchParseError(`iperf3: ${record.error}`);
  if (!record.end || typeof record.end !== 'object') {
    throw new BenchParseError('iperf3 JSON has no "end" section');
  }
  return record.end;
}

interface IperfSum {
  seconds?: number;
  bytes?: number;
  bits_per_second?: number;
  retransmits?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
}

function sum(end: Record<string, unknown>, key: string): IperfSum {
  const value = end[key];
  if (!value || typeof value !== 'object')
    throw new BenchParseError(`iperf3 JSON has no end.${key}`);
  return value as IperfSum;
}

function num(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new BenchParseError(`iperf3 JSON: ${what} is not a number`);
  }
  return value;
}

/** `iperf3 -c … --json` (TCP client): receiver goodput from end.sum_received. */
export function parseIperfTcp(text: string): IperfTcp {
  const end = iperfEnd(text);
  const received = sum(end, 'sum_received');
  const sent = sum(end, 'sum_sent');
  return {
    mbps: num(received.bits_per_second, 'sum_received.bits_per_second') / 1e6,
    bytes: num(received.bytes, 'sum_received.bytes'),
    seconds: num(received.seconds, 'sum_received.seconds'),
    retransmits: typeof sent.retransmits === 'number' ? sent.retransmits : 0,
  };
}

/**
 * `iperf3 -c … -u -l N --json` (UDP client). end.sum_sent counts what left,
 * end.sum_received (the server's report) what arrived: packets is the highest
 * sequence seen, lost_packets the gaps, so arrived = packets − lost.
 */
export function parseIperfUdp(text: string, length: number): IperfUdp {
  const end = iperfEnd(text);
  const sent = sum(end, 'sum_sent');
  const received = 'sum_received' in end ? sum(end, 'sum_received') : sum(end, 'sum');
  const seconds = num(received.seconds, 'sum_received.seconds');
  const packets = num(received.packets, 'sum_received.packets');
  const lost = num(received.lost_packets, 'sum_received.lost_packets');
  const sentSeconds = num(sent.seconds, 'sum_sent.seconds');
  const sentPackets =
    typeof sent.packets === 'number' ? sent.packets : num(sent.bytes, 'sum_sent.bytes') / length;
  if (seconds <= 0 || sentSeconds <= 0) throw new BenchParseError('iperf3 JSON: zero duration');
  return {
    length,
    sentPps: sentPackets / sentSeconds,
    receivedPps: Math.max(0, packets - lost) / seconds,
    loss: packets > 0 ? lost / packets : 1,
    receivedMbps: num(received.bits_per_second, 'sum_received.bits_per_second') / 1e6,
  };
}

/** Round-trip times from ping's "time=0.062 ms" lines, in order. */
export function parsePingTimes(text: string): number[] {
  const times: number[] = [];
  for (const match of text.matchAll(/\btime[=<]([\d.]+) ?ms\b/g)) times.push(Number(match[1]));
  return times;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A `tcpdump -tt` line: its timestamp (seconds since the epoch) and the rest. */
export function parseTcpdumpLine(line: string): { t: number; text: string } | undefined {
  const match = /^(\d+\.\d+) (.*)$/.exec(line.trim());
  return match ? { t: Number(match[1]), text: match[2]! } : undefined;
}
