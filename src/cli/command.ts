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

/** A positional argument, e.g. PEER in `switchback ping PEER`. */
export interface ArgumentSpec {
  /** Key of its value in OptionValues (keep it distinct from option names). */
  name: string;
  /** Shown in usage and help: PEER. */
  placeholder: string;
  description: string;
  /** Missing required arguments are a usage error (default true). */
  required?: boolean;
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
  /** Positional arguments in order; none when absent. */
  arguments?: ArgumentSpec[];
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
  const specs = command.arguments ?? [];
  const args = joinDashValues(command, argv);
  let parsed: { values: OptionValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: specs.length > 0,
    });
  } catch (cause) {
    // parseArgs' first sentence names the flag; say it our way, add the way out.
    const message = (cause as Error).message
      .split('\n')[0]!
      .replace(/\. To specify.*$/, '')
      .replace(/^Option '(--[\w-]+)(?: <value>)?' argument missing$/, '$1 needs a value')
      .replace(/^Unknown option '(.+)'$/, 'unknown option $1');
    throw new UsageError(`${message}; see switchback ${command.name} --help`);
  }
  const values = { ...parsed.values };
  if (values.help) return values;
  if (parsed.positionals.length > specs.length) {
    const extra = parsed.positionals[specs.length]!;
    throw new UsageError(
      `unexpected argument ${JSON.stringify(extra)}; see switchback ${command.name} --help`,
    );
  }
  specs.forEach((spec, index) => {
    const value = parsed.positionals[index];
    if (value === undefined && spec.required !== false) {
      throw new UsageError(`${spec.placeholder} is missing; write switchback ${usage(command)}`);
    }
    values[spec.name] = value;
  });
  return values;
}

/**
 * `--max-peers -3`: parseArgs refuses a value that starts with "-" (three
 * lines of advice). A negative number is plainly meant as the value, so it is
 * passed as `--max-peers=-3` and the flag's own check says what is wrong with
 * it; anything else that looks like a flag is a missing value, in one line.
 */
function joinDashValues(command: Command, argv: string[]): string[] {
  const takesValue = new Set(command.options.filter((o) => o.value).map((o) => `--${o.name}`));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (takesValue.has(arg) && next?.startsWith('-')) {
      if (/^-[\d.]/.test(next)) {
        out.push(`${arg}=${next}`);
        i++;
        continue;
      }
      throw new UsageError(
        `${arg} needs a value, but ${JSON.stringify(next)} follows it; see switchback ${command.name} --help`,
      );
    }
    out.push(arg);
  }
  return out;
}

function usage(command: Command): string {
  const args = (command.arguments ?? []).map((spec) =>
    spec.required === false ? `[${spec.placeholder}]` : spec.placeholder,
  );
  return [command.name, ...args, '[options]'].join(' ');
}

export function commandHelp(command: Command): string {
  const flags = command.options.map((spec) => ({
    left: `--${spec.name}${spec.value ? ` ${spec.value}` : ''}`,
    right: `${spec.description}${spec.defaultText ? ` (default: ${spec.defaultText})` : ''}`,
  }));
  flags.push({ left: '--help', right: 'Show this help.' });
  const args = (command.arguments ?? []).map((spec) => ({
    left: spec.placeholder,
    right: spec.description,
  }));
  const width = Math.max(...[...flags, ...args].map((flag) => flag.left.length)) + 2;
  return [
    `Usage: switchback ${usage(command)}`,
    '',
    command.description,
    '',
    ...(args.length > 0
      ? ['Arguments:', ...args.map((arg) => `  ${arg.left.padEnd(width)}${arg.right}`), '']
      : []),
    'Options:',
    ...flags.map((flag) => `  ${flag.left.padEnd(width)}${flag.right}`),
    '',
  ].join('\n');
}
