#!/usr/bin/env node
// The `switchback` command: `switchback <command> [options]`. Each command is
// one file under src/cli/ exporting a Command (src/cli/command.ts); add it to
// COMMANDS below and it appears in the program's help. Commands load lazily so
// `switchback relay` does not pay for the daemon's imports.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { type Command, commandHelp, parseOptions, UsageError } from './cli/command.js';

interface CommandEntry {
  summary: string;
  load: () => Promise<Command>;
}

const COMMANDS: Record<string, CommandEntry> = {
  relay: {
    summary: 'Run a relay where peers meet and fall back to.',
    load: async () => (await import('./cli/relay-command.js')).relayCommand,
  },
  up: {
    summary: 'Run a node in the foreground: TAP device, relay link, direct paths.',
    load: async () => (await import('./cli/up-command.js')).upCommand,
  },
  demo: {
    summary: 'See it work: a relay and two nodes on loopback, the direct path cut and restored.',
    load: async () => (await import('./cli/demo-command.js')).demoCommand,
  },
  keygen: {
    summary: 'Make a node identity key and print its public key.',
    load: async () => (await import('./cli/keygen-command.js')).keygenCommand,
  },
  pubkey: {
    summary: 'Print the public key of a key file.',
    load: async () => (await import('./cli/pubkey-command.js')).pubkeyCommand,
  },
  status: {
    summary: "Show a running node's relay link and peers (path, state, RTT, ...).",
    load: async () => (await import('./cli/status-command.js')).statusCommand,
  },
  ping: {
    summary: 'Ping a peer through a running node: which path answered, and its RTT.',
    load: async () => (await import('./cli/ping-command.js')).pingCommand,
  },
};

function programHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  return [
    'Usage: switchback <command> [options]',
    '',
    'Peer-to-peer layer-2 VPN: peers meet through a relay, upgrade to a direct',
    'TLS path, and fall back to the relay on their own when it fails.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, entry]) => `  ${name.padEnd(width)}${entry.summary}`),
    '',
    'Run `switchback <command> --help` for its options, `switchback --version` for the version.',
    '',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(programHelp()); // a usage error: nothing on stdout
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(programHelp());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`switchback ${await packageVersion()}\n`);
    return 0;
  }
  const entry = COMMANDS[name];
  try {
    if (!entry)
      throw new UsageError(
        `unknown command ${JSON.stringify(name)}; run switchback --help for the list`,
      );
    const command = await entry.load();
    const values = parseOptions(command, rest);
    if (values.help) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    return await command.run(values, { stdout: process.stdout, stderr: process.stderr, signal });
  } catch (error) {
    // One line: what went wrong, and (in the message) how to fix it.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`switchback${entry ? ` ${name}` : ''}: ${message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

async function packageVersion(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  // src/cli.ts under tsx, dist/cli.js when built: package.json is one level up either way.
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** True when this file is the program being run (also through npm's bin symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  const stop = () => {
    // A second signal means "now": skip the graceful close.
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  main(process.argv.slice(2), controller.signal).then((code) => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.exitCode = code;
  });
}
