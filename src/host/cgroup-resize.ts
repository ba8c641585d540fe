// Changing the limits of a pod-level cgroup in place (in-place resize,
// docs/resize.md): a runc pod's cgroup parent, or a VM pod's VM cgroup
// (host/vm-cgroup.ts). What to write is pure and unit-tested; lowering a
// memory limit below what the cgroup uses now is refused before anything is
// written (the kernel would reclaim, then OOM-kill in the pod, or answer
// EBUSY on cgroup v1), naming the cgroup, the usage and the limit.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, InternalError } from '../../common/errors';
import { CGROUP_ROOT, DEFAULT_CPU_PERIOD_US } from './vm-cgroup';

/** The limits of a pod-level cgroup; 'max' lifts one. */
export interface CgroupResize {
  /** cpu.shares (v1), turned into cpu.weight on v2; absent: left as is. */
  cpuShares?: number;
  cpu: { quotaUs: number; periodUs: number } | 'max';
  memory: number | 'max';
}

/** Only what the derivation reads of a LinuxContainerResources. */
export interface ResizeFigures {
  cpu_shares?: string | number;
  cpu_quota?: string | number;
  cpu_period?: string | number;
  memory_limit_in_bytes?: string | number;
}

function int(v: string | number | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** A pod's resources as cgroup limits: no quota or no memory limit lifts it (the pod as a whole is described). Pure. */
export function cgroupResizeOf(r: ResizeFigures): CgroupResize {
  const quota = int(r.cpu_quota);
  const period = int(r.cpu_period) > 0 ? int(r.cpu_period) : DEFAULT_CPU_PERIOD_US;
  const memory = int(r.memory_limit_in_bytes);
  const out: CgroupResize = { cpu: quota > 0 ? { quotaUs: Math.max(1000, quota), periodUs: period } : 'max', memory: memory > 0 ? memory : 'max' };
  const shares = int(r.cpu_shares);
  if (shares > 0) out.cpuShares = shares;
  return out;
}

/** cpu.shares → cpu.weight, as runc and the kernel docs convert it. Pure. */
export function sharesToWeight(shares: number): number {
  const s = Math.min(Math.max(shares, 2), 262144);
  return Math.floor(1 + ((s - 2) * 9999) / 262142);
}

/** [file, value] writes that set `r` on cgroup `path`. Pure. */
export function resizeWrites(path: string, r: CgroupResize, version: 1 | 2, root = CGROUP_ROOT): Array<[string, string]> {
  const w: Array<[string, string]> = [];
  if (version === 2) {
    const dir = join(root, path);
    if (r.cpuShares !== undefined) w.push([join(dir, 'cpu.weight'), String(sharesToWeight(r.cpuShares))]);
    w.push([join(dir, 'cpu.max'), r.cpu === 'max' ? 'max' : `${r.cpu.quotaUs} ${r.cpu.periodUs}`]);
    w.push([join(dir, 'memory.max'), String(r.memory)]);
    return w;
  }
  const cpu = join(root, 'cpu', path);
  if (r.cpuShares !== undefined) w.push([join(cpu, 'cpu.shares'), String(r.cpuShares)]);
  if (r.cpu === 'max') {
    w.push([join(cpu, 'cpu.cfs_quota_us'), '-1']);
  } else {
    // Lift the quota before changing the period: a quota is checked against the period in place.
    w.push([join(cpu, 'cpu.cfs_quota_us'), '-1'], [join(cpu, 'cpu.cfs_period_us'), String(r.cpu.periodUs)], [join(cpu, 'cpu.cfs_quota_us'), String(r.cpu.quotaUs)]);
  }
  w.push([join(root, 'memory', path, 'memory.limit_in_bytes'), r.memory === 'max' ? '-1' : String(r.memory)]);
  return w;
}

/** What the cgroup's memory use is now, in bytes. */
export async function memoryUsage(path: string, version: 1 | 2, root = CGROUP_ROOT): Promise<number> {
  const file = version === 2 ? join(root, path, 'memory.current') : join(root, 'memory', path, 'memory.usage_in_bytes');
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new InternalError(`cannot read ${file}: ${err.message}`, { cause: err });
  });
  return Number(text.trim());
}

/** Refuses (FailedPreconditionError) a memory limit below the cgroup's use; `what` names the pod. */
export function checkMemoryFits(what: string, usageBytes: number, r: CgroupResize): void {
  if (r.memory !== 'max' && r.memory < usageBytes) {
    throw new FailedPreconditionError(`${what}: memory limit ${r.memory} bytes is below the ${usageBytes} bytes the pod uses now; shrink what runs in it first`);
  }
}

/** Check, then set `r` on cgroup `path`; a failed write names its file. */
export async function resizeCgroup(what: string, path: string, r: CgroupResize, version: 1 | 2, root = CGROUP_ROOT): Promise<void> {
  checkMemoryFits(what, await memoryUsage(path, version, root), r);
  for (const [file, value] of resizeWrites(path, r, version, root)) {
    await writeFile(file, value).catch((err: Error) => {
      throw new InternalError(`${what}: cannot write ${value} to ${file}: ${err.message}`, { cause: err });
    });
  }
}
