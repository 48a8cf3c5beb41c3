/**
 * Reads a V8 .cpuprofile (node --cpu-prof) of a `switchback up` daemon and
 * says where its time went: top functions by self time, and self time
 * grouped by data-path stage. A sample counts for the stage of the nearest
 * frame (itself first, then its callers) that a rule below recognises, so
 * libsodium's wasm under Session.open counts as "open", under seal as "seal".
 *
 *   npx tsx bench/tunnel/cpuprofile.ts FILE.cpuprofile [--frames N] [--window FROM-TO] [--json]
 *
 * --frames N divides each stage's time by N (frames the daemon handled) to
 * give µs per frame; --window FROM-TO (ms since the profile started) keeps
 * only the samples in that span (e.g. the iperf3 run, not start-up).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

type Rule = [stage: string, test: (frame: CallFrame) => boolean];
const has = (frame: CallFrame, text: string) => frame.url.includes(text);
const fn = (frame: CallFrame, re: RegExp) => re.test(frame.functionName);

/** First match wins, walking from the sampled frame towards the root. */
const RULES: Rule[] = [
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['(program): native, outside JS', (f) => f.functionName === '(program)'],
  ['idle', (f) => f.functionName === '(idle)'],
  [
    'socket write (JS + TLS encrypt in C++)',
    (f) => fn(f, /^(writeBuffer|writev|writeUtf8String|writeLatin1String)$/) || has(f, 'node:net'),
  ],
  [
    'TLS / stream (JS side)',
    (f) =>
      has(f, '_tls_wrap') ||
      has(f, 'node:internal/streams') ||
      has(f, 'node:internal/stream_base_commons'),
  ],
  ['in-order receiver', (f) => has(f, 'in-order-receiver')],
  [
    'open (AEAD, replay window, decode)',
    (f) => (has(f, '/crypto/') && fn(f, /open|decrypt/i)) || has(f, 'replay-window'),
  ],
  ['seal (AEAD, encode)', (f) => has(f, '/crypto/') && fn(f, /seal|encrypt/i)],
  [
    'ws send (framing)',
    (f) => has(f, 'ws/lib/sender') || (has(f, 'ws/lib/websocket') && fn(f, /^send$/)),
  ],
  ['ws receive (parsing)', (f) => has(f, 'ws/lib/receiver') || has(f, 'ws/lib/buffer-util')],
  ['TAP write', (f) => fn(f, /^writeFrames$/) || (has(f, 'tap-device') && fn(f, /write/i))],
  [
    'TAP read + L2 switch + pump',
    (f) => has(f, 'tap-device') || has(f, '/tap/pump') || has(f, 'l2-switch'),
  ],
  ['peer-link (path choice, counters)', (f) => has(f, 'peer-link') || has(f, 'direct-link')],
  [
    'xstate / timers / control',
    (f) => has(f, 'xstate') || has(f, 'node:internal/timers') || has(f, '/machines/'),
  ],
  ['other JS', () => true],
];

export interface ProfileSummary {
  /** Profile length, ms. */
  durationMs: number;
  /** Sampled busy time (everything but idle), ms. */
  busyMs: number;
  stages: { stage: string; ms: number; share: number; usPerFrame?: number }[];
  top: { function: string; where: string; selfMs: number; share: number }[];
}

export function summariseProfile(
  profile: Profile,
  frames?: number,
  window?: { fromMs: number; toMs: number },
): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<number, number>();
  let at = 0; // µs since the profile started
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.fromMs * 1000 || at > window.toMs * 1000)) continue;
    self.set(id, (self.get(id) ?? 0) + delta);
  }
  const stageOf = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      for (const [stage, test] of RULES.slice(0, -1)) if (test(frame)) return stage;
    }
    return 'other JS';
  };
  const stages = new Map<string, number>();
  const functions = new Map<string, { where: string; us: number }>();
  let busy = 0;
  for (const [id, us] of self) {
    const stage = stageOf(id);
    stages.set(stage, (stages.get(stage) ?? 0) + us);
    if (stage !== 'idle') busy += us;
    const frame = byId.get(id)!.callFrame;
    const where = frame.url
      ? `${frame.url.replace(/^.*\/(node_modules|src|dist)\//, '$1/')}:${frame.lineNumber + 1}`
      : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`;
    const entry = functions.get(key) ?? { where, us: 0 };
    entry.us += us;
    functions.set(key, entry);
  }
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    durationMs: window
      ? window.toMs - window.fromMs
      : round((profile.endTime - profile.startTime) / 1000),
    busyMs: round(busy / 1000),
    stages: [...stages]
      .filter(([stage]) => stage !== 'idle')
      .sort((a, b) => b[1] - a[1])
      .map(([stage, us]) => ({
        stage,
        ms: round(us / 1000),
        share: round(us / busy),
        ...(frames ? { usPerFrame: round(us / frames) } : {}),
      })),
    top: [...functions]
      .filter(([key]) => !key.startsWith('(idle)'))
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, 25)
      .map(([key, { where, us }]) => ({
        function: key.slice(0, key.length - where.length).trim(),
        where,
        selfMs: round(us / 1000),
        share: round(us / busy),
      })),
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      frames: { type: 'string' },
      window: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const frames = values.frames ? Number(values.frames) : undefined;
  const [fromMs, toMs] = (values.window ?? '').split('-').map(Number);
  const window =
    values.window && Number.isFinite(fromMs) && Number.isFinite(toMs)
      ? { fromMs: fromMs!, toMs: toMs! }
      : undefined;
  for (const file of positionals) {
    const summary = summariseProfile(
      JSON.parse(readFileSync(file, 'utf8')) as Profile,
      frames,
      window,
    );
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ file, ...summary })}\n`);
      continue;
    }
    console.log(`${file}: ${summary.durationMs} ms profiled, ${summary.busyMs} ms busy`);
    for (const s of summary.stages) {
      console.log(
        `  ${s.stage.padEnd(42)} ${String(s.ms).padStart(9)} ms ${(s.share * 100).toFixed(1).padStart(5)}%${s.usPerFrame !== undefined ? `  ${s.usPerFrame} µs/frame` : ''}`,
      );
    }
    console.log('  top self time:');
    for (const t of summary.top) {
      console.log(
        `    ${String(t.selfMs).padStart(8)} ms ${(t.share * 100).toFixed(1).padStart(5)}%  ${t.function}  ${t.where}`,
      );
    }
  }
}
