// A VM-image container's stats. The container is the whole guest, so its
// memory is what the guest says it uses (the balloon's figures, checked for
// sense by the hypervisor layer), the way a container's memory is what its
// cgroup uses; its CPU is QEMU's (every vCPU thread, emulation included).
// The pod's stats stay the host's truth, QEMU's own cost (vm-cost-stats.ts),
// so the difference between the two is the VM's overhead, and a guest that
// lies about its memory misleads only figures about itself. A guest that
// never reported (no balloon driver, still booting) or stopped reporting
// gets QEMU's figures instead, as before there were guest figures.

import type { GuestMemoryStats, VmHostStats } from '../../hypervisor';
import type { CgroupStats } from '../controller';
import { vmCostStats } from '../vm-cost-stats';

/**
 * The guest's working set: what it could not hand out without swapping
 * (MemTotal − MemAvailable), or, from a kernel that does not report
 * MemAvailable, what is neither free nor page cache. Pure.
 */
export function guestWorkingSet(g: GuestMemoryStats): number {
  if (g.availableBytes !== undefined) return g.totalBytes - g.availableBytes;
  return Math.max(0, g.totalBytes - g.freeBytes - (g.diskCachesBytes ?? 0));
}

/** The container's stats: memory and faults from the guest's figures when it has reported, the rest from QEMU. Pure but for the timestamp. */
export function vmImageContainerStats(cost: VmHostStats, guest: GuestMemoryStats | undefined, memoryMib: number): CgroupStats {
  const { vmm: _hostOnly, ...host } = vmCostStats(cost, memoryMib);
  if (!guest) return host;
  const used = guest.totalBytes - guest.freeBytes;
  const { minorFaults: minor, majorFaults: major } = guest;
  return {
    ...host,
    // Like a cgroup's usage, page cache included.
    memoryUsageBytes: used,
    memoryWorkingSetBytes: guestWorkingSet(guest),
    memoryRssBytes: Math.max(0, used - (guest.diskCachesBytes ?? 0)),
    ...(minor !== undefined && major !== undefined ? { pageFaults: minor + major, majorPageFaults: major } : {}),
  };
}
