// What the guest has online, and bringing hot-plugged CPUs online. x86
// Linux registers a CPU the host hot-plugged (ACPI) but leaves it offline
// until user space writes 1 to its `online` file; a distribution does that
// with a udev rule, this guest has no udev, so the agent does it when the
// host asks (OnlineCpuMem, after a vCPU hot-plug). Memory needs no help:
// the guest kernel runs with memhp_default_state=online_movable, so the
// blocks virtio-mem adds come online by themselves (in ZONE_MOVABLE, which
// is what lets virtio-mem take them back on a shrink).
//
// The parsing is pure; onlineCpuMem takes its roots as arguments so that a
// unit test runs it on a fake sysfs.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const SYS_CPU = '/sys/devices/system/cpu';
export const PROC_MEMINFO = '/proc/meminfo';

/** The number of CPUs in a kernel CPU list ("0-3,5"). Pure. */
export function cpuListCount(list: string): number {
  let n = 0;
  for (const part of list.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`not a CPU list: "${list.trim().slice(0, 100)}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    n += hi - lo + 1;
  }
  return n;
}

/** MemTotal and MemAvailable of /proc/meminfo text, in KiB (0 when absent). Pure. */
export function meminfoKib(text: string): { totalKib: number; availableKib: number } {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { totalKib: field('MemTotal'), availableKib: field('MemAvailable') };
}

export interface CpuMemState {
  onlineCpus: number;
  memTotalKib: number;
  memAvailableKib: number;
  /** CPUs that stayed offline, each with why. */
  errors: string[];
}

/** Write 1 to the `online` file of every offline cpuN, then report what is online. */
export async function onlineCpuMem(sysCpu = SYS_CPU, meminfo = PROC_MEMINFO): Promise<CpuMemState> {
  const errors: string[] = [];
  const names = (await readdir(sysCpu)).filter((n) => /^cpu\d+$/.test(n));
  for (const name of names) {
    const file = join(sysCpu, name, 'online');
    // cpu0 usually has no `online` file (it cannot go offline): nothing to do.
    const state = await readFile(file, 'utf8').catch(() => '1');
    if (state.trim() !== '0') continue;
    try {
      await writeFile(file, '1');
    } catch (err) {
      errors.push(`${name}: ${(err as Error).message}`);
    }
  }
  const mem = meminfoKib(await readFile(meminfo, 'utf8'));
  return { onlineCpus: cpuListCount(await readFile(join(sysCpu, 'online'), 'utf8')), memTotalKib: mem.totalKib, memAvailableKib: mem.availableKib, errors };
}
