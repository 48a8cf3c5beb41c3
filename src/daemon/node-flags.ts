/**
 * The flags `node` is started with for the long-running commands
 * (`switchback up`, `switchback relay`): the `switchback` bin's shebang
 * (src/cli.ts), the example systemd units (docs/examples/*.service) and the
 * benchmarks all use these; test/unit/daemon/node-flags.test.ts checks that
 * they agree.
 *
 * `--no-memory-reducer`: V8's memory reducer notices that a process has gone
 * quiet and runs full garbage collections to shrink its heap — for a daemon
 * that has just started, two or three of them (~40 ms of CPU) within its
 * first minute, when there is nothing to reclaim. It must be given on the
 * command line: V8 reads it when the heap is set up, and
 * `v8.setFlagsFromString('--no-memory-reducer')` later in the process has no
 * effect (`node --trace-gc` still shows the "Mark-Compact (reduce)"
 * collections; docs/performance.md, "The memory reducer, corrected").
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];
