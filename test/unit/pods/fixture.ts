// The pod domain over real record stores in a temp dir, with fakes for the
// image and network providers and for the controllers (one fake serves the
// "runc" and "vm" handlers), and the RuntimeService table over it: for tests
// of the domain's rules and the handlers' conversions without runc or a VM.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '../../../common/errors';
import { defaultConfig } from '../../../src/config/defaults';
import type { HandlerTable } from '../../../src/cri/handler';
import { runtimeHandlers } from '../../../src/cri/runtime';
import type { ContainerConfig__Output } from '../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { silentLogger } from '../../../src/log';
import type { ImageProvider, PodNetworkProvider } from '../../../src/pods/providers';
import { PodService } from '../../../src/pods/service';
import type { ControllerData, SandboxController } from '../../../src/sandbox/controller';
import { createContainerStore, newContainerRecord, type ContainerRecord, type ContainerStore } from '../../../src/store/container';
import { createSandboxStore, newSandboxRecord, type SandboxStore } from '../../../src/store/sandbox';

export interface PodFixture {
  pods: PodService;
  h: HandlerTable;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  /** A ready pod on handler "runc"; `data` null = still being created. */
  addPod: (id: string, data?: ControllerData | null) => void;
  addContainer: (id: string, pod: string, state: ContainerRecord['state'], data?: ControllerData | null) => void;
}

export interface FixtureOptions {
  controller?: Partial<SandboxController>;
  images?: Partial<ImageProvider>;
  network?: Partial<PodNetworkProvider>;
}

const unused = (what: string) => async (): Promise<never> => {
  throw new Error(`${what} is not used by this test`);
};

export function podFixture(t: { teardown(fn: () => void): void }, o: FixtureOptions = {}): PodFixture {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-pods-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sandboxes = createSandboxStore(join(dir, 'sandboxes'), silentLogger);
  const containers = createContainerStore(join(dir, 'containers'), silentLogger);
  sandboxes.load();
  containers.load();
  const controller = { handler: 'runc', checkPod: () => undefined, checkContainer: () => undefined, onEvent: () => undefined, close: async () => undefined, ...o.controller } as SandboxController;
  const images: ImageProvider = {
    resolve: (ref) => {
      throw new NotFoundError('image', ref);
    },
    prepareRootfs: unused('prepareRootfs'),
    mountRootfs: unused('mountRootfs'),
    unmountRootfs: async () => undefined,
    releaseRootfs: async () => undefined,
    mountVolume: unused('mountVolume'),
    releaseVolumes: async () => undefined,
    volumeHolders: () => [],
    rootfsHolders: () => [],
    discardsDrained: async () => undefined,
    writableLayerUsage: async () => ({ bytes: 0, inodes: 0 }),
    ...o.images,
  };
  const network: PodNetworkProvider = { prepare: unused('network prepare'), teardown: async () => undefined, reconcile: async () => [], ...o.network };
  const config = defaultConfig();
  const pods = new PodService({
    config,
    log: silentLogger,
    sandboxes,
    containers,
    images,
    network,
    controllers: new Map([
      ['runc', controller],
      ['vm', controller],
    ]),
  });
  const info = { config, version: 'test', capabilities: async () => [], network: () => ({ ready: true, reason: '', message: '' }), podCidr: () => '', setPodCidr: () => undefined };
  return {
    pods,
    h: runtimeHandlers(pods, info),
    sandboxes,
    containers,
    addPod: (id, data = {}) => {
      sandboxes.create({
        ...newSandboxRecord({
          id,
          config: { metadata: { name: id, namespace: 'ns', uid: id, attempt: 0 }, labels: {}, annotations: {} } as unknown as PodSandboxConfig__Output,
          handler: 'runc',
          routeReason: 'test',
          createdAt: '1',
          namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
          hostname: id,
        }),
        state: 'SANDBOX_READY',
        creating: data === null,
        controller: data,
      });
    },
    addContainer: (id, pod, state, data = {}) => {
      containers.create({
        ...newContainerRecord({
          id,
          podSandboxId: pod,
          config: { metadata: { name: id, attempt: 0 }, labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output,
          image: 'i',
          imageId: 'sha256:x',
          imageRef: 'i',
          logPath: '',
          stopSignal: 15,
          createdAt: '1',
          resources: null,
        }),
        state,
        controller: data,
      });
    },
  };
}
