/**
 * Long-running processes inside the bench's namespaces (tincd, switchback up,
 * relay, iperf3 -s): started through test/support/netns.ts (tracked, killed on
 * every exit path), their output drained into a bounded buffer so a chatty
 * daemon never blocks on a full pipe, and shown when something goes wrong.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnIn, stopProcess } from '../../test/support/netns.js';

const KEEP_CHARS = 64_000;

export interface BenchProcess {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The last KEEP_CHARS characters it printed (stdout and stderr). */
  output(): string;
  /** Resolves when its output matches `re`; throws if it exits first or after `ms`. */
  waitFor(re: RegExp, ms: number): Promise<void>;
  /** SIGTERM, SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: boolean;
}

export function startIn(
  label: string,
  ns: string,
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): BenchProcess {
  const child = spawnIn(ns, command, args, options);
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > 2 * KEEP_CHARS) text = text.slice(-KEEP_CHARS);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  if (child.pid === undefined) throw new Error(`${label}: could not start ${command}`);
  const pid = child.pid;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    label,
    child,
    pid,
    output: () => text,
    get exited() {
      return exited();
    },
    async waitFor(re, ms) {
      const deadline = Date.now() + ms;
      while (!re.test(text)) {
        if (exited()) {
          throw new Error(
            `${label} exited (${child.exitCode ?? child.signalCode}) before /${re.source}/:\n${text.slice(-4000)}`,
          );
        }
        if (Date.now() > deadline) {
          throw new Error(`${label}: no /${re.source}/ within ${ms} ms:\n${text.slice(-4000)}`);
        }
        await sleep(50);
      }
    },
    stop: (graceMs = 5_000) => stopProcess(child, { graceMs }),
  };
}

/** Polls `probe` every `everyMs` until it returns true, at most `ms`. */
export async function until(
  what: string,
  ms: number,
  probe: () => Promise<boolean>,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (error) {
      last = error;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `${what}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}
