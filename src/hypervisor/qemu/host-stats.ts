// What a VM costs the host, read from /proc for the QEMU process: CPU time
// and memory, with PSS (proportional set size) so that pages shared between
// VMs — the DAX rootfs in the host page cache above all — are counted once
// across all pods instead of once per pod. Feeds PodSandboxStats (the VM's
// overhead) and the memory benchmark.

import { readFileSync } from 'node:fs';
import type { VmHostStats } from '../hypervisor';

/** USER_HZ: the unit of /proc/<pid>/stat times; fixed at 100 on x86_64 Linux. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime (fields 14, 15) of a /proc/<pid>/stat line, in ns. Pure. */
export function parseStatCpuNs(stat: string): number | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3; fields 14 and 15 are rest[11], rest[12].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return ((utime + stime) * 1e9) / CLOCK_TICKS_PER_SECOND;
}

/** The kB fields of /proc/<pid>/smaps_rollup, in bytes. Pure. */
export function parseSmapsRollup(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]) * 1024;
  }
  return out;
}

/** Host-side cost of process `pid`; undefined if it is gone. */
export function readVmHostStats(pid: number): VmHostStats | undefined {
  try {
    const cpuNs = parseStatCpuNs(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const mem = parseSmapsRollup(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    if (cpuNs === undefined) return undefined;
    return { cpuNs, rssBytes: mem.Rss ?? 0, pssBytes: mem.Pss ?? 0, anonBytes: mem.Anonymous ?? 0 };
  } catch {
    return undefined;
  }
}
