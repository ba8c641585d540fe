// The cadvisor-compatible metrics kubelet asks for with
// PodAndContainerStatsFromCRI: same names, help and label keys as cadvisor's
// Prometheus endpoint, so dashboards keep working.

import type { Metric } from '../../generated/cri/runtime/v1/Metric';
import type { MetricDescriptor } from '../../generated/cri/runtime/v1/MetricDescriptor';
import type { CgroupStats } from '../../sandbox/controller';

export const METRIC_LABEL_KEYS = ['container', 'id', 'image', 'name', 'namespace', 'pod'];

interface MetricDef {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE';
  value(s: CgroupStats): number;
}

export const METRICS: MetricDef[] = [
  { name: 'container_cpu_usage_seconds_total', help: 'Cumulative cpu time consumed in seconds.', type: 'COUNTER', value: (s) => s.cpuUsageNs / 1e9 },
  { name: 'container_cpu_user_seconds_total', help: 'Cumulative user cpu time consumed in seconds.', type: 'COUNTER', value: (s) => s.cpuUserNs / 1e9 },
  { name: 'container_cpu_system_seconds_total', help: 'Cumulative system cpu time consumed in seconds.', type: 'COUNTER', value: (s) => s.cpuSystemNs / 1e9 },
  { name: 'container_memory_usage_bytes', help: 'Current memory usage in bytes, including all memory regardless of when it was accessed', type: 'GAUGE', value: (s) => s.memoryUsageBytes },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', type: 'GAUGE', value: (s) => s.memoryWorkingSetBytes },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: 'GAUGE', value: (s) => s.memoryRssBytes },
  { name: 'container_memory_failures_total', help: 'Cumulative count of memory allocation failures.', type: 'COUNTER', value: (s) => s.pageFaults },
  { name: 'container_spec_memory_limit_bytes', help: 'Memory limit for the container.', type: 'GAUGE', value: (s) => s.memoryLimitBytes },
  { name: 'container_processes', help: 'Number of processes running inside the container.', type: 'GAUGE', value: (s) => s.processes },
  { name: 'container_last_seen', help: 'Last time a container was seen by the exporter', type: 'GAUGE', value: (s) => Number(BigInt(s.timestampNs) / 1_000_000_000n) },
];

export function metricDescriptors(): MetricDescriptor[] {
  return METRICS.map((m) => ({ name: m.name, help: m.help, label_keys: [...METRIC_LABEL_KEYS] }));
}

/** Integer values only on the wire (UInt64Value): seconds counters are rounded down. */
export function metricsOf(s: CgroupStats, labelValues: string[]): Metric[] {
  return METRICS.map((m) => ({
    name: m.name,
    timestamp: s.timestampNs,
    metric_type: m.type,
    label_values: labelValues,
    value: { value: String(Math.max(0, Math.floor(m.value(s)))) },
  }));
}
