/**
 * The node's config file (TOML), validated with a schema. An error names the
 * file and the field, in one line, and says what would be accepted.
 *
 *   key = "a.key"                 # relative to this file
 *   relays = ["ws://127.0.0.1:7000", "ws://127.0.0.1:7001"]  # tried in order
 *   # or one: relay = "ws://127.0.0.1:7000" (not both)
 *   listen = "0.0.0.0:7443"       # direct-path listener
 *   control = "127.0.0.1:7900"    # status, metrics, inspector
 *   [tap]
 *   name = "sb0"
 *   address = "10.232.0.2/24"
 *   mtu = 1400
 *   offload = true                # TSO/checksum offload when the kernel accepts it
 *   superframes = true            # take peers' super-frames (segmented here without offload)
 *   [[peers]]
 *   name = "b"
 *   publicKey = "…"
 *   [timings]                     # optional; defaults come from the benchmarks
 *   heartbeatIntervalMs = 200
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { dirname, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { decodeKey } from '../crypto/identity.js';
import { SwitchbackError } from '../errors.js';
import {
  type ConnectionTimings,
  defaultConnectionTimings,
} from '../machines/connection-timings.js';
import { defaultRelayLinkTimings, type RelayLinkTimings } from '../machines/relay-link-timings.js';
import { defaultQualityPolicy, type QualityPolicy } from '../services/path-quality.js';

export class ConfigError extends SwitchbackError<'CONFIG_INVALID' | 'CONFIG_UNREADABLE'> {}

export interface HostPort {
  host: string;
  port: number;
}

export interface PeerConfig {
  name: string;
  publicKey: Uint8Array;
  /** The key as written in the file (base64url). */
  publicKeyText: string;
}

export interface TapConfig {
  name: string;
  /** CIDR, e.g. 10.232.0.2/24; absent: the device is left unaddressed. */
  address?: string;
  mtu: number;
  /** Open the TAP with IFF_VNET_HDR + TSO/checksum offload when the kernel
   * accepts it (absent: true); `switchback up --no-offload` sets it false. */
  offload?: boolean;
  /** Advertise OFFLOAD_SUPERFRAMES: peers may send TAP super-frames whole,
   * and this node writes them to an offloaded TAP as they are or segments
   * them itself for a plain one (absent: true). False makes peers split
   * them before sealing, as for a peer that predates super-frames;
   * `switchback up --no-superframes` sets it false. */
  superframes?: boolean;
}

export interface NodeConfig {
  /** Absolute path of the config file, for messages and reloads. */
  file: string;
  keyFile: string;
  /** The relays, tried in this order (`relays`, or `relay` as a list of one); never empty. */
  relays: string[];
  listen: HostPort;
  control: HostPort;
  /** Allow the control API on a non-loopback address (it serves live state). */
  controlAllowRemote: boolean;
  /** `tap`: a real TAP device; `memory`: an in-memory device (tests, demo). */
  device: 'tap' | 'memory';
  tap: TapConfig;
  peers: PeerConfig[];
  timings: ConnectionTimings;
  relayTimings: RelayLinkTimings;
  quality: QualityPolicy;
}

const hostPort = z.string().transform((text, ctx) => {
  const parsed = parseHostPort(text);
  if (!parsed) {
    const port = /:(\d+)$/.exec(text)?.[1];
    ctx.addIssue({
      code: 'custom',
      message:
        port !== undefined && Number(port) > 65_535
          ? `port ${port} in "${text}" is out of range (0-65535)`
          : `"${text}" is not HOST:PORT (e.g. 127.0.0.1:7900 or [::1]:7900)`,
    });
    return z.NEVER;
  }
  return parsed;
});

/** An IPv4 address with a prefix length: 10.232.0.2/24 (each octet 0-255, prefix 0-32). */
const ipv4Cidr = z.string().refine(
  (text) => {
    const [address, prefix, extra] = text.split('/');
    return (
      extra === undefined &&
      address !== undefined &&
      isIPv4(address) &&
      prefix !== undefined &&
      /^\d{1,2}$/.test(prefix) &&
      Number(prefix) <= 32
    );
  },
  {
    error: (issue) =>
      `${JSON.stringify(issue.input)} is not an IPv4 CIDR address, e.g. 10.232.0.2/24`,
  },
);

const backoff = z
  .object({
    baseMs: z.number().int().positive(),
    capMs: z.number().int().positive(),
    jitter: z.number().min(0).max(1),
  })
  .strict()
  .partial();

const ms = z.number().int().nonnegative();

const relayUrl = z
  .string()
  .regex(/^wss?:\/\/.+/, 'must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:7000');

const schema = z
  .object({
    key: z.string().min(1),
    relay: relayUrl.optional(),
    relays: z
      .array(relayUrl)
      .min(1, 'is empty; list at least one relay, e.g. relays = ["ws://127.0.0.1:7000"]')
      .optional(),
    listen: hostPort.default({ host: '0.0.0.0', port: 7443 }),
    control: hostPort.default({ host: '127.0.0.1', port: 7900 }),
    controlAllowRemote: z.boolean().default(false),
    device: z.enum(['tap', 'memory']).default('tap'),
    tap: z
      .object({
        name: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'must be 1-15 letters, digits, "_", "." or "-"')
          .default('sb0'),
        address: ipv4Cidr.optional(),
        mtu: z.number().int().min(576).max(9000).default(1400),
        offload: z.boolean().default(true),
        superframes: z.boolean().default(true),
      })
      .strict()
      .default({ name: 'sb0', mtu: 1400, offload: true, superframes: true }),
    peers: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"'),
            publicKey: z.string(),
          })
          .strict(),
      )
      .default([]),
    timings: z
      .object({
        heartbeatIntervalMs: ms,
        suspectIntervalMs: ms,
        idleAfterMs: ms,
        idleHeartbeatIntervalMs: ms,
        idleSuspectIntervalMs: ms,
        deadIntervalMs: ms,
        connectTimeoutMs: ms,
        dialDelayMs: ms,
        migrationTimeoutMs: ms,
        stableAfterMs: ms,
        retry: backoff,
        reprobeIntervalMs: ms,
        reprobes: z.number().int().min(0),
        reprobeDialTimeoutMs: ms,
        relay: z
          .object({
            connectTimeoutMs: ms,
            dialTimeoutMs: ms,
            authTimeoutMs: ms,
            stableAfterMs: ms,
            pingIntervalMs: ms,
            deadAfterMs: ms,
            switchJitterMs: ms,
            reconnect: backoff,
            redial: backoff,
          })
          .strict()
          .partial(),
        quality: z
          .object({
            rttRatio: z.number().positive(),
            rttMarginMs: ms,
            lossMargin: z.number().min(0).max(1),
            windowMs: ms,
            minSamples: z.number().int().positive(),
            probeTimeoutMs: ms,
            lossWindow: z.number().int().positive(),
          })
          .strict()
          .partial(),
      })
      .strict()
      .partial()
      .default({}),
  })
  .strict();

/** What a correct line looks like, for the fields people get wrong. */
const EXAMPLES: Record<string, string> = {
  key: 'key = "node.key"',
  relay: 'relay = "ws://127.0.0.1:7000"',
  relays: 'relays = ["ws://127.0.0.1:7000", "ws://127.0.0.1:7001"]',
  listen: 'listen = "0.0.0.0:7443"',
  control: 'control = "127.0.0.1:7900"',
  'tap.mtu': 'mtu = 1400',
  'tap.offload': 'offload = false',
  'tap.superframes': 'superframes = false',
};

/**
 * The keys a table at `path` accepts (`path` as zod reports it: ["peers", 0]),
 * in schema order; [] when `path` is not a table. docs/cli.md lists them.
 */
export function keysAt(path: readonly PropertyKey[]): string[] {
  interface Def {
    type: string;
    shape?: Record<string, { _zod: { def: Def } }>;
    innerType?: { _zod: { def: Def } };
    element?: { _zod: { def: Def } };
    in?: { _zod: { def: Def } };
  }
  const unwrap = (def: Def): Def => {
    const inner = def.innerType ?? def.in;
    return inner ? unwrap(inner._zod.def) : def;
  };
  let def = unwrap((schema as unknown as { _zod: { def: Def } })._zod.def);
  for (const key of path) {
    if (def.type === 'array' && typeof key === 'number' && def.element) {
      def = unwrap(def.element._zod.def);
    } else if (def.type === 'object' && def.shape && typeof key === 'string' && def.shape[key]) {
      def = unwrap(def.shape[key]._zod.def);
    } else {
      return [];
    }
  }
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

export function parseHostPort(text: string): HostPort | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65_535) return undefined;
  return { host: (match[1] ?? match[2])!, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Parse and validate config text; `file` is used for messages and relative paths. */
export function parseConfig(text: string, file: string): NodeConfig {
  const where = resolve(file);
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (error) {
    // smol-toml: "Invalid TOML document: invalid value\n\n<code block>", line and column 1-based.
    const first = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    const detail = first.replace(/^Invalid TOML document: /, '');
    const { line, column } = error as { line?: number; column?: number };
    const at =
      typeof line === 'number' && typeof column === 'number'
        ? ` at line ${line}, column ${column}`
        : '';
    throw new ConfigError('CONFIG_INVALID', `${where}: not valid TOML${at}: ${detail}`, {
      cause: error,
    });
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    // A misspelt key usually explains a "missing" one: report it first.
    const issues = result.error.issues;
    const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
    let field = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    const example = EXAMPLES[field];
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') {
      // The misspelt key is the field; the message lists what its table takes.
      const [first, ...others] = issue.keys;
      field = [...issue.path, first].join('.');
      const names = issue.path.filter((key) => typeof key === 'string').join('.');
      const table =
        issue.path.length === 0
          ? 'the top level'
          : typeof issue.path.at(-1) === 'number'
            ? `[[${names}]]`
            : `[${names}]`;
      message = `unknown key; ${table} takes ${keysAt(issue.path).join(', ')}`;
      if (others.length > 0) {
        message += ` (also unknown: ${others.map((key) => JSON.stringify(key)).join(', ')})`;
      }
    } else if (issue.code === 'invalid_type') {
      const missing = valueAt(raw, issue.path) === undefined;
      message = missing ? 'is missing' : `expected ${issue.expected}`;
      if (example) message += `; write e.g. ${example}`;
    }
    throw new ConfigError('CONFIG_INVALID', `${where}: ${field}: ${message}`);
  }
  const c = result.data;
  const relays = relayList(c.relay, c.relays, where);

  const peers: PeerConfig[] = [];
  const seenNames = new Set<string>();
  const seenKeys = new Set<string>();
  c.peers.forEach((peer, index) => {
    let publicKey: Uint8Array;
    try {
      publicKey = decodeKey(peer.publicKey);
    } catch (error) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: peers.${index}.publicKey: not a public key (print one with "switchback pubkey --key FILE")`,
        { cause: error },
      );
    }
    if (seenNames.has(peer.name)) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: peers.${index}.name: "${peer.name}" is used twice`,
      );
    }
    if (seenKeys.has(peer.publicKey)) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: peers.${index}.publicKey: the same key is listed twice`,
      );
    }
    seenNames.add(peer.name);
    seenKeys.add(peer.publicKey);
    peers.push({ name: peer.name, publicKey, publicKeyText: peer.publicKey });
  });

  if (!isLoopback(c.control.host) && !c.controlAllowRemote) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `${where}: control: ${c.control.host} is not loopback; the control API shows live state — set controlAllowRemote = true if you mean it`,
    );
  }

  const { relay: relayTimings = {}, quality = {}, retry = {}, ...connection } = c.timings;
  return {
    file: where,
    keyFile: resolve(dirname(where), c.key),
    relays,
    listen: c.listen,
    control: c.control,
    controlAllowRemote: c.controlAllowRemote,
    device: c.device,
    tap: c.tap,
    peers,
    timings: {
      ...defaultConnectionTimings,
      ...connection,
      retry: { ...defaultConnectionTimings.retry, ...retry },
    },
    relayTimings: {
      ...defaultRelayLinkTimings,
      ...relayTimings,
      reconnect: { ...defaultRelayLinkTimings.reconnect, ...relayTimings.reconnect },
      redial: { ...defaultRelayLinkTimings.redial, ...relayTimings.redial },
    },
    quality: { ...defaultQualityPolicy, ...quality },
  };
}

/** `relay` or `relays`, exactly one of them, as a list of unique URLs. */
function relayList(
  relay: string | undefined,
  relays: string[] | undefined,
  where: string,
): string[] {
  if (relay !== undefined && relays !== undefined) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `${where}: relays: give relay or relays, not both; write e.g. relays = [${JSON.stringify(relay)}, …]`,
    );
  }
  if (relays === undefined) {
    if (relay !== undefined) return [relay];
    throw new ConfigError(
      'CONFIG_INVALID',
      `${where}: relay: is missing; write e.g. ${EXAMPLES.relay} or ${EXAMPLES.relays}`,
    );
  }
  const seen = new Set<string>();
  relays.forEach((url, index) => {
    if (seen.has(url)) {
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: relays.${index}: ${JSON.stringify(url)} is listed twice`,
      );
    }
    seen.add(url);
  });
  return relays;
}

export async function loadConfig(file: string): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
    throw new ConfigError('CONFIG_UNREADABLE', `${resolve(file)}: cannot read config: ${why}`, {
      cause: error,
    });
  }
  return parseConfig(text, file);
}
