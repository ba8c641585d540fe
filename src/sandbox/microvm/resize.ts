// In-place resize of a VM pod (docs/resize.md): the pod's resources, as
// kubelet sends them in UpdatePodSandboxResources (the sum of its
// containers' limits), size the VM by the same arithmetic as at start
// (sizing.ts), within what the VM was started able to reach: maxcpus vCPUs
// and the maxmem headroom, which a virtio-mem device spans. Boot RAM is
// never taken back (only virtio-mem memory can be), so a pod shrunk below
// its start size keeps a VM of its start size; the guest cgroups still hold
// its containers to their limits.
//
// Order: the VM's host cgroup is raised before the VM grows and lowered only
// after it shrank, so QEMU is never over its limit; a shrink the guest
// cannot afford (less memory available in the guest than would be taken
// away) is refused before anything changes.

import { cpus } from 'node:os';
import { FailedPreconditionError, InternalError } from '../../../common/errors';
import { sleep } from '../../../common/time';
import { cgroupVersion } from '../../host/facts';
import { resizeCgroup } from '../../host/cgroup-resize';
import { vmCgroupLimits, vmCgroupPaths } from '../../host/vm-cgroup';
import type { VmSize } from '../../hypervisor';
import type { Logger } from '../../log';
import type { PodResourcesUpdate, SandboxHandle } from '../controller';
import type { PodVm } from './pod-vm';
import { podCpuLimit, podMemoryLimitMib, type PodResources } from './sizing';

const MEMORY_ALIGN_MIB = 2;
/** What a shrink leaves the guest beyond its MemAvailable, so that taking memory back does not push it into reclaim. */
export const SHRINK_MARGIN_MIB = 64;
const ONLINE_TIMEOUT_MS = 20_000;
const ONLINE_POLL_MS = 250;

export interface ResizeTargetInput {
  podId: string;
  /** The handler's vcpus / memory_mib. */
  baseVcpus: number;
  baseMemoryMib: number;
  hostCpus: number;
  /** The pod's resources as a whole (the sum of its containers' limits). */
  resources: PodResources | null;
  now: VmSize;
  /** Never below `now` (a container's own update; see controller.ts PodResourcesUpdate). */
  growOnly?: boolean;
}

export interface ResizeTarget {
  vcpus: number;
  memoryMib: number;
  explain: string;
}

/** The VM size for a pod's resources, or FailedPreconditionError naming the pod, the resource and the limit. Pure. */
export function resizeTarget(i: ResizeTargetInput): ResizeTarget {
  const cpuLimit = podCpuLimit(i.resources);
  const memLimit = podMemoryLimitMib(i.resources);
  const wantedCpus = Math.max(1, i.baseVcpus + cpuLimit);
  // As at start: more vCPUs than host CPUs only adds contention.
  let vcpus = Math.min(wantedCpus, Math.max(1, i.hostCpus));
  let memoryMib = Math.ceil(Math.max(MEMORY_ALIGN_MIB, i.baseMemoryMib + memLimit) / MEMORY_ALIGN_MIB) * MEMORY_ALIGN_MIB;
  if (i.growOnly) {
    vcpus = Math.max(vcpus, i.now.vcpus);
    memoryMib = Math.max(memoryMib, i.now.memoryMib);
  }
  const notes: string[] = [];
  if (memoryMib < i.now.bootMemoryMib) {
    notes.push(`memory kept at the ${i.now.bootMemoryMib} MiB the VM booted with`);
    memoryMib = i.now.bootMemoryMib;
  }
  const unchanged = vcpus === i.now.vcpus && memoryMib === i.now.memoryMib;
  if (!unchanged && i.now.maxVcpus === 0) {
    throw new FailedPreconditionError(
      `pod sandbox ${i.podId}: its VM (${i.now.vcpus} vCPUs, ${i.now.memoryMib} MiB) was started without resize headroom by an earlier vmpod and cannot be resized to ${vcpus} vCPUs, ${memoryMib} MiB; recreate the pod`,
    );
  }
  if (vcpus > i.now.maxVcpus && vcpus !== i.now.vcpus) {
    throw new FailedPreconditionError(`pod sandbox ${i.podId}: cpu: the pod's CPU limit needs ${vcpus} vCPUs (handler vcpus ${i.baseVcpus} + ${cpuLimit}), beyond the VM's maxcpus ${i.now.maxVcpus}`);
  }
  if (memoryMib > i.now.maxMemoryMib && memoryMib !== i.now.memoryMib) {
    throw new FailedPreconditionError(
      `pod sandbox ${i.podId}: memory: the pod's memory limit needs a ${memoryMib} MiB VM (handler memory_mib ${i.baseMemoryMib} + ${memLimit} MiB), beyond the ${i.now.maxMemoryMib} MiB (maxmem headroom) it was started able to reach`,
    );
  }
  const note = notes.length ? ` (${notes.join('; ')})` : '';
  return { vcpus, memoryMib, explain: `vcpus ${i.now.vcpus} -> ${vcpus}, memory ${i.now.memoryMib} -> ${memoryMib} MiB${note}` };
}

/** Refuses a shrink that would take more memory than the guest has available (less a margin). Pure. */
export function checkShrinkFits(podId: string, nowMib: number, targetMib: number, guest: { totalKib: number; availableKib: number }): void {
  const take = nowMib - targetMib;
  if (take <= 0) return;
  const availableMib = Math.floor(guest.availableKib / 1024);
  if (take > availableMib - SHRINK_MARGIN_MIB) {
    const usedMib = Math.ceil((guest.totalKib - guest.availableKib) / 1024);
    throw new FailedPreconditionError(
      `pod sandbox ${podId}: memory: shrinking the VM from ${nowMib} to ${targetMib} MiB would take ${take} MiB from a guest that uses ${usedMib} MiB and has ${availableMib} MiB available (${SHRINK_MARGIN_MIB} MiB kept as margin); lower what the pod uses first`,
    );
  }
}

export interface VmResizeEnv {
  baseVcpus: number;
  baseMemoryMib: number;
}

async function onlineAll(pod: PodVm, vcpus: number, log: Logger): Promise<{ totalKib: number; availableKib: number }> {
  const deadline = Date.now() + ONLINE_TIMEOUT_MS;
  for (;;) {
    // The guest hears of a hot-plugged CPU through an ACPI event it handles in its own time: ask again until it shows.
    const r = await pod.agent.call('OnlineCpuMem', {});
    if (r.online_cpus === vcpus) return { totalKib: r.mem_total_kib, availableKib: r.mem_available_kib };
    if (Date.now() >= deadline) {
      const why = r.errors.slice(0, 4).join('; ').slice(0, 500);
      throw new InternalError(`pod sandbox ${pod.id}: the guest has ${r.online_cpus} vCPUs online, ${vcpus} plugged, after ${ONLINE_TIMEOUT_MS} ms${why ? `: ${why}` : ''}`);
    }
    log.debug({ online: r.online_cpus, plugged: vcpus }, 'waiting for the guest to online its vCPUs');
    await sleep(ONLINE_POLL_MS);
  }
}

/** Resize the pod's VM and its host cgroup for `u`; returns the size in force. */
export async function resizePodVm(pod: PodVm, sb: SandboxHandle, u: PodResourcesUpdate, env: VmResizeEnv, log: Logger): Promise<VmSize> {
  const vm = pod.vm;
  if (!pod.alive || !vm) throw new FailedPreconditionError(`pod sandbox ${sb.id}: its VM is not running; it cannot be resized`);
  if (!vm.size || !vm.resize) throw new FailedPreconditionError(`pod sandbox ${sb.id}: the hypervisor cannot resize a running VM`);
  const now = await vm.size();
  // A VM an earlier vmpod started cannot grow; a container's own update keeps working on it as before.
  if (u.growOnly && now.maxVcpus === 0) return now;
  const resources = u.resources ?? sb.config.linux?.resources ?? null;
  const overhead = u.overhead ?? sb.config.linux?.overhead ?? null;
  const target = resizeTarget({ podId: sb.id, baseVcpus: env.baseVcpus, baseMemoryMib: env.baseMemoryMib, hostCpus: cpus().length, resources, now, growOnly: u.growOnly });
  // A container's own update that fits: nothing to do, and the pod's cgroup is kubelet's to change.
  if (u.growOnly && target.vcpus === now.vcpus && target.memoryMib === now.memoryMib) return now;
  if (target.memoryMib < now.memoryMib) {
    const guest = await pod.agent.call('OnlineCpuMem', {});
    checkShrinkFits(sb.id, now.memoryMib, target.memoryMib, { totalKib: guest.mem_total_kib, availableKib: guest.mem_available_kib });
  }
  const version = cgroupVersion();
  const cgPath = vmCgroupPaths(sb.config.linux?.cgroup_parent ?? '', sb.id).pod;
  const setCgroup = async (guestMemoryMib: number): Promise<void> => {
    const l = vmCgroupLimits({ resources, overhead, guestMemoryMib, accel: pod.data.accel });
    await resizeCgroup(`pod sandbox ${sb.id} (VM cgroup ${cgPath})`, cgPath, { cpu: l.cpu ?? 'max', memory: l.memoryBytes }, version);
  };
  // Room for the larger of the two sizes while the VM changes.
  await setCgroup(Math.max(now.memoryMib, target.memoryMib));
  let after = now;
  if (target.vcpus !== now.vcpus || target.memoryMib !== now.memoryMib) {
    log.info({ explain: target.explain }, 'resizing pod VM');
    after = await vm.resize({ vcpus: target.vcpus, memoryMib: target.memoryMib });
    await onlineAll(pod, after.vcpus, log);
  }
  // The VM shrank already: a limit that cannot follow yet (QEMU has not let go of the pages) stays at the larger size.
  await setCgroup(after.memoryMib).catch((err: unknown) => log.warn({ err }, 'VM cgroup limit left at the larger size'));
  log.info({ vcpus: after.vcpus, memoryMib: after.memoryMib }, 'pod VM size in force');
  return after;
}
