// Real record stores in a temp dir, a fake controller for the "runc" handler
// type, and the lifecycle handlers over them: for handler tests that need
// pods and containers with a runtime but no runc.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../../../src/config/defaults';
import { silentLogger } from '../../../../src/log';
import type { HandlerTable } from '../../../../src/cri/handler';
import type { RuntimeDeps } from '../../../../src/cri/runtime/deps';
import { lifecycleHandlers } from '../../../../src/cri/runtime/lifecycle';
import { createContainerStore, type ContainerRecord } from '../../../../src/store/container';
import { createSandboxStore, type SandboxRecord } from '../../../../src/store/sandbox';
import type { SandboxController } from '../../../../src/sandbox/controller';
import type { PodSandboxConfig__Output } from '../../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';

export interface FakeRuntime {
  deps: RuntimeDeps;
  h: HandlerTable;
  addPod(id: string): void;
  addContainer(id: string, pod: string, state: ContainerRecord['state']): void;
}

export function fakeRuntime(t: { teardown(fn: () => void): void }, controller: Partial<SandboxController>): FakeRuntime {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-fake-runtime-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sandboxes = createSandboxStore(join(dir, 's'), silentLogger);
  const containers = createContainerStore(join(dir, 'c'), silentLogger);
  sandboxes.load();
  containers.load();
  const deps: RuntimeDeps = {
    config: defaultConfig(), log: silentLogger, sandboxes, containers,
    images: {} as RuntimeDeps['images'], network: {} as RuntimeDeps['network'],
    controllers: new Map([['runc', controller as SandboxController]]),
  };
  return {
    deps,
    h: lifecycleHandlers(deps),
    addPod: (id) => {
      sandboxes.create({
        id, config: { metadata: { name: id, namespace: 'ns', uid: id, attempt: 0 }, labels: {}, annotations: {} } as unknown as PodSandboxConfig__Output,
        handler: 'runc', handlerType: 'runc', routeReason: 'test', createdAt: '1', namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
        state: 'SANDBOX_READY', creating: false, netnsPath: '', ip: '', additionalIps: [], runtime: { type: 'runc' } as unknown as SandboxRecord['runtime'],
      });
    },
    addContainer: (id, pod, state) => {
      containers.create({
        id, podSandboxId: pod, config: { metadata: { name: id, attempt: 0 }, labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output,
        image: 'i', imageId: 'sha256:x', imageRef: 'i', logPath: '', stopSignal: 15, createdAt: '1', startedAt: '0', finishedAt: '0',
        state, exitCode: 0, reason: '', message: '', resources: null, rootfs: '', upperDir: '', runtime: { type: 'runc' } as unknown as ContainerRecord['runtime'],
      });
    },
  };
}
