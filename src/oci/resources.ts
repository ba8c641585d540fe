// CRI LinuxContainerResources → OCI linux.resources (cgroupfs; v1 and v2).

import type { LinuxContainerResources__Output } from '../generated/cri/runtime/v1/LinuxContainerResources';
import type { OciDeviceRule, OciResources } from './types';
import type { HostFacts, SpecNote } from './input';

const num = (s: string | undefined): number => (s ? Number(s) : 0);

/**
 * Device cgroup rules every container gets: deny everything, then allow the
 * nodes runc creates in /dev (null, zero, full, tty, random, urandom), the pty
 * multiplexer and slaves, and mknod of any node (which is harmless without
 * the access rule, and what Docker and containerd allow).
 */
export const DEFAULT_DEVICE_RULES: OciDeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
];

export function resolveResources(r: LinuxContainerResources__Output | null, host: HostFacts): OciResources {
  const out: OciResources = {};
  if (!r) return out;
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (num(r.cpu_shares) > 0) cpu.shares = num(r.cpu_shares);
  if (num(r.cpu_quota) !== 0) cpu.quota = num(r.cpu_quota);
  if (num(r.cpu_period) > 0) cpu.period = num(r.cpu_period);
  if (r.cpuset_cpus) cpu.cpus = r.cpuset_cpus;
  if (r.cpuset_mems) cpu.mems = r.cpuset_mems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  const limit = num(r.memory_limit_in_bytes);
  if (limit > 0) {
    out.memory = { limit };
    const swap = num(r.memory_swap_limit_in_bytes);
    // memsw only exists with swap accounting on v1; v2 always has swap.max.
    if (host.cgroupVersion === 2 || host.swapAccounting) out.memory.swap = swap > 0 ? swap : limit;
  }
  if (r.hugepage_limits.length > 0) {
    out.hugepageLimits = r.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: num(h.limit) }));
  }
  if (host.cgroupVersion === 2 && Object.keys(r.unified ?? {}).length > 0) out.unified = { ...r.unified };
  return out;
}

/**
 * The requested oom_score_adj, raised to the daemon's own: lowering it needs
 * CAP_SYS_RESOURCE, which these hosts do not grant, and runc fails outright.
 */
export function clampOomScoreAdj(requested: number, daemon: number, notes: SpecNote[]): number {
  if (requested < daemon) {
    notes.push({ message: "oom_score_adj raised to the daemon's own", detail: { requested, applied: daemon } });
    return daemon;
  }
  return Math.min(requested, 1000);
}
