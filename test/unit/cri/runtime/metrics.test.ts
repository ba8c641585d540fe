// ListPodSandboxMetrics' figures (src/cri/runtime/metrics.ts): what is not
// measured is left out; network series carry their interface; the overhead
// metrics exist only for stats with hypervisor figures.

import type { Long } from '@grpc/proto-loader';
import t from 'tap';
import { METRIC_LABEL_KEYS, metricDescriptors, metricsOf, NETWORK_LABEL_KEYS, networkMetricsOf, overheadMetricsOf, type MetricFigures } from '../../../../src/cri/runtime/metrics';

const base: MetricFigures = {
  timestampNs: '5000000000',
  cpuUsageNs: 2.5e9,
  cpuUserNs: 0,
  cpuSystemNs: 0,
  memoryUsageBytes: 100,
  memoryWorkingSetBytes: 80,
  memoryRssBytes: 50,
  memoryLimitBytes: 0,
  pageFaults: 1,
  majorPageFaults: 0,
  processes: 2,
};
const labels = ['POD', 'id1', '', 'id1', 'ns', 'pod'];
const byName = (ms: { name?: string; value?: { value?: number | string | Long } | null }[]): Record<string, string> => Object.fromEntries(ms.map((m) => [m.name ?? '', String(m.value?.value)]));

t.test('descriptors: every metric once, network ones with the interface label', async (t) => {
  const d = metricDescriptors();
  t.equal(new Set(d.map((x) => x.name)).size, d.length, 'no name twice');
  t.same(d.find((x) => x.name === 'container_network_receive_bytes_total')?.label_keys, NETWORK_LABEL_KEYS);
  t.same(d.find((x) => x.name === 'vmpod_vmm_memory_rss_bytes')?.label_keys, METRIC_LABEL_KEYS);
  t.same(d.find((x) => x.name === 'container_cpu_usage_seconds_total')?.label_keys, METRIC_LABEL_KEYS);
});

t.test('IO, PSI and swap only when measured', async (t) => {
  const plain = byName(metricsOf(base, labels));
  t.equal(plain.container_cpu_usage_seconds_total, '2', 'seconds rounded down');
  t.notOk('container_fs_reads_bytes_total' in plain, 'no IO figures: no IO metric');
  t.notOk('container_pressure_cpu_waiting_seconds_total' in plain);
  t.notOk('container_memory_swap' in plain);
  const full = byName(
    metricsOf(
      {
        ...base,
        io: { readBytes: 4096, writeBytes: 8192, readOps: 1, writeOps: 2 },
        pressure: {
          cpu: { some: { totalUs: 3_500_000, avg10: 0, avg60: 0, avg300: 0 } },
          io: { some: { totalUs: 0, avg10: 0, avg60: 0, avg300: 0 }, full: { totalUs: 2_000_000, avg10: 0, avg60: 0, avg300: 0 } },
        },
        swapUsageBytes: 0,
      },
      labels,
    ),
  );
  t.equal(full.container_fs_reads_bytes_total, '4096');
  t.equal(full.container_fs_writes_total, '2');
  t.equal(full.container_pressure_cpu_waiting_seconds_total, '3');
  t.notOk('container_pressure_cpu_stalled_seconds_total' in full, 'cpu full not reported: left out');
  t.equal(full.container_pressure_io_stalled_seconds_total, '2');
  t.notOk('container_pressure_memory_waiting_seconds_total' in full);
  t.equal(full.container_memory_swap, '0', 'a measured zero is sent');
});

t.test('network: one series per interface, the interface in its label slot', async (t) => {
  const ms = networkMetricsOf(
    {
      timestampNs: '9',
      interfaces: [
        { name: 'eth0', rxBytes: 10, rxErrors: 0, txBytes: 20, txErrors: 1 },
        { name: 'net1', rxBytes: 1, rxErrors: 0, txBytes: 2, txErrors: 0 },
      ],
    },
    labels,
  );
  t.equal(ms.length, 8);
  const rx = ms.filter((m) => m.name === 'container_network_receive_bytes_total');
  t.same(
    rx.map((m) => [m.label_values, m.value?.value]),
    [
      [['POD', 'id1', '', 'eth0', 'id1', 'ns', 'pod'], '10'],
      [['POD', 'id1', '', 'net1', 'id1', 'ns', 'pod'], '1'],
    ],
  );
  t.equal(ms[0].timestamp, '9');
});

t.test('overhead metrics: hypervisor figures and RSS minus the guest containers; none without them', async (t) => {
  t.same(overheadMetricsOf(base, [], labels), [], 'a runc pod has none');
  const pod = { ...base, vmm: { rssBytes: 300, pssBytes: 200, cpuNs: 7.9e9, cpuUserNs: 0, cpuSystemNs: 0, threads: 12 } };
  const m = byName(
    overheadMetricsOf(
      pod,
      [
        { ...base, memoryWorkingSetBytes: 120 },
        { ...base, memoryWorkingSetBytes: 30 },
      ],
      labels,
    ),
  );
  t.same(m, { vmpod_vmm_memory_rss_bytes: '300', vmpod_vmm_memory_pss_bytes: '200', vmpod_vmm_cpu_seconds_total: '7', vmpod_vmm_threads: '12', vmpod_pod_overhead_memory_bytes: '150' });
  const noThreads = byName(overheadMetricsOf({ ...base, vmm: { rssBytes: 1, pssBytes: 1, cpuNs: 0, cpuUserNs: 0, cpuSystemNs: 0 } }, [], labels));
  t.notOk('vmpod_vmm_threads' in noThreads, 'thread count not read: left out');
});
