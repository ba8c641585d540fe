// The cadvisor-compatible metrics kubelet asks for with
// PodAndContainerStatsFromCRI: same names, help and label keys as cadvisor's
// Prometheus endpoint, so dashboards keep working. A metric whose figure the
// host does not measure (PSI without pressure files, swap without swap
// accounting, block IO of a VM's guest) is left out, not sent as 0. Pods add
// cadvisor's network metrics (one series per interface, `interface` label)
// and, for a pod whose stats carry the hypervisor's own figures (a VM pod),
// vmpod's overhead metrics: docs/stats.md.

import type { Metric } from '../../generated/cri/runtime/v1/Metric';
import type { MetricDescriptor } from '../../generated/cri/runtime/v1/MetricDescriptor';
import type { NetInterfaceFigures, PodNetworkFigures } from '../../network/net-dev';
import type { CgroupStats } from '../../sandbox/controller';
import type { StatsExtras } from '../../sandbox/stats-extras';

export const METRIC_LABEL_KEYS = ['container', 'id', 'image', 'name', 'namespace', 'pod'];
/** cadvisor's network metrics carry the interface too. */
export const NETWORK_LABEL_KEYS = ['container', 'id', 'image', 'interface', 'name', 'namespace', 'pod'];

/** The figures a metric reads: a controller's stats with whatever extras it has. */
export interface MetricFigures extends CgroupStats, StatsExtras {}

interface MetricDef<T> {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE';
  /** undefined: not measured here, the metric is left out. */
  value(s: T): number | undefined;
}

const stallS = (us: number | undefined) => (us === undefined ? undefined : us / 1e6);

export const METRICS: MetricDef<MetricFigures>[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', type: 'COUNTER', value: (s) => s.cpuUsageNs / 1e9 },
  { name: 'container_cpu_user_seconds_total', help: 'Cumulative user cpu time consumed in seconds.', type: 'COUNTER', value: (s) => s.cpuUserNs / 1e9 },
  { name: 'container_cpu_system_seconds_total', help: 'Cumulative system cpu time consumed in seconds.', type: 'COUNTER', value: (s) => s.cpuSystemNs / 1e9 },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed', type: 'GAUGE', value: (s) => s.memoryUsageBytes },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', type: 'GAUGE', value: (s) => s.memoryWorkingSetBytes },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: 'GAUGE', value: (s) => s.memoryRssBytes },
  { name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures.', type: 'COUNTER', value: (s) => s.pageFaults },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', type: 'GAUGE', value: (s) => s.memoryLimitBytes },
  { name: 'container_processes', help: 'Number of processes running inside the container.', type: 'GAUGE', value: (s) => s.processes },
  { name: 'container_memory_swap', help: 'Container swap usage in bytes.', type: 'GAUGE', value: (s) => s.swapUsageBytes },
  { name: 'container_fs_reads_bytes_total', help: 'Cumulative count of bytes read (all block devices).', type: 'COUNTER', value: (s) => s.io?.readBytes },
  { name: 'container_fs_writes_bytes_total', help: 'Cumulative count of bytes written (all block devices).', type: 'COUNTER', value: (s) => s.io?.writeBytes },
  { name: 'container_fs_reads_total', help: 'Cumulative count of reads completed (all block devices).', type: 'COUNTER', value: (s) => s.io?.readOps },
  { name: 'container_fs_writes_total', help: 'Cumulative count of writes completed (all block devices).', type: 'COUNTER', value: (s) => s.io?.writeOps },
  {
    name: 'container_pressure_cpu_waiting_seconds_total',
    help: 'Total time duration tasks in the container have waited due to CPU congestion.',
    type: 'COUNTER',
    value: (s) => stallS(s.pressure?.cpu?.some.totalUs),
  },
  {
    name: 'container_pressure_cpu_stalled_seconds_total',
    help: 'Total time duration no tasks in the container could make progress due to CPU congestion.',
    type: 'COUNTER',
    value: (s) => stallS(s.pressure?.cpu?.full?.totalUs),
  },
  {
    name: 'container_pressure_memory_waiting_seconds_total',
    help: 'Total time duration tasks in the container have waited due to memory congestion.',
    type: 'COUNTER',
    value: (s) => stallS(s.pressure?.memory?.some.totalUs),
  },
  {
    name: 'container_pressure_memory_stalled_seconds_total',
    help: 'Total time duration no tasks in the container could make progress due to memory congestion.',
    type: 'COUNTER',
    value: (s) => stallS(s.pressure?.memory?.full?.totalUs),
  },
  {
    name: 'container_pressure_io_waiting_seconds_total',
    help: 'Total time duration tasks in the container have waited due to IO congestion.',
    type: 'COUNTER',
    value: (s) => stallS(s.pressure?.io?.some.totalUs),
  },
  {
    name: 'container_pressure_io_stalled_seconds_total',
    help: 'Total time duration no tasks in the container could make progress due to IO congestion.',
    type: 'COUNTER',
    value: (s) => stallS(s.pressure?.io?.full?.totalUs),
  },
  { name: 'container_last_seen', help: 'Last time a container was seen by the exporter', type: 'GAUGE', value: (s) => Number(BigInt(s.timestampNs) / 1_000_000_000n) },
];

export const NETWORK_METRICS: MetricDef<NetInterfaceFigures>[] = [
  { name: 'container_network_receive_bytes_total', help: 'Cumulative count of bytes received', type: 'COUNTER', value: (i) => i.rxBytes },
  { name: 'container_network_receive_errors_total', help: 'Cumulative count of errors encountered while receiving', type: 'COUNTER', value: (i) => i.rxErrors },
  { name: 'container_network_transmit_bytes_total', help: 'Cumulative count of bytes transmitted', type: 'COUNTER', value: (i) => i.txBytes },
  { name: 'container_network_transmit_errors_total', help: 'Cumulative count of errors encountered while transmitting', type: 'COUNTER', value: (i) => i.txErrors },
];

/** What a VM pod's hypervisor costs beside its guest. */
export interface OverheadFigures {
  vmm: NonNullable<StatsExtras['vmm']>;
  /** The hypervisor's RSS minus the working set of the guest's containers. */
  overheadMemoryBytes: number;
}

export const OVERHEAD_METRICS: MetricDef<OverheadFigures>[] = [
  {
    name: 'vmpod_vmm_memory_rss_bytes',
    help: "Resident memory of the pod's hypervisor process on the host (guest RAM the guest touched plus the VMM's own).",
    type: 'GAUGE',
    value: (o) => o.vmm.rssBytes,
  },
  { name: 'vmpod_vmm_memory_pss_bytes', help: "Proportional set size of the pod's hypervisor process (pages shared between VMs split between them).", type: 'GAUGE', value: (o) => o.vmm.pssBytes },
  { name: 'vmpod_vmm_cpu_seconds_total', help: "CPU time of the pod's hypervisor process, all threads (vCPUs included).", type: 'COUNTER', value: (o) => o.vmm.cpuNs / 1e9 },
  { name: 'vmpod_vmm_threads', help: "Threads of the pod's hypervisor process.", type: 'GAUGE', value: (o) => o.vmm.threads },
  {
    name: 'vmpod_pod_overhead_memory_bytes',
    help: "The pod's memory beyond its containers: hypervisor RSS minus the guest containers' working set (guest kernel, agent, page cache, VMM).",
    type: 'GAUGE',
    value: (o) => o.overheadMemoryBytes,
  },
];

function descriptors<T>(defs: MetricDef<T>[], keys: string[]): MetricDescriptor[] {
  return defs.map((m) => ({ name: m.name, help: m.help, label_keys: [...keys] }));
}

export function metricDescriptors(): MetricDescriptor[] {
  return [...descriptors(METRICS, METRIC_LABEL_KEYS), ...descriptors(NETWORK_METRICS, NETWORK_LABEL_KEYS), ...descriptors(OVERHEAD_METRICS, METRIC_LABEL_KEYS)];
}

/** Integer values only on the wire (UInt64Value): seconds counters are rounded down. */
function emit<T>(defs: MetricDef<T>[], s: T, timestampNs: string, labelValues: string[]): Metric[] {
  return defs.flatMap((m) => {
    const v = m.value(s);
    if (v === undefined || !Number.isFinite(v)) return [];
    return [{ name: m.name, timestamp: timestampNs, metric_type: m.type, label_values: labelValues, value: { value: String(Math.max(0, Math.floor(v))) } }];
  });
}

export function metricsOf(s: MetricFigures, labelValues: string[]): Metric[] {
  return emit(METRICS, s, s.timestampNs, labelValues);
}

/** One series per interface; `labelValues` in METRIC_LABEL_KEYS order, the interface is put in its place. */
export function networkMetricsOf(n: PodNetworkFigures, labelValues: string[]): Metric[] {
  return n.interfaces.flatMap((i) => emit(NETWORK_METRICS, i, n.timestampNs, [...labelValues.slice(0, 3), i.name, ...labelValues.slice(3)]));
}

/** The overhead metrics of a pod whose stats carry the hypervisor's figures; none for others. */
export function overheadMetricsOf(pod: MetricFigures, containers: readonly MetricFigures[], labelValues: string[]): Metric[] {
  if (!pod.vmm) return [];
  const guest = containers.reduce((sum, c) => sum + c.memoryWorkingSetBytes, 0);
  return emit(OVERHEAD_METRICS, { vmm: pod.vmm, overheadMemoryBytes: Math.max(0, pod.vmm.rssBytes - guest) }, pod.timestampNs, labelValues);
}
