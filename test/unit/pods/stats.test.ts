// What the domain asks the controller about containers, through the handlers:
// the stats lists (only running containers; a container or pod whose stats
// cannot be read is left out instead of failing the node's list), the CPU
// samples behind usage_nano_cores (forgotten with their container or pod),
// and the refresh of a container whose process is gone.

import t from 'tap';
import { UnavailableError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import type { CgroupStats } from '../../../src/sandbox/controller';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const raw = {
  timestampNs: '1',
  cpuUsageNs: 1,
  cpuUserNs: 0,
  cpuSystemNs: 0,
  memoryUsageBytes: 10,
  memoryWorkingSetBytes: 10,
  memoryRssBytes: 10,
  memoryLimitBytes: 0,
  pageFaults: 0,
  majorPageFaults: 0,
  processes: 1,
};

t.test('stats lists: running containers only, unreadable ones left out', async (t) => {
  const state: Record<string, 'running' | 'created'> = { run1: 'running', run2: 'running', broken: 'running', made: 'created' };
  const { h, addPod, addContainer } = podFixture(t, {
    controller: {
      containerState: async (_sb, c) => ({ state: state[c.id], exitCode: 0, finishedAt: '0', oomKilled: false }),
      containerStats: async (_sb, c) => {
        if (c.id === 'broken') throw new UnavailableError('the guest agent did not answer');
        return raw;
      },
      sandboxStats: async (sb) => {
        if (sb.id === 'pod-b') throw new UnavailableError('the pod VM is going away');
        return raw;
      },
    },
  });
  addPod('pod-a');
  addPod('pod-b');
  addContainer('run1', 'pod-a', 'CONTAINER_RUNNING');
  addContainer('broken', 'pod-a', 'CONTAINER_RUNNING');
  addContainer('made', 'pod-a', 'CONTAINER_CREATED');
  addContainer('run2', 'pod-b', 'CONTAINER_RUNNING');

  const cs = (await h.ListContainerStats({ filter: null }, ctx)) as { stats: { attributes: { id: string } }[] };
  t.same(cs.stats.map((s) => s.attributes.id).sort(), ['run1', 'run2'], 'running containers only; the one whose stats failed is left out');
  const ps = (await h.ListPodSandboxStats({ filter: null }, ctx)) as { stats: { attributes: { id: string }; linux: { containers: { attributes: { id: string } }[] } }[] };
  t.same(
    ps.stats.map((s) => s.attributes.id),
    ['pod-a'],
    'the pod whose stats failed is left out, the other listed',
  );
  t.same(
    ps.stats[0].linux.containers.map((c) => c.attributes.id),
    ['run1'],
    'with its readable running containers',
  );
  const pm = (await h.ListPodSandboxMetrics({}, ctx)) as { pod_metrics: { pod_sandbox_id: string; container_metrics: { container_id: string }[] }[] };
  t.same(
    pm.pod_metrics.map((p) => [p.pod_sandbox_id, p.container_metrics.map((c) => c.container_id)]),
    [['pod-a', ['run1']]],
    'metrics leave out the same pod and container instead of failing',
  );
});

t.test('a created container whose process and runtime state are gone is EXITED, not created forever', async (t) => {
  const { h, addPod, addContainer } = podFixture(t, { controller: { containerState: async () => ({ state: 'unknown', exitCode: 255, finishedAt: '5', oomKilled: false }) } });
  addPod('pod-a');
  addContainer('lost', 'pod-a', 'CONTAINER_CREATED');
  const st = (await h.ContainerStatus({ container_id: 'lost' }, ctx)) as { status: { state: string; reason: string; message: string } };
  t.same([st.status.state, st.status.reason], ['CONTAINER_EXITED', 'Error'], 'exited with an error');
  t.match(st.status.message, /disappeared before it was started/, 'saying what happened');
});

// The CPU samples kept for usage_nano_cores go with their container or pod
// (they were kept forever, one per container the node ever ran).
t.test('usage_nano_cores needs two samples; remove forgets them', async (t) => {
  let n = 0;
  const sample = (): CgroupStats => ({ ...raw, timestampNs: String(++n * 1_000_000_000), cpuUsageNs: n * 500_000_000 });
  const { h, pods, addPod, addContainer } = podFixture(t, {
    controller: {
      containerStats: async () => sample(),
      sandboxStats: async () => sample(),
      containerState: async () => ({ state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false }),
      removeContainer: async () => undefined,
      stopSandbox: async () => undefined,
      removeSandbox: async () => undefined,
    },
  });
  addPod('pod1');
  addContainer('ctr1', 'pod1', 'CONTAINER_EXITED');
  const cores = async () => ((await h.ContainerStats({ container_id: 'ctr1' }, ctx)) as { stats: { cpu: { usage_nano_cores?: { value: string } } } }).stats.cpu.usage_nano_cores;
  t.equal(await cores(), undefined, 'first sample: no rate yet');
  t.same(await cores(), { value: '500000000' }, 'second: half a core');
  await h.PodSandboxStats({ pod_sandbox_id: 'pod1' }, ctx);
  t.same(pods.retained().cpuSamples, 2, 'one sample each for the container and the pod');
  await h.RemoveContainer({ container_id: 'ctr1' }, ctx);
  t.same(pods.retained().cpuSamples, 1, "the container's went with it");
  addContainer('ctr1', 'pod1', 'CONTAINER_EXITED');
  t.equal(await cores(), undefined, 'a new container of the same id starts without a rate');
  await h.RemovePodSandbox({ pod_sandbox_id: 'pod1' }, ctx);
  t.same(pods.retained(), { cpuSamples: 0, podLocks: 0, containerLocks: 0 }, 'nothing of the pod or its containers is kept');
});
