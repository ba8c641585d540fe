import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../../common/errors';
import { createVmCgroup, DEFAULT_VM_OOM_SCORE_ADJ, limitWrites, removeVmCgroup, vmCgroupLayout, vmCgroupLimits, vmCgroupPaths, vmOomScoreAdj, VMM_OVERHEAD_MIB } from '../../../src/host/vm-cgroup';

const MIB = 1024 * 1024;

t.test('the VM cgroup sits under the sandbox config cgroup_parent, or /vmpod', async (t) => {
  t.same(vmCgroupPaths('/kubepods/burstable/pod123', 'abc'), { pod: '/kubepods/burstable/pod123/vmpod-abc', leaf: '/kubepods/burstable/pod123/vmpod-abc/vmm' }, 'kubelet parent');
  t.same(vmCgroupPaths('', 'abc'), { pod: '/vmpod/vmpod-abc', leaf: '/vmpod/vmpod-abc/vmm' }, 'no parent: /vmpod');
  t.same(vmCgroupPaths('kubepods/', 'abc').pod, '/kubepods/vmpod-abc', 'relative parent made absolute');
  t.throws(() => vmCgroupPaths('/kubepods/../etc', 'abc'), InvalidArgumentError, '.. refused');
  t.throws(() => vmCgroupPaths('/kubepods', 'a/b'), InvalidArgumentError, 'an id with a slash refused');
});

t.test('limits: CPU quota from the pod (plus overhead), memory = guest + VMM overhead', async (t) => {
  const cases: Array<[string, Parameters<typeof vmCgroupLimits>[0], ReturnType<typeof vmCgroupLimits>]> = [
    ['no CPU limit: no quota', { resources: null, guestMemoryMib: 256, accel: 'tcg' }, { memoryBytes: (256 + VMM_OVERHEAD_MIB.tcg) * MIB }],
    [
      '0.1 CPU',
      { resources: { cpu_quota: '10000', cpu_period: '100000' }, guestMemoryMib: 256, accel: 'kvm' },
      { cpu: { quotaUs: 10000, periodUs: 100000 }, memoryBytes: (256 + VMM_OVERHEAD_MIB.kvm) * MIB },
    ],
    [
      'quota without period: the CFS default',
      { resources: { cpu_quota: 50000 }, guestMemoryMib: 128, accel: 'kvm' },
      { cpu: { quotaUs: 50000, periodUs: 100000 }, memoryBytes: (128 + VMM_OVERHEAD_MIB.kvm) * MIB },
    ],
    [
      'overhead quota rescaled to the pod period',
      { resources: { cpu_quota: '20000', cpu_period: '50000' }, overhead: { cpu_quota: '10000', cpu_period: '100000' }, guestMemoryMib: 128, accel: 'tcg' },
      { cpu: { quotaUs: 25000, periodUs: 50000 }, memoryBytes: (128 + VMM_OVERHEAD_MIB.tcg) * MIB },
    ],
    ['unlimited (-1): no quota', { resources: { cpu_quota: '-1' }, guestMemoryMib: 128, accel: 'kvm' }, { memoryBytes: (128 + VMM_OVERHEAD_MIB.kvm) * MIB }],
    [
      'a quota under 1 ms is raised to what the kernel takes',
      { resources: { cpu_quota: '500', cpu_period: '100000' }, guestMemoryMib: 128, accel: 'kvm' },
      { cpu: { quotaUs: 1000, periodUs: 100000 }, memoryBytes: (128 + VMM_OVERHEAD_MIB.kvm) * MIB },
    ],
  ];
  for (const [desc, input, want] of cases) t.same(vmCgroupLimits(input), want, desc);
});

t.test('oom_score_adj: the pod asks, the default is burstable-like, never below the daemon', async (t) => {
  t.same(vmOomScoreAdj(undefined, -999), { value: DEFAULT_VM_OOM_SCORE_ADJ, raised: false }, 'default above a -999 daemon');
  t.same(vmOomScoreAdj(0, 0), { value: DEFAULT_VM_OOM_SCORE_ADJ, raised: false }, 'proto3 0 is unset');
  t.same(vmOomScoreAdj(800, 0), { value: 800, raised: false }, 'the pod value');
  t.same(vmOomScoreAdj(-500, 0), { value: 0, raised: true }, 'below the daemon: the daemon value, flagged');
  t.same(vmOomScoreAdj(5000, 0), { value: 1000, raised: false }, 'capped at 1000');
});

t.test('limit files per cgroup version', async (t) => {
  const lim = { cpu: { quotaUs: 10000, periodUs: 100000 }, memoryBytes: 5 * MIB };
  t.same(
    limitWrites('/vmpod/vmpod-a', lim, 2, '/cg'),
    [
      ['/cg/vmpod/vmpod-a/cpu.max', '10000 100000'],
      ['/cg/vmpod/vmpod-a/memory.max', String(5 * MIB)],
    ],
    'v2: cpu.max and memory.max',
  );
  t.same(
    limitWrites('/vmpod/vmpod-a', lim, 1, '/cg'),
    [
      ['/cg/cpu/vmpod/vmpod-a/cpu.cfs_period_us', '100000'],
      ['/cg/cpu/vmpod/vmpod-a/cpu.cfs_quota_us', '10000'],
      ['/cg/memory/vmpod/vmpod-a/memory.limit_in_bytes', String(5 * MIB)],
    ],
    'v1: period before quota, memory limit',
  );
  t.same(limitWrites('/p', { memoryBytes: 1 }, 2, '/cg'), [['/cg/p/memory.max', '1']], 'no CPU limit: no cpu.max write');
  const layout = vmCgroupLayout(vmCgroupPaths('', 'a'), 1, '/cg');
  t.same(
    layout.procsFiles,
    ['/cg/cpu/vmpod/vmpod-a/vmm/cgroup.procs', '/cg/cpuacct/vmpod/vmpod-a/vmm/cgroup.procs', '/cg/memory/vmpod/vmpod-a/vmm/cgroup.procs', '/cg/pids/vmpod/vmpod-a/vmm/cgroup.procs'],
    'v1: QEMU joins four hierarchies',
  );
  t.equal(layout.dirs[0], '/cg/cpu/vmpod/vmpod-a/vmm', 'leaves come first, the order to remove them');
  t.equal(layout.dirs.at(-1), '/cg/pids/vmpod/vmpod-a');
});

t.test('create writes the limits; a failure half-way removes what it made; remove is idempotent', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vmpod-cg-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const lim = { cpu: { quotaUs: 10000, periodUs: 100000 }, memoryBytes: 5 * MIB };
  const cg = await createVmCgroup(vmCgroupPaths('/kp', 'a'), lim, 2, root);
  t.equal(readFileSync(join(root, 'kp/vmpod-a/cpu.max'), 'utf8'), '10000 100000');
  t.ok(existsSync(join(root, 'kp/vmpod-a/vmm')), 'the leaf exists');
  // A plain dir stands in for cgroupfs: the limit files must go before rmdir works there.
  rmSync(join(root, 'kp/vmpod-a/cpu.max'));
  rmSync(join(root, 'kp/vmpod-a/memory.max'));
  await removeVmCgroup(cg.dirs);
  t.notOk(existsSync(join(root, 'kp/vmpod-a')), 'removed');
  t.ok(existsSync(join(root, 'kp')), "the parent (kubelet's) stays");
  await removeVmCgroup(cg.dirs);
  t.pass('a second remove is fine');

  // memory.max a directory: the write fails after the dirs were made.
  mkdirSync(join(root, 'kp/vmpod-b/memory.max'), { recursive: true });
  const err = await createVmCgroup(vmCgroupPaths('/kp', 'b'), { memoryBytes: 1 }, 2, root).catch((e: unknown) => e as Error);
  t.match(err, { message: /memory\.max/ }, 'the error names the file');
  t.notOk(existsSync(join(root, 'kp/vmpod-b/vmm')), 'the leaf made before the failure is gone');
});
