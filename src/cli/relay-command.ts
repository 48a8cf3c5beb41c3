import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { errorCode } from '../errors.js';
import type { ClusterAuth, ClusterOptions } from '../relay/cluster/cluster-options.js';
import { DEFAULT_LIMITS, type RelayLimits } from '../relay/limits.js';
import { RelayServer, type RelayServerOptions } from '../relay/server.js';
import { type Command, type OptionValues, UsageError } from './command.js';
import { hostPort, positiveInt } from './values.js';

// `switchback relay`: run the relay server (docs/relay.md) until SIGINT/SIGTERM.

/** Each limit flag and the RelayLimits field it sets. */
const LIMIT_FLAGS: {
  flag: string;
  field: keyof RelayLimits;
  value: string;
  description: string;
}[] = [
  {
    flag: 'max-frame-bytes',
    field: 'maxFrameBytes',
    value: 'N',
    description: 'Largest message a client may send; larger ones close with 4001.',
  },
  {
    flag: 'max-connections',
    field: 'maxConnections',
    value: 'N',
    description: 'Open connections before new ones are closed with 4009.',
  },
  {
    flag: 'auth-timeout-ms',
    field: 'authTimeoutMs',
    value: 'MS',
    description: 'Time a new client has to authenticate before 4006.',
  },
  {
    flag: 'rate-bytes',
    field: 'bytesPerSecond',
    value: 'N',
    description: 'Sustained bytes/s per connection; over it closes with 4008.',
  },
  {
    flag: 'burst-bytes',
    field: 'burstBytes',
    value: 'N',
    description: 'Bytes a connection may send at once above the sustained rate.',
  },
  {
    flag: 'rate-frames',
    field: 'framesPerSecond',
    value: 'N',
    description: 'Sustained frames/s per connection; over it closes with 4008.',
  },
  {
    flag: 'burst-frames',
    field: 'burstFrames',
    value: 'N',
    description: 'Frames a connection may send at once above the sustained rate.',
  },
  {
    flag: 'send-buffer-bytes',
    field: 'maxSendBufferBytes',
    value: 'N',
    description: 'Bytes queued to one slow receiver before frames to it are dropped.',
  },
  {
    flag: 'keepalive-ms',
    field: 'keepaliveIntervalMs',
    value: 'MS',
    description: 'Ping interval; a connection that misses a pong is destroyed.',
  },
  {
    flag: 'max-peers',
    field: 'maxPeersPerConnection',
    value: 'N',
    description: 'Distinct peers one connection may CONNECT to (4013 beyond).',
  },
];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const relayCommand: Command = {
  name: 'relay',
  summary: 'Run a relay where peers meet and fall back to.',
  description: [
    'Runs the Switchback relay: peers authenticate with their identity key, ask',
    "for each other, learn each other's address, and forward end-to-end sealed",
    'frames through it (it never sees plaintext). Logs are JSON lines on stdout;',
    'the first says where it listens. SIGINT or SIGTERM closes every client with',
    'code 4011 and exits 0. See docs/relay.md for close codes and metrics.',
    '',
    'With --cluster and --id it joins a relay cluster over NATS: relays share',
    'which peer is on which relay and forward for each other, so peers on',
    'different relays pair and talk as on one. Without them it runs alone.',
    '',
    'Exit codes: 0 stopped by SIGINT/SIGTERM, 1 could not start (e.g. the port is',
    'in use), 2 usage error (a bad flag or value).',
  ].join('\n'),
  options: [
    {
      name: 'listen',
      value: 'HOST:PORT',
      description: 'Address for peers (port 0 picks a free port). Required.',
    },
    {
      name: 'metrics',
      value: 'HOST:PORT',
      description: 'Serve /healthz and /metrics (Prometheus) here.',
      defaultText: 'not served',
    },
    {
      name: 'tls-cert',
      value: 'FILE',
      description: 'PEM certificate chain: serve wss:// instead of ws://. Needs --tls-key.',
    },
    { name: 'tls-key', value: 'FILE', description: 'PEM private key for --tls-cert.' },
    {
      name: 'cluster',
      value: 'URL[,URL]',
      description:
        'Join a relay cluster through these NATS servers (nats://HOST:PORT or tls://). Needs --id.',
      defaultText: 'alone',
    },
    {
      name: 'id',
      value: 'NAME',
      description: "This relay's name in the cluster: letters, digits, - or _, unique per relay.",
    },
    {
      name: 'cluster-token-file',
      value: 'FILE',
      description: 'NATS token, read from this file (secrets stay off the command line).',
    },
    {
      name: 'cluster-user',
      value: 'USER',
      description: 'NATS user; needs --cluster-password-file.',
    },
    {
      name: 'cluster-password-file',
      value: 'FILE',
      description: 'NATS password for --cluster-user, read from this file.',
    },
    {
      name: 'cluster-creds',
      value: 'FILE',
      description: 'NATS .creds file (user JWT and NKey seed) for decentralized auth.',
    },
    {
      name: 'cluster-ca',
      value: 'FILE',
      description: 'PEM CA certificates to trust for tls:// NATS servers.',
    },
    ...LIMIT_FLAGS.map(({ flag, field, value, description }) => ({
      name: flag,
      value,
      description,
      defaultText: String(DEFAULT_LIMITS[field]),
    })),
    {
      name: 'log-level',
      value: 'LEVEL',
      description: `One of ${LOG_LEVELS.join(', ')}.`,
      defaultText: 'info',
    },
  ],

  async run(values, io) {
    const options = await serverOptions(values);
    const logger = pino({ level: options.logLevel }, io.stdout).child({ component: 'relay' });
    const server = newServer({ ...options.server, logger });
    try {
      await server.start();
    } catch (error) {
      await server.close();
      throw error;
    }
    if (!io.signal.aborted) await once(io.signal, 'abort');
    logger.info('relay stopping: signal received');
    await server.close();
    return 0;
  },
};

/** A RelayServer, with limit names in its option errors spelled as the flags the user typed. */
function newServer(options: RelayServerOptions): RelayServer {
  try {
    return new RelayServer(options);
  } catch (error) {
    if (errorCode(error) !== 'BAD_OPTION') throw error;
    let message = (error as Error).message.replace(/^relay limit /, '');
    for (const { flag, field } of LIMIT_FLAGS) message = message.replaceAll(field, `--${flag}`);
    throw new UsageError(message);
  }
}

async function serverOptions(values: OptionValues) {
  const text = (name: string) => values[name] as string | undefined;
  const listen = text('listen');
  if (!listen) throw new UsageError('--listen is required; write e.g. --listen 0.0.0.0:7300');
  const limits: Partial<RelayLimits> = {};
  for (const { flag, field } of LIMIT_FLAGS) {
    const value = text(flag);
    if (value !== undefined) limits[field] = positiveInt(flag, value);
  }
  const certFile = text('tls-cert');
  const keyFile = text('tls-key');
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new UsageError('--tls-cert and --tls-key go together; give both PEM files or neither');
  }
  const logLevel = text('log-level') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`--log-level ${logLevel} is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const metrics = text('metrics');
  return {
    logLevel,
    server: {
      cluster: await clusterOptions(text),
      listen: hostPort('listen', listen),
      metrics: metrics ? hostPort('metrics', metrics) : undefined,
      tls:
        certFile && keyFile
          ? { cert: await readPem('tls-cert', certFile), key: await readPem('tls-key', keyFile) }
          : undefined,
      limits,
    },
  };
}

/** --cluster and its credentials; undefined when the relay runs alone. */
async function clusterOptions(
  text: (name: string) => string | undefined,
): Promise<ClusterOptions | undefined> {
  const cluster = text('cluster');
  const name = text('id');
  const credentialFlags = [
    'cluster-token-file',
    'cluster-user',
    'cluster-password-file',
    'cluster-creds',
    'cluster-ca',
  ].filter((flag) => text(flag) !== undefined);
  if (!cluster) {
    if (name !== undefined)
      throw new UsageError('--id names a relay in a cluster; give --cluster nats://HOST:PORT too');
    if (credentialFlags.length > 0) {
      throw new UsageError(
        `--${credentialFlags[0]} is for a cluster; give --cluster nats://HOST:PORT too`,
      );
    }
    return undefined;
  }
  if (name === undefined) {
    throw new UsageError(
      "--cluster needs --id NAME, this relay's own name in the cluster (e.g. --id relay-1)",
    );
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw new UsageError(`--id ${JSON.stringify(name)} must be 1-64 letters, digits, - or _`);
  }
  const servers = cluster.split(',').map((server) => server.trim());
  for (const server of servers) {
    if (!/^(nats|tls):\/\/[^/\s@]+:\d{1,5}$/.test(server)) {
      throw new UsageError(
        `--cluster ${JSON.stringify(server)} is not nats://HOST:PORT; write e.g. --cluster nats://127.0.0.1:4222`,
      );
    }
  }
  const tokenFile = text('cluster-token-file');
  const user = text('cluster-user');
  const passwordFile = text('cluster-password-file');
  const credsFile = text('cluster-creds');
  const ways = [tokenFile, user ?? passwordFile, credsFile].filter((x) => x !== undefined).length;
  if (ways > 1) {
    throw new UsageError(
      'give one kind of NATS credentials: --cluster-token-file, --cluster-user with --cluster-password-file, or --cluster-creds',
    );
  }
  if (Boolean(user) !== Boolean(passwordFile)) {
    throw new UsageError(
      '--cluster-user and --cluster-password-file go together; give both or neither',
    );
  }
  let auth: ClusterAuth | undefined;
  if (tokenFile) auth = { kind: 'token', token: await readSecret('cluster-token-file', tokenFile) };
  if (user && passwordFile) {
    auth = {
      kind: 'user',
      user,
      password: await readSecret('cluster-password-file', passwordFile),
    };
  }
  if (credsFile) auth = { kind: 'creds', creds: await readPem('cluster-creds', credsFile) };
  const caFile = text('cluster-ca');
  return {
    servers,
    name,
    auth,
    ca: caFile ? await readPem('cluster-ca', caFile) : undefined,
  };
}

/** A secret in a file: its first line, without the newline an editor adds. */
async function readSecret(flag: string, path: string): Promise<string> {
  const secret = (await readPem(flag, path)).toString('utf8').split(/\r?\n/)[0]!;
  if (!secret)
    throw new UsageError(`--${flag} ${path} is empty; write the secret on its first line`);
  return secret;
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    const why = errorCode(cause) === 'ENOENT' ? 'no such file' : (cause as Error).message;
    throw new UsageError(`--${flag} ${path}: ${why}; pass the path of a readable file`);
  }
}
