// The domain's stats views → CRI stats messages (pure). A figure the host
// does not measure (PSI on a host without it, swap without swap accounting,
// anything of a VM container the agent does not report) is left out of the
// message, never sent as 0.

import type { ContainerStats } from '../../generated/cri/runtime/v1/ContainerStats';
import type { CpuUsage } from '../../generated/cri/runtime/v1/CpuUsage';
import type { MemoryUsage } from '../../generated/cri/runtime/v1/MemoryUsage';
import type { NetworkInterfaceUsage } from '../../generated/cri/runtime/v1/NetworkInterfaceUsage';
import type { NetworkUsage } from '../../generated/cri/runtime/v1/NetworkUsage';
import type { PodSandboxStats } from '../../generated/cri/runtime/v1/PodSandboxStats';
import type { PsiStats } from '../../generated/cri/runtime/v1/PsiStats';
import type { NetInterfaceFigures, PodNetworkFigures } from '../../network/net-dev';
import type { CgroupFigures, ContainerStatsView, PodStatsView } from '../../pods/stats';
import type { PressureFigures, PsiLine } from '../../sandbox/stats-extras';

const u64 = (n: number) => ({ value: String(Math.max(0, Math.round(n))) });

/** CRI's PsiData: total stall in ns (the kernel's is in µs), averages in percent. */
function psiData(l: PsiLine) {
  return { Total: String(Math.round(l.totalUs) * 1000), Avg10: l.avg10, Avg60: l.avg60, Avg300: l.avg300 };
}

function psi(p: PressureFigures | undefined): PsiStats | undefined {
  if (!p) return undefined;
  const out: PsiStats = { Some: psiData(p.some) };
  if (p.full) out.Full = psiData(p.full);
  return out;
}

function cpuUsage(s: CgroupFigures): CpuUsage {
  const out: CpuUsage = { timestamp: s.timestampNs, usage_core_nano_seconds: u64(s.cpuUsageNs) };
  if (s.cpuNanoCores !== undefined) out.usage_nano_cores = u64(s.cpuNanoCores);
  const p = psi(s.pressure?.cpu);
  if (p) out.psi = p;
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
  const p = psi(s.pressure?.memory);
  if (p) out.psi = p;
  return out;
}

function netInterface(i: NetInterfaceFigures): NetworkInterfaceUsage {
  return { name: i.name, rx_bytes: u64(i.rxBytes), rx_errors: u64(i.rxErrors), tx_bytes: u64(i.txBytes), tx_errors: u64(i.txErrors) };
}

function networkUsage(n: PodNetworkFigures): NetworkUsage {
  const out: NetworkUsage = { timestamp: n.timestampNs, interfaces: n.interfaces.map(netInterface) };
  if (n.defaultInterface) out.default_interface = netInterface(n.defaultInterface);
  return out;
}

export function toCriContainerStats(v: ContainerStatsView): ContainerStats {
  const c = v.container;
  const out: ContainerStats = { attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels, annotations: c.config.annotations } };
  if (v.cgroup) {
    const s = v.cgroup;
    out.cpu = cpuUsage(s);
    out.memory = memoryUsage(s);
    const io = psi(s.pressure?.io);
    if (io) out.io = { timestamp: s.timestampNs, psi: io };
    if (s.swapUsageBytes !== undefined) {
      out.swap = { timestamp: s.timestampNs, swap_usage_bytes: u64(s.swapUsageBytes) };
      if (s.swapLimitBytes !== undefined) out.swap.swap_available_bytes = u64(s.swapLimitBytes - s.swapUsageBytes);
    }
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
  const linux = out.linux!;
  if (v.cgroup) {
    const s = v.cgroup;
    linux.cpu = cpuUsage(s);
    linux.memory = memoryUsage(s);
    linux.process = { timestamp: s.timestampNs, process_count: { value: String(s.processes) } };
    const io = psi(s.pressure?.io);
    if (io) linux.io = { timestamp: s.timestampNs, psi: io };
  }
  if (v.network) linux.network = networkUsage(v.network);
  return out;
}
