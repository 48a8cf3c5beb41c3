/**
 * TAP device throughput: frames/s read and written, for the read strategies
 * considered in docs/tap.md. Needs root. Prints figures; never passes/fails.
 *
 *   npm run bench:tap [-- --seconds 2 --json]
 *
 * Set-up (all inside one network namespace this script creates and deletes):
 *
 *   writer worker ──write()──▶ tap "in" ──┐
 *                                         br0 (Linux bridge, floods unknown unicast)
 *   reader under test ◀──read()── tap "out" ◀┘
 *
 * The writer is a worker thread calling the addon's writeFrames in batches of
 * 64 as fast as it can; frames carry an unknown unicast destination so the
 * bridge floods each one to "out". No IP traffic leaves the namespace (the
 * frames are not even IP; IPv6 is disabled in the namespace to keep it quiet).
 */
import { execFile } from 'node:child_process';
import { read as fsRead } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadNativeTap } from '../src/tap/native.js';
import { openTapDevice, type TapDevice } from '../src/tap/tap-device.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1] ?? 2) || 2;
const json = args.includes('--json');
const NS = `swbb-${process.pid}`;
const ADDON = fileURLToPath(
  new URL('../native/build/Release/switchback_tap.node', import.meta.url),
);
const native = loadNativeTap();

interface Row {
  case: string;
  frameBytes: number;
  framesPerSec: number;
  mbitPerSec: number;
  /** Share of the main thread's event loop spent busy (1 = saturated). */
  mainLoopBusy: number;
  meanBatch?: number;
  /** read: the writer's rate (frames/s); drain: frames queued before reading. */
  offered?: number;
}
const rows: Row[] = [];

function makeFrame(size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set([0x02, 0xbb, 0, 0, 0, 1], 0); // unknown unicast: the bridge floods it
  f.set([0x02, 0xaa, 0, 0, 0, 1], 6);
  f[12] = 0x88; // local experimental EtherType 0x88b5: nobody parses it
  f[13] = 0xb5;
  return f;
}

// The writer: a worker thread so it competes for the second core, not the main loop.
const WRITER = `
const { workerData, parentPort } = require('node:worker_threads');
const native = require(workerData.addon);
const frame = new Uint8Array(workerData.size);
frame.set([0x02,0xbb,0,0,0,1],0); frame.set([0x02,0xaa,0,0,0,1],6); frame[12]=0x88; frame[13]=0xb5;
const batch = new Array(64).fill(frame);
let sent = 0;
const end = Date.now() + workerData.ms;
while (Date.now() < end) sent += native.writeFrames(workerData.fd, batch);
parentPort.postMessage(sent);
`;

function startWriter(fd: number, size: number, ms: number): Promise<number> {
  const worker = new Worker(WRITER, { eval: true, workerData: { addon: ADDON, fd, size, ms } });
  return new Promise((resolve, reject) => {
    worker.once('message', (sent: number) => {
      void worker.terminate();
      resolve(sent);
    });
    worker.once('error', reject);
  });
}

// Reader in a worker thread: the addon's batched reader runs on the worker's
// own loop, batches cross to the main thread by transfer (no copy).
const READER = `
const { workerData, parentPort } = require('node:worker_threads');
const native = require(workerData.addon);
const FRAME_MAX = 1600;
const reader = native.startReader(workerData.fd, 64, FRAME_MAX, (err, slab, lengths, count) => {
  if (err) return;
  // The slab is reused by the next read: pack this batch's frames into a copy.
  let total = 0;
  for (let i = 0; i < count; i++) total += lengths[i];
  const copy = new Uint8Array(total);
  const sizes = new Uint32Array(count);
  for (let i = 0, at = 0; i < count; i++) {
    copy.set(slab.subarray(i * FRAME_MAX, i * FRAME_MAX + lengths[i]), at);
    at += lengths[i];
    sizes[i] = lengths[i];
  }
  parentPort.postMessage({ bytes: copy.buffer, lengths: sizes.buffer }, [copy.buffer, sizes.buffer]);
});
parentPort.once('message', () => { native.stopReader(reader); parentPort.close(); });
`;

async function measureRead(
  label: string,
  size: number,
  setUp: (onFrames: (n: number, batches: number) => void) => () => Promise<void> | void,
  inFd: number,
): Promise<void> {
  let frames = 0;
  let batches = 0;
  const stop = setUp((n, b) => {
    frames += n;
    batches += b;
  });
  await new Promise((r) => setTimeout(r, 100)); // let the reader settle
  frames = 0;
  batches = 0;
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const offered = await startWriter(inFd, size, seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  await stop();
  rows.push({
    case: label,
    frameBytes: size,
    framesPerSec: Math.round(frames / elapsed),
    mbitPerSec: Math.round((frames * size * 8) / elapsed / 1e6),
    mainLoopBusy: Number(elu.utilization.toFixed(2)),
    meanBatch: batches > 0 ? Number((frames / batches).toFixed(1)) : 0,
    offered: Math.round(offered / elapsed),
  });
}

/**
 * Read capacity without a competing writer: fill the reader's kernel queue
 * first (txqueuelen raised to DRAIN_FRAMES), then attach the reader and time
 * from its first frame to its last.
 */
const DRAIN_FRAMES = 50_000;
async function measureDrain(
  label: string,
  size: number,
  outName: string,
  setUp: (onFrames: (n: number, batches: number) => void) => () => Promise<void> | void,
  inFd: number,
): Promise<void> {
  await run('ip', ['-n', NS, 'link', 'set', outName, 'txqueuelen', String(DRAIN_FRAMES + 1000)]);
  const frame = makeFrame(size);
  const batch = new Array<Uint8Array>(1000).fill(frame);
  for (let i = 0; i < DRAIN_FRAMES / 1000; i++) native.writeFrames(inFd, batch);
  let frames = 0;
  let batches = 0;
  let first = 0;
  let last = 0;
  let framesAtFirst = 0;
  const elu0 = performance.eventLoopUtilization();
  const stop = setUp((n, b) => {
    const now = performance.now();
    if (first === 0) {
      first = now;
      framesAtFirst = n;
    }
    last = now;
    frames += n;
    batches += b;
  });
  // Wait until the queue is drained: no new frame for 300 ms (bounded at 20 s).
  const deadline = performance.now() + 20_000;
  let seen = -1;
  while (seen !== frames && performance.now() < deadline) {
    seen = frames;
    await new Promise((r) => setTimeout(r, 300));
  }
  const elu = performance.eventLoopUtilization(elu0);
  await stop();
  const elapsed = (last - first) / 1000;
  const rate = elapsed > 0 ? (frames - framesAtFirst) / elapsed : 0;
  rows.push({
    case: label,
    frameBytes: size,
    framesPerSec: Math.round(rate),
    mbitPerSec: Math.round((rate * size * 8) / 1e6),
    mainLoopBusy: Number(elu.utilization.toFixed(2)),
    meanBatch: batches > 0 ? Number((frames / batches).toFixed(1)) : 0,
    offered: frames,
  });
}

async function measureWrite(
  label: string,
  size: number,
  fd: number,
  batchSize: number,
): Promise<void> {
  const frame = makeFrame(size);
  const batch = new Array<Uint8Array>(batchSize).fill(frame);
  let sent = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const elu0 = performance.eventLoopUtilization();
  // Yield to the loop every few ms so the figure includes a realistic loop.
  while (performance.now() < end) {
    const sliceEnd = performance.now() + 5;
    while (performance.now() < sliceEnd) sent += native.writeFrames(fd, batch);
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  rows.push({
    case: label,
    frameBytes: size,
    framesPerSec: Math.round(sent / elapsed),
    mbitPerSec: Math.round((sent * size * 8) / elapsed / 1e6),
    mainLoopBusy: Number(elu.utilization.toFixed(2)),
  });
}

type SetUp = (count: (n: number, batches: number) => void) => () => Promise<void> | void;
interface Strategy {
  label: string;
  open(): Promise<{ name: string; setUp: SetUp }>;
}

let serial = 0;
const readerName = (): string => `sbr${process.pid % 100_000}x${serial++}`;

const STRATEGIES: Strategy[] = [
  // 1. The chosen design: addon reader on uv_poll, up to 64 frames per wakeup.
  ...[64, 1].map(
    (batchMax): Strategy => ({
      label: `addon uv_poll, batch<=${batchMax}`,
      async open() {
        const out = await openTapDevice({ name: readerName(), netns: NS, batchMax });
        return {
          name: out.name,
          setUp: (count) => {
            out.onFrames((frames) => count(frames.length, 1));
            return () => out.close();
          },
        };
      },
    }),
  ),
  // 2. One fs.read per frame on libuv's threadpool, blocking descriptor.
  {
    label: 'fs.read per frame (threadpool)',
    async open() {
      const { fd, name } = native.open(readerName(), false);
      await run('ip', ['link', 'set', 'dev', name, 'netns', NS]);
      return {
        name,
        setUp: (count) => {
          let stopped = false;
          const buf = Buffer.alloc(1600);
          const next = (): void => {
            fsRead(fd, buf, 0, buf.length, null, (err, n) => {
              if (err || stopped) return;
              count(n > 0 ? 1 : 0, 1);
              next();
            });
          };
          next();
          // The pending blocking read holds a threadpool thread until a frame
          // arrives; it returns once the device is gone.
          return () => {
            stopped = true;
            native.close(fd);
          };
        },
      };
    },
  },
  // 3. The addon reader inside a worker thread, batches posted to main.
  {
    label: 'addon in worker, postMessage',
    async open() {
      const out = await openTapDevice({ name: readerName(), netns: NS });
      return {
        name: out.name,
        setUp: (count) => {
          const worker = new Worker(READER, {
            eval: true,
            workerData: { addon: ADDON, fd: out.fd },
          });
          worker.on('message', (m: { lengths: ArrayBuffer }) => count(m.lengths.byteLength / 4, 1));
          return async () => {
            worker.postMessage('stop');
            await new Promise((r) => worker.once('exit', r));
            await out.close();
          };
        },
      };
    },
  },
];

async function main(): Promise<void> {
  const devices: TapDevice[] = [];
  await run('ip', ['netns', 'add', NS]);
  try {
    await run('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    await run('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    await run('ip', ['-n', NS, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', NS, 'link', 'set', 'br0', 'up']);
    const tapIn = await openTapDevice({ name: `sbi${process.pid % 100_000}`, netns: NS });
    devices.push(tapIn);
    await run('ip', ['-n', NS, 'link', 'set', tapIn.name, 'master', 'br0']);

    for (const size of [64, 1400]) {
      for (const mode of ['live', 'drain'] as const) {
        for (const strategy of STRATEGIES) {
          const reader = await strategy.open();
          await run('ip', ['-n', NS, 'link', 'set', reader.name, 'master', 'br0']);
          await run('ip', ['-n', NS, 'link', 'set', reader.name, 'up']);
          const label = `${mode === 'live' ? 'read' : 'drain'}: ${strategy.label}`;
          if (mode === 'live') await measureRead(label, size, reader.setUp, tapIn.fd);
          else await measureDrain(label, size, reader.name, reader.setUp, tapIn.fd);
        }
      }
      // Writes from the main thread into "in" (nobody reads "out": the kernel drops there).
      await measureWrite('write: writeFrames, 1 per call', size, tapIn.fd, 1);
      await measureWrite('write: writeFrames, 64 per call', size, tapIn.fd, 64);
    }
  } finally {
    for (const d of devices) await d.close();
    await run('ip', ['netns', 'del', NS]).catch(() => {});
  }

  if (json) {
    console.log(
      JSON.stringify({ seconds, cpus: (await import('node:os')).cpus().length, rows }, null, 2),
    );
    return;
  }
  console.log(
    `tap bench, ${seconds}s per case, writer worker offers frames through a bridge (offered = its rate)`,
  );
  console.table(rows);
}

await main();
