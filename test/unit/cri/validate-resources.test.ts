import t from 'tap';
import { InvalidArgumentError } from '../../../common/errors';
import type { LinuxContainerResources__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerResources';
import { hugepageSizeName, parseCpuList, validateResources, type CgroupHost } from '../../../src/cri/validate-resources';

const HOST: CgroupHost = { cgroupVersion: 1, onlineCpus: new Set([0, 1]), onlineMems: new Set([0]), hugepageSizes: new Set(['2MB']) };
const V2: CgroupHost = { ...HOST, cgroupVersion: 2 };

function res(over: Partial<LinuxContainerResources__Output> = {}): LinuxContainerResources__Output {
  return {
    cpu_period: '0',
    cpu_quota: '0',
    cpu_shares: '0',
    memory_limit_in_bytes: '0',
    oom_score_adj: '0',
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
    ...over,
  };
}

t.test('the kernel list format', async (t) => {
  t.same(parseCpuList('0'), [0]);
  t.same(parseCpuList('0-2,5'), [0, 1, 2, 5]);
  for (const bad of ['', 'a', '0-', '-1', '3-1', '0,,1', '0 1', '0\0', '0\n', '99999999999']) t.equal(parseCpuList(bad), undefined, JSON.stringify(bad));
});

t.test('huge page sizes as CRI names them', async (t) => {
  t.equal(hugepageSizeName('hugepages-2048kB'), '2MB');
  t.equal(hugepageSizeName('hugepages-1048576kB'), '1GB');
  t.equal(hugepageSizeName('hugepages-64kB'), '64KB');
  t.equal(hugepageSizeName('other'), undefined);
});

t.test('what kubelet sends passes', async (t) => {
  const ok: Partial<LinuxContainerResources__Output>[] = [
    {},
    { cpu_period: '100000', cpu_quota: '20000', cpu_shares: '1024', memory_limit_in_bytes: String(64 << 20), memory_swap_limit_in_bytes: String(64 << 20), oom_score_adj: '-997' },
    { cpu_quota: '-1', cpu_shares: '2', oom_score_adj: '1000', memory_limit_in_bytes: '-1' },
    { cpuset_cpus: '0-1', cpuset_mems: '0' },
    { hugepage_limits: [{ page_size: '2MB', limit: '0' }] },
  ];
  for (const o of ok) t.doesNotThrow(() => validateResources(res(o), 'linux', HOST), JSON.stringify(o));
  t.doesNotThrow(() => validateResources(res({ unified: { 'memory.high': '1000000', 'cpu.max': 'max 100000' } }), 'linux', V2), 'unified on a v2 host');
});

t.test('each value runc or the kernel would refuse is INVALID_ARGUMENT naming its field', async (t) => {
  const bad: [Partial<LinuxContainerResources__Output>, string, CgroupHost?][] = [
    [{ cpuset_cpus: 'eo8yyxaysu083z5ws\0p' }, 'linux.cpuset_cpus'],
    [{ cpuset_cpus: '9223372036854775808' }, 'linux.cpuset_cpus'],
    [{ cpuset_cpus: '2' }, 'linux.cpuset_cpus'],
    [{ cpuset_mems: '/'.repeat(70_000) }, 'linux.cpuset_mems'],
    [{ cpuset_mems: '1' }, 'linux.cpuset_mems'],
    [{ cpu_period: '999' }, 'linux.cpu_period'],
    [{ cpu_period: '-1' }, 'linux.cpu_period'],
    [{ cpu_quota: '999' }, 'linux.cpu_quota'],
    [{ cpu_quota: '9223372036854775807' }, 'linux.cpu_quota'],
    [{ cpu_shares: '1' }, 'linux.cpu_shares'],
    [{ cpu_shares: '262145' }, 'linux.cpu_shares'],
    [{ oom_score_adj: '8685' }, 'linux.oom_score_adj'],
    [{ memory_limit_in_bytes: '-2' }, 'linux.memory_limit_in_bytes'],
    [{ memory_limit_in_bytes: String(64 << 20), memory_swap_limit_in_bytes: String(32 << 20) }, 'linux.memory_swap_limit_in_bytes'],
    [{ hugepage_limits: [{ page_size: '3MB', limit: '1' }] }, 'linux.hugepage_limits[0].page_size'],
    [{ unified: { 'memory.high': '1' } }, 'linux.unified'],
    [{ unified: { '9223372036854775808': 'x' } }, 'linux.unified["9223372036854775808"]', V2],
    [{ unified: { '../cgroup.procs': '1' } }, 'linux.unified["../cgroup.procs"]', V2],
    [{ unified: { 'memory.high': '1\n2' } }, 'linux.unified["memory.high"]', V2],
  ];
  for (const [o, field, host] of bad) {
    t.throws(() => validateResources(res(o), 'linux', host ?? HOST), { constructor: InvalidArgumentError, field, message: /./ }, `${JSON.stringify(o).slice(0, 80)} → ${field}`);
  }
});
