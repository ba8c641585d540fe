// CheckpointContainer in the domain (src/pods/checkpoint.ts) with a fake
// controller: a running container reaches its controller with the options;
// one that exited (seen on refresh) or is still being created gets
// FAILED_PRECONDITION naming it, and the controller is not asked; a
// controller's refusal (VM pods: UNIMPLEMENTED) comes through as it is.
// The restore side: CreateContainer of an archive path in a pod whose
// controller cannot restore is UNIMPLEMENTED naming the handler, and the
// image an archive names is found by its ref, else its id, else NOT_FOUND.

import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, NotFoundError, UnimplementedError } from '../../../common/errors';
import { defaultConfig } from '../../../src/config/defaults';
import type { ContainerConfig__Output } from '../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { silentLogger } from '../../../src/log';
import { checkpointContainer } from '../../../src/pods/checkpoint';
import { checkpointImage, createContainer } from '../../../src/pods/container-lifecycle';
import { CpuSamples } from '../../../src/pods/cpu-samples';
import type { Domain } from '../../../src/pods/domain';
import { PodEvents } from '../../../src/pods/events';
import { KeyedLock } from '../../../src/pods/locks';
import type { ImageProvider, PodNetworkProvider, ResolvedImage } from '../../../src/pods/providers';
import type { CheckpointOptions, ContainerProcessState, SandboxController } from '../../../src/sandbox/controller';
import { createContainerStore, newContainerRecord, type ContainerRecord } from '../../../src/store/container';
import { createSandboxStore, newSandboxRecord } from '../../../src/store/sandbox';

function world(t: { teardown(fn: () => void): void }, state: ContainerProcessState, refuse?: Error) {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-ckpt-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sandboxes = createSandboxStore(join(dir, 's'), silentLogger);
  const containers = createContainerStore(join(dir, 'c'), silentLogger);
  sandboxes.load();
  containers.load();
  const calls: { id: string; opts: CheckpointOptions }[] = [];
  const controller = {
    handler: 'runc',
    onEvent: () => undefined,
    containerState: async () => state,
    checkContainer: () => undefined,
    checkpointContainer: async (_sb, c, opts) => {
      if (refuse) throw refuse;
      calls.push({ id: c.id, opts });
    },
  } as Partial<SandboxController> as SandboxController;
  const d: Domain = {
    config: defaultConfig(),
    log: silentLogger,
    sandboxes,
    containers,
    images: {} as ImageProvider,
    network: {} as PodNetworkProvider,
    controllers: new Map([['runc', controller]]),
    locks: { pods: new KeyedLock(), containers: new KeyedLock() },
    cpu: new CpuSamples(),
    events: new PodEvents(),
  };
  sandboxes.create({
    ...newSandboxRecord({
      id: 'p1',
      config: { metadata: { name: 'p1', namespace: 'ns', uid: 'p1', attempt: 0 }, labels: {}, annotations: {} } as unknown as PodSandboxConfig__Output,
      handler: 'runc',
      routeReason: 'test',
      createdAt: '1',
      namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
      hostname: 'p1',
    }),
    state: 'SANDBOX_READY',
    creating: false,
    controller: {},
  });
  const add = (id: string, st: ContainerRecord['state'], data: Record<string, unknown> | null): ContainerRecord =>
    containers.create({
      ...newContainerRecord({
        id,
        podSandboxId: 'p1',
        config: { metadata: { name: id, attempt: 0 }, labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output,
        image: 'i',
        imageId: 'sha256:x',
        imageRef: 'i',
        logPath: '',
        stopSignal: 15,
        createdAt: '1',
        resources: null,
      }),
      state: st,
      controller: data,
    });
  return { d, calls, add };
}

const opts = { location: '/var/lib/kubelet/checkpoints/c.tar', timeoutS: 0 };
const running: ContainerProcessState = { state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false };

t.test('a running container is checkpointed by its controller', async (t) => {
  const w = world(t, running);
  await checkpointContainer(w.d, w.add('c1', 'CONTAINER_RUNNING', {}), opts);
  t.same(w.calls, [{ id: 'c1', opts: { ...opts, image: { ref: 'i', id: 'sha256:x' } } }], "with the container's image, for the archive");
});

t.test('one that exited meanwhile is refused, naming it, without asking the controller', async (t) => {
  const w = world(t, { state: 'exited', exitCode: 1, finishedAt: '2', oomKilled: false });
  await t.rejects(checkpointContainer(w.d, w.add('c2', 'CONTAINER_RUNNING', {}), opts), FailedPreconditionError);
  await t.rejects(checkpointContainer(w.d, w.add('c3', 'CONTAINER_RUNNING', {}), opts), /container c3 is not running \(CONTAINER_EXITED\)/);
  t.same(w.calls, []);
});

t.test('one still being created is refused', async (t) => {
  const w = world(t, running);
  await t.rejects(checkpointContainer(w.d, w.add('c4', 'CONTAINER_CREATED', null), opts), /container c4 is not running/);
  t.same(w.calls, []);
});

t.test("the controller's refusal comes through unchanged", async (t) => {
  const w = world(t, running, new UnimplementedError('CheckpointContainer of container c5: VM pods have no checkpoint'));
  await t.rejects(checkpointContainer(w.d, w.add('c5', 'CONTAINER_RUNNING', {}), opts), UnimplementedError);
});

t.test('CreateContainer of an archive in a pod whose controller cannot restore: UNIMPLEMENTED naming the handler, nothing made', async (t) => {
  const w = world(t, running);
  const sb = w.d.sandboxes.get('p1')!;
  const config = { metadata: { name: 'r', attempt: 0 }, image: { image: '/var/lib/kubelet/checkpoints/c.tar' }, labels: {}, annotations: {}, mounts: [] } as unknown as ContainerConfig__Output;
  await t.rejects(createContainer(w.d, sb, config), UnimplementedError);
  await t.rejects(createContainer(w.d, sb, config), /c\.tar is a checkpoint archive; handler "runc" cannot restore/);
  t.same(w.d.containers.list(), [], 'no record is left');
});

t.test("an archive's image: by its ref, else by its id (the tag moved), else NOT_FOUND naming it", async (t) => {
  const img = (id: string): ResolvedImage => ({ id, repoTags: [], repoDigests: [], config: {} });
  const store = (known: Record<string, string>) => ({
    resolve: (ref: string) => {
      const id = known[ref];
      if (!id) throw new NotFoundError('image', ref);
      return img(id);
    },
  });
  const src = { image: { ref: 'r/busybox:v1', id: 'sha256:a' } };
  t.equal(checkpointImage(store({ 'r/busybox:v1': 'sha256:a' }), src, '/c.tar').id, 'sha256:a', 'by its ref');
  t.equal(checkpointImage(store({ 'r/busybox:v1': 'sha256:b', 'sha256:a': 'sha256:a' }), src, '/c.tar').id, 'sha256:a', 'the tag moved: by its id, not the tag');
  t.throws(
    () => checkpointImage(store({ 'r/busybox:v1': 'sha256:b' }), src, '/c.tar'),
    /image "r\/busybox:v1" not found: checkpoint \/c\.tar was taken over image r\/busybox:v1 \(sha256:a\).*pull it first/,
  );
  t.throws(() => checkpointImage(store({}), src, '/c.tar'), NotFoundError);
});
