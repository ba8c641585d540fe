// What a pod VM costs the host, read from the QEMU process: its CPU time
// (which includes every guest vCPU's, so it is the pod's true CPU use) and
// its resident memory (guest RAM actually touched plus QEMU's own; the
// DAX-mapped rootfs shows up as shared file pages). PodSandboxStats reports
// these, so the VM's overhead is part of the pod's figures.

import { readFileSync } from 'node:fs';

/** USER_HZ; 100 on every Linux architecture vmpod runs on. */
export const CLOCK_TICKS = 100;

export interface ProcessCost {
  cpuUserNs: number;
  cpuSystemNs: number;
  rssBytes: number;
  majorFaults: number;
  minorFaults: number;
}

/** /proc/<pid>/stat + /proc/<pid>/status text → cost. Pure; undefined if unparseable. */
export function parseProcessCost(stat: string, status: string): ProcessCost | undefined {
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close === -1) return undefined;
  const f = stat.slice(close + 2).trim().split(/\s+/);
  // f[0] is field 3 (state); minflt = 10, majflt = 12, utime = 14, stime = 15.
  const field = (n: number): number => Number(f[n - 3]);
  const [minflt, majflt, utime, stime] = [field(10), field(12), field(14), field(15)];
  if (![minflt, majflt, utime, stime].every(Number.isFinite)) return undefined;
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  const toNs = (ticks: number): number => Math.round((ticks * 1e9) / CLOCK_TICKS);
  return { cpuUserNs: toNs(utime), cpuSystemNs: toNs(stime), rssBytes: rss ? Number(rss[1]) * 1024 : 0, majorFaults: majflt, minorFaults: minflt };
}

export function readProcessCost(pid: number): ProcessCost | undefined {
  try {
    return parseProcessCost(readFileSync(`/proc/${pid}/stat`, 'utf8'), readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}
