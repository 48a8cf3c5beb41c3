import type { PingResult } from '../daemon/node-status.js';
import { type Command, UsageError } from './command.js';
import {
  CONTROL_OPTIONS,
  ControlApiError,
  clientFromOptions,
  withDaemon,
} from './control-client.js';
import { positiveInt } from './values.js';

// `switchback ping PEER`: like `tailscale ping` — the running node sends
// authenticated pings to PEER over the path it uses now, and we print which
// path answered and how fast, one line per ping.

const DEFAULT_COUNT = 3;
const DEFAULT_TIMEOUT_MS = 1000;

export const pingCommand: Command = {
  name: 'ping',
  summary: 'Ping a peer through a running node: which path answered, and its RTT.',
  description: [
    'Asks a running node to send authenticated pings to PEER over the path its',
    'frames take now, and prints one line per ping, e.g.',
    '  pong from b via direct in 0.42 ms',
    '  no answer from b via relay (timeout)',
    'From another machine (controlAllowRemote), set SWITCHBACK_TOKEN to the node token.',
    '',
    'Exit codes: 0 at least one pong, 1 no pong, 2 usage error (or no such peer),',
    '3 no daemon answering.',
  ].join('\n'),
  arguments: [{ name: 'peer', placeholder: 'PEER', description: 'The peer name from the config.' }],
  options: [
    {
      name: 'count',
      value: 'N',
      description: 'Pings to send (at most 100).',
      defaultText: String(DEFAULT_COUNT),
    },
    {
      name: 'timeout',
      value: 'MS',
      description: 'How long to wait for each pong (at most 10000).',
      defaultText: String(DEFAULT_TIMEOUT_MS),
    },
    ...CONTROL_OPTIONS,
    { name: 'json', description: 'Print the results as a JSON array.' },
  ],

  async run(values, io) {
    const peer = values.peer as string;
    const count =
      values.count === undefined ? DEFAULT_COUNT : positiveInt('count', values.count as string);
    const timeoutMs =
      values.timeout === undefined
        ? DEFAULT_TIMEOUT_MS
        : positiveInt('timeout', values.timeout as string);
    if (count > 100) throw new UsageError(`--count ${count} is more than 100; send fewer pings`);
    if (timeoutMs > 10_000) throw new UsageError(`--timeout ${timeoutMs} is more than 10000 ms`);
    const client = await clientFromOptions(values, io);
    return withDaemon('ping', io, async () => {
      let results: PingResult[];
      try {
        results = await client.ping(peer, { count, timeoutMs });
      } catch (error) {
        if (error instanceof ControlApiError && error.remoteCode === 'UNKNOWN_PEER') {
          throw new UsageError(`${error.message}; see switchback status`);
        }
        throw error;
      }
      if (values.json) io.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else for (const result of results) io.stdout.write(`${formatPing(result)}\n`);
      return results.some((result) => result.error === null) ? 0 : 1;
    });
  },
};

export function formatPing(result: PingResult): string {
  if (result.error === null && result.rttMs !== null) {
    const ms = result.rttMs < 10 ? result.rttMs.toFixed(2) : result.rttMs.toFixed(1);
    return `pong from ${result.peer} via ${result.path} in ${ms} ms`;
  }
  return `no answer from ${result.peer} via ${result.path} (${result.error ?? 'no rtt'})`;
}
