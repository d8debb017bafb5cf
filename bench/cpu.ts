// CPU time of a process, from /proc/<pid>/stat (Linux): utime + stime of all its threads, so a
// JVM's JIT and GC threads count as much as its I/O threads do.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(ticks) && ticks > 0) return ticks;
  } catch {
    // getconf is missing: 100 is what Linux reports on every common architecture
  }
  return 100;
}

export const CLK_TCK = clockTicksPerSecond();

/** CPU time used so far by `pid`, in µs; the resolution is one clock tick (10 ms at CLK_TCK=100). */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are fields[11] and [12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`cannot read the CPU time of process ${pid}`);
  return (ticks * 1e6) / CLK_TCK;
}
