/**
 * Network namespaces for end-to-end tests and the tunnel benchmark (one module
 * for both: bench/tunnel.ts imports it): three namespaces (relay, a, b) on one
 * Linux bridge, processes started inside them, and nftables rules that cut the
 * a↔b underlay while both keep reaching the relay.
 *
 *        ns <id>-relay                      ns <id>-a          ns <id>-b
 *   br0 10.231.0.1/24 ── va ══════ veth ══ eth0 10.231.0.2/24
 *                     └─ vb ══════ veth ══════════════════════ eth0 10.231.0.3/24
 *
 * Every address lives inside namespaces made here: the veth pairs are created
 * inside the relay namespace with their far end placed straight into a or b,
 * so no link ever exists in the root namespace. Cleanup kills the processes
 * started here, then deletes the namespaces (which removes links, bridge, TAP
 * devices and nftables tables with them). It runs from `close()` and, as a
 * last resort, from process exit and SIGINT/SIGTERM handlers.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTools } from './required-tools.js';

/** Underlay subnet; fixed because each run has its own namespaces. */
export const UNDERLAY = { relay: '10.231.0.1', a: '10.231.0.2', b: '10.231.0.3', prefix: 24 };
/** Default namespace name prefix (e2e tests); the tunnel bench passes its own. */
const DEFAULT_PREFIX = 'sbe';
const NFT_TABLE = 'switchback_e2e';
/** Any command run here is killed after this unless told otherwise. */
const DEFAULT_EXEC_TIMEOUT_MS = 15_000;

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Underlay {
  /** Unique per run: "<prefix>-<pid>-<random>" (prefix "sbe" unless told). */
  readonly id: string;
  readonly ns: { relay: string; a: string; b: string };
  readonly addr: typeof UNDERLAY;
}

/** The role names of the three namespaces. */
export type Role = 'relay' | 'a' | 'b';

const liveNamespaces = new Set<string>();
const liveChildren = new Set<ChildProcess>();
let exitHooksInstalled = false;

/**
 * Throws a clear error when this machine cannot run the namespace tests: they
 * must fail, not skip, where root or /dev/net/tun is missing (CI is root).
 */
export function assertNamespaceCapable(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(
      `e2e tests need root (uid 0) to create network namespaces and TAP devices; running as uid ${process.getuid()} — run them as root (CI does)`,
    );
  }
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch (error) {
    throw new Error(
      `e2e tests need /dev/net/tun for TAP devices (${(error as NodeJS.ErrnoException).code}): modprobe tun, or pass --device /dev/net/tun to the container`,
    );
  }
  requireTools('e2e tests', ['ip', 'nft', 'ping', 'iperf3']);
}

/** Runs a command (not in a namespace), bounded in time; never throws on a non-zero exit. */
export function exec(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        timeout: options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS,
        killSignal: 'SIGKILL',
        cwd: options.cwd,
        env: options.env,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const failure = error as (NodeJS.ErrnoException & { signal?: NodeJS.Signals }) | null;
        const code = failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null;
        resolve({ code, signal: failure?.signal ?? null, stdout, stderr });
      },
    );
  });
}

/** Like `exec`, but throws with the command and its stderr when it fails. */
export async function mustExec(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const result = await exec(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

/** Runs a command inside a namespace, bounded in time. */
export function execIn(
  ns: string,
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  return exec('ip', ['netns', 'exec', ns, command, ...args], options);
}

/**
 * Starts a long-running process inside a namespace. `ip netns exec` execs the
 * command, so the child's pid is the process itself and a signal reaches it.
 * The process is tracked and killed by `close()` or at exit.
 */
export function spawnIn(
  ns: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  installExitHooks();
  const child = spawn('ip', ['netns', 'exec', ns, command, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  child.once('error', () => liveChildren.delete(child));
  return child;
}

/**
 * Sends `signal`, then SIGKILL if the process has not exited within
 * `graceMs`; resolves once it has exited.
 */
export async function stopProcess(
  child: ChildProcess,
  { signal = 'SIGTERM', graceMs = 3_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  await exited;
}

export interface UnderlayOptions {
  /**
   * Namespace name prefix, letters only; namespaces left by a dead run with
   * the same prefix are removed first. Default "sbe" (the e2e tests).
   */
  prefix?: string;
}

/** Creates the three namespaces, the bridge and the veth pairs, all links up. */
export async function createUnderlay(options: UnderlayOptions = {}): Promise<Underlay> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (!/^[a-z]{1,6}$/.test(prefix)) throw new RangeError(`bad namespace prefix "${prefix}"`);
  installExitHooks();
  await removeOrphans(prefix);
  const id = `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const ns = { relay: `${id}-relay`, a: `${id}-a`, b: `${id}-b` };
  const underlay: Underlay = { id, ns, addr: UNDERLAY };
  try {
    for (const name of Object.values(ns)) {
      liveNamespaces.add(name);
      await mustExec('ip', ['netns', 'add', name]);
      await mustExec('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    }
    const { relay } = ns;
    const cidr = (address: string) => `${address}/${UNDERLAY.prefix}`;
    await mustExec('ip', ['-n', relay, 'link', 'add', 'br0', 'type', 'bridge']);
    await mustExec('ip', ['-n', relay, 'addr', 'add', cidr(UNDERLAY.relay), 'dev', 'br0']);
    await mustExec('ip', ['-n', relay, 'link', 'set', 'br0', 'up']);
    for (const role of ['a', 'b'] as const) {
      const near = `v${role}`;
      // Both ends are born in namespaces of ours: never in the root namespace.
      await mustExec('ip', [
        '-n',
        relay,
        'link',
        'add',
        near,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns[role],
      ]);
      await mustExec('ip', ['-n', relay, 'link', 'set', near, 'master', 'br0']);
      await mustExec('ip', ['-n', relay, 'link', 'set', near, 'up']);
      await mustExec('ip', ['-n', ns[role], 'addr', 'add', cidr(UNDERLAY[role]), 'dev', 'eth0']);
      await mustExec('ip', ['-n', ns[role], 'link', 'set', 'eth0', 'up']);
    }
    return underlay;
  } catch (error) {
    await closeUnderlay(underlay);
    throw error;
  }
}

export interface CutOptions {
  /** nftables table to hold the rules, so several cuts can coexist; default "switchback_e2e". */
  table?: string;
  /**
   * 'drop' (default): packets vanish in both directions, as on a broken link.
   * 'reject': a firewall that refuses: TCP arriving from the peer is answered
   * with a reset (run it on both sides, so each side's dials are refused by
   * the other; the resets themselves pass).
   */
  verdict?: 'drop' | 'reject';
  /** Only traffic to or from this one of our own addresses (default: any of ours). */
  localAddress?: string;
}

/**
 * Drops all underlay traffic between `ns` and `peerAddress` in both
 * directions (inside `ns` only); the relay and everything else stay reachable.
 * Run it in both a and b to cut the direct path the way a broken link would:
 * packets vanish, no RST, no ICMP. Pass the relay's address to blackhole the
 * relay path instead, and another `table` to hold both cuts at once.
 */
export async function cutPeer(
  ns: string,
  peerAddress: string,
  options: CutOptions = {},
): Promise<void> {
  const table = options.table ?? NFT_TABLE;
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(table))
    throw new RangeError(`bad nftables table name "${table}"`);
  const local = options.localAddress;
  const inbound = `ip saddr ${peerAddress}${local ? ` ip daddr ${local}` : ''}`;
  const outbound = `ip daddr ${peerAddress}${local ? ` ip saddr ${local}` : ''}`;
  const rules =
    options.verdict === 'reject'
      ? {
          input: [
            `${inbound} tcp flags & rst == rst accept`,
            `${inbound} meta l4proto tcp reject with tcp reset`,
          ],
          output: [],
        }
      : { input: [`${inbound} drop`], output: [`${outbound} drop`] };
  const ruleset = [
    `table inet ${table} {`,
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    ...rules.input.map((rule) => `    ${rule}`),
    '  }',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    ...rules.output.map((rule) => `    ${rule}`),
    '  }',
    '}',
    '',
  ].join('\n');
  const file = join(mkdtempSync(join(tmpdir(), 'sbe-nft-')), 'cut.nft');
  writeFileSync(file, ruleset);
  try {
    await mustExec('ip', ['netns', 'exec', ns, 'nft', '-f', file]);
  } finally {
    rmSync(join(file, '..'), { recursive: true, force: true });
  }
}

/** Removes what `cutPeer` added in `ns` (a no-op when nothing was cut). */
export async function restorePeer(ns: string, options: { table?: string } = {}): Promise<void> {
  const table = options.table ?? NFT_TABLE;
  const listed = await exec('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables']);
  if (listed.stdout.split('\n').some((line) => line.trim() === `table inet ${table}`)) {
    await mustExec('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', table]);
  }
}

/**
 * Moves `ns`'s underlay address on `dev` from `from` to `to` (same prefix,
 * same link) the way a DHCP renewal does: the new address is added, then the
 * old one deleted. Secondaries are promoted (`promote_secondaries`, as
 * systemd sets it everywhere), so the new address takes over the subnet
 * route and its preferred source: new sockets leave from it, sockets bound to
 * the old one are left with an address that no longer exists.
 */
export async function moveAddress(
  ns: string,
  dev: string,
  from: string,
  to: string,
  prefix = UNDERLAY.prefix,
): Promise<void> {
  await mustExec('ip', [
    'netns',
    'exec',
    ns,
    'sysctl',
    '-qw',
    `net.ipv4.conf.${dev}.promote_secondaries=1`,
  ]);
  await mustExec('ip', ['-n', ns, 'addr', 'add', `${to}/${prefix}`, 'dev', dev]);
  await mustExec('ip', ['-n', ns, 'addr', 'del', `${from}/${prefix}`, 'dev', dev]);
}

/** `ip link set DEV up|down` inside `ns`. */
export async function setLink(ns: string, dev: string, state: 'up' | 'down'): Promise<void> {
  await mustExec('ip', ['-n', ns, 'link', 'set', dev, state]);
}

/** Kills every process started in these namespaces, then deletes the namespaces. */
export async function closeUnderlay(underlay: Underlay): Promise<void> {
  await Promise.all([...liveChildren].map((child) => stopProcess(child, { graceMs: 2_000 })));
  for (const name of Object.values(underlay.ns)) {
    await killAllIn(name);
    await exec('ip', ['netns', 'del', name]);
    liveNamespaces.delete(name);
  }
}

/** Namespaces whose names start with `prefix`, as `ip netns list` shows them. */
export async function listNamespaces(prefix: string): Promise<string[]> {
  const { stdout } = await exec('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(prefix));
}

/** SIGKILLs any process still inside `ns` (one we did not start, e.g. a stray iperf3). */
async function killAllIn(ns: string): Promise<void> {
  const { stdout } = await exec('ip', ['netns', 'pids', ns]);
  for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Namespaces left by an earlier run whose process no longer exists (a SIGKILLed runner). */
async function removeOrphans(prefix: string): Promise<void> {
  for (const name of await listNamespaces(`${prefix}-`)) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    await killAllIn(name);
    await exec('ip', ['netns', 'del', name]);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Synchronous last-resort cleanup: used where no await is possible (exit, signals). */
function cleanupNow(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  liveChildren.clear();
  for (const name of liveNamespaces) {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', name], {
        encoding: 'utf8',
        timeout: 2_000,
      });
      for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 2_000 });
    } catch {
      // best effort: the next run's removeOrphans() catches what is left
    }
  }
  liveNamespaces.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      cleanupNow();
      // Re-raise so the process dies the way it was asked to.
      process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}
