/**
 * The daemon's logger: pino, one JSON object per line when stdout is a file or
 * a pipe (journald, Loki, jq), and one readable line per event on a terminal.
 * Components log through child loggers (`logger.child({ component: 'relay-link',
 * peer: 'b' })`), so every line says where it came from and which peer it is about.
 *
 * `redactAddresses` replaces every IPv4 and IPv6 address (with its port, if
 * any) in every string the line carries — the message, fields, child bindings,
 * serialized errors — with "[addr]", so logs can be shared without the
 * network's layout. It works on the finished line rather than on pino's
 * path-based `redact`, because addresses turn up in free text ("connect
 * ECONNREFUSED 127.0.0.1:7000"), not in known fields.
 */
import { isIP } from 'node:net';
import { type DestinationStream, type Level, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** pino level: fatal, error, warn, info, debug, trace or silent (default info). */
  level?: Level | 'silent';
  /** One readable line per event instead of JSON (default: stdout is a TTY). */
  pretty?: boolean;
  /** Replace IP addresses (and host:port) in every logged string with "[addr]". */
  redactAddresses?: boolean;
  /** Where lines go (default stdout). Anything with `write(line)`. */
  destination?: DestinationStream;
}

export const REDACTED = '[addr]';

export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const redact = options.redactAddresses ?? false;
  const sink: DestinationStream = options.destination ?? pino.destination({ fd: 1, sync: true });
  // The plain JSON case writes straight through: no parse per line.
  const tty = options.destination
    ? (options.destination as { isTTY?: boolean }).isTTY === true
    : process.stdout.isTTY === true;
  const destination =
    pretty || redact ? lineRewriter(sink, { pretty, redact, color: pretty && tty }) : sink;
  return pino(
    {
      level: options.level ?? 'info',
      // pid and hostname say nothing a supervisor does not already know.
      base: undefined,
      timestamp: pino.stdTimeFunctions.epochTime,
    },
    destination,
  );
}

function lineRewriter(
  sink: DestinationStream,
  options: { pretty: boolean; redact: boolean; color: boolean },
): DestinationStream {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        // Not ours to judge; never lose a line.
        sink.write(options.redact ? redactText(line) : line);
        return;
      }
      if (options.redact) record = redactValue(record) as Record<string, unknown>;
      sink.write(
        options.pretty ? `${formatLine(record, options.color)}\n` : `${JSON.stringify(record)}\n`,
      );
    },
  };
}

// ---------------------------------------------------------------------------
// Address redaction

// Candidates: a bracketed IPv6 address with an optional port, or a run of the
// characters addresses are made of, not glued to a word (so "Foo::bar" and
// "v1.2" stay as they are). Each candidate is confirmed with net.isIP, so
// times ("19:40:59") and hex words ("dead:beef") are left alone.
const CANDIDATE = /\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?|(?<![\w:.])[0-9A-Fa-f:.]{2,}(?![\w:.])/g;

export function redactText(text: string): string {
  return text.replace(CANDIDATE, (match, bracketed: string | undefined) => {
    if (bracketed !== undefined) return isIP(bracketed) === 6 ? REDACTED : match;
    if (isIP(match) !== 0) return REDACTED;
    // host:port — IPv4 with a port (a bare IPv6 address already matched above).
    const withPort = /^(.*):\d{1,5}$/.exec(match);
    if (withPort && isIP(withPort[1]!) === 4) return REDACTED;
    // A trailing sentence dot: "from 10.0.0.1."
    if (match.endsWith('.') && isIP(match.slice(0, -1)) !== 0) return `${REDACTED}.`;
    return match;
  });
}

export function redactValue(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (Array.isArray(value)) return value.map(redactValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) out[key] = redactValue(field);
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------
// The terminal format: one line per event,
//   19:40:59.123 INFO  relay-link b: connected to relay  url=ws://127.0.0.1:7000

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '\x1b[90m' },
  20: { name: 'DEBUG', color: '\x1b[36m' },
  30: { name: 'INFO', color: '\x1b[32m' },
  40: { name: 'WARN', color: '\x1b[33m' },
  50: { name: 'ERROR', color: '\x1b[31m' },
  60: { name: 'FATAL', color: '\x1b[35m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';

export function formatLine(record: Record<string, unknown>, color = false): string {
  const { level, time, msg, component, peer, err, ...rest } = record;
  const when = typeof time === 'number' ? clock(new Date(time)) : '--:--:--.---';
  const known = LEVELS[level as number];
  const levelText = (known?.name ?? String(level)).padEnd(5);
  const paint = (code: string, text: string) => (color ? `${code}${text}${RESET}` : text);
  const where = [component, peer].filter((part) => part !== undefined).join(' ');
  let line = `${paint(DIM, when)} ${known ? paint(known.color, levelText) : levelText} `;
  if (where) line += `${where}: `;
  line += typeof msg === 'string' ? withoutRepeatedPrefix(msg, [where, peer, component]) : '';
  const fields = Object.entries(rest).map(([key, value]) => `${key}=${fieldText(value)}`);
  if (err && typeof err === 'object') {
    const { message, code } = err as { message?: unknown; code?: unknown };
    fields.push(`err=${fieldText(code ? `${String(code)}: ${String(message)}` : message)}`);
  }
  if (fields.length > 0) line += `  ${paint(DIM, fields.join(' '))}`;
  return line.replaceAll('\n', '\\n');
}

/**
 * A message that already starts with what the line's prefix says ("b: usingRelay
 * -> …" from a logger whose line begins "b: ") loses that copy, so no line
 * reads "b: b: …". JSON lines keep the message as logged.
 */
function withoutRepeatedPrefix(msg: string, prefixes: unknown[]): string {
  for (const prefix of prefixes) {
    if (typeof prefix !== 'string' || prefix === '') continue;
    if (msg.startsWith(`${prefix}: `)) return msg.slice(prefix.length + 2);
  }
  return msg;
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

function clock(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}
