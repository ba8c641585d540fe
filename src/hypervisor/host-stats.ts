// What a VM costs the host, read from /proc for the hypervisor process: CPU
// time (which includes every vCPU thread, so it is the pod's true CPU use),
// page faults, and memory with PSS (proportional set size) so that pages
// shared between VMs — the DAX rootfs in the host page cache above all —
// are counted once across all pods instead of once per pod. The one reader
// of a VM's host cost: PodSandboxStats (the VM's overhead) and the memory
// benchmark both take it from VmHandle.hostStats().

import { readFileSync } from 'node:fs';
import type { VmHostStats } from './hypervisor';

/** USER_HZ: the unit of /proc/<pid>/stat times; 100 on every Linux architecture vmpod runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;
const NS_PER_TICK = 1e9 / CLOCK_TICKS_PER_SECOND;

/** The fields of /proc/<pid>/stat that cost something. */
export interface ProcStatCost {
  cpuUserNs: number;
  cpuSystemNs: number;
  minorFaults: number;
  majorFaults: number;
  /** num_threads: QEMU's vCPU, I/O and main threads, for the VMM's overhead. */
  threads: number;
}

/** minflt, majflt, utime, stime, num_threads (fields 10, 12, 14, 15, 20 of proc(5)) of a /proc/<pid>/stat line. Pure; undefined if malformed. */
export function parseProcStat(stat: string): ProcStatCost | undefined {
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close === -1) return undefined;
  const rest = stat
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state).
  const field = (n: number): number => (rest.length > n - 3 ? Number(rest[n - 3]) : NaN);
  const [minflt, majflt, utime, stime, threads] = [field(10), field(12), field(14), field(15), field(20)];
  if (![minflt, majflt, utime, stime, threads].every(Number.isSafeInteger)) return undefined;
  return { cpuUserNs: utime * NS_PER_TICK, cpuSystemNs: stime * NS_PER_TICK, minorFaults: minflt, majorFaults: majflt, threads };
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

/** /proc/<pid>/stat + /proc/<pid>/smaps_rollup text → VmHostStats. Pure; undefined if the stat line is malformed. */
export function toVmHostStats(stat: string, smapsRollup: string): VmHostStats | undefined {
  const cpu = parseProcStat(stat);
  if (!cpu) return undefined;
  const mem = parseSmapsRollup(smapsRollup);
  return {
    cpuNs: cpu.cpuUserNs + cpu.cpuSystemNs,
    ...cpu,
    rssBytes: mem.Rss ?? 0,
    pssBytes: mem.Pss ?? 0,
    anonBytes: mem.Anonymous ?? 0,
  };
}

/**
 * Host-side cost of process `pid`; undefined if it is gone. smaps_rollup
 * walks the page tables (1.35 ms per call measured for a booted 512 MiB TCG
 * guest, qemu-hotplug test): fine at kubelet's stats interval, not for a
 * tight loop.
 */
export function readVmHostStats(pid: number): VmHostStats | undefined {
  try {
    return toVmHostStats(readFileSync(`/proc/${pid}/stat`, 'utf8'), readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  } catch {
    return undefined;
  }
}
