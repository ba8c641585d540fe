// The CPU samples kept for usage_nano_cores go with their container or pod
// (they were kept forever, one per container the node ever ran).

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../../../src/config/defaults';
import { silentLogger } from '../../../../src/log';
import type { CallContext } from '../../../../src/cri/handler';
import type { RuntimeDeps } from '../../../../src/cri/runtime/deps';
import { hasCpuSample, podCpuKey } from '../../../../src/cri/runtime/cpu-samples';
import { lifecycleHandlers } from '../../../../src/cri/runtime/lifecycle';
import { cpuUsage } from '../../../../src/cri/runtime/stats-common';
import type { CgroupStats } from '../../../../src/sandbox/controller';
import { createContainerStore, type ContainerRecord } from '../../../../src/store/container';
import { createSandboxStore } from '../../../../src/store/sandbox';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../../src/generated/cri/runtime/v1/PodSandboxConfig';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const sample: CgroupStats = {
  timestampNs: '1000', cpuUsageNs: 5, cpuUserNs: 3, cpuSystemNs: 2, memoryUsageBytes: 0, memoryWorkingSetBytes: 0,
  memoryRssBytes: 0, memoryLimitBytes: 0, pageFaults: 0, majorPageFaults: 0, processes: 1,
};

const dir = mkdtempSync(join(tmpdir(), 'vmpod-cpu-samples-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const sandboxes = createSandboxStore(join(dir, 'sandboxes'), silentLogger);
const containers = createContainerStore(join(dir, 'containers'), silentLogger);
sandboxes.load();
containers.load();
const deps: RuntimeDeps = {
  config: defaultConfig(), log: silentLogger, sandboxes, containers,
  images: { resolve: () => { throw new Error('not used'); }, prepareRootfs: async () => { throw new Error('not used'); }, mountRootfs: async () => { throw new Error('not used'); }, releaseRootfs: async () => undefined },
  network: { setup: async () => { throw new Error('not used'); }, teardown: async () => undefined },
  controllers: new Map(),
};
const h = lifecycleHandlers(deps);

function addPod(id: string): void {
  sandboxes.create({
    id, config: { metadata: { name: id, namespace: 'ns', uid: id, attempt: 0 }, labels: {}, annotations: {} } as unknown as PodSandboxConfig__Output,
    handler: 'runc', handlerType: 'runc', routeReason: 'test', createdAt: '1', namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
    state: 'SANDBOX_READY', creating: false, netnsPath: '', ip: '', additionalIps: [], runtime: null,
  });
}

function addContainer(id: string, pod: string): void {
  containers.create({
    id, podSandboxId: pod, config: { labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output, image: 'i', imageId: 'i', imageRef: 'i',
    logPath: '', stopSignal: 15, createdAt: '1', startedAt: '0', finishedAt: '0', state: 'CONTAINER_EXITED', exitCode: 0, reason: '', message: '',
    resources: null, rootfs: '', upperDir: '', runtime: null,
  } as ContainerRecord);
}

t.test('RemoveContainer forgets the container sample', async (t) => {
  addPod('pod1');
  addContainer('ctr1', 'pod1');
  cpuUsage('ctr1', sample);
  t.ok(hasCpuSample('ctr1'), 'sample kept while the container exists');
  await h.RemoveContainer!({ container_id: 'ctr1' }, ctx);
  t.notOk(hasCpuSample('ctr1'), 'sample gone with the container');
});

t.test('RemovePodSandbox forgets the pod sample and its containers\'', async (t) => {
  addPod('pod2');
  addContainer('ctr2', 'pod2');
  cpuUsage('ctr2', sample);
  cpuUsage(podCpuKey('pod2'), sample);
  await h.RemovePodSandbox!({ pod_sandbox_id: 'pod2' }, ctx);
  t.notOk(hasCpuSample('ctr2'), 'container sample gone');
  t.notOk(hasCpuSample(podCpuKey('pod2')), 'pod sample gone');
});
