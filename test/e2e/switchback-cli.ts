/**
 * The real `switchback` command, run inside a namespace: `node --import tsx
 * src/cli.ts …` from the repository root, so a fresh clone needs no build and
 * never runs a stale dist/. Bounded in time like every command in the e2e tests.
 * (Long-running `switchback relay` / `up`: test/e2e/netns-vpn.ts.)
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NodeStatus, PeerStatus } from '../../src/daemon/node-status.js';
import { type ExecResult, execIn, spawnIn } from '../support/netns.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const ENV = { ...process.env, SWITCHBACK_TOKEN: '', NO_COLOR: '1' };

/** `switchback ARGS…` in `ns`, waited for (at most `timeoutMs`). */
export function switchback(
  ns: string,
  args: readonly string[],
  { timeoutMs = 20_000 }: { timeoutMs?: number } = {},
): Promise<ExecResult> {
  return execIn(ns, process.execPath, ['--import', 'tsx', CLI, ...args], {
    timeoutMs,
    cwd: REPO_ROOT,
    env: ENV,
  });
}

/** A long-running `switchback ARGS…` (relay, up) in `ns`; the caller stops it. */
export function spawnSwitchback(ns: string, args: readonly string[]): ChildProcess {
  return spawnIn(ns, process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO_ROOT,
    env: ENV,
  });
}

/** `switchback status --json --config FILE` in `ns`, parsed; throws with its stderr on failure. */
export async function nodeStatus(ns: string, config: string): Promise<NodeStatus> {
  const result = await switchback(ns, ['status', '--json', '--config', config], {
    timeoutMs: 10_000,
  });
  if (result.code !== 0) {
    throw new Error(`switchback status exited ${result.code}: ${result.stderr.trim()}`);
  }
  return JSON.parse(result.stdout) as NodeStatus;
}

/** The one peer of a two-node setup, by name. */
export async function peerStatus(ns: string, config: string, peer: string): Promise<PeerStatus> {
  const status = await nodeStatus(ns, config);
  const found = status.peers.find((candidate) => candidate.name === peer);
  if (!found) throw new Error(`status in ${ns} has no peer "${peer}"`);
  return found;
}
