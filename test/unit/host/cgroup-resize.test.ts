import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupResizeOf, checkMemoryFits, resizeCgroup, resizeWrites, sharesToWeight } from '../../../src/host/cgroup-resize';

t.test('cgroupResizeOf: no quota or no memory lifts the limit', async (t) => {
  t.same(cgroupResizeOf({ cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: '1048576' }), {
    cpu: { quotaUs: 50000, periodUs: 100000 },
    memory: 1048576,
    cpuShares: 512,
  });
  t.same(cgroupResizeOf({ cpu_quota: '-1', memory_limit_in_bytes: '0' }), { cpu: 'max', memory: 'max' });
  t.same(cgroupResizeOf({ cpu_quota: '100' }).cpu, { quotaUs: 1000, periodUs: 100000 }, 'the kernel minimum quota');
});

t.test('sharesToWeight', async (t) => {
  t.equal(sharesToWeight(2), 1);
  t.equal(sharesToWeight(1024), 39);
  t.equal(sharesToWeight(262144), 10000);
});

t.test('resizeWrites v1: quota lifted before the period changes', async (t) => {
  t.same(resizeWrites('/vmpod/p', { cpuShares: 512, cpu: { quotaUs: 50000, periodUs: 50000 }, memory: 4096 }, 1, '/r'), [
    ['/r/cpu/vmpod/p/cpu.shares', '512'],
    ['/r/cpu/vmpod/p/cpu.cfs_quota_us', '-1'],
    ['/r/cpu/vmpod/p/cpu.cfs_period_us', '50000'],
    ['/r/cpu/vmpod/p/cpu.cfs_quota_us', '50000'],
    ['/r/memory/vmpod/p/memory.limit_in_bytes', '4096'],
  ]);
  t.same(resizeWrites('/vmpod/p', { cpu: 'max', memory: 'max' }, 1, '/r'), [
    ['/r/cpu/vmpod/p/cpu.cfs_quota_us', '-1'],
    ['/r/memory/vmpod/p/memory.limit_in_bytes', '-1'],
  ]);
});

t.test('resizeWrites v2', async (t) => {
  t.same(resizeWrites('/vmpod/p', { cpuShares: 1024, cpu: { quotaUs: 50000, periodUs: 100000 }, memory: 4096 }, 2, '/r'), [
    ['/r/vmpod/p/cpu.weight', '39'],
    ['/r/vmpod/p/cpu.max', '50000 100000'],
    ['/r/vmpod/p/memory.max', '4096'],
  ]);
  t.same(resizeWrites('/vmpod/p', { cpu: 'max', memory: 'max' }, 2, '/r'), [
    ['/r/vmpod/p/cpu.max', 'max'],
    ['/r/vmpod/p/memory.max', 'max'],
  ]);
});

t.test('checkMemoryFits', async (t) => {
  t.doesNotThrow(() => checkMemoryFits('pod p', 100, { cpu: 'max', memory: 'max' }));
  t.doesNotThrow(() => checkMemoryFits('pod p', 100, { cpu: 'max', memory: 100 }));
  t.throws(() => checkMemoryFits('pod p', 101, { cpu: 'max', memory: 100 }), { name: 'FailedPreconditionError', message: /pod p: memory limit 100 bytes is below the 101 bytes/ });
});

t.test('resizeCgroup on a fake v2 tree: refuses below usage, writes otherwise', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cg-resize-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'vmpod', 'p');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'memory.current'), '8192\n');
  writeFileSync(join(dir, 'memory.max'), 'max\n');
  await t.rejects(resizeCgroup('pod p', '/vmpod/p', { cpu: 'max', memory: 4096 }, 2, root), { name: 'FailedPreconditionError' });
  t.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), 'max\n', 'nothing written on refusal');
  await resizeCgroup('pod p', '/vmpod/p', { cpu: { quotaUs: 20000, periodUs: 100000 }, memory: 16384 }, 2, root);
  t.equal(readFileSync(join(dir, 'memory.max'), 'utf8'), '16384');
  t.equal(readFileSync(join(dir, 'cpu.max'), 'utf8'), '20000 100000');
});
