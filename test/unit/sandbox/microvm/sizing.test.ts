import t from 'tap';
import { ResourceExhaustedError } from '../../../../common/errors';
import { podCpuLimit, podMemoryLimitMib, vmSize, type PodResources } from '../../../../src/sandbox/microvm/sizing';

const MIB = 1024 * 1024;
const res = (cpu_quota: string, cpu_period: string, memory_limit_in_bytes: string): PodResources => ({ cpu_quota, cpu_period, memory_limit_in_bytes });

t.test('VM size from config defaults plus the pod limits', async (t) => {
  const cases: { desc: string; resources: PodResources | null; hostCpus?: number; want: { vcpus: number; memoryMib: number } }[] = [
    { desc: 'no resources: the defaults', resources: null, want: { vcpus: 1, memoryMib: 512 } },
    { desc: 'unset (zero) limits add nothing', resources: res('0', '0', '0'), want: { vcpus: 1, memoryMib: 512 } },
    { desc: 'quota -1 (unlimited) adds nothing', resources: res('-1', '100000', '0'), want: { vcpus: 1, memoryMib: 512 } },
    { desc: '1.5 CPUs round up to 2 extra vCPUs', resources: res('150000', '100000', '0'), want: { vcpus: 3, memoryMib: 512 } },
    { desc: 'quota without period uses the 100 ms default', resources: res('50000', '0', '0'), want: { vcpus: 2, memoryMib: 512 } },
    { desc: '256 MiB limit adds 256 MiB', resources: res('0', '0', String(256 * MIB)), want: { vcpus: 1, memoryMib: 768 } },
    { desc: 'odd byte limits round up to whole 2 MiB', resources: res('0', '0', String(100 * MIB + 1)), want: { vcpus: 1, memoryMib: 614 } },
    { desc: 'vCPUs capped at host CPUs', resources: res('800000', '100000', '0'), hostCpus: 2, want: { vcpus: 2, memoryMib: 512 } },
  ];
  for (const c of cases) {
    const got = vmSize({ baseVcpus: 1, baseMemoryMib: 512, resources: c.resources, hostCpus: c.hostCpus ?? 64, hostMemoryMib: 64 * 1024 });
    t.same({ vcpus: got.vcpus, memoryMib: got.memoryMib }, c.want, c.desc);
    t.type(got.explain, 'string', `${c.desc}: explained`);
  }
});

t.test('capping is explained', async (t) => {
  const got = vmSize({ baseVcpus: 1, baseMemoryMib: 512, resources: res('400000', '100000', '0'), hostCpus: 2, hostMemoryMib: 4096 });
  t.match(got.explain, /capped from 5 at the host's 2 CPUs/);
});

t.test('more memory than the host has is refused with the numbers', async (t) => {
  t.throws(() => vmSize({ baseVcpus: 1, baseMemoryMib: 512, resources: res('0', '0', String(4096 * MIB)), hostCpus: 2, hostMemoryMib: 2048 }), ResourceExhaustedError);
  try {
    vmSize({ baseVcpus: 1, baseMemoryMib: 512, resources: res('0', '0', String(4096 * MIB)), hostCpus: 2, hostMemoryMib: 2048 });
  } catch (e) {
    t.match((e as Error).message, /4608 MiB.*only 2048 MiB/);
  }
});

t.test('limit helpers', async (t) => {
  t.equal(podCpuLimit(undefined), 0, 'no resources: 0 CPUs');
  t.equal(podCpuLimit(res('100000', '100000', '0')), 1, 'quota = period: 1 CPU');
  t.equal(podMemoryLimitMib(res('0', '0', '1')), 1, 'one byte rounds up to 1 MiB');
  t.equal(podMemoryLimitMib(res('0', '0', 'garbage')), 0, 'unparseable limit: 0');
});
