// A VM pod's stats as the host sees them: everything is the hypervisor
// process's own cost (CPU of every vCPU and I/O thread, resident memory with
// the guest RAM it touched). The same figures again under `vmm` name them as
// the hypervisor's, so the domain can set them beside what the guest's
// containers use and name the overhead (cri/runtime/metrics.ts).

import { nowNs } from '../../common/time';
import type { VmHostStats } from '../hypervisor';
import type { CgroupStats } from './controller';

/** The pod's stats from its VM process's cost; `memoryMib` is the VM's RAM, its memory limit. Pure but for the timestamp. */
export function vmCostStats(cost: VmHostStats, memoryMib: number): CgroupStats {
  return {
    timestampNs: nowNs(),
    cpuUsageNs: cost.cpuNs,
    cpuUserNs: cost.cpuUserNs,
    cpuSystemNs: cost.cpuSystemNs,
    memoryUsageBytes: cost.rssBytes,
    memoryWorkingSetBytes: cost.rssBytes,
    memoryRssBytes: cost.rssBytes,
    memoryLimitBytes: memoryMib * 1024 * 1024,
    pageFaults: cost.minorFaults + cost.majorFaults,
    majorPageFaults: cost.majorFaults,
    processes: 1,
    vmm: { rssBytes: cost.rssBytes, pssBytes: cost.pssBytes, cpuNs: cost.cpuNs, cpuUserNs: cost.cpuUserNs, cpuSystemNs: cost.cpuSystemNs, threads: cost.threads },
  };
}
