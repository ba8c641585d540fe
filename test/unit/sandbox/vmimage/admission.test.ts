import t from 'tap';
import { FailedPreconditionError, InvalidArgumentError } from '../../../../common/errors';
import type { ContainerConfig__Output } from '../../../../src/generated/cri/runtime/v1/ContainerConfig';
import type { PodSandboxConfig__Output } from '../../../../src/generated/cri/runtime/v1/PodSandboxConfig';
import { checkVmImageContainer, checkVmImagePod } from '../../../../src/sandbox/vmimage/admission';

const podNs = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;
const podCfg = (privileged = false) => ({ linux: { security_context: { privileged } } }) as unknown as PodSandboxConfig__Output;
const ctr = (name: string, o: { privileged?: boolean; devices?: number } = {}) =>
  ({
    metadata: { name, attempt: 0 },
    devices: Array.from({ length: o.devices ?? 0 }, () => ({ container_path: '/dev/vdb', host_path: '/dev/loop0', permissions: 'rw' })),
    linux: { security_context: { privileged: o.privileged ?? false } },
  }) as unknown as ContainerConfig__Output;

t.test('pods: no node namespaces, nothing privileged', async (t) => {
  t.doesNotThrow(() => checkVmImagePod('vmi', podCfg(), podNs));
  for (const [desc, ns] of [
    ['host network', { ...podNs, network: 'NODE' }],
    ['host pid', { ...podNs, pid: 'NODE' }],
    ['host ipc', { ...podNs, ipc: 'NODE' }],
  ] as const) {
    t.throws(() => checkVmImagePod('vmi', podCfg(), ns), FailedPreconditionError, desc);
  }
  t.throws(() => checkVmImagePod('vmi', podCfg(true), podNs), InvalidArgumentError, 'privileged pod');
});

t.test('containers: one per pod, one VM at a time', async (t) => {
  t.doesNotThrow(() => checkVmImageContainer('p1', ctr('vm'), {}), 'the first');
  t.doesNotThrow(() => checkVmImageContainer('p1', ctr('vm'), { name: 'vm' }), "kubelet's restart of it");
  const second = (() => {
    try {
      checkVmImageContainer('p1', ctr('sidecar'), { name: 'vm' });
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  t.type(second, FailedPreconditionError, 'a second container: FAILED_PRECONDITION');
  t.match(second?.message, /container "sidecar" in pod p1: a VM-image pod has exactly one container, the VM \("vm"\)/);
  t.throws(() => checkVmImageContainer('p1', ctr('vm'), { name: 'vm', active: 'c0' }), /still runs as container c0/, 'while the previous VM runs');
  t.throws(() => checkVmImageContainer('p1', ctr('vm', { privileged: true }), {}), InvalidArgumentError, 'privileged');
  t.doesNotThrow(() => checkVmImageContainer('p1', ctr('vm', { devices: 1 }), {}), 'devices are checked at create (block-devices.ts)');
});
