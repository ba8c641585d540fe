// How big a pod's VM is. The guest must hold every container's limits on
// top of what the guest itself needs (kernel, agent, page cache), so, as
// Kata does:
//
//   vCPUs  = handler vcpus      + ceil(Σ container CPU limits)   (quota / period)
//   memory = handler memory_mib + ceil(Σ container memory limits / MiB)
//
// Σ comes from LinuxPodSandboxConfig.resources (kubelet sends the sum of the
// containers' limits there). LinuxPodSandboxConfig.overhead is deliberately
// NOT added: a RuntimeClass overhead describes what the VM costs the node
// (QEMU itself, page tables) so that the scheduler accounts for it; giving
// it to the guest as RAM would only make the real overhead bigger.
// A container without a limit adds nothing; the result is capped at the
// host's CPU count (more vCPUs than host CPUs only adds contention), and a
// memory size beyond the host's RAM is refused.

import { ResourceExhaustedError } from '../../../common/errors';
import type { LinuxContainerResources__Output } from '../../generated/cri/runtime/v1/LinuxContainerResources';

const MIB = 1024 * 1024;
/** CFS default period, used when a quota comes without one. */
const DEFAULT_CPU_PERIOD_US = 100_000;
/** Memory is sized in whole 2 MiB steps: the DAX/hugepage alignment QEMU and the guest like. */
const MEMORY_ALIGN_MIB = 2;

export type PodResources = Pick<LinuxContainerResources__Output, 'cpu_quota' | 'cpu_period' | 'memory_limit_in_bytes'>;

export interface SizingInput {
  /** The handler's vcpus / memory_mib. */
  baseVcpus: number;
  baseMemoryMib: number;
  /** LinuxPodSandboxConfig.resources (sum of the containers' limits); null when kubelet sent none. */
  resources: PodResources | null | undefined;
  hostCpus: number;
  hostMemoryMib: number;
}

export interface VmSize {
  vcpus: number;
  memoryMib: number;
  /** How the numbers came about, for the pod-start log line. */
  explain: string;
}

function int(v: string | number | undefined): number {
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

/** CPUs the pod's containers are limited to, rounded up; 0 when unlimited. */
export function podCpuLimit(r: PodResources | null | undefined): number {
  if (!r) return 0;
  const quota = int(r.cpu_quota);
  if (quota <= 0) return 0; // 0 = unset, -1 = unlimited
  const period = int(r.cpu_period) > 0 ? int(r.cpu_period) : DEFAULT_CPU_PERIOD_US;
  return Math.ceil(quota / period);
}

/** MiB the pod's containers are limited to, rounded up; 0 when unlimited. */
export function podMemoryLimitMib(r: PodResources | null | undefined): number {
  if (!r) return 0;
  const bytes = int(r.memory_limit_in_bytes);
  return bytes > 0 ? Math.ceil(bytes / MIB) : 0;
}

export function vmSize(i: SizingInput): VmSize {
  const cpuLimit = podCpuLimit(i.resources);
  const memLimit = podMemoryLimitMib(i.resources);
  const wantedCpus = Math.max(1, i.baseVcpus + cpuLimit);
  const vcpus = Math.max(1, Math.min(wantedCpus, i.hostCpus));
  const raw = Math.max(MEMORY_ALIGN_MIB, i.baseMemoryMib + memLimit);
  const memoryMib = Math.ceil(raw / MEMORY_ALIGN_MIB) * MEMORY_ALIGN_MIB;
  if (memoryMib > i.hostMemoryMib) {
    throw new ResourceExhaustedError(
      `pod VM would need ${memoryMib} MiB (the handler's memory_mib ${i.baseMemoryMib} + container limits ${memLimit}) but the host has only ${i.hostMemoryMib} MiB; lower the pod's memory limits or the handler's memory_mib`,
    );
  }
  const capped = vcpus < wantedCpus ? ` (capped from ${wantedCpus} at the host's ${i.hostCpus} CPUs)` : '';
  return {
    vcpus,
    memoryMib,
    explain: `vcpus ${i.baseVcpus} + ${cpuLimit} limit = ${vcpus}${capped}; memory ${i.baseMemoryMib} + ${memLimit} MiB limit = ${memoryMib} MiB`,
  };
}
