// ListContainerStats / ListPodSandboxStats over real record stores and a fake
// controller: only running containers are listed, and a container or pod
// whose stats cannot be read is left out instead of failing the node's list.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../../../src/config/defaults';
import { UnavailableError } from '../../../../src/errors';
import { silentLogger } from '../../../../src/log';
import type { CallContext } from '../../../../src/cri/handler';
import type { RuntimeDeps } from '../../../../src/cri/runtime/deps';
import { lifecycleHandlers } from '../../../../src/cri/runtime/lifecycle';
import { createContainerStore, type ContainerRecord } from '../../../../src/store/container';
import { createSandboxStore } from '../../../../src/store/sandbox';
import type { SandboxController } from '../../../../src/sandbox/controller';
import type { PodSandboxConfig__Output } from '../../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };
const raw = { timestampNs: '1', cpuUsageNs: 1, cpuUserNs: 0, cpuSystemNs: 0, memoryUsageBytes: 10, memoryWorkingSetBytes: 10, memoryRssBytes: 10, memoryLimitBytes: 0, pageFaults: 0, majorPageFaults: 0, processes: 1 };

t.test('stats lists: running containers only, unreadable ones left out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-stats-list-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sandboxes = createSandboxStore(join(dir, 's'), silentLogger);
  const containers = createContainerStore(join(dir, 'c'), silentLogger);
  sandboxes.load();
  containers.load();
  const state: Record<string, 'running' | 'created'> = { run1: 'running', run2: 'running', broken: 'running', made: 'created' };
  const ctl = {
    containerState: async (_sb: unknown, c: { id: string }) => ({ state: state[c.id], pid: 1, exitCode: 0, finishedAt: '0', oomKilled: false }),
    containerStats: async (_sb: unknown, c: { id: string }) => {
      if (c.id === 'broken') throw new UnavailableError('the guest agent did not answer');
      return raw;
    },
    sandboxStats: async (sb: { id: string }) => {
      if (sb.id === 'pod-b') throw new UnavailableError('the pod VM is going away');
      return raw;
    },
  } as unknown as SandboxController;
  const deps: RuntimeDeps = {
    config: defaultConfig(), log: silentLogger, sandboxes, containers,
    images: {} as RuntimeDeps['images'], network: {} as RuntimeDeps['network'],
    controllers: new Map([['runc', ctl]]),
  };
  for (const id of ['pod-a', 'pod-b']) {
    sandboxes.create({
      id, config: { metadata: { name: id, namespace: 'ns', uid: id, attempt: 0 }, labels: {}, annotations: {} } as unknown as PodSandboxConfig__Output,
      handler: 'runc', handlerType: 'runc', routeReason: 'test', createdAt: '1', namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      state: 'SANDBOX_READY', creating: false, netnsPath: '', ip: '', additionalIps: [], runtime: { type: 'runc' } as unknown as NonNullable<ReturnType<typeof sandboxes.get>>['runtime'],
    });
  }
  const add = (id: string, pod: string, st: ContainerRecord['state']) => containers.create({
    id, podSandboxId: pod, config: { metadata: { name: id, attempt: 0 }, labels: {}, annotations: {} } as unknown as ContainerConfig__Output,
    image: 'i', imageId: 'sha256:x', imageRef: 'i', logPath: '', stopSignal: 15, createdAt: '1', startedAt: '0', finishedAt: '0',
    state: st, exitCode: 0, reason: '', message: '', resources: null, rootfs: '', upperDir: '', runtime: { type: 'runc' } as unknown as ContainerRecord['runtime'],
  });
  add('run1', 'pod-a', 'CONTAINER_RUNNING');
  add('broken', 'pod-a', 'CONTAINER_RUNNING');
  add('made', 'pod-a', 'CONTAINER_CREATED');
  add('run2', 'pod-b', 'CONTAINER_RUNNING');
  const h = lifecycleHandlers(deps);

  const cs = (await h.ListContainerStats!({ filter: null }, ctx)) as { stats: { attributes: { id: string } }[] };
  t.same(cs.stats.map((s) => s.attributes.id).sort(), ['run1', 'run2'], 'running containers only; the one whose stats failed is left out');
  const ps = (await h.ListPodSandboxStats!({ filter: null }, ctx)) as { stats: { attributes: { id: string }; linux: { containers: { attributes: { id: string } }[] } }[] };
  t.same(ps.stats.map((s) => s.attributes.id), ['pod-a'], 'the pod whose stats failed is left out, the other listed');
  t.same(ps.stats[0]!.linux.containers.map((c) => c.attributes.id), ['run1'], 'with its readable running containers');
});
