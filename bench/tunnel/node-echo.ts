/**
 * The floor under any tunnel written for Node on this machine: a plain UDP
 * echo in Node between namespaces a and b, on the same underlay, paced like
 * the idle pings. Its round trip is the underlay plus two Node processes
 * each waking for one datagram and answering it — no TAP, no crypto, no
 * framing. A tunnel's round trip wakes its two daemons twice each (TAP
 * read, socket read), so twice this less one underlay is as low as a Node
 * tunnel's RTT can go here: 2 × (echo − underlay) added over the underlay.
 * The warm pass waits as long after its flood as bench:latency's does.
 */
import { execIn, type Underlay } from '../../test/support/netns.js';
import { median } from './parse.js';
import { type BenchProcess, startIn } from './processes.js';

const PORT = 9977;

const SERVER = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(${PORT}, () => console.log('echo ready'));
`;

/** argv: host count intervalMs warm settleMs. Prints {"cold": [us...], "warm": [us...]};
 * exits 1 if an echo does not come back within a second. */
const CLIENT = `
const [host, count, intervalMs, warm, settleMs] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
const payload = Buffer.alloc(84, 7);
const out = { cold: [], warm: [] };
let phase = 'cold', left = Number(count), flood = Number(warm), t0 = 0n;
let lost;
const next = () => {
  clearTimeout(lost);
  lost = setTimeout(() => { console.error('echo lost (' + phase + ')'); process.exit(1); }, 1000);
  t0 = process.hrtime.bigint(); s.send(payload, ${PORT}, host);
};
s.on('message', () => {
  clearTimeout(lost);
  if (phase === 'flood') { if (--flood > 0) return next(); phase = 'warm'; left = Number(count); return setTimeout(next, Number(settleMs)); }
  out[phase].push(Number(process.hrtime.bigint() - t0) / 1000);
  if (--left > 0) return setTimeout(next, Number(intervalMs));
  if (phase === 'cold') { phase = 'flood'; return next(); }
  process.stdout.write(JSON.stringify(out)); process.exit(0);
});
s.bind(() => setTimeout(next, 200));
`;

export interface NodeEcho {
  /** Median RTT of the paced echoes (ms), first thing the processes do. */
  rttMs: number;
  /** The same after `warm` echoes back to back. */
  rttMsWarm: number;
}

export async function nodeEcho(
  underlay: Underlay,
  count: number,
  intervalS: number,
  warm: number,
  settleMs: number,
): Promise<NodeEcho> {
  const server: BenchProcess = startIn('node echo', underlay.ns.b, process.execPath, [
    '-e',
    SERVER,
  ]);
  try {
    await server.waitFor(/echo ready/, 10_000);
    const r = await execIn(
      underlay.ns.a,
      process.execPath,
      [
        '-e',
        CLIENT,
        underlay.addr.b,
        String(count),
        String(intervalS * 1000),
        String(warm),
        String(settleMs),
      ],
      { timeoutMs: 2 * count * intervalS * 1000 + settleMs + warm + 30_000 },
    );
    if (r.code !== 0) throw new Error(`node echo client: ${r.stderr.trim()}`);
    const { cold, warm: warmed } = JSON.parse(r.stdout) as { cold: number[]; warm: number[] };
    const ms = (us: number[]) => Math.round(median(us)) / 1000;
    return { rttMs: ms(cold), rttMsWarm: ms(warmed) };
  } finally {
    await server.stop(2_000);
  }
}
