import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { errorCode } from '../errors.js';
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

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    const why = errorCode(cause) === 'ENOENT' ? 'no such file' : (cause as Error).message;
    throw new UsageError(`--${flag} ${path}: ${why}; pass the path of a PEM file`);
  }
}
