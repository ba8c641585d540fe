// `vmpod overhead`: what each VM pod's hypervisor costs beyond its guest's
// containers, measured on this node, and the RuntimeClass `overhead.podFixed`
// those measurements suggest. Pure: it takes two readings of the pods'
// metrics (PodService.podMetrics) `intervalNs` apart and compares them.
//
// A pod counts when its stats carry the hypervisor's own figures (`vmm`,
// which only a VM pod's controller reports); what it measures:
// - memory: the hypervisor's RSS minus the working set of the guest's
//   running containers (guest kernel, agent, guest page cache, the VMM's
//   own heap and device state), at the second reading;
// - CPU: the hypervisor's CPU time (every vCPU and VMM thread) minus the
//   guest containers' CPU time, as a rate over the interval.
// podFixed is the maximum over the pods, rounded up (MiB, millicores), with
// no headroom added: the operator decides the margin.

import type { CgroupStats } from '../sandbox/controller';
import type { StatsExtras } from '../sandbox/stats-extras';
import type { ContainerRecord } from '../store/container';
import type { SandboxRecord } from '../store/sandbox';

interface Figures extends CgroupStats, StatsExtras {}

/** One pod in one reading, as PodService.podMetrics answers it. */
export interface OverheadSample {
  pod: SandboxRecord;
  cgroup: Figures | null;
  containers: { container: ContainerRecord; cgroup: Figures }[];
}

export interface PodOverhead {
  id: string;
  name: string;
  namespace: string;
  vmmRssBytes: number;
  vmmPssBytes: number;
  vmmThreads?: number;
  guestWorkingSetBytes: number;
  /** vmmRssBytes − guestWorkingSetBytes, at least 0. */
  memoryBytes: number;
  vmmMillicores: number;
  guestMillicores: number;
  /** vmmMillicores − guestMillicores, at least 0. */
  cpuMillicores: number;
}

export interface OverheadReport {
  intervalMs: number;
  pods: PodOverhead[];
  /** Absent with no VM pod to measure. */
  summary?: {
    memory: { medianBytes: number; maxBytes: number };
    cpu: { medianMillicores: number; maxMillicores: number };
    /** To put in a RuntimeClass's overhead.podFixed. */
    podFixed: { memory: string; cpu: string };
  };
}

const MIB = 1024 * 1024;

export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  if (v.length === 0) return 0;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function millicores(deltaNs: number, intervalNs: number): number {
  return intervalNs > 0 ? Math.max(0, (deltaNs / intervalNs) * 1000) : 0;
}

/** The overhead of each pod present with hypervisor figures in both readings, and their summary. */
export function overheadReport(first: readonly OverheadSample[], second: readonly OverheadSample[], intervalNs: number): OverheadReport {
  const before = new Map(first.map((s) => [s.pod.id, s]));
  const pods: PodOverhead[] = [];
  for (const now of second) {
    const then = before.get(now.pod.id);
    const vmm = now.cgroup?.vmm;
    const vmmThen = then?.cgroup?.vmm;
    if (!vmm || !vmmThen) continue;
    const guestWs = now.containers.reduce((sum, c) => sum + c.cgroup.memoryWorkingSetBytes, 0);
    // CPU of the containers present in both readings (one started or gone in between has no delta).
    const cpuThen = new Map(then.containers.map((c) => [c.container.id, c.cgroup.cpuUsageNs]));
    const guestCpuNs = now.containers.reduce((sum, c) => {
      const t0 = cpuThen.get(c.container.id);
      return t0 === undefined ? sum : sum + Math.max(0, c.cgroup.cpuUsageNs - t0);
    }, 0);
    const vmmMillicores = millicores(vmm.cpuNs - vmmThen.cpuNs, intervalNs);
    const guestMillicores = millicores(guestCpuNs, intervalNs);
    const row: PodOverhead = {
      id: now.pod.id,
      name: now.pod.config.metadata?.name ?? '',
      namespace: now.pod.config.metadata?.namespace ?? '',
      vmmRssBytes: vmm.rssBytes,
      vmmPssBytes: vmm.pssBytes,
      guestWorkingSetBytes: guestWs,
      memoryBytes: Math.max(0, vmm.rssBytes - guestWs),
      vmmMillicores,
      guestMillicores,
      cpuMillicores: Math.max(0, vmmMillicores - guestMillicores),
    };
    if (vmm.threads !== undefined) row.vmmThreads = vmm.threads;
    pods.push(row);
  }
  const report: OverheadReport = { intervalMs: Math.round(intervalNs / 1e6), pods };
  if (pods.length > 0) {
    const mem = pods.map((p) => p.memoryBytes);
    const cpu = pods.map((p) => p.cpuMillicores);
    const maxBytes = Math.max(...mem);
    const maxMillicores = Math.max(...cpu);
    report.summary = {
      memory: { medianBytes: median(mem), maxBytes },
      cpu: { medianMillicores: median(cpu), maxMillicores },
      podFixed: { memory: `${Math.max(1, Math.ceil(maxBytes / MIB))}Mi`, cpu: `${Math.max(1, Math.ceil(maxMillicores))}m` },
    };
  }
  return report;
}
