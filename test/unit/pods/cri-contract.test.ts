// CRI contract rules of the pod and container handlers, over the pod domain
// with real record stores in a temp dir and fakes for images, network and
// controllers (test/unit/pods/fixture.ts).

import t from 'tap';
import { InvalidArgumentError, NotFoundError } from '../../../common/errors';
import { silentLogger } from '../../../src/log';
import type { CallContext } from '../../../src/cri/handler';
import { podFixture } from './fixture';

const ctx: CallContext = { log: silentLogger, signal: new AbortController().signal };

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
  const { h } = podFixture(t);
  for (const c of cases) {
    if (c.expect === 'ok') t.same(await h[c.method](c.req, ctx), {}, c.desc);
    else await t.rejects(h[c.method](c.req, ctx), c.expect, c.desc);
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
  const { h } = podFixture(t);
  for (const c of cases) {
    const err = await h[c.method](c.req, ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof InvalidArgumentError, `${c.desc}: INVALID_ARGUMENT`);
    t.equal((err as InvalidArgumentError).field, c.field, `${c.desc}: names ${c.field}`);
  }
});

t.test('StopPodSandbox queued behind a RemovePodSandbox of the same pod succeeds (it answered NOT_FOUND)', async (t) => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  // Remove takes the pod lock and waits in network teardown; Stop resolves the pod, then queues.
  const { h, addPod, sandboxes } = podFixture(t, { network: { teardown: () => gate } });
  addPod(POD, null);
  const removed = h.RemovePodSandbox({ pod_sandbox_id: POD }, ctx);
  const stopped = h.StopPodSandbox({ pod_sandbox_id: POD }, ctx);
  open();
  t.same(await removed, {}, 'remove succeeds');
  t.same(await stopped, {}, 'stop after the concurrent remove succeeds');
  t.equal(sandboxes.get(POD), undefined, 'the stop did not bring the record back');
});

t.test('PodSandboxStatus timestamp is in nanoseconds (it was microseconds)', async (t) => {
  const { h, addPod } = podFixture(t, { controller: { sandboxReady: async () => true } });
  addPod(POD);
  const before = BigInt(Date.now()) * 1_000_000n;
  const res = (await h.PodSandboxStatus({ pod_sandbox_id: POD, verbose: false }, ctx)) as { timestamp: string };
  const after = BigInt(Date.now()) * 1_000_000n;
  const ts = BigInt(res.timestamp);
  t.ok(ts >= before && ts <= after, `timestamp ${ts} lies between ${before} and ${after}`);
});

t.test('RemovePodSandbox waits for a call in flight on one of its containers, then removes it', async (t) => {
  const CTR = 'c'.repeat(64);
  let release!: () => void;
  const stopping = new Promise<void>((r) => (release = r));
  let removedByController = false;
  const { h, addPod, addContainer, sandboxes, containers } = podFixture(t, {
    controller: {
      containerState: async () => ({ state: 'running', exitCode: 0, finishedAt: '0', oomKilled: false }),
      // A StopContainer in flight: it holds the container's lock until released.
      stopContainer: () => stopping,
      removeContainer: async () => void (removedByController = true),
      stopSandbox: async () => undefined,
      removeSandbox: async () => undefined,
    },
  });
  addPod(POD);
  addContainer(CTR, POD, 'CONTAINER_RUNNING');
  const stop = h.StopContainer({ container_id: CTR, timeout: '30' }, ctx);
  let removed = false;
  const removal = h.RemovePodSandbox({ pod_sandbox_id: POD }, ctx).then(() => (removed = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.notOk(removed, 'the pod removal has not finished while the container call holds its lock');
  t.ok(containers.get(CTR), 'and has not removed the container under it');
  release();
  await stop;
  await removal;
  t.ok(removedByController, 'the controller removed the container');
  t.equal(containers.get(CTR), undefined, 'container removed once the lock was free');
  t.equal(sandboxes.get(POD), undefined, 'pod removed');
});

t.test('RunPodSandbox with a bad bandwidth annotation is INVALID_ARGUMENT and creates nothing', async (t) => {
  const { h, sandboxes } = podFixture(t);
  const config = { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, annotations: { 'kubernetes.io/ingress-bandwidth': '10 M' }, port_mappings: [] };
  await t.rejects(h.RunPodSandbox({ config, runtime_handler: '' }, ctx), InvalidArgumentError, 'refused');
  t.same(sandboxes.list(), [], 'no pod record');
});

t.test('a pod the controller refuses (checkPod) is refused before anything is made', async (t) => {
  let networks = 0;
  const { h, sandboxes } = podFixture(t, {
    controller: {
      checkPod: () => {
        throw new InvalidArgumentError('config', 'no');
      },
    },
    network: {
      prepare: async () => {
        networks++;
        throw new Error('not reached');
      },
    },
  });
  const config = { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, annotations: {}, port_mappings: [], hostname: '' };
  await t.rejects(h.RunPodSandbox({ config, runtime_handler: 'vm' }, ctx), InvalidArgumentError);
  t.same([sandboxes.list().length, networks], [0, 0], 'no record, no network');
});

// Regression (issue 16): the last record write of RunPodSandbox failing left the VM/infra and network with no record.
t.test('a failed final record write undoes the controller and the network', async (t) => {
  const undone: string[] = [];
  const fx = podFixture(t, {
    controller: {
      createSandbox: async () => ({ made: true }),
      stopSandbox: async () => void undone.push('stop'),
      removeSandbox: async () => void undone.push('remove'),
    },
    network: { prepare: async () => ({ netnsPath: '/run/netns/x', attach: async () => ({ ips: { ip: '10.0.0.2', additionalIps: [] } }) }), teardown: async () => void undone.push('network') },
  });
  const update = fx.sandboxes.update.bind(fx.sandboxes);
  fx.sandboxes.update = () => {
    throw new Error('ENOSPC: no space left on device');
  };
  t.teardown(() => (fx.sandboxes.update = update));
  const config = { metadata: { name: 'p', namespace: 'ns', uid: 'u', attempt: 0 }, labels: {}, annotations: {}, port_mappings: [], hostname: '' };
  await t.rejects(fx.h.RunPodSandbox({ config, runtime_handler: '' }, ctx), /step "record" failed: ENOSPC/);
  t.same(undone, ['stop', 'remove', 'network'], 'the pod was stopped and removed, then its network torn down');
  t.same(fx.sandboxes.list(), [], 'and its record deleted');
});
