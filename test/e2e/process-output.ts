/**
 * What an e2e test keeps of a daemon it started: its output (bounded), a wait
 * for a line, and a poll with a deadline. Every wait is bounded in time.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WatchedProcess {
  child: ChildProcess;
  /** Everything it printed (the last 100-200 kB), for failure messages. */
  output(): string;
  /** Resolves once its output matches `re`; throws if it exits first or `ms` pass. */
  waitFor(re: RegExp, ms: number): Promise<void>;
}

/** Collects a child's stdout+stderr (bounded) and resolves when a line matches. */
export function watchOutput(child: ChildProcess): WatchedProcess {
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > 200_000) text = text.slice(-100_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return {
    child,
    output: () => text,
    async waitFor(re, ms) {
      const deadline = Date.now() + ms;
      while (!re.test(text)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(
            `process exited (${child.exitCode ?? child.signalCode}) before /${re.source}/:\n${text}`,
          );
        }
        if (Date.now() > deadline) throw new Error(`no /${re.source}/ within ${ms} ms:\n${text}`);
        await sleep(50);
      }
    },
  };
}

/** Polls `probe` until it returns a value, at most `ms`; the last error goes into the message. */
export async function until<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (let attempt = 0; Date.now() < deadline && attempt < 1_000; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(
    `${what}: not within ${ms} ms${last ? ` (last error: ${(last as Error).message})` : ''}`,
  );
}
