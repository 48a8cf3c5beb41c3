/**
 * CPU time of processes, read from /proc/<pid>/stat (utime + stime, every
 * thread of the process included, children not).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseProcStat } from './parse.js';

let ticksPerSecond: number | undefined;

/** USER_HZ: the unit of utime/stime (100 on every Linux build we know of). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    const text = execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2_000 });
    const value = Number(text.trim());
    ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
  }
  return ticksPerSecond;
}

/** CPU seconds (user + system) the process `pid` has used so far. */
export function cpuSeconds(pid: number): number {
  const { utime, stime } = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return (utime + stime) / clockTicksPerSecond();
}

/** CPU seconds of each pid, summed. */
export function totalCpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += cpuSeconds(pid);
  return total;
}
