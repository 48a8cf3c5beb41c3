/**
 * Switchback between namespaces a and b as a user runs it: the built CLI
 * (dist/cli.js), `switchback relay` in the relay namespace (ws:// or wss://),
 * `switchback up` in a and b with real TAP devices.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PeerStatus } from '../../src/daemon/node-status.js';
import { execIn, mustExec, type Underlay } from '../../test/support/netns.js';
import { type BenchProcess, startIn, until } from './processes.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(REPO_ROOT, 'dist', 'cli.js');
/** The CLI the next processes start from: this tree's, unless a comparison
 * (bench:tunnel --idle-vs) points it at another build. */
let cli = CLI;
export function useCli(path: string = CLI): void {
  cli = path;
}
export const SB_OVERLAY = { a: '10.232.0.1', b: '10.232.0.2', prefix: 24 };
export const SB_MTU = 1400;
const RELAY_PORT = 7000;
const LISTEN_PORT = 7443;
const CONTROL = '127.0.0.1:7900';

/**
 * Relay limits for the bench, far above what one tunnel carries here (a few
 * Gbit/s at most), so the relay's per-connection rate limits never cap a
 * measurement. The send buffer towards a slow receiver keeps its default.
 */
export const BENCH_RELAY_LIMITS = {
  'rate-bytes': 4 * 1024 * 1024 * 1024, // 32 Gbit/s sustained
  'burst-bytes': 8 * 1024 * 1024 * 1024,
  'rate-frames': 10_000_000,
  'burst-frames': 20_000_000,
};

export interface SwitchbackKeys {
  a: string;
  b: string;
  /** Public keys, as keygen printed them. */
  publicKey: { a: string; b: string };
}

export interface RelayTls {
  cert: string;
  key: string;
}

function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, SWITCHBACK_TOKEN: '', NO_COLOR: '1', ...extra };
}

export async function makeKeys(dir: string, underlay: Underlay): Promise<SwitchbackKeys> {
  const keys: SwitchbackKeys = {
    a: join(dir, 'a.key'),
    b: join(dir, 'b.key'),
    publicKey: { a: '', b: '' },
  };
  for (const role of ['a', 'b'] as const) {
    const made = await execIn(underlay.ns[role], process.execPath, [
      cli,
      'keygen',
      '--out',
      keys[role],
    ]);
    if (made.code !== 0) throw new Error(`switchback keygen: ${made.stderr.trim()}`);
    keys.publicKey[role] = made.stdout.trim();
  }
  return keys;
}

/**
 * A self-signed certificate for the relay's underlay address. The nodes trust
 * it through NODE_EXTRA_CA_CERTS: the node config has no CA setting (the relay
 * client verifies against the system store plus that variable).
 */
export async function makeRelayCertificate(dir: string, address: string): Promise<RelayTls> {
  const tls = { cert: join(dir, 'relay-cert.pem'), key: join(dir, 'relay-key.pem') };
  await mustExec(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=switchback bench relay',
      '-addext',
      `subjectAltName=IP:${address}`,
      '-keyout',
      tls.key,
      '-out',
      tls.cert,
    ],
    { timeoutMs: 20_000 },
  );
  return tls;
}

export function relayArgs(underlay: Underlay, tls: RelayTls | undefined): string[] {
  const args = ['relay', '--listen', `${underlay.addr.relay}:${RELAY_PORT}`];
  for (const [flag, value] of Object.entries(BENCH_RELAY_LIMITS))
    args.push(`--${flag}`, String(value));
  if (tls) args.push('--tls-cert', tls.cert, '--tls-key', tls.key);
  return args;
}

export async function startRelay(
  underlay: Underlay,
  tls: RelayTls | undefined,
): Promise<BenchProcess> {
  const relay = startIn(
    tls ? 'relay (wss)' : 'relay (ws)',
    underlay.ns.relay,
    process.execPath,
    [cli, ...relayArgs(underlay, tls)],
    { cwd: REPO_ROOT, env: env() },
  );
  await relay.waitFor(/relay listening on/, 20_000);
  return relay;
}

/** The node config file: defaults everywhere except addresses, TAP and peer. */
export function nodeConfig(
  role: 'a' | 'b',
  keys: SwitchbackKeys,
  underlay: Underlay,
  scheme: 'ws' | 'wss',
): string {
  const other = role === 'a' ? 'b' : 'a';
  return [
    `key = "${keys[role]}"`,
    `relay = "${scheme}://${underlay.addr.relay}:${RELAY_PORT}"`,
    `listen = "0.0.0.0:${LISTEN_PORT}"`,
    `control = "${CONTROL}"`,
    '',
    '[tap]',
    'name = "sb0"',
    `address = "${SB_OVERLAY[role]}/${SB_OVERLAY.prefix}"`,
    `mtu = ${SB_MTU}`,
    '',
    '[[peers]]',
    `name = "${other}"`,
    `publicKey = "${keys.publicKey[other]}"`,
    '',
  ].join('\n');
}

export interface NodePair {
  a: BenchProcess;
  b: BenchProcess;
  configs: { a: string; b: string };
}

/** Starts `switchback up` in a and b; `nodeArgs` go to node itself (e.g.
 * --cpu-prof), `upFlags` per role to `switchback up` (e.g. --no-offload). */
export async function startNodes(
  dir: string,
  keys: SwitchbackKeys,
  underlay: Underlay,
  options: {
    scheme: 'ws' | 'wss';
    tls?: RelayTls;
    nodeArgs?: string[];
    upFlags?: Partial<Record<'a' | 'b', string[]>>;
    label: string;
  },
): Promise<NodePair> {
  const configs = {
    a: join(dir, `${options.label}-a.toml`),
    b: join(dir, `${options.label}-b.toml`),
  };
  const extra = options.tls ? { NODE_EXTRA_CA_CERTS: options.tls.cert } : {};
  const started: Partial<Record<'a' | 'b', BenchProcess>> = {};
  for (const role of ['a', 'b'] as const) {
    await writeFile(configs[role], nodeConfig(role, keys, underlay, options.scheme));
    started[role] = startIn(
      `switchback up ${role}`,
      underlay.ns[role],
      process.execPath,
      [
        ...(options.nodeArgs ?? []),
        cli,
        'up',
        '--config',
        configs[role],
        '--log-level',
        'warn',
        ...(options.upFlags?.[role] ?? []),
      ],
      { cwd: REPO_ROOT, env: env(extra) },
    );
  }
  return { a: started.a!, b: started.b!, configs };
}

/** `switchback status --json` of node `role`, its one peer. */
export async function peerStatus(
  underlay: Underlay,
  pair: NodePair,
  role: 'a' | 'b',
): Promise<PeerStatus> {
  const result = await execIn(
    underlay.ns[role],
    process.execPath,
    [cli, 'status', '--json', '--config', pair.configs[role]],
    { timeoutMs: 10_000, env: env() },
  );
  if (result.code !== 0) throw new Error(`switchback status: ${result.stderr.trim()}`);
  const peer = (JSON.parse(result.stdout) as { peers: PeerStatus[] }).peers[0];
  if (!peer) throw new Error('switchback status: no peer');
  return peer;
}

/** Waits until both nodes send their peer's frames on `path`. */
export async function waitForPath(
  underlay: Underlay,
  pair: NodePair,
  path: 'direct' | 'relay',
  ms = 30_000,
): Promise<void> {
  await until(
    `both nodes on the ${path} path`,
    ms,
    async () => {
      for (const node of [pair.a, pair.b]) {
        if (node.exited) throw new Error(`${node.label} exited:\n${node.output().slice(-4000)}`);
      }
      const [a, b] = await Promise.all([
        peerStatus(underlay, pair, 'a'),
        peerStatus(underlay, pair, 'b'),
      ]);
      return a.path === path && b.path === path && a.paired && b.paired;
    },
    300,
  );
}
