// CRI contract rules of the pod and container handlers, over real record
// stores in a temp dir and fakes for images, network and controllers (pods
// here have no runtime yet, so no controller is ever called).

import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../../../src/config/defaults';
import { InvalidArgumentError, NotFoundError } from '../../../../common/errors';
import { silentLogger } from '../../../../src/log';
import type { CallContext, HandlerTable } from '../../../../src/cri/handler';
import type { RuntimeDeps } from '../../../../src/cri/runtime/deps';
import { lifecycleHandlers } from '../../../../src/cri/runtime/lifecycle';
import { createContainerStore } from '../../../../src/store/container';
import { createSandboxStore, type SandboxRecord } from '../../../../src/store/sandbox';
import type { PodSandboxConfig__Output } from '../../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import { locksOf } from '../../../../src/cri/runtime/keyed-lock';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };

interface Fixture {
  deps: RuntimeDeps;
  h: HandlerTable;
  /** Network teardowns wait for this gate when it is set. */
  gate: { wait?: Promise<void> };
}

function fixture(t: Test): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'vmpod-cri-idem-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const gate: Fixture['gate'] = {};
  const sandboxes = createSandboxStore(join(dir, 'sandboxes'), silentLogger);
  const containers = createContainerStore(join(dir, 'containers'), silentLogger);
  sandboxes.load();
  containers.load();
  const deps: RuntimeDeps = {
    config: defaultConfig(),
    log: silentLogger,
    sandboxes,
    containers,
    images: {
      resolve: (ref) => { throw new NotFoundError('image', ref); },
      prepareRootfs: async () => { throw new Error('not used'); },
      mountRootfs: async () => { throw new Error('not used'); },
      releaseRootfs: async () => undefined,
    },
    network: {
      setup: async () => { throw new Error('not used'); },
      teardown: async () => { await gate.wait; },
    },
    controllers: new Map(),
  };
  return { deps, h: lifecycleHandlers(deps), gate };
}

function addPod(deps: RuntimeDeps, id: string): SandboxRecord {
  return deps.sandboxes.create({
    id, config: { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, annotations: {} } as unknown as PodSandboxConfig__Output,
    handler: 'runc', handlerType: 'runc', routeReason: 'test', createdAt: '1', namespaces: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
    state: 'SANDBOX_READY', creating: false, netnsPath: '', ip: '', additionalIps: [], runtime: null,
  });
}

const POD = 'a'.repeat(64);

t.test('calls on objects that are gone', async (t) => {
  const cases: { desc: string; method: string; req: object; expect: 'ok' | typeof NotFoundError }[] = [
    { desc: 'StopPodSandbox of an unknown pod succeeds', method: 'StopPodSandbox', req: { pod_sandbox_id: POD }, expect: 'ok' },
    { desc: 'RemovePodSandbox of an unknown pod succeeds', method: 'RemovePodSandbox', req: { pod_sandbox_id: POD }, expect: 'ok' },
    { desc: 'StopContainer of an unknown container succeeds', method: 'StopContainer', req: { container_id: POD, timeout: '0' }, expect: 'ok' },
    { desc: 'RemoveContainer of an unknown container succeeds', method: 'RemoveContainer', req: { container_id: POD }, expect: 'ok' },
    { desc: 'ContainerStatus of an unknown container is NOT_FOUND', method: 'ContainerStatus', req: { container_id: POD }, expect: NotFoundError },
    { desc: 'PodSandboxStatus of an unknown pod is NOT_FOUND', method: 'PodSandboxStatus', req: { pod_sandbox_id: POD }, expect: NotFoundError },
  ];
  const { h } = fixture(t);
  for (const c of cases) {
    if (c.expect === 'ok') t.same(await h[c.method]!(c.req, ctx), {}, c.desc);
    else await t.rejects(h[c.method]!(c.req, ctx), c.expect, c.desc);
  }
});

t.test('a missing id is INVALID_ARGUMENT naming the field', async (t) => {
  const cases = [
    { desc: 'StopPodSandbox', method: 'StopPodSandbox', req: { pod_sandbox_id: '' }, field: 'pod_sandbox_id' },
    { desc: 'RemovePodSandbox', method: 'RemovePodSandbox', req: { pod_sandbox_id: '' }, field: 'pod_sandbox_id' },
    { desc: 'StopContainer', method: 'StopContainer', req: { container_id: '', timeout: '0' }, field: 'container_id' },
    { desc: 'RemoveContainer', method: 'RemoveContainer', req: { container_id: '' }, field: 'container_id' },
    { desc: 'ContainerStatus', method: 'ContainerStatus', req: { container_id: '' }, field: 'container_id' },
  ];
  const { h } = fixture(t);
  for (const c of cases) {
    const err = await h[c.method]!(c.req, ctx).then(() => undefined, (e: unknown) => e);
    t.ok(err instanceof InvalidArgumentError, `${c.desc}: INVALID_ARGUMENT`);
    t.equal((err as InvalidArgumentError).field, c.field, `${c.desc}: names ${c.field}`);
  }
});

t.test('StopPodSandbox queued behind a RemovePodSandbox of the same pod succeeds (it answered NOT_FOUND)', async (t) => {
  const { deps, h, gate } = fixture(t);
  addPod(deps, POD);
  let open!: () => void;
  gate.wait = new Promise((r) => (open = r));
  // Remove takes the pod lock and waits in network teardown; Stop resolves the pod, then queues.
  const removed = h.RemovePodSandbox!({ pod_sandbox_id: POD }, ctx);
  const stopped = h.StopPodSandbox!({ pod_sandbox_id: POD }, ctx);
  open();
  t.same(await removed, {}, 'remove succeeds');
  t.same(await stopped, {}, 'stop after the concurrent remove succeeds');
  t.equal(deps.sandboxes.get(POD), undefined, 'the stop did not bring the record back');
});

t.test('PodSandboxStatus timestamp is in nanoseconds (it was microseconds)', async (t) => {
  const { deps, h } = fixture(t);
  addPod(deps, POD);
  const before = BigInt(Date.now()) * 1_000_000n;
  const res = (await h.PodSandboxStatus!({ pod_sandbox_id: POD, verbose: false }, ctx)) as { timestamp: string };
  const after = BigInt(Date.now()) * 1_000_000n;
  const ts = BigInt(res.timestamp);
  t.ok(ts >= before && ts <= after, `timestamp ${ts} lies between ${before} and ${after}`);
});

t.test('RemovePodSandbox waits for a call in flight on one of its containers, then removes it', async (t) => {
  const { deps, h } = fixture(t);
  addPod(deps, POD);
  const CTR = 'c'.repeat(64);
  deps.containers.create({
    id: CTR, podSandboxId: POD, config: { metadata: { name: 'c', attempt: 0 }, labels: {}, annotations: {} } as unknown as ContainerConfig__Output,
    image: 'i', imageId: 'sha256:x', imageRef: 'i', logPath: '', stopSignal: 15, createdAt: '1', startedAt: '0', finishedAt: '0',
    state: 'CONTAINER_CREATED', exitCode: 0, reason: '', message: '', resources: null, rootfs: '', upperDir: '', runtime: null,
  });
  // A StartContainer (say) holds the container's lock.
  let release!: () => void;
  const held = locksOf(deps).containers.run(CTR, () => new Promise<void>((r) => (release = r)));
  let removed = false;
  const removal = h.RemovePodSandbox!({ pod_sandbox_id: POD }, ctx).then(() => (removed = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.notOk(removed, 'the pod removal has not finished while the container call holds its lock');
  t.ok(deps.containers.get(CTR), 'and has not removed the container under it');
  release();
  await held;
  await removal;
  t.equal(deps.containers.get(CTR), undefined, 'container removed once the lock was free');
  t.equal(deps.sandboxes.get(POD), undefined, 'pod removed');
});

t.test('RunPodSandbox with a bad bandwidth annotation is INVALID_ARGUMENT and creates nothing', async (t) => {
  const { deps, h } = fixture(t);
  const config = { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, annotations: { 'kubernetes.io/ingress-bandwidth': '10 M' }, port_mappings: [] };
  await t.rejects(h.RunPodSandbox!({ config, runtime_handler: '' }, ctx), InvalidArgumentError, 'refused');
  t.same(deps.sandboxes.list(), [], 'no pod record');
});
