// Stats views → CRI messages (src/cri/runtime/stats-to-cri.ts): network,
// PSI and swap appear when measured and are absent, not 0, when not.

import t from 'tap';
import { toCriContainerStats, toCriPodSandboxStats } from '../../../../src/cri/runtime/stats-to-cri';
import type { CgroupFigures, ContainerStatsView } from '../../../../src/pods/stats';
import { newContainerRecord } from '../../../../src/store/container';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import { readyPodRecord } from '../../admin/records';

const base: CgroupFigures = {
  timestampNs: '1000',
  cpuUsageNs: 5,
  cpuUserNs: 3,
  cpuSystemNs: 2,
  memoryUsageBytes: 100,
  memoryWorkingSetBytes: 80,
  memoryRssBytes: 50,
  memoryLimitBytes: 0,
  pageFaults: 1,
  majorPageFaults: 0,
  processes: 2,
};
const psiLine = { totalUs: 1500, avg10: 1.5, avg60: 0.5, avg300: 0.1 };

function containerView(cgroup: CgroupFigures): ContainerStatsView {
  const c = newContainerRecord({
    id: 'c1',
    podSandboxId: 'p1',
    config: { metadata: { name: 'app', attempt: 0 }, labels: {}, annotations: {} } as unknown as ContainerConfig__Output,
    image: 'img',
    imageRef: 'ref',
    createdAt: '1',
    logPath: '',
  } as Parameters<typeof newContainerRecord>[0]);
  return { container: c, cgroup };
}

t.test('a container with PSI and swap: cpu, memory and io PSI in ns, swap with what is left', async (t) => {
  const s = toCriContainerStats(
    containerView({ ...base, pressure: { cpu: { some: psiLine }, memory: { some: psiLine, full: psiLine }, io: { some: psiLine, full: psiLine } }, swapUsageBytes: 10, swapLimitBytes: 30 }),
  );
  t.same(s.cpu?.psi, { Some: { Total: '1500000', Avg10: 1.5, Avg60: 0.5, Avg300: 0.1 } }, 'cpu: some only, total µs → ns');
  t.same(s.memory?.psi?.Full, { Total: '1500000', Avg10: 1.5, Avg60: 0.5, Avg300: 0.1 });
  t.ok(s.io?.psi?.Some, 'io PSI');
  t.same(s.swap, { timestamp: '1000', swap_usage_bytes: { value: '10' }, swap_available_bytes: { value: '20' } });
});

t.test('what is not measured is absent, not 0', async (t) => {
  const s = toCriContainerStats(containerView(base));
  t.equal(s.cpu?.psi, undefined);
  t.equal(s.memory?.psi, undefined);
  t.equal(s.io, undefined);
  t.equal(s.swap, undefined);
  const noLimit = toCriContainerStats(containerView({ ...base, swapUsageBytes: 0 }));
  t.same(noLimit.swap, { timestamp: '1000', swap_usage_bytes: { value: '0' } }, 'swap accounted, no limit: usage only');
});

t.test('a pod: network with eth0 as the default interface; no network when unread', async (t) => {
  const eth0 = { name: 'eth0', rxBytes: 1000, rxErrors: 1, txBytes: 2000, txErrors: 2 };
  const net1 = { name: 'net1', rxBytes: 5, rxErrors: 0, txBytes: 6, txErrors: 0 };
  const s = toCriPodSandboxStats({ pod: readyPodRecord('p1', 'runc'), cgroup: base, containers: [], network: { timestampNs: '7', defaultInterface: eth0, interfaces: [eth0, net1] } });
  t.same(s.linux?.network, {
    timestamp: '7',
    default_interface: { name: 'eth0', rx_bytes: { value: '1000' }, rx_errors: { value: '1' }, tx_bytes: { value: '2000' }, tx_errors: { value: '2' } },
    interfaces: [
      { name: 'eth0', rx_bytes: { value: '1000' }, rx_errors: { value: '1' }, tx_bytes: { value: '2000' }, tx_errors: { value: '2' } },
      { name: 'net1', rx_bytes: { value: '5' }, rx_errors: { value: '0' }, tx_bytes: { value: '6' }, tx_errors: { value: '0' } },
    ],
  });
  t.equal(s.linux?.process?.process_count?.value, '2');
  const none = toCriPodSandboxStats({ pod: readyPodRecord('p1', 'runc'), cgroup: null, containers: [] });
  t.equal(none.linux?.network, undefined);
  t.equal(none.linux?.cpu, undefined);
});
