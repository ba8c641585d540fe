import t from 'tap';
import { FailedPreconditionError } from '../../../../common/errors';
import { checkShrinkFits, resizeTarget, SHRINK_MARGIN_MIB, type ResizeTargetInput } from '../../../../src/sandbox/microvm/resize';

const MIB = 1024 * 1024;
const base = (over: Partial<ResizeTargetInput> = {}): ResizeTargetInput => ({
  podId: 'p1',
  baseVcpus: 1,
  baseMemoryMib: 512,
  hostCpus: 8,
  resources: null,
  now: { vcpus: 1, memoryMib: 512, maxVcpus: 8, maxMemoryMib: 1024, bootMemoryMib: 512 },
  ...over,
});
const res = (cpus: number, memMib: number) => ({ cpu_quota: String(cpus * 100_000), cpu_period: '100000', memory_limit_in_bytes: String(memMib * MIB) });

t.test('grow: the same arithmetic as at start', async (t) => {
  const r = resizeTarget(base({ resources: res(2, 256) }));
  t.equal(r.vcpus, 3);
  t.equal(r.memoryMib, 768);
  t.match(r.explain, /vcpus 1 -> 3, memory 512 -> 768 MiB/);
});

t.test('shrink back, never below the boot RAM', async (t) => {
  const now = { vcpus: 3, memoryMib: 768, maxVcpus: 8, maxMemoryMib: 1024, bootMemoryMib: 512 };
  t.same([resizeTarget(base({ now, resources: null })).vcpus, resizeTarget(base({ now, resources: null })).memoryMib], [1, 512]);
  const booted = { ...now, bootMemoryMib: 640 };
  const r = resizeTarget(base({ now: booted, resources: null }));
  t.equal(r.memoryMib, 640);
  t.match(r.explain, /kept at the 640 MiB the VM booted with/);
});

t.test('growOnly never shrinks', async (t) => {
  const now = { vcpus: 3, memoryMib: 768, maxVcpus: 8, maxMemoryMib: 1024, bootMemoryMib: 512 };
  const r = resizeTarget(base({ now, resources: res(1, 0), growOnly: true }));
  t.same([r.vcpus, r.memoryMib], [3, 768]);
  const g = resizeTarget(base({ now, resources: res(4, 384), growOnly: true }));
  t.same([g.vcpus, g.memoryMib], [5, 896]);
});

t.test('vCPUs are capped at the host CPUs, as at start', async (t) => {
  t.equal(resizeTarget(base({ hostCpus: 2, resources: res(6, 0) })).vcpus, 2);
});

t.test('beyond maxcpus or maxmem: FAILED_PRECONDITION naming pod, resource, limit', async (t) => {
  const now = { vcpus: 1, memoryMib: 512, maxVcpus: 2, maxMemoryMib: 1024, bootMemoryMib: 512 };
  t.throws(() => resizeTarget(base({ now, resources: res(3, 0) })), { name: 'FailedPreconditionError', message: /pod sandbox p1: cpu: .*4 vCPUs.*maxcpus 2/ });
  t.throws(() => resizeTarget(base({ now, resources: res(0, 600) })), { name: 'FailedPreconditionError', message: /pod sandbox p1: memory: .*1112 MiB VM.*1024 MiB \(maxmem headroom\)/ });
});

t.test('a VM without headroom: unchanged is fine, any change refused', async (t) => {
  const now = { vcpus: 1, memoryMib: 512, maxVcpus: 0, maxMemoryMib: 0, bootMemoryMib: 512 };
  t.same(resizeTarget(base({ now })).vcpus, 1);
  t.throws(() => resizeTarget(base({ now, resources: res(1, 0) })), FailedPreconditionError);
  t.throws(() => resizeTarget(base({ now, resources: res(1, 0) })), /without resize headroom/);
});

t.test('checkShrinkFits: refuses taking more than the guest has available less the margin', async (t) => {
  const guest = { totalKib: 768 * 1024, availableKib: 400 * 1024 };
  t.doesNotThrow(() => checkShrinkFits('p1', 768, 512, guest), 'a shrink of 256 MiB with 400 MiB available');
  t.doesNotThrow(() => checkShrinkFits('p1', 512, 768, guest));
  t.throws(() => checkShrinkFits('p1', 768, 512, { totalKib: 768 * 1024, availableKib: (256 + SHRINK_MARGIN_MIB - 1) * 1024 }), {
    name: 'FailedPreconditionError',
    message: /pod sandbox p1: memory: shrinking the VM from 768 to 512 MiB would take 256 MiB from a guest that uses \d+ MiB and has 319 MiB available/,
  });
});
