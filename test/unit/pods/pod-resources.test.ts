import t from 'tap';
import { FailedPreconditionError } from '../../../common/errors';
import type { CallContext } from '../../../src/cri/handler';
import type { LinuxContainerResources__Output } from '../../../src/generated/cri/runtime/v1/LinuxContainerResources';
import { silentLogger } from '../../../src/log';
import { sumLimits } from '../../../src/pods/pod-resources';
import type { PodResourcesUpdate } from '../../../src/sandbox/controller';
import { podFixture } from './fixture';

const MIB = 1024 * 1024;

t.test('sumLimits: quotas over one period, memory added, unlimited adds nothing', async (t) => {
  t.same(
    sumLimits([
      { cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: String(128 * MIB) },
      { cpu_quota: '25000', cpu_period: '50000', memory_limit_in_bytes: '0' },
      null,
      { cpu_quota: '-1', cpu_period: '100000', memory_limit_in_bytes: String(64 * MIB) },
    ]),
    { cpu_quota: '100000', cpu_period: '100000', memory_limit_in_bytes: String(192 * MIB) },
  );
  t.same(sumLimits([]), { cpu_quota: '0', cpu_period: '100000', memory_limit_in_bytes: '0' });
});

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const res = (quota: number, memMib: number): LinuxContainerResources__Output => ({
  cpu_period: '100000',
  cpu_quota: String(quota),
  cpu_shares: '0',
  memory_limit_in_bytes: String(memMib * MIB),
  oom_score_adj: '0',
  cpuset_cpus: '',
  cpuset_mems: '',
  hugepage_limits: [],
  unified: {},
  memory_swap_limit_in_bytes: '0',
});

t.test('UpdatePodSandboxResources: the controller resizes, the record keeps what is in force', async (t) => {
  const calls: PodResourcesUpdate[] = [];
  const f = podFixture(t, {
    controller: {
      updateSandboxResources: async (_sb, u) => {
        calls.push(u);
      },
    },
  });
  f.addPod('p1');
  t.same(await f.h.UpdatePodSandboxResources({ pod_sandbox_id: 'p1', resources: res(50000, 64), overhead: null }, ctx), {});
  t.equal(calls.length, 1);
  t.equal(calls[0].growOnly, undefined, 'a pod resize is not growOnly');
  t.equal(f.sandboxes.get('p1')?.config.linux?.resources?.memory_limit_in_bytes, String(64 * MIB), 'the pod record keeps the resources in force');
});

t.test('UpdatePodSandboxResources: a failed resize leaves the record as it was', async (t) => {
  const f = podFixture(t, {
    controller: {
      updateSandboxResources: async () => {
        throw new FailedPreconditionError('pod sandbox p1: memory: beyond');
      },
    },
  });
  f.addPod('p1');
  await t.rejects(f.h.UpdatePodSandboxResources({ pod_sandbox_id: 'p1', resources: res(0, 4096), overhead: null }, ctx), FailedPreconditionError);
  t.equal(f.sandboxes.get('p1')?.config.linux, undefined, 'nothing recorded');
});

t.test('UpdatePodSandboxResources: UNIMPLEMENTED for a handler that cannot resize, naming the pod', async (t) => {
  const f = podFixture(t);
  f.addPod('p1');
  await t.rejects(f.h.UpdatePodSandboxResources({ pod_sandbox_id: 'p1', resources: res(0, 64), overhead: null }, ctx), { name: 'UnimplementedError', message: /pod sandbox p1/ });
});

t.test('UpdateContainerResources grows the pod first, for the sum of its running containers', async (t) => {
  const order: string[] = [];
  let grow: PodResourcesUpdate | undefined;
  const f = podFixture(t, {
    controller: {
      containerState: async () => ({ state: 'running' }) as never,
      updateSandboxResources: async (_sb, u) => {
        order.push('pod');
        grow = u;
      },
      updateContainer: async () => {
        order.push('container');
      },
    },
  });
  f.addPod('p1');
  f.addContainer('c1', 'p1', 'CONTAINER_RUNNING');
  f.addContainer('c2', 'p1', 'CONTAINER_RUNNING');
  f.containers.update('c2', (r) => ({ ...r, resources: res(100000, 128) }));
  await f.h.UpdateContainerResources({ container_id: 'c1', linux: res(50000, 64) }, ctx);
  t.same(order, ['pod', 'container'], 'the pod grows before the container is allowed more');
  t.equal(grow?.growOnly, true, 'and only grows');
  t.equal(grow?.resources?.memory_limit_in_bytes, String(192 * MIB), 'for the sum of the containers');
  t.equal(grow?.resources?.cpu_quota, '150000');
});
