/**
 * The hostile relay (hostile-relay.ts) as a process of its own, on loopback:
 *
 *   node --import tsx src/testing/hostile-relay-cli.ts [--port N] [--control-port N] [--seed N]
 *
 * Prints one JSON line once it listens — {"url":"ws://127.0.0.1:…","control":"http://127.0.0.1:…"}
 * — then takes commands on POST <control>/command until SIGTERM or SIGINT.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import { RelayServer } from '../relay/server.js';
import { HostileControl, HostileDirectory } from './hostile-relay.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'control-port': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
  },
});

const directory = new HostileDirectory({ seed: Number(values.seed) });
const relay = new RelayServer({
  listen: { host: '127.0.0.1', port: Number(values.port) },
  directory,
  logger: pino({ level: 'silent' }),
});
const { url } = await relay.start();
const control = await HostileControl.start(directory, Number(values['control-port']));
process.stdout.write(`${JSON.stringify({ url, control: control.url })}\n`);

const stop = async () => {
  await control.close();
  await relay.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
