// The domain's stats views → CRI stats messages (pure).

import type { ContainerStats } from '../../generated/cri/runtime/v1/ContainerStats';
import type { CpuUsage } from '../../generated/cri/runtime/v1/CpuUsage';
import type { MemoryUsage } from '../../generated/cri/runtime/v1/MemoryUsage';
import type { PodSandboxStats } from '../../generated/cri/runtime/v1/PodSandboxStats';
import type { CgroupFigures, ContainerStatsView, PodStatsView } from '../../pods/stats';

const u64 = (n: number) => ({ value: String(Math.max(0, Math.round(n))) });

function cpuUsage(s: CgroupFigures): CpuUsage {
  const out: CpuUsage = { timestamp: s.timestampNs, usage_core_nano_seconds: u64(s.cpuUsageNs) };
  if (s.cpuNanoCores !== undefined) out.usage_nano_cores = u64(s.cpuNanoCores);
  return out;
}

function memoryUsage(s: CgroupFigures): MemoryUsage {
  const out: MemoryUsage = {
    timestamp: s.timestampNs,
    working_set_bytes: u64(s.memoryWorkingSetBytes),
    usage_bytes: u64(s.memoryUsageBytes),
    rss_bytes: u64(s.memoryRssBytes),
    page_faults: u64(s.pageFaults),
    major_page_faults: u64(s.majorPageFaults),
  };
  if (s.memoryLimitBytes > 0) out.available_bytes = u64(s.memoryLimitBytes - s.memoryWorkingSetBytes);
  return out;
}

export function toCriContainerStats(v: ContainerStatsView): ContainerStats {
  const c = v.container;
  const out: ContainerStats = { attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations } };
  if (v.cgroup) {
    out.cpu = cpuUsage(v.cgroup);
    out.memory = memoryUsage(v.cgroup);
  }
  const w = v.writableLayer;
  if (w) out.writable_layer = { timestamp: w.timestampNs, fs_id: { mountpoint: w.mountpoint }, used_bytes: u64(w.bytes), inodes_used: u64(w.inodes) };
  return out;
}

export function toCriPodSandboxStats(v: PodStatsView): PodSandboxStats {
  const p = v.pod;
  const out: PodSandboxStats = {
    attributes: { id: p.id, metadata: p.config.metadata, labels: p.config.labels, annotations: p.config.annotations },
    linux: { containers: v.containers.map(toCriContainerStats) },
  };
  if (v.cgroup) {
    out.linux!.cpu = cpuUsage(v.cgroup);
    out.linux!.memory = memoryUsage(v.cgroup);
    out.linux!.process = { timestamp: v.cgroup.timestampNs, process_count: { value: String(v.cgroup.processes) } };
  }
  return out;
}
