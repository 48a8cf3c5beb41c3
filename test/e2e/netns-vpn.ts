/**
 * A Switchback VPN across the three namespaces of test/support/netns.ts, as
 * the e2e tests and `bench:failover --netns` drive it: `switchback relay` in
 * the relay namespace, `switchback up` in a and b (real TOML configs, real TAP
 * devices sb0 with overlay addresses), continuous pings across the overlay,
 * and each node's control API read from inside its namespace.
 *
 *   const vpn = await NetnsVpn.start();            // namespaces, keys, relay
 *   const nodes = await vpn.startNodes('label');   // two `switchback up`
 *   await nodes.bothOnPath('direct', 30_000);
 *   const ping = startPing(vpn.underlay.ns.a, OVERLAY.b);
 *   …
 *   await nodes.stop(); await vpn.close();         // namespaces gone
 *
 * The CLI runs from source (`node --import tsx src/cli.ts`, the e2e tests:
 * a fresh clone needs no build and never runs a stale dist/) or built
 * (`node dist/cli.js`, the benchmarks: no transpiler in the measurement).
 * Every command is bounded in time; every process is tracked by netns.ts and
 * killed with the namespaces.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { NodeStatus, PeerStatus, TransitionRecord } from '../../src/daemon/node-status.js';
import {
  closeUnderlay,
  createUnderlay,
  execIn,
  spawnIn,
  stopProcess,
  type Underlay,
} from '../support/netns.js';
import { type PingSummary, parsePingLog } from './ping-log.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OVERLAY = { a: '10.232.0.1', b: '10.232.0.2', prefix: 24 };
export const RELAY_PORT = 7000;
export const LISTEN_PORT = 7443;
/** Each node's control API, on its own namespace's loopback. */
export const CONTROL = '127.0.0.1:7900';
const ENV = { ...process.env, SWITCHBACK_TOKEN: '', NO_COLOR: '1' };

export type Role = 'a' | 'b';

/** How to run the `switchback` command: from source, or the build in dist/. */
export type CliMode = 'source' | 'built';

function cliArgs(mode: CliMode): string[] {
  return mode === 'built'
    ? [join(REPO_ROOT, 'dist', 'cli.js')]
    : ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts')];
}

/** A `[timings]` table for the node config; undefined: none (the defaults). */
export interface NodeTimings {
  [key: string]: number | Record<string, number>;
}

/** A long-running process with its output kept (bounded) for failure messages. */
export interface Watched {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when a line matches `re`; throws if the process exits first, or after `ms`. */
  waitFor(re: RegExp, ms: number): Promise<void>;
}

export function watchOutput(child: ChildProcess): Watched {
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > 400_000) text = text.slice(-200_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return {
    child,
    output: () => text,
    async waitFor(re, ms) {
      const deadline = Date.now() + ms;
      while (!re.test(text)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `process exited (${child.exitCode ?? child.signalCode}) before /${re.source}/:\n${text.slice(-4000)}`,
          );
        }
        if (Date.now() > deadline) {
          throw new Error(`no /${re.source}/ within ${ms} ms:\n${text.slice(-4000)}`);
        }
        await sleep(50);
      }
    },
  };
}

/** Polls `probe` every `everyMs` until it returns a value, at most `ms`; the last error goes into the message. */
export async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `${what}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}

/** The namespaces, the keys and the relay; nodes come and go with startNodes(). */
export class NetnsVpn {
  readonly underlay: Underlay;
  readonly dir: string;
  readonly relay: Watched;
  readonly cli: CliMode;
  readonly keys: Record<Role, string>;
  readonly #running = new Set<VpnNodes>();

  private constructor(
    underlay: Underlay,
    dir: string,
    relay: Watched,
    cli: CliMode,
    keys: Record<Role, string>,
  ) {
    this.underlay = underlay;
    this.dir = dir;
    this.relay = relay;
    this.cli = cli;
    this.keys = keys;
  }

  /** Namespaces (prefix: see createUnderlay), a key per node, `switchback relay` listening. */
  static async start(options: { prefix?: string; cli?: CliMode } = {}): Promise<NetnsVpn> {
    const cli = options.cli ?? 'source';
    const underlay = await createUnderlay({ prefix: options.prefix });
    let dir: string | undefined;
    try {
      dir = await mkdtemp(join(tmpdir(), 'switchback-netns-'));
      const keys = { a: '', b: '' };
      for (const role of ['a', 'b'] as const) {
        const made = await execIn(
          underlay.ns[role],
          process.execPath,
          [...cliArgs(cli), 'keygen', '--out', join(dir, `${role}.key`)],
          { timeoutMs: 20_000, cwd: REPO_ROOT, env: ENV },
        );
        if (made.code !== 0) throw new Error(`switchback keygen: ${made.stderr.trim()}`);
        keys[role] = made.stdout.trim();
      }
      const relay = watchOutput(
        spawnIn(
          underlay.ns.relay,
          process.execPath,
          [...cliArgs(cli), 'relay', '--listen', `${underlay.addr.relay}:${RELAY_PORT}`],
          { cwd: REPO_ROOT, env: ENV },
        ),
      );
      // The relay's first log line says where it listens.
      await relay.waitFor(/relay listening on/, 20_000);
      return new NetnsVpn(underlay, dir, relay, cli, keys);
    } catch (error) {
      await closeUnderlay(underlay);
      if (dir) await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** The `switchback` command line inside `ns`, waited for (at most `timeoutMs`). */
  run(ns: string, args: readonly string[], timeoutMs = 20_000) {
    return execIn(ns, process.execPath, [...cliArgs(this.cli), ...args], {
      timeoutMs,
      cwd: REPO_ROOT,
      env: ENV,
    });
  }

  nodeConfig(role: Role, timings: NodeTimings | undefined): string {
    const other = role === 'a' ? 'b' : 'a';
    const lines = [
      `key = "${join(this.dir, `${role}.key`)}"`,
      `relay = "ws://${this.underlay.addr.relay}:${RELAY_PORT}"`,
      `listen = "0.0.0.0:${LISTEN_PORT}"`,
      `control = "${CONTROL}"`,
      '',
      '[tap]',
      'name = "sb0"',
      `address = "${OVERLAY[role]}/${OVERLAY.prefix}"`,
      'mtu = 1400',
      '',
      '[[peers]]',
      `name = "${other}"`,
      `publicKey = "${this.keys[other]}"`,
    ];
    if (timings) {
      const tables = Object.entries(timings).filter(([, v]) => typeof v === 'object');
      lines.push('', '[timings]');
      for (const [key, value] of Object.entries(timings))
        if (typeof value === 'number') lines.push(`${key} = ${value}`);
      for (const [name, table] of tables) {
        lines.push('', `[timings.${name}]`);
        for (const [key, value] of Object.entries(table)) lines.push(`${key} = ${value}`);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  /** Starts `switchback up` in a and b with `timings` (undefined: the defaults)
   * and, per role, extra `switchback up` flags (e.g. `--no-offload`). */
  async startNodes(
    label: string,
    timings?: NodeTimings,
    upFlags: Partial<Record<Role, readonly string[]>> = {},
  ): Promise<VpnNodes> {
    const configs = {
      a: join(this.dir, `${label}-a.toml`),
      b: join(this.dir, `${label}-b.toml`),
    };
    const procs = {} as Record<Role, Watched>;
    for (const role of ['a', 'b'] as const) {
      await writeFile(configs[role], this.nodeConfig(role, timings));
      procs[role] = watchOutput(
        spawnIn(
          this.underlay.ns[role],
          process.execPath,
          [...cliArgs(this.cli), 'up', '--config', configs[role], ...(upFlags[role] ?? [])],
          { cwd: REPO_ROOT, env: ENV },
        ),
      );
    }
    const nodes = new VpnNodes(this, label, configs, procs);
    this.#running.add(nodes);
    try {
      await procs.a.waitFor(/"msg":"node up: /, 30_000);
      await procs.b.waitFor(/"msg":"node up: /, 30_000);
    } catch (error) {
      await nodes.stop();
      throw error;
    }
    return nodes;
  }

  /** Stops what is still running, deletes the namespaces and the temporary files. */
  async close(): Promise<void> {
    try {
      for (const nodes of this.#running) await nodes.stop();
      await stopProcess(this.relay.child);
    } finally {
      await closeUnderlay(this.underlay);
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Called by VpnNodes.stop(). */
  forget(nodes: VpnNodes): void {
    this.#running.delete(nodes);
  }
}

/** Two running nodes, a and b, each with the other as its one peer. */
export class VpnNodes {
  readonly vpn: NetnsVpn;
  readonly label: string;
  readonly configs: Record<Role, string>;
  readonly procs: Record<Role, Watched>;

  constructor(
    vpn: NetnsVpn,
    label: string,
    configs: Record<Role, string>,
    procs: Record<Role, Watched>,
  ) {
    this.vpn = vpn;
    this.label = label;
    this.configs = configs;
    this.procs = procs;
  }

  /** GET `path` of `role`'s control API, from inside its namespace (no tsx: ~50 ms). */
  async control<T>(role: Role, path: string): Promise<T> {
    const script = `fetch('http://${CONTROL}${path}').then(r=>r.text()).then(t=>process.stdout.write(t))`;
    const result = await execIn(this.vpn.underlay.ns[role], process.execPath, ['-e', script], {
      timeoutMs: 10_000,
    });
    if (result.code !== 0) throw new Error(`GET ${path} in ${role} failed: ${result.stderr}`);
    return JSON.parse(result.stdout) as T;
  }

  status(role: Role): Promise<NodeStatus> {
    return this.control<NodeStatus>(role, '/status');
  }

  /** `role`'s view of its one peer. */
  async peer(role: Role): Promise<PeerStatus> {
    const peer = (await this.status(role)).peers[0];
    if (!peer) throw new Error(`status of ${role} has no peer`);
    return peer;
  }

  /** The node's transition log (connection chart and relay-link chart), oldest first. */
  transitions(role: Role): Promise<TransitionRecord[]> {
    return this.control<TransitionRecord[]>(role, '/transitions');
  }

  /** Waits until both nodes send each other's frames on `path` (and are paired). */
  bothOnPath(path: PeerStatus['path'], ms: number): Promise<{ a: PeerStatus; b: PeerStatus }> {
    return until(`both nodes on path "${path}"`, ms, async () => {
      const [a, b] = await Promise.all([this.peer('a'), this.peer('b')]);
      return a.path === path && b.path === path ? { a, b } : undefined;
    });
  }

  /**
   * The first transition of `role`'s chart `machine` after `since` (ms since
   * the epoch) that enters `to` (its target starts with `to`, its source does
   * not: usingDirect.healthy → usingDirect.suspect does not enter
   * usingDirect), with `reason` if given; waited for at most `ms`.
   */
  firstTransition(
    role: Role,
    match: { machine: TransitionRecord['machine']; to: string; reason?: string },
    since: number,
    ms: number,
  ): Promise<TransitionRecord> {
    return until(
      `${role}: ${match.machine} -> ${match.to}${match.reason ? ` (${match.reason})` : ''}`,
      ms,
      async () =>
        (await this.transitions(role)).find(
          (t) =>
            t.at >= since &&
            t.machine === match.machine &&
            t.to.startsWith(match.to) &&
            !t.from.startsWith(match.to) &&
            (match.reason === undefined || t.reason === match.reason),
        ),
    );
  }

  /** An Error whose message ends with the last lines each process printed. */
  explain(error: unknown): Error {
    const tail = (text: string) => text.split('\n').slice(-40).join('\n');
    return new Error(
      `${(error as Error).message}\n--- node a (${this.label}) ---\n${tail(this.procs.a.output())}\n--- node b ---\n${tail(this.procs.b.output())}\n--- relay ---\n${tail(this.vpn.relay.output())}`,
      { cause: error },
    );
  }

  /** SIGTERM both (SIGKILL after 3 s); with SWITCHBACK_E2E_LOGS=DIR their logs are kept there. */
  async stop(): Promise<void> {
    this.vpn.forget(this);
    await Promise.all([stopProcess(this.procs.a.child), stopProcess(this.procs.b.child)]);
    const keep = process.env.SWITCHBACK_E2E_LOGS;
    if (keep) {
      for (const role of ['a', 'b'] as const) {
        await writeFile(join(keep, `${this.label}-${role}.log`), this.procs[role].output());
      }
      await writeFile(join(keep, 'relay.log'), this.vpn.relay.output());
    }
  }
}

/** A continuous `ping -D` over the overlay, bounded by `deadlineS`. */
export interface Pinger {
  readonly intervalMs: number;
  /** What ping printed so far, parsed. */
  summary(): PingSummary;
  /** Resolves once a reply arrived after `at` (ms since the epoch); its arrival time in ms. */
  replyAfter(at: number, ms: number): Promise<number>;
  stop(): Promise<PingSummary>;
}

export function startPing(
  ns: string,
  target: string,
  { intervalMs = 50, deadlineS = 120 }: { intervalMs?: number; deadlineS?: number } = {},
): Pinger {
  // -W 1: a reply later than 1 s counts as lost; -w: ping ends on its own.
  const child = spawnIn(ns, 'ping', [
    '-D',
    '-i',
    String(intervalMs / 1000),
    '-W',
    '1',
    '-w',
    String(deadlineS),
    target,
  ]);
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  return {
    intervalMs,
    summary: () => parsePingLog(log),
    replyAfter: (at, ms) =>
      until(
        `a ping reply after ${new Date(at).toISOString()}`,
        ms,
        async () => {
          const reply = parsePingLog(log).replies.find((r) => r.at * 1000 > at && !r.duplicate);
          return reply ? reply.at * 1000 : undefined;
        },
        20,
      ),
    async stop() {
      await stopProcess(child, { signal: 'SIGINT' });
      return parsePingLog(log);
    },
  };
}

/**
 * What the ping lost in the window [from, to] (ms since the epoch): the
 * requests never answered whose neighbours' replies fall in the window, and
 * the longest silence between two replies in it (the edges included: a
 * window that starts or ends in silence counts it).
 */
export function pingLossIn(
  summary: PingSummary,
  from: number,
  to: number,
): { lost: number; silenceMs: number } {
  const replies = summary.replies.filter((r) => !r.duplicate);
  const before = replies.filter((r) => r.at * 1000 < from).at(-1);
  const after = replies.find((r) => r.at * 1000 > to);
  const inside = replies.filter((r) => r.at * 1000 >= from && r.at * 1000 <= to);
  const edges = [before ?? inside[0], ...inside, after ?? inside.at(-1)].filter(
    (r) => r !== undefined,
  );
  let silenceMs = 0;
  for (let i = 1; i < edges.length; i++) {
    silenceMs = Math.max(silenceMs, (edges[i]!.at - edges[i - 1]!.at) * 1000);
  }
  const lowSeq = before?.seq ?? inside[0]?.seq ?? Number.MAX_SAFE_INTEGER;
  const highSeq = after?.seq ?? inside.at(-1)?.seq ?? -1;
  const lost = summary.lost.filter((seq) => seq > lowSeq && seq < highSeq).length;
  return { lost, silenceMs };
}
