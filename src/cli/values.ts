import { isIP } from 'node:net';
import { UsageError } from './command.js';

// Parsers for flag values shared by the commands. Each error names the flag,
// what was wrong and what a good value looks like, in one line.

export interface HostPort {
  host: string;
  port: number;
}

/** HOST:PORT, [IPV6]:PORT or :PORT (all interfaces). Port 0 = any free port. */
export function hostPort(flag: string, text: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : Number.NaN;
  if (match && !(port <= 65_535)) {
    throw new UsageError(
      `--${flag} ${JSON.stringify(text)}: port ${match[3]} is out of range (0-65535)`,
    );
  }
  if (!match) {
    throw new UsageError(
      `--${flag} ${JSON.stringify(text)} is not HOST:PORT; write e.g. --${flag} 127.0.0.1:7300 or [::1]:7300`,
    );
  }
  const host = match[1] ?? (match[2] || '0.0.0.0');
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new UsageError(`--${flag}: ${host} in brackets is not an IPv6 address`);
  }
  return { host, port };
}

/** A positive integer (underscores allowed as digit separators: 10_000). */
export function positiveInt(flag: string, text: string): number {
  const value = Number(text.replaceAll('_', ''));
  if (!/^\d[\d_]*$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new UsageError(`--${flag} ${JSON.stringify(text)} must be a positive whole number`);
  }
  return value;
}
