// bench:relay-cluster — forwarded frames/s and Mbit/s of 1400-byte payloads
// through two clustered relays and NATS, beside one relay alone, in one run;
// then how fast a node that loses its relay is routed through another.
//
//   one relay:   sender → relay ─────────────────────────────▶ receiver
//   cluster:     sender → relay r1 → nats-server → relay r2 ──▶ receiver
//
// Every server is its own process (Debian's nats-server, `switchback relay`),
// the two clients run here; it all shares the machine's cores, so the cluster
// run has two more processes competing for them. The sender keeps at most
// WINDOW frames in flight (sent − received), so the figure is forwarding
// throughput, not buffer filling. The relays' per-connection rate limits are
// raised out of the way: this measures forwarding, not policing.
//
// Failover, relay side: a peer on relay r1 paired with one on r2; r1 is
// killed with SIGKILL; the peer reconnects to r3 at once and sends again; the
// time from the kill to the first frame through r3 is one trial.
//
// Failover with real nodes: two Switchback nodes (in this process, in-memory
// devices, the direct path blocked), a with relays = [r1, r3], b with
// relays = [r2]; a numbered frame from a's host every millisecond; r1 is
// killed with SIGKILL; the time from the kill to the first frame written
// after it that reaches b's host is one trial. It includes what a user gets:
// noticing the dead relay, the relay-link chart's jittered switch delay
// (0…switchJitterMs, default 1 s, printed apart), connect and authenticate to
// r3, pairing again across r3 → nats → r2, and the data path.
//
//   npm run bench:relay-cluster [-- --seconds 2 --rounds 3 --window 512 --payload 1400 --trials 10]
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { generateIdentity, type Identity } from '../src/crypto/identity.js';
import { sodiumReady } from '../src/crypto/sodium.js';
import { encodeFrame } from '../src/protocol/codec.js';
import { FrameType } from '../src/protocol/frames.js';
import { RelayClient } from '../src/relay/client.js';
import { startClusterNodes } from '../test/support/cluster-nodes.js';
import { type NatsServer, startNats } from '../test/support/nats-server.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '512' },
    payload: { type: 'string', default: '1400' },
    trials: { type: 'string', default: '10' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const WINDOW = Number(values.window);
const PAYLOAD = Number(values.payload);
const TRIALS = Number(values.trials);
const WARMUP_MS = 500;

const UNLIMITED = [
  '--rate-bytes',
  String(10 * 1024 ** 3),
  '--burst-bytes',
  String(10 * 1024 ** 3),
  '--rate-frames',
  '100000000',
  '--burst-frames',
  '100000000',
  '--send-buffer-bytes',
  String(16 * 1024 * 1024),
];

interface Relay {
  child: ChildProcess;
  url: string;
}

async function startRelay(cluster?: { nats: string; name: string }): Promise<Relay> {
  const args = ['--import', 'tsx', 'src/cli.ts', 'relay', '--listen', '127.0.0.1:0', ...UNLIMITED];
  if (cluster) args.push('--cluster', cluster.nats, '--id', cluster.name);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  // A clustered relay joins NATS before it listens: wait for both lines.
  let clusterUp = !cluster;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('relay did not start')), 20_000);
    let listening = '';
    // Every line is read to the end, so the relay never blocks on a full pipe.
    lines.on('line', (line) => {
      if (line.includes('cluster up')) clusterUp = true;
      const match = /relay listening on (ws:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match) listening = match[1]!;
      if (!listening || !clusterUp) return;
      clearTimeout(timer);
      resolve(listening);
    });
    child.once('exit', () => reject(new Error('relay exited early')));
  });
  return { child, url };
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function pairUp(urlA: string, urlB: string, ids: [Identity, Identity]) {
  const a = await RelayClient.connect(urlA, ids[0]);
  const b = await RelayClient.connect(urlB, ids[1]);
  const established = Promise.all([
    a.next('established', { timeoutMs: 10_000 }),
    b.next('established', { timeoutMs: 10_000 }),
  ]);
  a.connectPeer(ids[1].publicKey, 0);
  b.connectPeer(ids[0].publicKey, 0);
  await established;
  return { a, b };
}

interface Result {
  frames: number;
  seconds: number;
}

/** Warmup, then SECONDS of a windowed stream a → b; counts what arrived in the window. */
async function measure(a: RelayClient, b: RelayClient, to: Uint8Array): Promise<Result> {
  const frame = encodeFrame({ type: FrameType.FORWARD, key: to, payload: new Uint8Array(PAYLOAD) });
  let sent = 0;
  let received = 0;
  let counting = false;
  let counted = 0;
  const pump = () => {
    while (sent - received < WINDOW) {
      a.sendRaw(frame);
      sent++;
    }
  };
  b.on('forward', () => {
    received++;
    if (counting) counted++;
    pump();
  });
  pump();
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  counting = true;
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  const seconds = (performance.now() - start) / 1000;
  counting = false;
  // A frame lost on the way (none should be) would stall the window: say so.
  if (counted === 0) throw new Error('nothing arrived: the window stalled');
  return { frames: counted, seconds };
}

async function benchSingle(): Promise<Result> {
  const relay = await startRelay();
  try {
    const ids: [Identity, Identity] = [await generateIdentity(), await generateIdentity()];
    const { a, b } = await pairUp(relay.url, relay.url, ids);
    const result = await measure(a, b, ids[1].publicKey);
    a.terminate();
    b.terminate();
    return result;
  } finally {
    await stop(relay.child);
  }
}

async function benchCluster(nats: NatsServer): Promise<Result> {
  const [r1, r2] = await Promise.all([
    startRelay({ nats: nats.url, name: 'r1' }),
    startRelay({ nats: nats.url, name: 'r2' }),
  ]);
  try {
    const ids: [Identity, Identity] = [await generateIdentity(), await generateIdentity()];
    const { a, b } = await pairUp(r1.url, r2.url, ids);
    const result = await measure(a, b, ids[1].publicKey);
    a.terminate();
    b.terminate();
    return result;
  } finally {
    await Promise.all([stop(r1.child), stop(r2.child)]);
  }
}

/** One trial: kill a's relay; a reconnects to r3 and sends until a frame reaches b. */
async function failoverTrial(nats: NatsServer, r2: Relay, r3: Relay): Promise<number> {
  const r1 = await startRelay({ nats: nats.url, name: 'r1' });
  const ids: [Identity, Identity] = [await generateIdentity(), await generateIdentity()];
  const { a, b } = await pairUp(r1.url, r2.url, ids);
  const start = performance.now();
  const arrived = new Promise<number>((resolve) => {
    b.once('forward', () => resolve(performance.now() - start));
  });
  void stop(r1.child, 'SIGKILL');
  await a.closed;
  const moved = await RelayClient.connect(r3.url, ids[0]);
  moved.connectPeer(ids[1].publicKey, 0);
  const payload = new Uint8Array(PAYLOAD);
  const sender = setInterval(() => moved.isOpen && moved.forward(ids[1].publicKey, payload), 1);
  const ms = await Promise.race([
    arrived,
    new Promise<number>((_, reject) =>
      setTimeout(() => reject(new Error('no frame in 10 s')), 10_000),
    ),
  ]).finally(() => clearInterval(sender));
  moved.terminate();
  b.terminate();
  return ms;
}

interface NodeTrial {
  /** Kill → first frame written after it arriving at b's host. */
  ms: number;
  /** The switch delay the chart drew for that move (part of ms). */
  switchDelayMs: number;
}

/** One trial with real nodes: a on [r1, r3], b on [r2]; r1 killed; a moves to r3. */
async function nodeFailoverTrial(nats: NatsServer, r2: Relay, r3: Relay): Promise<NodeTrial> {
  const r1 = await startRelay({ nats: nats.url, name: 'r1' });
  const nodes = await startClusterNodes({ a: [r1.url, r3.url], b: [r2.url] });
  try {
    const deadline = Date.now() + 20_000;
    while (!['a', 'b'].every((n) => nodes.peer(n as 'a' | 'b').lastHandshake !== null)) {
      if (Date.now() > deadline) throw new Error('nodes did not pair in 20 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stream = nodes.stream('a', 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const killedAt = performance.now();
    await stop(r1.child, 'SIGKILL');
    let ms: number | undefined;
    while (ms === undefined) {
      if (performance.now() - killedAt > 15_000) throw new Error('no frame in 15 s after the kill');
      await new Promise((resolve) => setTimeout(resolve, 5));
      for (let seq = stream.sent - 1; seq >= 0 && stream.sentAt[seq]! > killedAt; seq--) {
        const arrived = stream.tally.arrivals.get(seq);
        if (arrived !== undefined && (ms === undefined || arrived - killedAt < ms)) {
          ms = arrived - killedAt;
        }
      }
    }
    await stream.stop(0);
    const link = nodes.nodes.a.relayActor.getSnapshot().context;
    if (link.url !== r3.url) throw new Error(`node a is on ${link.url}, not r3`);
    return { ms, switchDelayMs: link.retryDelayMs };
  } finally {
    await nodes.close();
    await stop(r1.child, 'SIGKILL');
  }
}

function figures(result: Result): { fps: number; mbps: number } {
  const fps = result.frames / result.seconds;
  return { fps, mbps: (fps * PAYLOAD * 8) / 1e6 };
}

function median(results: Result[]): { fps: number; mbps: number } {
  const sorted = results.map(figures).sort((x, y) => x.fps - y.fps);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

await sodiumReady();
const nats = await startNats();
try {
  // Rounds alternate, so background load on the machine falls on both alike.
  const single: Result[] = [];
  const cluster: Result[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    single.push(await benchSingle());
    cluster.push(await benchCluster(nats));
  }
  const one = median(single);
  const two = median(cluster);
  const row = (name: string, f: { fps: number; mbps: number }) =>
    `${name.padEnd(30)}${Math.round(f.fps).toLocaleString('en-US').padStart(12)} frames/s${f.mbps.toFixed(0).padStart(8)} Mbit/s`;
  console.log(
    `relay cluster bench: ${PAYLOAD}-byte payloads, window ${WINDOW} frames, median of ${ROUNDS} × ${SECONDS} s, loopback, nats-server ${nats.version}`,
  );
  console.log(row('one relay', one));
  console.log(row('two relays through nats', two));
  console.log(`ratio cluster/single: ${(two.fps / one.fps).toFixed(2)} (target ≥ 0.5)`);

  const [r2, r3] = await Promise.all([
    startRelay({ nats: nats.url, name: 'r2' }),
    startRelay({ nats: nats.url, name: 'r3' }),
  ]);
  try {
    const times: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) times.push(await failoverTrial(nats, r2, r3));
    times.sort((x, y) => x - y);
    console.log(
      `relay killed → first frame through another relay (${TRIALS} trials): p50 ${percentile(times, 50).toFixed(0)} ms, p95 ${percentile(times, 95).toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms`,
    );
    const trials: NodeTrial[] = [];
    for (let trial = 0; trial < TRIALS; trial++) trials.push(await nodeFailoverTrial(nats, r2, r3));
    const total = trials.map((t) => t.ms).sort((x, y) => x - y);
    const delay = trials.map((t) => t.switchDelayMs).sort((x, y) => x - y);
    const rest = trials.map((t) => t.ms - t.switchDelayMs).sort((x, y) => x - y);
    const line = (values: number[]) =>
      `p50 ${percentile(values, 50).toFixed(0)} ms, p95 ${percentile(values, 95).toFixed(0)} ms, max ${values.at(-1)!.toFixed(0)} ms`;
    console.log(
      `real nodes: relay killed → first frame through another relay (${TRIALS} trials): ${line(total)}`,
    );
    console.log(`  of which the switch delay drawn (0…1000 ms): ${line(delay)}`);
    console.log(`  the rest (notice, connect, pair again, deliver): ${line(rest)}`);
  } finally {
    await Promise.all([stop(r2.child), stop(r3.child)]);
  }
} finally {
  await nats.kill();
}
