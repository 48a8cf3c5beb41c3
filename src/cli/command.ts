import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { SwitchbackError } from '../errors.js';

// What every `switchback <command>` provides. src/cli.ts finds commands by
// name; a command is one file under src/cli/ exporting a Command. Options are
// declared once and drive both parsing and --help, so help never drifts.

export interface OptionSpec {
  /** Long flag name without dashes: 'listen' for --listen. */
  name: string;
  /** Placeholder shown in help (HOST:PORT, FILE, N); omitted for boolean flags. */
  value?: string;
  description: string;
  /** Shown in help as "(default: …)". */
  defaultText?: string;
}

export interface CommandIo {
  stdout: Writable;
  stderr: Writable;
  /** Aborted on SIGINT/SIGTERM: the command stops gracefully and returns. */
  signal: AbortSignal;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Command {
  name: string;
  /** One line for the program's command list. */
  summary: string;
  /** Paragraph(s) printed under the usage line in `--help`. */
  description: string;
  options: OptionSpec[];
  /** Resolves with the process exit code. Throws UsageError for bad flags. */
  run(values: OptionValues, io: CommandIo): Promise<number>;
}

/** The user typed something we cannot run; exit code 2, one line on stderr. */
export class UsageError extends SwitchbackError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export function parseOptions(command: Command, argv: string[]): OptionValues {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const spec of command.options) {
    options[spec.name] = { type: spec.value ? 'string' : 'boolean' };
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false })
      .values as OptionValues;
  } catch (cause) {
    // parseArgs messages are already one line naming the flag; add the way out.
    const message = (cause as Error).message.replace(/\. To specify.*$/s, '');
    throw new UsageError(`${message}; see switchback ${command.name} --help`);
  }
}

export function commandHelp(command: Command): string {
  const flags = command.options.map((spec) => ({
    left: `--${spec.name}${spec.value ? ` ${spec.value}` : ''}`,
    right: `${spec.description}${spec.defaultText ? ` (default: ${spec.defaultText})` : ''}`,
  }));
  flags.push({ left: '--help', right: 'Show this help.' });
  const width = Math.max(...flags.map((flag) => flag.left.length)) + 2;
  return [
    `Usage: switchback ${command.name} [options]`,
    '',
    command.description,
    '',
    'Options:',
    ...flags.map((flag) => `  ${flag.left.padEnd(width)}${flag.right}`),
    '',
  ].join('\n');
}
