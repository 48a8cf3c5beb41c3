// Relay processes in a cluster for the integration tests: `switchback relay
// --cluster … --id …` started as an operator would, its JSON log lines kept
// (and always read, so the process never blocks on a full pipe), its /healthz
// and /metrics fetched. Plus numbered frames for checking that nothing is
// lost, duplicated or reordered between two relay clients.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { generateIdentity, type Identity } from '../../../src/crypto/identity.js';
import { RelayClient } from '../../../src/relay/client.js';

export interface RelayProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly metricsUrl: string;
  /** Log messages (the `msg` of each JSON line) so far. */
  readonly log: string[];
  /** Resolves with the first log message matching `pattern` (already logged or to come). */
  logged(pattern: RegExp, timeoutMs?: number): Promise<string>;
  metrics(): Promise<string>;
  /** A metric's value (the sum over its label sets when `labels` is omitted). */
  metric(name: string, labels?: string): Promise<number>;
  healthz(): Promise<{ status: number; text: string }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const started: RelayProcess[] = [];

/** Kills every relay process these helpers started (afterEach / afterAll). */
export async function killRelays(): Promise<void> {
  await Promise.all(started.splice(0).map((relay) => relay.kill('SIGKILL')));
}

/** Starts `switchback relay` on a free loopback port; `extra` are further flags. */
export async function startRelayProcess(
  name: string,
  natsUrl: string | undefined,
  extra: string[] = [],
): Promise<RelayProcess> {
  const args = ['relay', '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0'];
  if (natsUrl) args.push('--cluster', natsUrl, '--id', name);
  args.push(...extra);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let msg = line;
    try {
      msg = (JSON.parse(line) as { msg: string }).msg;
    } catch {}
    log.push(msg);
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(msg)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(msg);
      }
    }
  });
  const logged = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = log.find((msg) => pattern.test(msg));
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `relay ${name}: no log line ${pattern} in ${timeoutMs} ms; log:\n${log.join('\n')}\n${stderr}`,
          ),
        );
      }, timeoutMs);
      const waiter = {
        pattern,
        resolve: (msg: string) => {
          clearTimeout(timer);
          resolve(msg);
        },
      };
      waiters.push(waiter);
    });
  const exited = once(child, 'exit');
  const first = await Promise.race([
    logged(/^relay listening on /),
    exited.then(() => {
      throw new Error(`relay ${name} exited early: ${stderr.trim()}`);
    }),
  ]);
  const url = /ws:\/\/127\.0\.0\.1:\d+/.exec(first)![0];
  const metricsUrl = /http:\/\/127\.0\.0\.1:\d+/.exec(first)![0];
  const relay: RelayProcess = {
    name,
    child,
    url,
    metricsUrl,
    log,
    logged,
    async metrics() {
      return (await fetch(`${metricsUrl}/metrics`)).text();
    },
    async metric(metric, labels) {
      const text = await relay.metrics();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (line.startsWith('#')) continue;
        const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!match || match[1] !== metric) continue;
        if (labels !== undefined && match[2] !== `{${labels}}`) continue;
        sum += Number(match[3]);
      }
      return sum;
    },
    async healthz() {
      const res = await fetch(`${metricsUrl}/healthz`);
      return { status: res.status, text: await res.text() };
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = once(child, 'exit');
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(timer);
    },
  };
  started.push(relay);
  return relay;
}

/** Polls `check` every 25 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<number> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return performance.now() - start;
}

export interface Peer {
  identity: Identity;
  client: RelayClient;
}

export async function peerOn(url: string, identity?: Identity): Promise<Peer> {
  const id = identity ?? (await generateIdentity());
  return { identity: id, client: await RelayClient.connect(url, id, { timeoutMs: 5_000 }) };
}

/** Both CONNECT; resolves with the ESTABLISHED each side got. */
export async function pairAcross(a: Peer, b: Peer, ports: [number, number] = [0, 0]) {
  const established = Promise.all([
    a.client.next('established', { timeoutMs: 10_000 }),
    b.client.next('established', { timeoutMs: 10_000 }),
  ]);
  a.client.connectPeer(b.identity.publicKey, ports[0]);
  b.client.connectPeer(a.identity.publicKey, ports[1]);
  return established;
}

/** A payload that says which stream and number it is: [stream u8][n u32][filler]. */
export function numbered(stream: number, n: number, size = 1400): Uint8Array {
  const payload = new Uint8Array(size);
  payload[0] = stream;
  new DataView(payload.buffer).setUint32(1, n);
  payload.fill(n & 0xff, 5);
  return payload;
}

/**
 * Sends `count` numbered frames from `from` to `to` (a window at a time, so
 * the relays' buffers are never what is measured) and checks they arrive
 * exactly once each, in order, intact. Returns what arrived.
 */
export async function numberedStream(
  from: Peer,
  to: Peer,
  stream: number,
  count: number,
  window = 256,
  timeoutMs = 20_000,
): Promise<{
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupt: number;
}> {
  let received = 0;
  let duplicated = 0;
  let reordered = 0;
  let corrupt = 0;
  let sent = 0;
  const seen = new Set<number>();
  let highest = -1;
  return new Promise((resolve) => {
    const finish = () => {
      to.client.off('forward', onFrame);
      clearTimeout(timer);
      resolve({ received, lost: count - seen.size, duplicated, reordered, corrupt });
    };
    const timer = setTimeout(finish, timeoutMs);
    const pump = () => {
      while (sent < count && sent - received < window) {
        from.client.forward(to.identity.publicKey, numbered(stream, sent));
        sent++;
      }
    };
    const onFrame = (event: { from: Uint8Array; payload: Uint8Array }) => {
      const payload = event.payload;
      if (payload[0] !== stream) return;
      const n = new DataView(payload.buffer, payload.byteOffset).getUint32(1);
      received++;
      if (payload.length !== 1400 || payload[1400 - 1] !== (n & 0xff)) corrupt++;
      if (seen.has(n)) duplicated++;
      else seen.add(n);
      if (n < highest) reordered++;
      highest = Math.max(highest, n);
      if (seen.size === count) finish();
      else pump();
    };
    to.client.on('forward', onFrame);
    pump();
  });
}
