import { describe, expect, it } from 'vitest';
import {
  BenchParseError,
  median,
  parseIperfTcp,
  parseIperfUdp,
  parsePingTimes,
  parseProcStat,
  parseTcpdumpLine,
} from '../../../bench/tunnel/parse.js';

describe('parseProcStat', () => {
  it('reads utime and stime (fields 14, 15)', () => {
    const line =
      '4242 (node) S 1 4242 4242 0 -1 4194560 12345 0 0 0 731 219 0 0 20 0 11 0 123456 1234567 8910 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ utime: 731, stime: 219 });
  });

  it('counts fields from the last ")" so a command name with spaces and parentheses is fine', () => {
    const line = '7 (tinc (x) d) R 1 7 7 0 -1 0 0 0 0 0 55 66 0 0 20 0 1 0 1 1 1';
    expect(parseProcStat(line)).toEqual({ utime: 55, stime: 66 });
  });

  it('throws a typed error on text that is not a stat line', () => {
    expect(() => parseProcStat('garbage')).toThrow(BenchParseError);
    expect(() => parseProcStat('1 (x) S 1 2')).toThrow(/utime\/stime/);
  });
});

const tcpJson = JSON.stringify({
  start: {},
  end: {
    sum_sent: { seconds: 10, bytes: 1_250_000_000, bits_per_second: 1e9, retransmits: 17 },
    sum_received: { seconds: 10.04, bytes: 1_249_000_000, bits_per_second: 995_219_123 },
  },
});

describe('parseIperfTcp', () => {
  it('takes the receiver side and the sender retransmits', () => {
    const tcp = parseIperfTcp(tcpJson);
    expect(tcp.mbps).toBeCloseTo(995.219, 3);
    expect(tcp.bytes).toBe(1_249_000_000);
    expect(tcp.seconds).toBe(10.04);
    expect(tcp.retransmits).toBe(17);
  });

  it('reports iperf3 errors and missing sections as BenchParseError', () => {
    expect(() => parseIperfTcp('{"error":"unable to connect to server"}')).toThrow(
      /unable to connect/,
    );
    expect(() => parseIperfTcp('{"start":{}}')).toThrow(BenchParseError);
    expect(() => parseIperfTcp('not json')).toThrow(BenchParseError);
  });
});

describe('parseIperfUdp', () => {
  // Shape captured from iperf 3.12, -u -l 512 -b 0 -t 1.
  const udpJson = JSON.stringify({
    end: {
      sum: {
        seconds: 1.000128,
        bytes: 119495680,
        bits_per_second: 955933894,
        lost_packets: 4563,
        packets: 233390,
        lost_percent: 1.955,
      },
      sum_sent: {
        seconds: 1.000033,
        bytes: 119495680,
        bits_per_second: 955933894,
        lost_packets: 0,
        packets: 233390,
      },
      sum_received: {
        seconds: 1.000128,
        bytes: 117159424,
        bits_per_second: 937155436,
        lost_packets: 4563,
        packets: 233390,
      },
    },
  });

  it('arrived = packets − lost, per second; loss as a share', () => {
    const udp = parseIperfUdp(udpJson, 512);
    expect(udp.length).toBe(512);
    expect(udp.receivedPps).toBeCloseTo((233390 - 4563) / 1.000128, 3);
    expect(udp.sentPps).toBeCloseTo(233390 / 1.000033, 3);
    expect(udp.loss).toBeCloseTo(4563 / 233390, 6);
    expect(udp.receivedMbps).toBeCloseTo(937.155, 3);
  });

  it('a run where nothing arrived counts as total loss', () => {
    const none = JSON.stringify({
      end: {
        sum_sent: { seconds: 1, bytes: 6400, packets: 100 },
        sum_received: { seconds: 1, bytes: 0, bits_per_second: 0, lost_packets: 0, packets: 0 },
      },
    });
    expect(parseIperfUdp(none, 64)).toMatchObject({ receivedPps: 0, loss: 1, sentPps: 100 });
  });
});

describe('parsePingTimes and median', () => {
  it('reads every reply time, including "time<1 ms"', () => {
    const out = [
      'PING 10.232.0.2 (10.232.0.2) 56(84) bytes of data.',
      '64 bytes from 10.232.0.2: icmp_seq=1 ttl=64 time=2.41 ms',
      '64 bytes from 10.232.0.2: icmp_seq=2 ttl=64 time=0.087 ms',
      '64 bytes from 10.232.0.2: icmp_seq=3 ttl=64 time<1 ms',
      'rtt min/avg/max/mdev = 0.087/1.2/2.41/1.1 ms',
    ].join('\n');
    expect(parsePingTimes(out)).toEqual([2.41, 0.087, 1]);
  });

  it('median of odd and even counts; NaN for none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('parseTcpdumpLine', () => {
  it('splits the -tt timestamp from the packet text; other lines give undefined', () => {
    expect(
      parseTcpdumpLine(
        '1796176340.943188 IP 10.232.0.1 > 10.232.0.2: ICMP echo request, id 7, seq 3, length 64',
      ),
    ).toEqual({
      t: 1796176340.943188,
      text: 'IP 10.232.0.1 > 10.232.0.2: ICMP echo request, id 7, seq 3, length 64',
    });
    expect(parseTcpdumpLine('listening on sb0, link-type EN10MB (Ethernet)')).toBeUndefined();
  });
});
