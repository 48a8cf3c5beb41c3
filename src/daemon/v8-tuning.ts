/**
 * V8 settings for a process that runs for months and is idle most of the
 * time (`switchback up`, `switchback relay`), set once at start.
 *
 * `--no-memory-reducer`: V8's memory reducer notices that a process has gone
 * quiet and runs full garbage collections to shrink its heap — for a daemon
 * that has just started, several of them over its first minute, when
 * nothing is left to reclaim. Measured beside the same build without it,
 * alternating (docs/performance.md, "The memory reducer"): an idle node
 * with one peer, 60 s from 3 s after the direct path was up, 0.37–0.57 %
 * of a core (median 0.42 over 8 rounds) against 0.55–0.75 % (0.59), at the
 * same resident memory (79 vs 78 MiB, median). The heap still shrinks by
 * the ordinary collections that traffic causes.
 */
import { setFlagsFromString } from 'node:v8';

export function tuneV8ForDaemon(): void {
  setFlagsFromString('--no-memory-reducer');
}
