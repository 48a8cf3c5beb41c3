// npm run bench — every benchmark, one after the other, each in its own
// process with --json; writes bench/results.json and prints one table. Each
// machine-dependent figure stands beside a baseline measured in the same run
// (the machine is shared and noisy: ratios travel, absolute figures do not).
//
//   npm run bench [-- --only crypto,aead,relay,tap,tap-offload,failover,tunnel,latency --quick]
//
// --quick shortens every benchmark (fewer rounds, shorter slices: for a smoke
// run, not for figures to quote). tap, tap-offload, tunnel and latency need root. The
// tunnel bench builds dist/ first; latency then reuses that build.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = fileURLToPath(new URL('./results.json', import.meta.url));

interface Bench {
  name: string;
  file: string;
  args: string[];
  quick: string[];
  root?: boolean;
  /** Longest a run may take before it is killed. */
  limitMs: number;
  /** Rows of the table: figure, baseline, ratio. */
  rows(json: BenchJson): Row[];
}
// biome-ignore lint/suspicious/noExplicitAny: each benchmark's --json document, read as it prints it
type BenchJson = any;
type Row = [what: string, figure: string, baseline: string, ratio: number | null];

const r2 = (n: number | null | undefined) => (n == null ? null : Math.round(n * 100) / 100);

const BENCHES: Bench[] = [
  {
    name: 'crypto',
    file: 'bench/crypto.ts',
    args: [],
    quick: ['--seconds', '0.2', '--rounds', '4'],
    limitMs: 5 * 60_000,
    rows: (j) => [
      [
        `Session seal+open ${j.size} B`,
        `${j.sessionOpsPerSec}/s`,
        `bare libsodium ${j.libsodiumOpsPerSec}/s`,
        j.sessionOverLibsodium,
      ],
    ],
  },
  {
    name: 'aead',
    file: 'bench/aead.ts',
    args: [],
    quick: ['--seconds', '0.2', '--rounds', '3'],
    limitMs: 5 * 60_000,
    rows: (j) =>
      j.results.map((x: BenchJson) => [
        `node:crypto ChaCha20-Poly1305 ${x.size} B`,
        `${x.nodeCryptoGbps} Gbit/s`,
        `libsodium wasm ${x.libsodiumGbps} Gbit/s`,
        x.nodeCryptoOverLibsodium,
      ]),
  },
  {
    name: 'relay',
    file: 'bench/relay.ts',
    args: [],
    quick: ['--seconds', '1', '--rounds', '1'],
    limitMs: 5 * 60_000,
    rows: (j) => [
      [
        `relay forwarding ${j.payload} B`,
        `${j.relay.framesPerSec} frames/s`,
        `plain ws forwarder ${j.plain.framesPerSec}/s`,
        j.relayOverPlain,
      ],
    ],
  },
  {
    name: 'tap',
    file: 'bench/tap.ts',
    args: [],
    quick: ['--seconds', '1'],
    root: true,
    limitMs: 10 * 60_000,
    rows: (j) =>
      j.rows.map((x: BenchJson) => [
        `tap ${x.case} ${x.frameBytes} B`,
        `${x.framesPerSec} frames/s`,
        x.offered ? `offered ${x.offered}` : '—',
        x.offered ? r2(x.framesPerSec / x.offered) : null,
      ]),
  },
  {
    name: 'tap-offload',
    file: 'bench/tap-offload.ts',
    args: [],
    quick: ['--seconds', '2', '--rounds', '1'],
    root: true,
    limitMs: 10 * 60_000,
    rows: (j) => [
      [
        'TAP→JS→TAP TCP, offload (super-frames)',
        `${j.offload.mbps} Mbit/s, ${j.offload.cpuSecPerGB} CPU s/GB`,
        `plain frames ${j.plain.mbps} Mbit/s, ${j.plain.cpuSecPerGB} s/GB`,
        j.offloadOverPlainMbps,
      ],
    ],
  },
  {
    name: 'failover',
    file: 'bench/failover.ts',
    args: [],
    quick: ['--trials', '3', '--planned', '1'],
    limitMs: 15 * 60_000,
    rows: (j) => [
      [
        'failover p50 (default timings)',
        `${j.failoverMs.p50} ms`,
        'dead interval 2500 ms',
        r2(j.failoverMs.p50 / 2500),
      ],
      ['lost in failover max', `${j.lostInFailover.max} frames`, '—', null],
      ['recovery p50', `${j.recoveryMs.p50} ms`, '—', null],
    ],
  },
  {
    name: 'tunnel',
    file: 'bench/tunnel.ts',
    args: [],
    quick: ['--seconds', '3', '--rounds', '1', '--udp-seconds', '1', '--idle-seconds', '10'],
    root: true,
    limitMs: 40 * 60_000,
    rows: (j) => {
      const rows: Row[] = [];
      const mb = (x: BenchJson) => (x ? `${x.mbps} Mbit/s` : '—');
      if (j.direct)
        rows.push([
          'tunnel direct TCP',
          mb(j.direct),
          `tinc ${mb(j.tinc)}`,
          j.ratios.directOverTincMbps,
        ]);
      if (j.relay)
        rows.push([
          'tunnel relay (ws) TCP',
          mb(j.relay),
          `direct ${mb(j.direct)}`,
          j.ratios.relayOverDirectMbps,
        ]);
      if (j.relayWss)
        rows.push([
          'tunnel relay (wss) TCP',
          mb(j.relayWss),
          `direct ${mb(j.direct)}`,
          j.ratios.relayWssOverDirectMbps,
        ]);
      if (j.tinc)
        rows.push([
          'tunnel tinc TCP',
          mb(j.tinc),
          `underlay ${mb(j.underlay)}`,
          j.ratios.tincOverUnderlayMbps,
        ]);
      if (j.ratios.directAddedRttMs != null)
        rows.push([
          'tunnel direct added RTT',
          `${j.ratios.directAddedRttMs} ms`,
          `tinc ${j.ratios.tincAddedRttMs} ms`,
          j.ratios.directAddedRttOverTinc,
        ]);
      if (j.direct?.cpuSecPerGB != null)
        rows.push([
          'tunnel direct CPU',
          `${j.direct.cpuSecPerGB} s/GB`,
          `tinc ${j.tinc?.cpuSecPerGB ?? '—'} s/GB`,
          j.ratios.directOverTincCpuPerGB,
        ]);
      for (const size of j.meta.sizes) {
        const d = j.direct?.udp?.[size];
        const t = j.tinc?.udp?.[size];
        if (d && t)
          rows.push([
            `tunnel direct UDP ${size} B`,
            `${d.receivedPps}/s (${(d.loss * 100).toFixed(1)}% lost)`,
            `tinc ${t.receivedPps}/s`,
            r2(d.receivedPps / Math.max(1, t.receivedPps)),
          ]);
      }
      if (j.idle)
        rows.push([
          'idle node, one peer',
          `${j.idle.nodePercentOfCore}% of a core`,
          'target < 0.5%',
          null,
        ]);
      return rows;
    },
  },
  {
    name: 'latency',
    file: 'bench/tunnel-latency.ts',
    args: ['--no-build'],
    quick: ['--count', '10'],
    root: true,
    limitMs: 10 * 60_000,
    rows: (j) => [
      [
        'idle ping RTT via direct (tcpdump)',
        `${j.direct.rttMs} ms`,
        `tinc ${j.tinc.rttMs} ms`,
        r2(j.direct.rttMs / j.tinc.rttMs),
      ],
      [
        'per daemon hop (a out, b in, b out, a in)',
        `${j.direct.aOutMs}/${j.direct.bInMs}/${j.direct.bOutMs}/${j.direct.aInMs} ms`,
        `tinc ${j.tinc.aOutMs}/${j.tinc.bInMs}/${j.tinc.bOutMs}/${j.tinc.aInMs} ms`,
        null,
      ],
    ],
  },
];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const only = values.only?.split(',');
for (const name of only ?? []) {
  if (!BENCHES.some((b) => b.name === name)) {
    process.stderr.write(
      `bench: unknown benchmark "${name}" (${BENCHES.map((b) => b.name).join(', ')})\n`,
    );
    process.exit(2);
  }
}
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let current: ReturnType<typeof spawn> | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // The benchmark cleans up its own namespaces on the signal; wait for it.
    current?.kill(signal);
    setTimeout(() => process.exit(130), 15_000).unref();
    current?.once('exit', () => process.exit(130));
  });
}

function runOne(bench: Bench): Promise<{ json?: unknown; error?: string; seconds: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        bench.file,
        '--json',
        ...bench.args,
        ...(values.quick ? bench.quick : []),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    current = child;
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), bench.limitMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      current = undefined;
      const seconds = Math.round((Date.now() - started) / 1000);
      if (code !== 0) {
        resolve({ error: `exited ${code ?? signal}`, seconds });
        return;
      }
      try {
        // The JSON document is the last thing printed on stdout.
        const start = out.search(/^[{[]/m);
        resolve({ json: JSON.parse(out.slice(start)), seconds });
      } catch (error) {
        resolve({ error: `no JSON on stdout (${(error as Error).message})`, seconds });
      }
    });
  });
}

const results: Record<string, unknown> = {
  meta: {
    at: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    quick: values.quick,
    note: 'shared, noisy machine: compare the ratios (same run), not absolute figures across runs',
  },
};
const table: Row[] = [];
let failed = 0;
for (const bench of BENCHES) {
  if (only && !only.includes(bench.name)) continue;
  if (bench.root && !isRoot) {
    results[bench.name] = { skipped: 'needs root (network namespaces, TAP devices)' };
    process.stderr.write(`bench: ${bench.name} not run: needs root\n`);
    continue;
  }
  process.stderr.write(`bench: ${bench.name} …\n`);
  const outcome = await runOne(bench);
  if (outcome.error) {
    failed++;
    results[bench.name] = { error: outcome.error, seconds: outcome.seconds };
    table.push([`${bench.name}: FAILED (${outcome.error})`, '', '', null]);
    continue;
  }
  results[bench.name] = { ...(outcome.json as object), seconds: outcome.seconds };
  table.push(...bench.rows(outcome.json));
}
results.table = table.map(([what, figure, baseline, ratio]) => ({ what, figure, baseline, ratio }));
await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);

const widths = [0, 1, 2].map((i) => Math.max(...table.map((row) => String(row[i]).length), 8));
console.log(
  `${'figure'.padEnd(widths[0]!)}  ${'this run'.padEnd(widths[1]!)}  ${'baseline (same run)'.padEnd(widths[2]!)}  ratio`,
);
for (const [what, figure, baseline, ratio] of table) {
  console.log(
    `${what.padEnd(widths[0]!)}  ${figure.padEnd(widths[1]!)}  ${baseline.padEnd(widths[2]!)}  ${ratio ?? ''}`,
  );
}
console.log(`written: bench/results.json${failed ? ` (${failed} benchmark(s) failed)` : ''}`);
process.exitCode = failed ? 1 : 0;
