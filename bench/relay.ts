// bench:relay — forwarded frames/s and Mbit/s of 1400-byte payloads through
// the real relay process, beside a plain `ws` forwarder (receive a message,
// send it to the other socket, nothing else) measured in the same run.
//
// Topology, for both: sender → server process → receiver, on loopback. The
// server runs in its own process (one core), the two clients here (the other
// core). The sender keeps at most WINDOW frames in flight (sent − received),
// so the figure is forwarding throughput, not how fast buffers fill.
//
//   npm run bench:relay [-- --seconds 2 --rounds 3 --window 512 --payload 1400 --json]
//
// --compare-tree DIR also runs the relay of another checkout (DIR/src/cli.ts,
// e.g. main's code unpacked by `git archive main | tar -x -C DIR`, with a
// node_modules link) in the same alternating rounds: before and after in one
// run. --cpu-prof DIR writes a .cpuprofile of each relay process there.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { generateIdentity } from '../src/crypto/identity.js';
import { sodiumReady } from '../src/crypto/sodium.js';
import { encodeFrame } from '../src/protocol/codec.js';
import { FrameType } from '../src/protocol/frames.js';
import { RelayClient } from '../src/relay/client.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '512' },
    payload: { type: 'string', default: '1400' },
    json: { type: 'boolean', default: false },
    'compare-tree': { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const WINDOW = Number(values.window);
const PAYLOAD = Number(values.payload);
const WARMUP_MS = 500;
const COMPARE_TREE = values['compare-tree'];
const CPU_PROF = values['cpu-prof'];

interface Result {
  frames: number;
  seconds: number;
}

/** Drives one sender/receiver pair for warmup + SECONDS; counts what arrived in the window. */
async function measure(send: () => void, onReceive: (count: () => void) => void): Promise<Result> {
  let sent = 0;
  let received = 0;
  let counting = false;
  let counted = 0;
  const pump = () => {
    while (sent - received < WINDOW) {
      send();
      sent++;
    }
  };
  onReceive(() => {
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
  return { frames: counted, seconds };
}

async function serverProcess(
  args: string[],
  pattern: RegExp,
  cwd?: string,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  // Every line is read to the end, so the server never blocks on a full pipe.
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start: ${args.join(' ')}`)),
      20_000,
    );
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve(match[0]);
    });
    child.once('exit', () => reject(new Error(`server exited early: ${args.join(' ')}`)));
  });
  try {
    return { child, url: await url };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The relay of this checkout, or of `tree` (another checkout of the project). */
async function benchRelay(tree?: string): Promise<Result> {
  const { child, url } = await serverProcess(
    [
      ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []),
      '--import',
      'tsx',
      'src/cli.ts',
      'relay',
      '--listen',
      '127.0.0.1:0',
      '--log-level',
      'info',
      // Out of the way: this measures forwarding, not policing.
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
    ],
    /ws:\/\/127\.0\.0\.1:\d+/,
    tree,
  );
  try {
    const ids = [await generateIdentity(), await generateIdentity()] as const;
    const a = await RelayClient.connect(url, ids[0]);
    const b = await RelayClient.connect(url, ids[1]);
    const established = b.next('established', { timeoutMs: 5_000 });
    a.connectPeer(ids[1].publicKey, 0);
    b.connectPeer(ids[0].publicKey, 0);
    await established;
    // Pre-encoded: the sender's cost stays out of the figure, as in the plain run.
    const frame = encodeFrame({
      type: FrameType.FORWARD,
      key: ids[1].publicKey,
      payload: new Uint8Array(PAYLOAD),
    });
    const result = await measure(
      () => a.sendRaw(frame),
      (count) => b.on('forward', count),
    );
    a.terminate();
    b.terminate();
    return result;
  } finally {
    await stop(child);
  }
}

// The baseline: the least a ws server can do to move a message between two sockets.
const PLAIN_FORWARDER = `
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
const sockets = [];
wss.on('connection', (ws) => {
  sockets.push(ws);
  ws.on('message', (data) => { const to = sockets[sockets.indexOf(ws) ^ 1]; if (to) to.send(data); });
});
wss.on('listening', () => console.log('ws://127.0.0.1:' + wss.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

async function benchPlain(): Promise<Result> {
  const { child, url } = await serverProcess(
    ['--input-type=module', '-e', PLAIN_FORWARDER],
    /ws:\/\/127\.0\.0\.1:\d+/,
  );
  try {
    const a = new WebSocket(url, { perMessageDeflate: false });
    await once(a, 'open');
    const b = new WebSocket(url, { perMessageDeflate: false });
    await once(b, 'open');
    await new Promise((resolve) => setTimeout(resolve, 50)); // both registered
    // Same bytes on the wire as the relay's FORWARD (34-byte header + payload).
    const message = Buffer.alloc(PAYLOAD + 34);
    const result = await measure(
      () => a.send(message),
      (count) => b.on('message', count),
    );
    a.terminate();
    b.terminate();
    return result;
  } finally {
    await stop(child);
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

await sodiumReady();
// Rounds alternate between the two so that background load on the machine
// falls on both alike; each side's median is printed.
const plainRuns: Result[] = [];
const relayRuns: Result[] = [];
const compareRuns: Result[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // The order rotates per round so a busy spell does not always hit the same one.
  const cases = [
    async () => plainRuns.push(await benchPlain()),
    async () => relayRuns.push(await benchRelay()),
    ...(COMPARE_TREE ? [async () => compareRuns.push(await benchRelay(COMPARE_TREE))] : []),
  ];
  for (let i = 0; i < cases.length; i++) await cases[(i + round) % cases.length]!();
}
const plain = median(plainRuns);
const relay = median(relayRuns);
const compare = COMPARE_TREE ? median(compareRuns) : undefined;
const rounds = (runs: Result[]) => runs.map((r) => Math.round(r.frames / r.seconds));
const row = (name: string, f: { fps: number; mbps: number }) =>
  `${name.padEnd(22)}${Math.round(f.fps).toLocaleString('en-US').padStart(12)} frames/s${f.mbps.toFixed(0).padStart(8)} Mbit/s`;
if (values.json) {
  const shape = (f: { fps: number; mbps: number }) => ({
    framesPerSec: Math.round(f.fps),
    mbps: Math.round(f.mbps),
  });
  process.stdout.write(
    `${JSON.stringify({
      payload: PAYLOAD,
      window: WINDOW,
      rounds: ROUNDS,
      seconds: SECONDS,
      plain: { ...shape(plain), rounds: rounds(plainRuns) },
      relay: { ...shape(relay), rounds: rounds(relayRuns) },
      relayOverPlain: Math.round((relay.fps / plain.fps) * 1000) / 1000,
      ...(compare && {
        compareTree: COMPARE_TREE,
        compare: { ...shape(compare), rounds: rounds(compareRuns) },
        compareOverPlain: Math.round((compare.fps / plain.fps) * 1000) / 1000,
        relayOverCompare: Math.round((relay.fps / compare.fps) * 1000) / 1000,
      }),
    })}\n`,
  );
} else {
  console.log(
    `relay bench: ${PAYLOAD}-byte payloads, window ${WINDOW} frames, median of ${ROUNDS} × ${SECONDS} s, loopback`,
  );
  const each = (runs: Result[]) => `  (rounds: ${rounds(runs).join(' / ')})`;
  console.log(row('plain ws forwarder', plain) + each(plainRuns));
  console.log(row('switchback relay', relay) + each(relayRuns));
  if (compare) console.log(row('relay of compare-tree', compare) + each(compareRuns));
  console.log(`ratio relay/plain: ${(relay.fps / plain.fps).toFixed(2)}`);
  if (compare) {
    console.log(
      `ratio compare-tree/plain: ${(compare.fps / plain.fps).toFixed(2)}; relay/compare-tree: ${(relay.fps / compare.fps).toFixed(2)} (compare-tree ${COMPARE_TREE})`,
    );
  }
}
