import { readFileSync } from 'node:fs';

/**
 * The start time of a process (clock ticks since boot, field 22 of
 * /proc/<pid>/stat), or undefined if there is no such process. Stored with
 * the PID so that a restarted daemon never signals a recycled PID.
 */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return rest[19];
}

/** True while `pid` is the very process started at `startTime` and not a zombie. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  return processStartTime(pid) === startTime;
}

/** Signal `pid` only if it is still the process we started; returns whether a signal was sent. */
export function signalIfSame(pid: number, startTime: string, signal: NodeJS.Signals): boolean {
  if (!isSameProcessAlive(pid, startTime)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
