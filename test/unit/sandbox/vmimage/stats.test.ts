// A VM-image container's memory is the guest's (balloon figures), its CPU
// QEMU's; without guest figures everything is QEMU's. The pod keeps QEMU's
// cost with the vmm figures, the container never has them.

import t from 'tap';
import type { GuestMemoryStats, VmHostStats } from '../../../../src/hypervisor';
import { guestWorkingSet, vmImageContainerStats } from '../../../../src/sandbox/vmimage/stats';
import { vmCostStats } from '../../../../src/sandbox/vm-cost-stats';

const MIB = 1024 * 1024;
const cost: VmHostStats = { cpuNs: 5e9, cpuUserNs: 4e9, cpuSystemNs: 1e9, rssBytes: 400 * MIB, pssBytes: 380 * MIB, anonBytes: 350 * MIB, minorFaults: 1000, majorFaults: 10, threads: 7 };
const guest: GuestMemoryStats = { at: 0, totalBytes: 990 * MIB, freeBytes: 700 * MIB, availableBytes: 850 * MIB, diskCachesBytes: 120 * MIB, minorFaults: 50_000, majorFaults: 300 };

t.test('working set: MemTotal - MemAvailable, else neither free nor cache', async (t) => {
  t.equal(guestWorkingSet(guest), 140 * MIB);
  t.equal(guestWorkingSet({ at: 0, totalBytes: 990 * MIB, freeBytes: 700 * MIB, diskCachesBytes: 120 * MIB }), 170 * MIB);
  t.equal(guestWorkingSet({ at: 0, totalBytes: 990 * MIB, freeBytes: 700 * MIB }), 290 * MIB);
  t.equal(guestWorkingSet({ at: 0, totalBytes: 100 * MIB, freeBytes: 60 * MIB, diskCachesBytes: 80 * MIB }), 0, 'never negative');
});

t.test('with guest figures: memory and faults from the guest, CPU from QEMU', async (t) => {
  const s = vmImageContainerStats(cost, guest, 1024);
  t.equal(s.memoryWorkingSetBytes, 140 * MIB);
  t.equal(s.memoryUsageBytes, 290 * MIB, 'usage includes the page cache, as a cgroup does');
  t.equal(s.memoryRssBytes, 170 * MIB);
  t.equal(s.memoryLimitBytes, 1024 * MIB, 'the limit is the VM RAM');
  t.equal(s.pageFaults, 50_300);
  t.equal(s.majorPageFaults, 300);
  t.equal(s.cpuUsageNs, 5e9);
  t.equal(s.vmm, undefined, 'the container has no vmm figures (the pod has them)');
});

t.test('guest faults only when both are reported', async (t) => {
  const s = vmImageContainerStats(cost, { ...guest, majorFaults: undefined }, 1024);
  t.equal(s.pageFaults, 1010, "QEMU's faults");
  t.equal(s.memoryWorkingSetBytes, 140 * MIB);
});

t.test("without guest figures: QEMU's, as the pod's, minus vmm", async (t) => {
  const s = vmImageContainerStats(cost, undefined, 1024);
  const pod = vmCostStats(cost, 1024);
  t.equal(s.memoryWorkingSetBytes, 400 * MIB);
  const { vmm, ...podHost } = pod;
  t.same({ ...s, timestampNs: '' }, { ...podHost, timestampNs: '' });
  t.same(vmm, { rssBytes: 400 * MIB, pssBytes: 380 * MIB, cpuNs: 5e9, cpuUserNs: 4e9, cpuSystemNs: 1e9, threads: 7 });
});
