// `vmpod overhead`'s arithmetic (src/pods/overhead.ts): per pod, the
// hypervisor's RSS and CPU rate minus its guest's containers', the median
// and max over the pods, and the podFixed rounded up from the max.

import t from 'tap';
import { median, overheadReport, type OverheadSample } from '../../../src/pods/overhead';
import type { CgroupStats } from '../../../src/sandbox/controller';
import type { VmmFigures } from '../../../src/sandbox/stats-extras';
import type { ContainerRecord } from '../../../src/store/container';
import { readyPodRecord } from '../admin/records';

const MIB = 1024 * 1024;

function stats(cpuUsageNs: number, memoryWorkingSetBytes: number, vmm?: VmmFigures): CgroupStats & { vmm?: VmmFigures } {
  const s = {
    timestampNs: '1',
    cpuUsageNs,
    cpuUserNs: 0,
    cpuSystemNs: 0,
    memoryUsageBytes: memoryWorkingSetBytes,
    memoryWorkingSetBytes,
    memoryRssBytes: 0,
    memoryLimitBytes: 0,
    pageFaults: 0,
    majorPageFaults: 0,
    processes: 1,
  };
  return vmm ? { ...s, vmm } : s;
}

const vmm = (cpuNs: number, rssBytes: number): VmmFigures => ({ rssBytes, pssBytes: rssBytes / 2, cpuNs, cpuUserNs: cpuNs, cpuSystemNs: 0, threads: 9 });
const ctr = (id: string) => ({ id }) as ContainerRecord;

function sample(id: string, vmmCpuNs: number, rss: number, containers: [string, number, number][], withVmm = true): OverheadSample {
  return {
    pod: readyPodRecord(id, 'vm'),
    cgroup: stats(vmmCpuNs, rss, withVmm ? vmm(vmmCpuNs, rss) : undefined),
    containers: containers.map(([cid, cpu, ws]) => ({ container: ctr(cid), cgroup: stats(cpu, ws) })),
  };
}

t.test('median of odd, even and empty lists', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([]), 0);
});

t.test('one VM pod: memory is RSS minus the guest containers, CPU a rate minus theirs', async (t) => {
  // Over 1 s: QEMU used 300 ms of CPU, the container 200 ms → 100m overhead.
  const first = [sample('a1', 1_000_000_000, 200 * MIB, [['c1', 500_000_000, 10 * MIB]])];
  const second = [sample('a1', 1_300_000_000, 200 * MIB, [['c1', 700_000_000, 40 * MIB]])];
  const r = overheadReport(first, second, 1e9);
  t.equal(r.intervalMs, 1000);
  t.equal(r.pods.length, 1);
  const p = r.pods[0];
  t.equal(p.memoryBytes, 160 * MIB, 'RSS 200 Mi - working set 40 Mi (at the second reading)');
  t.equal(Math.round(p.vmmMillicores), 300);
  t.equal(Math.round(p.guestMillicores), 200);
  t.equal(Math.round(p.cpuMillicores), 100);
  t.equal(p.vmmThreads, 9);
  t.same(r.summary?.podFixed, { memory: '160Mi', cpu: '100m' });
});

t.test('several pods: median and max; podFixed from the max, rounded up', async (t) => {
  const first = [sample('a1', 0, 100 * MIB, []), sample('b2', 0, 150 * MIB, []), sample('c3', 0, 130.5 * MIB, [])];
  const second = [sample('a1', 10_000_000, 100 * MIB, []), sample('b2', 50_500_000, 150 * MIB, []), sample('c3', 20_000_000, 130.5 * MIB, [])];
  const r = overheadReport(first, second, 1e9);
  t.equal(r.summary?.memory.medianBytes, 130.5 * MIB);
  t.equal(r.summary?.memory.maxBytes, 150 * MIB);
  t.equal(Math.round(r.summary?.cpu.medianMillicores ?? -1), 20);
  t.same(r.summary?.podFixed, { memory: '150Mi', cpu: '51m' }, '50.5m rounds up to 51m');
});

t.test('pods without hypervisor figures (runc), or missing from a reading, are left out', async (t) => {
  const first = [sample('a1', 0, MIB, [], false), sample('b2', 0, MIB, [])];
  const second = [sample('a1', 5, MIB, [], false), sample('b2', 5, MIB, []), sample('c3', 5, MIB, [])];
  const r = overheadReport(first, second, 1e9);
  t.same(
    r.pods.map((p) => p.id),
    ['b2'],
  );
  const none = overheadReport([sample('a1', 0, MIB, [], false)], [sample('a1', 0, MIB, [], false)], 1e9);
  t.same(none.pods, []);
  t.equal(none.summary, undefined, 'no VM pod: no summary and no podFixed made up');
});

t.test('a container started between the readings adds no CPU delta; overhead is never negative', async (t) => {
  const first = [sample('a1', 0, 10 * MIB, [])];
  const second = [sample('a1', 100_000_000, 10 * MIB, [['new', 900_000_000, 50 * MIB]])];
  const p = overheadReport(first, second, 1e9).pods[0];
  t.equal(p.guestMillicores, 0);
  t.equal(Math.round(p.cpuMillicores), 100);
  t.equal(p.memoryBytes, 0, 'working set above RSS (shared pages) → 0, not negative');
});
